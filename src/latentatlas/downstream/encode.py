"""Tokenise task examples once, and compute frozen per-layer features from them.

Shared by the probe (frozen features) and fine-tuning (the same token ids feed the trainable model):

* sentence tasks: ``text_a`` (and ``text_b`` for pairs, as ``[CLS] a [SEP] b [SEP]`` with segment ids),
  truncated to ``max_length`` tokens; the feature of an example pools its non-special token vectors at a
  layer (:data:`SENTENCE_POOLINGS`); pair tasks can instead encode each sentence alone and combine the
  two sentence vectors u, v as SentEval does (:data:`PAIR_FEATURES`);
* tagging tasks: the pre-split ``words`` (``is_split_into_words``); a word is represented by its first
  subword token (the usual convention for token classification). Words cut off by truncation have no
  vector; :attr:`EncodedSplit.word_token` marks them with -1 and callers predict them explicitly.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UnknownNameError
from ..io import content_key, entry_intact, write_sealed
from ..settings import PairFeatures, SentencePooling
from ..store.extractor import forward_batch, length_sorted_batches
from .base import Split, TaskInfo

log = logging.getLogger(__name__)

#: How a sentence's non-special token vectors h_1..h_k (k ≥ 1) of one layer become its feature:
#: ``mean``: (1/k) Σ h_t (d values; sentence-transformers' pooling for MiniLM);
#: ``halves``: [mean(h_1..h_m); mean(h_{k−m'+1}..h_k)] with m = max(1, ⌊k/2⌋) and m' = k − ⌊k/2⌋, the
#: means of the first and the second half of the tokens (2d values; position-aware: moving a word
#: between halves changes the feature even for an encoder that ignores order);
#: ``cls_mean_max``: [h_[CLS]; mean; element-wise max] (3d values; the first position is the
#: tokenizer's first special token).
SENTENCE_POOLINGS: tuple[str, ...] = ("mean", "halves", "cls_mean_max")
_WIDTH = {"mean": 1, "halves": 2, "cls_mean_max": 3}  # feature size in units of the hidden size
#: Features of a sentence pair (a, b):
#: ``joint_mean``: one pass over ``[CLS] a [SEP] b [SEP]``, mean of every non-special token (d values);
#: ``senteval``: a and b encoded alone, u = mean(a), v = mean(b), feature [u; v; |u − v|; u ∗ v]
#: (4d values; Conneau et al. 2017, InferSent, and the SentEval toolkit). The two texts of every pair
#: share one batched pass, so the cost is that of one pass over the same tokens.
PAIR_FEATURES: tuple[str, ...] = ("joint_mean", "senteval")


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
    """Frozen features of one split: ``by_layer[layer]`` is ``(n_rows, k·d)`` float32 (k: 1 for mean
    pooling and tagging, 2–4 for the other poolings, see :func:`features`).

    Rows are examples (sentence tasks) or the words of all sentences in order (tagging); ``kept`` marks
    the rows that have a vector (False for words dropped by truncation, whose rows are zeros).
    """

    by_layer: dict[int, np.ndarray]
    kept: np.ndarray


def pool_tokens(h: np.ndarray, keep: np.ndarray, how: str) -> np.ndarray:
    """One sentence's feature from its token vectors ``h`` (T × d) at one layer (:data:`SENTENCE_POOLINGS`).

    ``keep`` marks the non-special tokens; a sequence of special tokens only pools all of them.
    """
    if not keep.any():
        keep = np.ones(len(h), dtype=bool)
    tokens = h[keep]
    if how == "mean":
        return tokens.mean(axis=0)
    if how == "halves":
        k = len(tokens)
        return np.concatenate([tokens[: max(1, k // 2)].mean(axis=0), tokens[k // 2 :].mean(axis=0)])
    if how == "cls_mean_max":
        return np.concatenate([h[0], tokens.mean(axis=0), tokens.max(axis=0)])
    raise UnknownNameError("sentence pooling", how, SENTENCE_POOLINGS)


def senteval_pair(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """SentEval's pair feature ``[u; v; |u − v|; u ∗ v]`` (rows are pairs)."""
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


def _pooled(
    model: torch.nn.Module,
    tokenizer: Any,
    enc: EncodedSplit,
    *,
    layers: Sequence[int],
    how: str,
    batch_size: int,
    bar: Any,
) -> dict[int, np.ndarray]:
    """Pooled features (``how``) of every sequence of ``enc`` at ``layers``, one batched pass."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    width = _WIDTH[how] * int(model.config.hidden_size)
    out = {layer: np.zeros((len(enc), width), dtype=np.float32) for layer in layers}
    for batch in length_sorted_batches(enc.lengths(), batch_size):
        H = forward_batch(
            model, [enc.input_ids[i] for i in batch], pad_id, list(layers),
            token_type_ids=[enc.token_type_ids[i] for i in batch],
        ).numpy()
        for j, i in enumerate(batch):
            n = len(enc.input_ids[i])
            keep = ~enc.special[i][:n]
            for li, layer in enumerate(layers):
                out[layer][i] = pool_tokens(H[li, j, :n], keep, how)
        if bar is not None:
            bar.update(len(batch))
    return out


def _word_vectors(
    model: torch.nn.Module, tokenizer: Any, enc: EncodedSplit, *, layers: Sequence[int], batch_size: int, bar: Any,
) -> dict[int, np.ndarray]:
    """First-subword vector of every word of every sentence (rows: words in order; dropped words: 0)."""
    assert enc.word_token is not None
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    offsets = np.concatenate([[0], np.cumsum([len(w) for w in enc.word_token])])
    d = int(model.config.hidden_size)
    out = {layer: np.zeros((int(offsets[-1]), d), dtype=np.float32) for layer in layers}
    for batch in length_sorted_batches(enc.lengths(), batch_size):
        H = forward_batch(
            model, [enc.input_ids[i] for i in batch], pad_id, list(layers),
            token_type_ids=[enc.token_type_ids[i] for i in batch],
        ).numpy()
        for j, i in enumerate(batch):
            wt = enc.word_token[i]
            kept = wt >= 0
            rows = offsets[i] + np.flatnonzero(kept)
            for li, layer in enumerate(layers):
                out[layer][rows] = H[li, j, wt[kept]]
        if bar is not None:
            bar.update(len(batch))
    return out


def _concat(a: EncodedSplit, b: EncodedSplit) -> EncodedSplit:
    return EncodedSplit(a.input_ids + b.input_ids, a.token_type_ids + b.token_type_ids, a.special + b.special, None)


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
    sentence_pooling: SentencePooling = "mean",
    pair_features: PairFeatures = "joint_mean",
) -> Features:
    """Frozen features per layer: ``(n_examples, k·d)`` for sentence tasks, ``(n_words, d)`` for tagging.

    ``sentence_pooling`` (single sentences, :data:`SENTENCE_POOLINGS`) and ``pair_features`` (pairs,
    :data:`PAIR_FEATURES`) default to plain mean pooling, the features of a sentence encoder; the probe
    mode of a study passes its :class:`~latentatlas.downstream.probe.ProbeSettings` (``halves`` and
    ``senteval`` by default, see there for why).
    """
    model.eval()
    if sentence_pooling not in SENTENCE_POOLINGS:
        raise UnknownNameError("sentence pooling", sentence_pooling, SENTENCE_POOLINGS)
    if pair_features not in PAIR_FEATURES:
        raise UnknownNameError("pair features", pair_features, PAIR_FEATURES)
    separate = info.pair and split.text_b is not None and pair_features == "senteval"
    if separate:
        single = replace(info, pair=False)
        enc = _concat(
            encode_split(tokenizer, Split(text_a=split.text_a), single, max_length=max_length),
            encode_split(tokenizer, Split(text_a=split.text_b), single, max_length=max_length),  # type: ignore[arg-type]
        )
    else:
        enc = encode_split(tokenizer, split, info, max_length=max_length)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(enc), desc=f"features {info.name}", unit="ex", leave=False)
    if enc.word_token is not None:
        out = _word_vectors(model, tokenizer, enc, layers=layers, batch_size=batch_size, bar=bar)
    else:
        how = "mean" if info.pair else sentence_pooling
        out = _pooled(model, tokenizer, enc, layers=layers, how=how, batch_size=batch_size, bar=bar)
        if separate:
            n = len(split)
            out = {layer: senteval_pair(v[:n], v[n:]) for layer, v in out.items()}
    if bar is not None:
        bar.close()
    if enc.word_token is not None:
        kept = np.concatenate([w >= 0 for w in enc.word_token]) if enc.word_token else np.zeros(0, bool)
        if not kept.all():
            log.info("%s: %d words beyond max_length=%d have no vector", info.name, (~kept).sum(), max_length)
    else:
        kept = np.ones(len(split), dtype=bool)
    return Features(by_layer=out, kept=kept)


def feature_kind(info: TaskInfo, sentence_pooling: str = "mean", pair_features: str = "joint_mean") -> str:
    """The name of the features :func:`features` computes for ``info`` with these settings (cache keys)."""
    if info.kind == "tagging":
        return "first-subword"
    if info.pair:
        return "senteval-mean" if pair_features == "senteval" else "mean-non-special"
    return "mean-non-special" if sentence_pooling == "mean" else sentence_pooling


class FeatureCache:
    """Per-layer features of one (model, task split, settings), as one ``.npz`` per entry.

    Each entry is sealed with a ``<name>.npz.sha256`` written after it and checked before it is read; a
    damaged entry is logged and recomputed. In a read-only cache folder new entries are not kept.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root) / "features"

    @staticmethod
    def key(model_key: str, info: TaskInfo, split: Split, layers: Sequence[int], max_length: int,
            pooling: str = "mean-non-special") -> str:
        """Cache key; ``pooling`` is :func:`feature_kind` (the old names are kept, so old entries stay valid)."""
        blob = {
            "model": model_key,
            "split": split_digest(info, split),
            "layers": list(layers),
            "max_length": max_length,
            "pooling": "first-subword" if info.kind == "tagging" else pooling,
        }
        return content_key(blob)

    def path(self, model_key: str, info: TaskInfo, split: Split, layers: Sequence[int], max_length: int,
             pooling: str = "mean-non-special") -> Path:
        return self.root / f"{self.key(model_key, info, split, layers, max_length, pooling)}.npz"

    def cached(
        self, split: Split, info: TaskInfo, *, model_key: str, layers: Sequence[int], max_length: int = 128,
        sentence_pooling: SentencePooling = "mean", pair_features: PairFeatures = "joint_mean",
    ) -> Features | None:
        """The cached features of this entry, or None (absent or unreadable): no model needed."""
        pooling = feature_kind(info, sentence_pooling, pair_features)
        path = self.path(model_key, info, split, layers, max_length, pooling)
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
        sentence_pooling: SentencePooling = "mean",
        pair_features: PairFeatures = "joint_mean",
    ) -> Features:
        cached = self.cached(split, info, model_key=model_key, layers=layers, max_length=max_length,
                             sentence_pooling=sentence_pooling, pair_features=pair_features)
        if cached is not None:
            return cached
        path = self.path(model_key, info, split, layers, max_length,
                         feature_kind(info, sentence_pooling, pair_features))
        feats = features(
            model, tokenizer, split, info,
            layers=layers, max_length=max_length, batch_size=batch_size, progress=progress,
            sentence_pooling=sentence_pooling, pair_features=pair_features,
        )

        def write(p: Path) -> None:
            with open(p, "wb") as f:
                np.savez(f, kept=feats.kept, **{f"layer_{layer}": v for layer, v in feats.by_layer.items()})

        write_sealed(path, write, "feature cache")
        return feats
