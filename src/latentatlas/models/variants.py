"""Model variants (Marbut et al. 2024, §2.1 of the notes), each seeded and reproducible.

A variant takes a loaded base encoder and returns a modified copy. Builders are registered by name in
the :data:`VARIANTS` registry with their parameters; :class:`~latentatlas.models.spec.ModelSpec` validates
a spec's parameters against it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..registry import Registry

REQUIRED = object()

#: Resolves a model spec string to a loaded encoder (used by ``swap_emb``).
Resolver = Callable[[str], nn.Module]


@dataclass(frozen=True)
class Variant:
    """A registered variant: its builder and its parameters (name → (type, default or REQUIRED))."""

    name: str
    build: Callable[..., nn.Module]
    params: Mapping[str, tuple[type, Any]]
    doc: str


VARIANTS: Registry[Variant] = Registry("model variant")


def _variant(name: str, **params: tuple[type, Any]) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        doc = (fn.__doc__ or "").strip().splitlines()[0]
        VARIANTS.register(name, Variant(name=name, build=fn, params=params, doc=doc))
        return fn

    return deco


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def perturbed_parameter_names(model: nn.Module) -> list[str]:
    """Encoder weights that :func:`perturb` changes: names under ``encoder.`` ending in ``weight``."""
    return [n for n, _ in model.named_parameters() if n.startswith("encoder.") and n.endswith("weight")]


@_variant("perturb", alpha=(float, REQUIRED), seed=(int, 0))
def perturb(model: nn.Module, *, alpha: float, seed: int = 0, **_: Any) -> nn.Module:
    """Weight perturbation W ← (1−α/100)·W + (α/100)·ε, ε ~ N(0, 1), on every encoder weight.

    As in Marbut et al. (``model_perturb.py``): attention, feed-forward and LayerNorm γ weights of the
    encoder blocks; biases, embeddings and the pooler are untouched. ε is drawn parameter by parameter,
    in ``named_parameters`` order, from one generator seeded with ``seed`` (the published code defined
    seeds but never applied them).
    """
    if not 0.0 <= alpha <= 100.0:
        from ..errors import BadInputError

        raise BadInputError(f"perturb alpha must be within 0..100 (a percentage), got {alpha}.")
    out = copy.deepcopy(model)
    g = _generator(seed)
    names = set(perturbed_parameter_names(out))
    a = alpha / 100.0
    with torch.no_grad():
        for name, p in out.named_parameters():
            if name in names:
                eps = torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype)
                p.mul_(1.0 - a).add_(a * eps)
    return out


def _fresh(model: nn.Module, seed: int) -> nn.Module:
    from transformers import AutoModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        fresh = AutoModel.from_config(model.config)
    return fresh


@_variant("random_init", seed=(int, 0))
def random_init(model: nn.Module, *, seed: int = 0, **_: Any) -> nn.Module:
    """Random initialisation of the same architecture and shape (the model's own init scheme)."""
    return _fresh(model, seed)


@_variant("random_init_pretrained_emb", seed=(int, 0))
def random_init_pretrained_emb(model: nn.Module, *, seed: int = 0, **_: Any) -> nn.Module:
    """Random initialisation, then the pretrained input word embeddings copied in.

    Only the word-embedding matrix is copied (Zhang-style "untrained_w_emb"); position and token-type
    embeddings and the embedding LayerNorm stay random.
    """
    out = _fresh(model, seed)
    with torch.no_grad():
        out.get_input_embeddings().weight.copy_(model.get_input_embeddings().weight)
    return out


@_variant("shuffle_emb", seed=(int, 0))
def shuffle_emb(model: nn.Module, *, seed: int = 0, **_: Any) -> nn.Module:
    """Input word-embedding rows permuted by a true random permutation (each row used exactly once).

    The published code shuffled a 2-D numpy array with ``random.shuffle``, which duplicates rows.
    """
    out = copy.deepcopy(model)
    with torch.no_grad():
        W = out.get_input_embeddings().weight
        perm = torch.randperm(W.shape[0], generator=_generator(seed))
        W.copy_(W[perm].clone())
    return out


@_variant("swap_emb", source=(str, REQUIRED))
def swap_emb(model: nn.Module, *, source: str, resolve: Resolver, **_: Any) -> nn.Module:
    """Input word embeddings replaced by those of another model (``source``: a model spec).

    Both models must have the same vocabulary size and hidden size (Zhang-style embedding swap).
    """
    from ..errors import BadInputError

    donor = resolve(source).get_input_embeddings().weight
    out = copy.deepcopy(model)
    W = out.get_input_embeddings().weight
    if tuple(donor.shape) != tuple(W.shape):
        raise BadInputError(
            f"swap_emb source {source!r} has input embeddings of shape {tuple(donor.shape)} but the base "
            f"has {tuple(W.shape)}; the vocabulary size and hidden size must match."
        )
    with torch.no_grad():
        W.copy_(donor)
    return out
