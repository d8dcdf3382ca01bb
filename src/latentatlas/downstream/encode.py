"""Tokenise task examples once, and compute frozen per-layer features from them.

Shared by the probe (frozen features) and fine-tuning (the same token ids feed the trainable model):

* sentence tasks: ``text_a`` (and ``text_b`` for pairs, as ``[CLS] a [SEP] b [SEP]`` with segment ids),
  truncated to ``max_length`` tokens; the feature of an example is the mean of its non-special token
  vectors at a layer (mean pooling, as sentence-transformers does for MiniLM);
* tagging tasks: the pre-split ``words`` (``is_split_into_words``); a word is represented by its first
  subword token (the usual convention for token classification). Words cut off by truncation have no
  vector; :attr:`EncodedSplit.word_token` marks them with -1 and callers predict them explicitly.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import content_key, entry_intact, write_sealed
from ..store.extractor import forward_batch, length_sorted_batches
from .base import Split, TaskInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedSplit:
    """Token ids of every example of a split, ready for batched forward passes.

    ``word_token[i]`` (tagging only) gives, for each word of sentence ``i``, the position of its first
    subword token, or -1 when truncation dropped the word.
    """

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    special: list[np.ndarray]
    word_token: list[np.ndarray] | None

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.input_ids], dtype=np.int64)

    @property
    def n_truncated_words(self) -> int:
        return 0 if self.word_token is None else int(sum((w < 0).sum() for w in self.word_token))


def encode_split(tokenizer: Any, split: Split, info: TaskInfo, *, max_length: int = 128) -> EncodedSplit:
    """Tokenise ``split`` for ``info``'s kind of task (no padding; truncation at ``max_length``)."""
    if info.kind == "tagging":
        if split.words is None:
            raise ValueError(f"tagging task {info.name!r} split has no words")
        enc = tokenizer(
            [list(w) for w in split.words],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            return_special_tokens_mask=True,
        )
        word_token = []
        for i, words in enumerate(split.words):
            first = np.full(len(words), -1, dtype=np.int64)
            for pos, w in enumerate(enc.word_ids(i)):
                if w is not None and first[w] < 0:
                    first[w] = pos
            word_token.append(first)
    else:
        args = [list(split.text_a)] + ([list(split.text_b)] if info.pair and split.text_b is not None else [])
        enc = tokenizer(*args, truncation=True, max_length=max_length, return_special_tokens_mask=True)
        word_token = None
    ids = [list(x) for x in enc["input_ids"]]
    types = [list(x) for x in enc["token_type_ids"]] if "token_type_ids" in enc else [[0] * len(x) for x in ids]
    special = [np.asarray(m, dtype=bool) for m in enc["special_tokens_mask"]]
    return EncodedSplit(input_ids=ids, token_type_ids=types, special=special, word_token=word_token)


def split_digest(info: TaskInfo, split: Split) -> str:
    """sha256 of a split's content (texts and labels): the task part of feature cache keys."""
    h = hashlib.sha256(info.name.encode())
    for i, a in enumerate(split.text_a):
        h.update(a.encode())
        if split.text_b is not None:
            h.update(b"\x01" + split.text_b[i].encode())
        h.update(b"\x00")
    if split.tags is not None:
        for t in split.tags:
            h.update(np.asarray(t, dtype=np.int64).tobytes())
    h.update(np.asarray(split.labels).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Features:
    """Frozen features of one split: ``by_layer[layer]`` is ``(n_rows, d)`` float32.

    Rows are examples (sentence tasks) or the words of all sentences in order (tagging); ``kept`` marks
    the rows that have a vector (False for words dropped by truncation, whose rows are zeros).
    """

    by_layer: dict[int, np.ndarray]
    kept: np.ndarray


def features(
    model: torch.nn.Module,
    tokenizer: Any,
    split: Split,
    info: TaskInfo,
    *,
    layers: Sequence[int],
    max_length: int = 128,
    batch_size: int = 32,
    progress: bool = False,
) -> Features:
    """Frozen features per layer: ``(n_examples, d)`` for sentence tasks, ``(n_words, d)`` for tagging."""
    model.eval()
    enc = encode_split(tokenizer, split, info, max_length=max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    d = int(model.config.hidden_size)
    if enc.word_token is not None:
        offsets = np.concatenate([[0], np.cumsum([len(w) for w in enc.word_token])])
        n_rows = int(offsets[-1])
    else:
        offsets, n_rows = None, len(enc)
    out = {layer: np.zeros((n_rows, d), dtype=np.float32) for layer in layers}
    batches = length_sorted_batches(enc.lengths(), batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(enc), desc=f"features {info.name}", unit="ex", leave=False)
    for batch in batches:
        H = forward_batch(
            model,
            [enc.input_ids[i] for i in batch],
            pad_id,
            list(layers),
            token_type_ids=[enc.token_type_ids[i] for i in batch],
        ).numpy()
        for j, i in enumerate(batch):
            if offsets is not None:
                wt = enc.word_token[i]  # type: ignore[index]
                kept = wt >= 0
                rows = offsets[i] + np.flatnonzero(kept)
                for li, layer in enumerate(layers):
                    out[layer][rows] = H[li, j, wt[kept]]
            else:
                n = len(enc.input_ids[i])
                keep = ~enc.special[i][:n]
                if not keep.any():  # nothing but special tokens: fall back to all of them
                    keep = np.ones(n, dtype=bool)
                for li, layer in enumerate(layers):
                    out[layer][i] = H[li, j, :n][keep].mean(axis=0)
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    if enc.word_token is not None:
        kept = np.concatenate([w >= 0 for w in enc.word_token]) if enc.word_token else np.zeros(0, bool)
        if not kept.all():
            log.info("%s: %d words beyond max_length=%d have no vector", info.name, (~kept).sum(), max_length)
    else:
        kept = np.ones(n_rows, dtype=bool)
    return Features(by_layer=out, kept=kept)


class FeatureCache:
    """Per-layer features of one (model, task split, settings), as one ``.npz`` per entry.

    Each entry is sealed with a ``<name>.npz.sha256`` written after it and checked before it is read; a
    damaged entry is logged and recomputed. In a read-only cache folder new entries are not kept.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root) / "features"

    @staticmethod
    def key(model_key: str, info: TaskInfo, split: Split, layers: Sequence[int], max_length: int) -> str:
        blob = {
            "model": model_key,
            "split": split_digest(info, split),
            "layers": list(layers),
            "max_length": max_length,
            "pooling": "first-subword" if info.kind == "tagging" else "mean-non-special",
        }
        return content_key(blob)

    def path(self, model_key: str, info: TaskInfo, split: Split, layers: Sequence[int], max_length: int) -> Path:
        return self.root / f"{self.key(model_key, info, split, layers, max_length)}.npz"

    def cached(
        self, split: Split, info: TaskInfo, *, model_key: str, layers: Sequence[int], max_length: int = 128
    ) -> Features | None:
        """The cached features of this entry, or None (absent or unreadable): no model needed."""
        path = self.path(model_key, info, split, layers, max_length)
        if not entry_intact(path, "feature cache entry"):
            return None
        try:
            with np.load(path) as z:
                loaded = {int(k.removeprefix("layer_")): z[k] for k in z.files if k.startswith("layer_")}
                kept = z["kept"]
        except (OSError, ValueError):
            log.warning("feature cache %s is unreadable; recomputing", path)
            return None
        return Features(by_layer=loaded, kept=kept) if set(loaded) == set(layers) else None

    def get_or_compute(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        split: Split,
        info: TaskInfo,
        *,
        model_key: str,
        layers: Sequence[int],
        max_length: int = 128,
        batch_size: int = 32,
        progress: bool = False,
    ) -> Features:
        cached = self.cached(split, info, model_key=model_key, layers=layers, max_length=max_length)
        if cached is not None:
            return cached
        path = self.path(model_key, info, split, layers, max_length)
        feats = features(
            model, tokenizer, split, info,
            layers=layers, max_length=max_length, batch_size=batch_size, progress=progress,
        )

        def write(p: Path) -> None:
            with open(p, "wb") as f:
                np.savez(f, kept=feats.kept, **{f"layer_{layer}": v for layer, v in feats.by_layer.items()})

        write_sealed(path, write, "feature cache")
        return feats
