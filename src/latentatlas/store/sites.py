"""Activation sites: where in the model the stored vectors are read.

A site turns a model into a list of *layers*, each one vector per token, stored and measured exactly like
the residual stream's layers:

* ``residual`` (default): the residual stream, Hugging Face's ``hidden_states``: layer 0 the embedding
  output, layer ℓ the output of block ℓ (after its last residual add, and after the LayerNorm in a
  post-LN model such as BERT).
* ``attention``: the attention sub-layer's output in block ℓ = 1..L, *before* it is added to the residual
  stream: what the attention writes into the stream (TransformerLens's ``attn_out``). BERT family:
  ``encoder.layer[ℓ-1].attention.output.dense`` (the output projection; dropout is the identity in
  evaluation, and the residual add and LayerNorm come after it); GPT-2: ``h[ℓ-1].attn`` (after
  ``c_proj``; the first element of its output tuple).
* ``mlp``: the feed-forward sub-layer's output in block ℓ = 1..L before the residual add (``mlp_out``),
  ``hidden_size`` wide. BERT family: ``encoder.layer[ℓ-1].output.dense``; GPT-2: ``h[ℓ-1].mlp``. The
  feed-forward *neurons* (post-GELU, ``intermediate_size`` wide) are a module site:
  ``module:encoder.layer.*.intermediate`` (BERT) or ``module:h.*.mlp.act`` (GPT-2).
* ``module:PATTERN``: every submodule whose name (``model.named_modules()``) matches the glob
  ``PATTERN``, read by a forward hook. ``*`` matches within one dotted name part, ``**`` across parts,
  ``?`` one character, ``[...]`` a character class: ``encoder.layer.*.intermediate`` is one module per
  block, ``encoder.layer.[35].intermediate`` two. Match i (in module order) is layer i; the study's
  ``layers`` selection does not apply (the pattern is the selection). A module must run once per forward
  pass and output one vector per token, ``(batch, tokens, width)`` (the first tensor of a tuple output).

The attention and mlp sites are named for the architectures in :data:`SITE_LAYOUTS` (by
``config.model_type``); any other model uses ``module:PATTERN``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import BadInputError
from ..layers import LayerSelection, resolve_layers
from ..registry import Registry
from ..settings import MODULE_PREFIX, RESIDUAL, check_site
from .extractor import forward_batch, num_layers_of, pad_batch, run_forward


@dataclass(frozen=True)
class SiteLayout:
    """Module names of a block's sub-layers in one architecture family: regular expressions matched at the
    end of a module name, with one group, the 0-based block index."""

    attention: str
    mlp: str


_BERT = SiteLayout(attention=r"encoder\.layer\.(\d+)\.attention\.output\.dense",
                   mlp=r"encoder\.layer\.(\d+)\.output\.dense")
_DISTILBERT = SiteLayout(attention=r"transformer\.layer\.(\d+)\.attention\.out_lin",
                         mlp=r"transformer\.layer\.(\d+)\.ffn")
_GPT2 = SiteLayout(attention=r"h\.(\d+)\.attn", mlp=r"h\.(\d+)\.mlp")

#: ``config.model_type`` → where its attention and mlp sub-layer outputs are.
SITE_LAYOUTS: Registry[SiteLayout] = Registry.of(
    "model type with attention/mlp sites",
    {"bert": _BERT, "roberta": _BERT, "xlm-roberta": _BERT, "electra": _BERT, "distilbert": _DISTILBERT,
     "gpt2": _GPT2},
    hint="Read its sub-layers with --site module:PATTERN (a glob over its module names) instead.",
)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The regular expression of a module-name glob: ``*`` within one dotted part, ``**`` across parts,
    ``?`` one character (not a dot), ``[...]`` / ``[!...]`` a character class; the whole name must match."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        c = pattern[i]
        close = pattern.find("]", i + 2) if c == "[" else -1
        if c == "*":
            out.append(r"[^.]*")
        elif c == "?":
            out.append(r"[^.]")
        elif close != -1:
            body = pattern[i + 1 : close]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", r"\\") + "]")
            i = close + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _examples(model: nn.Module, n: int = 6) -> str:
    names = [name for name, _ in model.named_modules() if name]
    picked = names[:: max(1, len(names) // n)][:n]
    return ", ".join(picked)


def site_modules(model: nn.Module, site: str) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every layer of ``site`` in layer order (empty for ``residual``).

    Raises BadInputError when a pattern matches nothing, or when the model's type has no named
    attention/mlp layout (:data:`SITE_LAYOUTS`) or not one such module per block.
    """
    site = check_site(site)
    if site == RESIDUAL:
        return []
    named = [(name, m) for name, m in model.named_modules() if name]
    kind = type(model).__name__
    if site.startswith(MODULE_PREFIX):
        pattern = site[len(MODULE_PREFIX):]
        rx = glob_regex(pattern)
        hits = [(name, m) for name, m in named if rx.match(name)]
        if not hits:
            raise BadInputError(
                f"site {site!r} matches no module of this {kind}; its module names look like {_examples(model)}: "
                "fix the pattern (* stays within one dotted part, ** crosses parts)."
            )
        return hits
    model_type = str(getattr(model.config, "model_type", "") or kind)
    layout = SITE_LAYOUTS[model_type]
    rx = re.compile(r"(?:^|\.)" + getattr(layout, site) + r"\Z")
    by_block: dict[int, tuple[str, nn.Module]] = {}
    for name, m in named:
        hit = rx.search(name)
        if hit:
            by_block.setdefault(int(hit.group(1)), (name, m))
    n_blocks = num_layers_of(model)
    if sorted(by_block) != list(range(n_blocks)):
        raise BadInputError(
            f"site {site!r}: this {kind} ({model_type}) has {len(by_block)} of the {n_blocks} blocks' {site} modules "
            "where they are expected; read them with --site module:PATTERN instead."
        )
    return [by_block[b] for b in range(n_blocks)]


def site_layers(model: nn.Module, site: str, selection: LayerSelection = "all") -> list[int]:
    """The layers of ``site`` that are stored: ``selection`` resolved as for the residual stream (0..L)
    without layer 0 for ``attention``/``mlp`` (blocks 1..L), every match for a module site."""
    site = check_site(site)
    n_blocks = num_layers_of(model)
    if site == RESIDUAL:
        return resolve_layers(selection, n_blocks)
    if site.startswith(MODULE_PREFIX):
        return list(range(len(site_modules(model, site))))
    site_modules(model, site)  # the model has this site: checked before anything is written
    layers = [layer for layer in resolve_layers(selection, n_blocks) if layer > 0]
    if not layers:
        raise BadInputError(
            f"site {site!r} has one layer per block (1..{n_blocks}) and no embedding layer; the layer selection "
            f"{selection!r} picks only layer 0: select blocks, e.g. 'all' or '1:{n_blocks}'."
        )
    return layers


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "to_tuple"):  # a transformers ModelOutput
        output = output.to_tuple()
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _recorder(store: list[torch.Tensor | None]) -> Callable[..., None]:
    def hook(module: nn.Module, args: Any, output: Any) -> None:
        t = _first_tensor(output)
        store.append(None if t is None else t.detach())

    return hook


def forward_site(
    model: nn.Module,
    input_ids: Sequence[Sequence[int]],
    pad_id: int,
    layers: Sequence[int],
    site: str = RESIDUAL,
    token_type_ids: Sequence[Sequence[int]] | None = None,
) -> list[torch.Tensor]:
    """One padded forward pass reading ``site``: per layer of ``layers`` a ``(B, T, width)`` float32 CPU
    tensor (the residual stream through :func:`~.extractor.forward_batch`, other sites through forward
    hooks that are removed afterwards)."""
    if site == RESIDUAL:
        return list(forward_batch(model, input_ids, pad_id, layers, token_type_ids))
    modules = site_modules(model, site)
    index = {layer: modules[layer - (0 if site.startswith(MODULE_PREFIX) else 1)] for layer in layers}
    captured: dict[int, list[torch.Tensor | None]] = {layer: [] for layer in layers}
    handles = [index[layer][1].register_forward_hook(_recorder(captured[layer])) for layer in layers]
    try:
        run_forward(model, pad_batch(input_ids, pad_id, token_type_ids))
    finally:
        for h in handles:
            h.remove()
    shape = (len(input_ids), max(len(x) for x in input_ids))
    out = []
    for layer in layers:
        name, got = index[layer][0], captured[layer]
        if len(got) != 1:
            raise BadInputError(
                f"site {site!r}: module {name!r} ran {len(got)} times in one forward pass; a site module must run "
                "once: pick a module that is not shared or skipped."
            )
        t = got[0]
        if t is None or t.ndim != 3 or tuple(t.shape[:2]) != shape:
            what = "no tensor" if t is None else f"shape {tuple(t.shape)}"
            raise BadInputError(
                f"site {site!r}: module {name!r} outputs {what}, not one vector per token (batch {shape[0]}, "
                f"tokens {shape[1]}, width); pick a module whose output is per token, e.g. a Linear layer."
            )
        out.append(t.float().cpu())
    return out


__all__ = ["SITE_LAYOUTS", "SiteLayout", "forward_site", "glob_regex", "site_layers", "site_modules"]
