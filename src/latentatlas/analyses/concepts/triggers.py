"""Adversarial triggers from polar concepts (Durrani et al. 2022, RQ4).

Protocol (the paper gives none in the available text; this one is fixed and documented):

1. **Trigger words for class c**: the word types of the concepts polar towards c (one layer, one label
   source, see :mod:`.polarity`), ranked by how many occurrences they have in those concepts; words
   that also occur in concepts polar to another class, and tokens without a letter, are dropped; the
   top ``n_words`` are kept (:func:`polar_words`).
2. **Baselines** of the same size: ``random`` words drawn uniformly from the analysed vocabulary, and
   ``frequency`` words, each drawn from the same corpus-frequency band as one trigger word (bands are
   quantiles of log frequency over the vocabulary; :func:`frequency_matched_words`). Both exclude
   every polar word. Draws are seeded.
3. **Inputs**: validation inputs of another class (gold ≠ c) that the classifier gets right.
4. **Insertion** (:func:`insert_words`): ``n_insert`` words drawn from the set (seeded per input, so
   every word set sees the same positions and the same number of words) are inserted as one block,
   space-separated: ``prefix`` (before the first word, as Wallace et al. 2019's universal triggers),
   ``suffix`` (after the last word) or ``random`` (at a uniformly drawn word boundary).
5. **Scores** (:func:`evaluate_triggers`): flip rate (prediction no longer the gold class), flip-to-c
   rate, mean confidence drop p(gold | x) − p(gold | x'), mean gain p(c | x') − p(c | x). Both rates
   carry a percentile bootstrap confidence interval over the attacked inputs (:func:`bootstrap_ci`;
   1,000 resamples, 95 %, seeded; every word set of one target is resampled with the same draws, so
   their intervals are comparable).

A classifier is anything with ``n_classes`` and ``proba(texts) -> (n, n_classes)``; two are provided:
:class:`ProbeClassifier` (an encoder, frozen, plus a logistic regression on mean-pooled features of one
layer) and :class:`HeadClassifier` (a Hugging Face sequence-classification folder). Comparing the same
word sets on a pre-trained encoder + probe and on the fine-tuned model measures how triggers transfer
across models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ...errors import BadInputError
from ...registry import Registry

log = logging.getLogger(__name__)


class Classifier(Protocol):
    """A text classifier: class probabilities of a batch of texts."""

    n_classes: int

    def proba(self, texts: Sequence[str]) -> np.ndarray: ...


# -- insertion -------------------------------------------------------------------------------------


def _at(text: str, block: str, index: int) -> str:
    words = text.split()
    return " ".join(words[:index] + [block] + words[index:])


#: position -> f(text, block, rng) -> text with the block inserted
POSITIONS: Registry[Callable[[str, str, np.random.Generator], str]] = Registry.of("trigger position", {
    "prefix": lambda text, block, rng: f"{block} {text}",
    "suffix": lambda text, block, rng: f"{text} {block}",
    "random": lambda text, block, rng: _at(text, block, int(rng.integers(0, len(text.split()) + 1))),
})


def insert_words(text: str, words: Sequence[str], position: str = "prefix", rng: np.random.Generator | None = None) -> str:
    """``text`` with ``words`` inserted as one space-separated block at ``position`` (:data:`POSITIONS`).

    ``random`` splits on whitespace and inserts at a word boundary drawn from ``rng`` (0 = before the
    first word, n = after the last), then re-joins with single spaces.
    """
    insert = POSITIONS[position]
    if not words:
        return text
    return insert(text, " ".join(words), rng if rng is not None else np.random.default_rng(0))


# -- word sets -------------------------------------------------------------------------------------


def _has_letter(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


def polar_words(
    concepts: np.ndarray,
    words: Sequence[str] | np.ndarray,
    polar: pd.DataFrame,
    target: int,
    *,
    n_words: int = 10,
) -> list[str]:
    """Trigger words for class ``target`` from one layer's polarity table (see the module docstring).

    ``polar`` has columns ``concept``, ``class`` and ``polar`` (:func:`.polarity.polar_concepts` of the
    same occurrences); ``concepts`` and ``words`` give each occurrence's concept and word.
    """
    concepts = np.asarray(concepts)
    words = np.asarray(words, dtype=object).astype(str)
    if concepts.shape != words.shape:
        raise BadInputError(f"{words.size} words for {concepts.size} occurrences; pass one word per occurrence.")
    hits = polar.loc[polar["polar"]]
    mine = set(hits.loc[hits["class"] == target, "concept"])
    others = set(hits.loc[hits["class"] != target, "concept"])
    in_mine = np.isin(concepts, list(mine))
    banned = set(words[np.isin(concepts, list(others))])
    counts = pd.Series(words[in_mine]).value_counts()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [w for w, _ in ranked if w not in banned and _has_letter(w)][:n_words]


def random_words(vocabulary: Sequence[str], n: int, *, exclude: set[str] | frozenset[str] = frozenset(), seed: int = 0) -> list[str]:
    """``n`` distinct words drawn uniformly (seeded) from ``vocabulary`` minus ``exclude`` (letters only)."""
    pool = sorted({w for w in vocabulary if w not in exclude and _has_letter(w)})
    if len(pool) < n:
        raise BadInputError(f"only {len(pool)} candidate words for {n} random ones; analyse more sentences.")
    idx = np.random.default_rng(seed).choice(len(pool), n, replace=False)
    return [pool[i] for i in idx]


def frequency_bands(frequencies: Mapping[str, int], n_bands: int = 10) -> dict[str, int]:
    """Band (0..n_bands−1) of each word: quantiles of log corpus frequency over the vocabulary."""
    words = sorted(frequencies)
    if not words:
        return {}
    logf = np.log(np.array([frequencies[w] for w in words], dtype=np.float64))
    edges = np.unique(np.quantile(logf, np.linspace(0, 1, n_bands + 1)[1:-1]))
    band = np.searchsorted(edges, logf, side="right")
    return dict(zip(words, band.tolist()))


def frequency_matched_words(
    targets: Sequence[str],
    frequencies: Mapping[str, int],
    *,
    exclude: set[str] | frozenset[str] = frozenset(),
    n_bands: int = 10,
    seed: int = 0,
) -> list[str]:
    """One word per target word, drawn (seeded, without repeats) from the target's frequency band.

    Words in ``exclude`` (e.g. every polar word) and without a letter are never drawn; a band with no
    candidate left borrows from the nearest band.
    """
    bands = frequency_bands(frequencies, n_bands)
    missing = [w for w in targets if w not in bands]
    if missing:
        raise BadInputError(f"trigger words {missing[:3]} have no corpus frequency; count them in the analysed corpus.")
    rng = np.random.default_rng(seed)
    by_band: dict[int, list[str]] = {}
    for w in sorted(bands):
        if w not in exclude and _has_letter(w):
            by_band.setdefault(bands[w], []).append(w)
    used: set[str] = set()
    out = []
    for t in targets:
        order = sorted(by_band, key=lambda b: (abs(b - bands[t]), b))
        for b in order:
            pool = [w for w in by_band[b] if w not in used]
            if pool:
                pick = pool[int(rng.integers(len(pool)))]
                used.add(pick)
                out.append(pick)
                break
        else:
            raise BadInputError("no frequency-matched candidate words left; analyse more sentences.")
    return out


# -- evaluation ------------------------------------------------------------------------------------

DEFAULT_N_BOOT = 1000
DEFAULT_CI = 0.95


def bootstrap_ci(
    values: np.ndarray, *, n_boot: int = DEFAULT_N_BOOT, level: float = DEFAULT_CI, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``: resample the n values with replacement
    ``n_boot`` times (seeded) and take the (1 − level)/2 and (1 + level)/2 quantiles of the means."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise BadInputError(f"bootstrap needs a non-empty 1-d array of per-input values, got shape {values.shape}.")
    if n_boot < 1 or not 0 < level < 1:
        raise BadInputError(f"n_boot={n_boot} must be ≥ 1 and level={level} in (0, 1); 1000 and 0.95 are usual.")
    idx = np.random.default_rng(seed).integers(0, values.size, (n_boot, values.size))
    means = values[idx].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)



def evaluate_triggers(
    classifier: Classifier,
    texts: Sequence[str],
    labels: np.ndarray,
    target: int,
    word_sets: Mapping[str, Sequence[str]],
    *,
    n_insert: int = 3,
    position: str = "prefix",
    seed: int = 0,
    base_proba: np.ndarray | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = DEFAULT_CI,
) -> pd.DataFrame:
    """Flip rate and confidence drop of each word set inserted into correctly classified inputs of
    classes other than ``target``.

    Returns one row per word set: ``word_set``, ``target``, ``n_inputs``, ``flip_rate``,
    ``flip_rate_lo``, ``flip_rate_hi``, ``flip_to_target_rate``, ``flip_to_target_lo``,
    ``flip_to_target_hi``, ``confidence_drop``, ``target_gain``, ``words`` (``_lo``/``_hi``: the
    ``level`` percentile bootstrap interval over the inputs, :func:`bootstrap_ci`, seeded with ``seed``).
    """
    POSITIONS[position]  # an unknown position fails here, before any work
    if n_insert < 1:
        raise BadInputError(f"n_insert={n_insert}: insert at least one word.")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size != len(texts):
        raise BadInputError(f"{labels.size} labels for {len(texts)} texts; give one gold class per input.")
    base = classifier.proba(list(texts)) if base_proba is None else np.asarray(base_proba)
    eligible = np.flatnonzero((base.argmax(1) == labels) & (labels != target))
    rows = []
    for name, wset in word_sets.items():
        wset = list(wset)
        row: dict[str, Any] = {"word_set": name, "target": int(target), "n_inputs": int(eligible.size), "words": " ".join(wset)}
        if not wset or not eligible.size:
            rows.append({**row, **{c: np.nan for c in _SCORES}})
            continue
        edited = []
        for i in eligible:
            rng = np.random.default_rng([seed, int(i)])  # same draws for every word set of the same size
            picks = rng.choice(len(wset), n_insert, replace=len(wset) < n_insert)
            edited.append(insert_words(texts[i], [wset[j] for j in picks], position, rng))
        new = classifier.proba(edited)
        gold = labels[eligible]
        pred = new.argmax(1)
        flips, to_target = (pred != gold).astype(float), (pred == target).astype(float)
        flip_lo, flip_hi = bootstrap_ci(flips, n_boot=n_boot, level=level, seed=seed)
        tt_lo, tt_hi = bootstrap_ci(to_target, n_boot=n_boot, level=level, seed=seed)
        rows.append({
            **row,
            "flip_rate": float(flips.mean()), "flip_rate_lo": flip_lo, "flip_rate_hi": flip_hi,
            "flip_to_target_rate": float(to_target.mean()), "flip_to_target_lo": tt_lo, "flip_to_target_hi": tt_hi,
            "confidence_drop": float((base[eligible, gold] - new[np.arange(eligible.size), gold]).mean()),
            "target_gain": float((new[:, target] - base[eligible, target]).mean()),
        })
    return pd.DataFrame(rows)[["word_set", "target", "n_inputs", *_SCORES, "words"]]


_SCORES = ("flip_rate", "flip_rate_lo", "flip_rate_hi", "flip_to_target_rate", "flip_to_target_lo",
           "flip_to_target_hi", "confidence_drop", "target_gain")


# -- classifiers -----------------------------------------------------------------------------------


@dataclass
class ProbeClassifier:
    """A frozen encoder and a logistic regression on the mean-pooled features of one layer."""

    model: Any
    tokenizer: Any
    info: Any  # TaskInfo
    layer: int
    estimator: Any
    max_length: int = 128
    batch_size: int = 32
    train_features: np.ndarray | None = None  # set by :meth:`fit`: features of the training texts

    @property
    def n_classes(self) -> int:
        return int(self.info.num_labels)

    def features(self, texts: Sequence[str]) -> np.ndarray:
        from ...downstream.base import Split
        from ...downstream.encode import features

        split = Split(text_a=tuple(texts))
        return features(self.model, self.tokenizer, split, self.info, layers=[self.layer],
                        max_length=self.max_length, batch_size=self.batch_size).by_layer[self.layer]

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.proba_of_features(self.features(texts))

    def proba_of_features(self, F: np.ndarray) -> np.ndarray:
        """Class probabilities from precomputed features (e.g. :attr:`train_features` rows)."""
        P = self.estimator.predict_proba(F)
        out = np.zeros((P.shape[0], self.n_classes))
        out[:, self.estimator.classes_.astype(np.int64)] = P
        return out

    @classmethod
    def fit(
        cls, model: Any, tokenizer: Any, task: Any, *, layer: int = -1, C: float = 1.0, max_iter: int = 500,
        max_length: int = 128,
    ) -> ProbeClassifier:
        """Fit on ``task.train`` (a sentence classification :class:`~latentatlas.downstream.base.TaskData`)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from ...layers import resolve_layers

        if task.info.kind != "classification" or task.info.pair:
            raise BadInputError(
                f"triggers need a single-sentence classification task; {task.info.name!r} is "
                f"{'a pair' if task.info.pair else task.info.kind} task."
            )
        layer = resolve_layers(layer, int(model.config.num_hidden_layers))[0]
        clf = cls(model, tokenizer, task.info, layer, None, max_length)
        est = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
        clf.train_features = clf.features(task.train.text_a)
        est.fit(clf.train_features, np.asarray(task.train.labels))
        clf.estimator = est
        return clf


@dataclass
class HeadClassifier:
    """A Hugging Face sequence-classification model (encoder and its fine-tuned head)."""

    model: Any
    tokenizer: Any
    max_length: int = 128
    batch_size: int = 32

    @property
    def n_classes(self) -> int:
        return int(self.model.config.num_labels)

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        from ...store.extractor import length_sorted_batches, pad_batch

        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        ids = [list(x) for x in enc["input_ids"]]
        types = [list(x) for x in enc["token_type_ids"]] if "token_type_ids" in enc else [[0] * len(x) for x in ids]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out = np.zeros((len(ids), self.n_classes))
        self.model.eval()
        with torch.inference_mode():
            for batch in length_sorted_batches(np.array([len(x) for x in ids]), self.batch_size):
                logits = self.model(**pad_batch([ids[i] for i in batch], pad, [types[i] for i in batch])).logits
                out[batch] = torch.softmax(logits.float(), -1).numpy()
        return out

    @classmethod
    def load(cls, folder: str, **kw: Any) -> HeadClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        return cls(AutoModelForSequenceClassification.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder), **kw)


def has_classification_head(folder: str) -> bool:
    """Whether a model folder's config declares a sequence-classification architecture."""
    import json
    from pathlib import Path

    cfg = Path(folder) / "config.json"
    if not cfg.is_file():
        return False
    archs = json.loads(cfg.read_text()).get("architectures") or []
    return any(a.endswith("ForSequenceClassification") for a in archs)
