"""Contexts for the anchor analysis: which positions of which sentences give one (f(x), log Z_bulk) pair.

Registry :data:`CONTEXT_BUILDERS`, keyed by head kind:

* ``masked``: one position per sentence, drawn with ``numpy.random.default_rng(seed)`` among the
  non-special tokens, is replaced by the mask token; the context x is the sentence with that one
  mask, as in masked-LM pre-training. One mask per sentence keeps contexts independent (every-position
  unmasked outputs would mostly predict the visible token itself, which is not a prediction problem).
* ``causal``: every position of every sentence is a context (the prefix up to it), as in Wu et al.'s
  GPT-2 experiment; when more than ``max_contexts`` arise, a seeded subsample is kept.

Each builder yields batches of (f rows, sentence index of each row); :func:`collect_contexts` turns
them into F (n × d) and the sentence id of every context, and :func:`collect` adds
Y (n × len(ks)) with Y = bulk log partition computed in float64 from W f + b. The sentence ids let the
train / held-out split keep all contexts of one sentence on one side (a causal sentence gives one
context per prefix, and neighbouring prefixes share almost all their tokens, so a split by context
would score the fit on near-copies of its training rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from ...errors import BadInputError
from ...registry import Registry
from .fit import head_log_partition
from .heads import LMWithHead

MAX_LENGTH = 128
Rows = Iterator[tuple[torch.Tensor, np.ndarray]]


def _max_length(lm: LMWithHead) -> int:
    """MAX_LENGTH, or fewer when the model has fewer position embeddings (small pre-trained models)."""
    return min(MAX_LENGTH, int(getattr(lm.model.config, "max_position_embeddings", MAX_LENGTH) or MAX_LENGTH))


def _batches(sentences: Sequence[str], size: int) -> Iterator[tuple[int, list[str]]]:
    """(index of the batch's first sentence, the batch's sentences)."""
    for i in range(0, len(sentences), size):
        yield i, list(sentences[i : i + size])


def masked_rows(lm: LMWithHead, sentences: Sequence[str], *, seed: int, batch_size: int) -> Rows:
    """f at one seeded masked position per sentence (sentences with no ordinary token are skipped)."""
    tok = lm.tokenizer
    if tok.mask_token_id is None:
        raise BadInputError(f"model {lm.name!r}: its tokenizer has no mask token, so a masked-LM head cannot be queried.")
    rng = np.random.default_rng(seed)
    for start, batch in _batches(sentences, batch_size):
        enc = tok(batch, return_tensors="pt", padding=True, truncation=True, max_length=_max_length(lm),
                  return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask").bool() | ~enc["attention_mask"].bool()
        rows, cols = [], []
        for i in range(len(batch)):
            allowed = np.flatnonzero(~special[i].numpy())
            if allowed.size:
                rows.append(i)
                cols.append(int(rng.choice(allowed)))
        if not rows:
            continue
        ids = enc["input_ids"].clone()
        ids[rows, cols] = tok.mask_token_id
        enc["input_ids"] = ids
        f, _ = lm.features(**enc)
        yield f[rows, cols], start + np.asarray(rows, dtype=np.int64)


def causal_rows(lm: LMWithHead, sentences: Sequence[str], *, seed: int, batch_size: int) -> Rows:
    """f at every real (non-padding) position of every sentence, with the sentence of each position."""
    tok = lm.tokenizer
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    for start, batch in _batches(sentences, batch_size):
        enc = tok(batch, return_tensors="pt", padding=True, truncation=True, max_length=_max_length(lm))
        enc.pop("token_type_ids", None)
        f, _ = lm.features(**enc)
        real = enc["attention_mask"].bool()
        yield f[real], start + np.nonzero(real.numpy())[0].astype(np.int64)


CONTEXT_BUILDERS: Registry[Callable[..., Rows]] = Registry.of(
    "context builder", {"masked": masked_rows, "causal": causal_rows}
)


def collect_contexts(
    lm: LMWithHead,
    sentences: Sequence[str],
    *,
    seed: int = 0,
    batch_size: int = 32,
    max_contexts: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """F (n × d, float64) of decoder inputs and the sentence index (n,) each context comes from.

    With more than ``max_contexts`` contexts a seeded subsample (``default_rng(seed)``) is kept, rows and
    sentence ids together.
    """
    parts = list(CONTEXT_BUILDERS[lm.kind](lm, sentences, seed=seed, batch_size=batch_size))
    if not parts:
        raise BadInputError("the sentences gave no context (no ordinary token); use more or longer sentences.")
    feats = torch.cat([f for f, _ in parts])
    groups = np.concatenate([g for _, g in parts])
    if max_contexts is not None and feats.shape[0] > max_contexts:
        keep = np.sort(np.random.default_rng(seed).choice(feats.shape[0], max_contexts, replace=False))
        feats, groups = feats[torch.as_tensor(keep)], groups[keep]
    return feats.to(torch.float64).numpy(), groups


def collect(
    lm: LMWithHead,
    sentences: Sequence[str],
    ks: Sequence[int],
    *,
    seed: int = 0,
    batch_size: int = 32,
    max_contexts: int | None = None,
    chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """F (n × d, float64) of decoder inputs and Y (n × len(ks)) of bulk log partition functions."""
    F, _ = collect_contexts(lm, sentences, seed=seed, batch_size=batch_size, max_contexts=max_contexts)
    return F, head_log_partition(F, lm.weight, lm.bias, ks, chunk=chunk)
