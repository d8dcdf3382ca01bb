"""Batched, length-sorted forward passes returning token-level hidden states of every layer.

Layer 0 is the embedding output, 1..L the transformer blocks (the Hugging Face ``hidden_states`` tuple).
Special tokens ([CLS], [SEP]) are kept by default, as in Marbut et al.; ``keep_special_tokens=False``
drops them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..layers import resolve_layers
from ..settings import ExtractionSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tokenized:
    """The whole corpus tokenized once: per-sentence ids, word ids and special-token masks."""

    input_ids: list[list[int]]
    word_ids: list[list[int]]
    special: list[list[bool]]
    tokens: list[list[str]]

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> np.ndarray:
        return np.array([len(ids) for ids in self.input_ids], dtype=np.int64)

    def kept(self, keep_special: bool) -> list[np.ndarray]:
        """Per sentence, the positions whose vectors are stored."""
        return [
            np.arange(len(m)) if keep_special else np.flatnonzero(~np.asarray(m, dtype=bool))
            for m in self.special
        ]


def tokenize(tokenizer: Any, sentences: Sequence[str], max_length: int) -> Tokenized:
    """Tokenize without padding; truncate at ``max_length`` tokens (special tokens included)."""
    enc = tokenizer(
        list(sentences),
        truncation=True,
        max_length=max_length,
        return_special_tokens_mask=True,
        return_attention_mask=False,
    )
    ids = [list(x) for x in enc["input_ids"]]
    special = [[bool(v) for v in m] for m in enc["special_tokens_mask"]]
    if getattr(tokenizer, "is_fast", False):
        word_ids = [[-1 if w is None else int(w) for w in enc.word_ids(i)] for i in range(len(ids))]
    else:
        log.warning("slow tokenizer: word ids unavailable, word-level aggregation will not work")
        word_ids = [[-1] * len(x) for x in ids]
    tokens = [tokenizer.convert_ids_to_tokens(x) for x in ids]
    return Tokenized(input_ids=ids, word_ids=word_ids, special=special, tokens=tokens)


def length_sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Sentence indices grouped into batches of similar length (stable sort, longest first)."""
    order = np.argsort(-lengths, kind="stable")
    return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]


def pad_batch(
    input_ids: Sequence[Sequence[int]],
    pad_id: int,
    token_type_ids: Sequence[Sequence[int]] | None = None,
) -> dict[str, torch.Tensor]:
    """Right-pad variable-length id lists into ``input_ids`` / ``attention_mask`` (/ ``token_type_ids``)."""
    T = max(len(x) for x in input_ids)
    ids = torch.full((len(input_ids), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(input_ids), T), dtype=torch.long)
    for i, x in enumerate(input_ids):
        ids[i, : len(x)] = torch.as_tensor(x)
        mask[i, : len(x)] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if token_type_ids is not None:
        types = torch.zeros((len(input_ids), T), dtype=torch.long)
        for i, x in enumerate(token_type_ids):
            types[i, : len(x)] = torch.as_tensor(x)
        batch["token_type_ids"] = types
    return batch


def forward_batch(
    model: torch.nn.Module,
    input_ids: Sequence[Sequence[int]],
    pad_id: int,
    layers: Sequence[int],
    token_type_ids: Sequence[Sequence[int]] | None = None,
) -> torch.Tensor:
    """One padded forward pass; returns hidden states of ``layers`` as (n_layers, B, T, d) float32 on
    the CPU. A model on a CUDA device runs under float16 autocast."""
    out = run_forward(model, pad_batch(input_ids, pad_id, token_type_ids), output_hidden_states=True)
    hs = out.hidden_states
    return torch.stack([hs[layer] for layer in layers]).float().cpu()


def run_forward(model: torch.nn.Module, batch: dict[str, torch.Tensor], **kwargs: Any) -> Any:
    """``model(**batch, **kwargs)`` without gradients, on the model's device (float16 autocast on CUDA)."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        if device.type == "cuda":
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast("cuda", dtype=torch.float16):
                return model(**batch, **kwargs)
        return model(**batch, **kwargs)


def num_layers_of(model: torch.nn.Module) -> int:
    return int(model.config.num_hidden_layers)


def extract_hidden_states(
    model: torch.nn.Module,
    tokenizer: Any,
    sentences: Sequence[str],
    *,
    options: ExtractionSettings | None = None,
    layers: str | int | list[int] = "all",
) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
    """In memory: yield ``(sentence_index, {layer: (n_tokens, d) float32})`` in length-sorted order.

    The residual stream only, for small inputs and tests; :class:`~latentatlas.store.ActivationStore` is the
    scalable path and reads every activation site (:mod:`.sites`).
    """
    options = options or ExtractionSettings()
    model.eval()
    layers = resolve_layers(layers, num_layers_of(model))
    tok = tokenize(tokenizer, sentences, options.max_length)
    kept = tok.kept(options.keep_special_tokens)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for batch in length_sorted_batches(tok.lengths(), options.batch_size):
        H = forward_batch(model, [tok.input_ids[i] for i in batch], pad_id, layers).numpy()
        for j, i in enumerate(batch):
            yield int(i), {layer: H[li, j, kept[i]] for li, layer in enumerate(layers)}
