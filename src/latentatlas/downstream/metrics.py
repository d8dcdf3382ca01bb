"""Official task metrics (GLUE conventions), input-blind baselines and the GLUE average.

Every metric is a pure function ``f(y_true, y_pred) -> dict[str, float]`` whose ``"score"`` entry is the
official number of the task; :data:`METRICS` maps the names used in :attr:`TaskInfo.metric` to them.
Sentence-level metrics take 1-D arrays (class ids, or floats for regression); tagging metrics take
sequences of per-word arrays (``token_accuracy``: tag ids; ``span_f1``: BIO tag strings, converted from
ids by :func:`evaluate`).

GLUE conventions (Wang et al., 2019, "GLUE: A Multi-Task Benchmark and Analysis Platform for Natural
Language Understanding", ICLR): CoLA reports Matthews correlation; MRPC and QQP the mean of accuracy and
F1 of the positive class; STS-B the mean of Pearson and Spearman correlations; the other tasks accuracy.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import BadInputError, UnknownNameError
from ..registry import Registry
from .base import TaskData, TaskInfo

log = logging.getLogger(__name__)

MetricFn = Callable[[Any, Any], dict[str, float]]

#: The nine GLUE tasks, in the benchmark's order.
GLUE_TASKS: tuple[str, ...] = ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli")


def _pair(y_true: Any, y_pred: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1 or p.ndim != 1:
        raise BadInputError(
            f"{what} needs 1-D y_true and y_pred, got shapes {t.shape} and {p.shape}; pass one label "
            "per example."
        )
    if len(t) != len(p):
        raise BadInputError(
            f"{what}: y_true has {len(t)} labels but y_pred has {len(p)}; pass one prediction per example."
        )
    if len(t) == 0:
        raise BadInputError(f"{what} of zero examples is undefined; pass at least one example.")
    return t, p


def accuracy(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Accuracy, the fraction of exact matches: ``mean(y_true == y_pred)``."""
    t, p = _pair(y_true, y_pred, "accuracy")
    acc = float(np.mean(t == p))
    return {"accuracy": acc, "score": acc}


def mcc(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Matthews correlation coefficient (Matthews 1975; multi-class form of Gorodkin 2004).

    With confusion matrix ``C`` (rows true, columns predicted), ``t_k`` the true and ``p_k`` the
    predicted count of class ``k``, ``c = trace(C)`` and ``s = sum(C)``::

        MCC = (c·s − Σ_k p_k t_k) / sqrt((s² − Σ_k p_k²) · (s² − Σ_k t_k²))

    For two classes this is ``(TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``. When a
    denominator factor is zero (a constant prediction or a single true class) the value is 0, as in
    scikit-learn. The official CoLA metric.
    """
    t, p = _pair(y_true, y_pred, "mcc")
    classes, inverse = np.unique(np.concatenate([t, p]), return_inverse=True)
    k = len(classes)
    ti, pi = inverse[: len(t)], inverse[len(t) :]
    conf = np.zeros((k, k), dtype=np.float64)
    np.add.at(conf, (ti, pi), 1.0)
    t_k, p_k = conf.sum(axis=1), conf.sum(axis=0)
    c, s = np.trace(conf), conf.sum()
    den = (s * s - p_k @ p_k) * (s * s - t_k @ t_k)
    value = 0.0 if den == 0 else float((c * s - p_k @ t_k) / np.sqrt(den))
    return {"mcc": value, "score": value}


def binary_f1(y_true: Any, y_pred: Any, positive: int = 1) -> float:
    """F1 of the positive class: ``2·TP / (2·TP + FP + FN)``, 0 when there is no positive at all."""
    t, p = _pair(y_true, y_pred, "f1")
    tp = float(np.sum((t == positive) & (p == positive)))
    fp = float(np.sum((t != positive) & (p == positive)))
    fn = float(np.sum((t == positive) & (p != positive)))
    den = 2 * tp + fp + fn
    return 0.0 if den == 0 else 2 * tp / den


def acc_f1(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Accuracy, F1 of class 1 and their mean (``score``); the official MRPC and QQP metric."""
    acc = accuracy(y_true, y_pred)["accuracy"]
    f1 = binary_f1(y_true, y_pred, positive=1)
    return {"accuracy": acc, "f1": f1, "score": (acc + f1) / 2}


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """``Σ(x−x̄)(y−ȳ) / sqrt(Σ(x−x̄)² Σ(y−ȳ)²)``; 0 when either input is constant (undefined)."""
    dx, dy = x - x.mean(), y - y.mean()
    den = np.sqrt((dx @ dx) * (dy @ dy))
    return 0.0 if den == 0 else float(np.clip((dx @ dy) / den, -1.0, 1.0))


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as scipy.stats.rankdata 'average')."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    avg = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def pearson_spearman(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Pearson r, Spearman ρ (Pearson r of average ranks) and their mean (``score``); STS-B's metric.

    A constant input makes a correlation undefined; it is reported as 0 (no association) rather than
    NaN, so a constant predictor such as the majority baseline scores 0.
    """
    t, p = _pair(y_true, y_pred, "pearson_spearman")
    t, p = t.astype(np.float64), p.astype(np.float64)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise BadInputError("pearson_spearman got NaN or infinite values; pass finite scores.")
    r = _pearson(t, p)
    rho = _pearson(_ranks(t), _ranks(p))
    return {"pearson": r, "spearman": rho, "score": (r + rho) / 2}


def _sequences(y_true: Sequence[Any], y_pred: Sequence[Any], what: str) -> list[tuple[Any, Any]]:
    if len(y_true) != len(y_pred):
        raise BadInputError(
            f"{what}: y_true has {len(y_true)} sentences but y_pred has {len(y_pred)}; pass one tag "
            "sequence per sentence."
        )
    out = []
    for i, (t, p) in enumerate(zip(y_true, y_pred)):
        if len(t) != len(p):
            raise BadInputError(
                f"{what}: sentence {i} has {len(t)} true tags but {len(p)} predicted; pass one tag per word."
            )
        out.append((t, p))
    return out


def token_accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, float]:
    """Tagging accuracy over all words of all sentences: ``Σ_s Σ_w [t_sw = p_sw] / Σ_s n_s``."""
    pairs = _sequences(y_true, y_pred, "token_accuracy")
    if not pairs:
        raise BadInputError("token_accuracy of zero sentences is undefined; pass at least one sentence.")
    t = np.concatenate([np.asarray(a).ravel() for a, _ in pairs])
    p = np.concatenate([np.asarray(b).ravel() for _, b in pairs])
    return accuracy(t, p)


def bio_spans(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """Spans ``(start, end_exclusive, type)`` of a BIO sequence, with CoNLL-2000 ``conlleval`` rules.

    ``B-X`` starts a span of type X; ``I-X`` continues the open span when it has type X and otherwise
    starts a new one (so ``I-X`` after ``O`` or after a span of another type opens a span, the lenient
    CoNLL reading that seqeval's default mode shares); ``O`` closes the open span.

    Raises:
        BadInputError: a tag is neither ``O`` nor ``B-…``/``I-…``.
    """
    spans: set[tuple[int, int, str]] = set()
    start, kind = -1, ""
    for i, tag in enumerate(list(tags) + ["O"]):
        if tag == "O":
            prefix, typ = "O", ""
        elif len(tag) > 2 and tag[:2] in ("B-", "I-"):
            prefix, typ = tag[0], tag[2:]
        else:
            raise BadInputError(
                f"tag {tag!r} at position {i} is not BIO; use 'O', 'B-TYPE' or 'I-TYPE' labels for span_f1."
            )
        continues = prefix == "I" and kind == typ and start >= 0
        if start >= 0 and not continues:
            spans.add((start, i, kind))
            start, kind = -1, ""
        if prefix in ("B", "I") and not continues:
            start, kind = i, typ
    return spans


def span_f1(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro-averaged span F1 over BIO sequences (CoNLL / seqeval semantics).

    A predicted span counts as correct only when its type and both boundaries equal a true span of the
    same sentence (spans from :func:`bio_spans`). With ``TP`` correct spans, ``P = TP / #predicted``,
    ``R = TP / #true`` and ``F1 = 2PR / (P + R)``; each is 0 when its denominator is 0.
    """
    pairs = _sequences(y_true, y_pred, "span_f1")
    tp = n_true = n_pred = 0
    for t, p in pairs:
        st, sp = bio_spans(t), bio_spans(p)
        tp += len(st & sp)
        n_true += len(st)
        n_pred += len(sp)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "score": f1}


#: metric name (as in :attr:`TaskInfo.metric`) -> metric function.
METRICS: Registry[MetricFn] = Registry.of("task metric", {
    "accuracy": accuracy,
    "mcc": mcc,
    "acc_f1": acc_f1,
    "pearson_spearman": pearson_spearman,
    "token_accuracy": token_accuracy,
    "span_f1": span_f1,
})


def _tag_names(info: TaskInfo, seqs: Sequence[Any]) -> list[list[str]]:
    n = len(info.labels)
    out = []
    for seq in seqs:
        ids = np.asarray(seq, dtype=np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise BadInputError(
                f"task {info.name!r}: tag id {int(ids.max() if ids.max() >= n else ids.min())} is outside "
                f"0..{n - 1}; predict ids of info.labels."
            )
        out.append([info.labels[i] for i in ids])
    return out


def evaluate(info: TaskInfo, y_true: Any, y_pred: Any) -> dict[str, float]:
    """The official metric of a task (``info.metric``); ``"score"`` is always the official number.

    For tagging tasks, ``y_true`` and ``y_pred`` are sequences of per-word tag-id arrays; ``span_f1``
    turns them into names with ``info.labels``.
    """
    try:
        fn = METRICS[info.metric]
    except KeyError:
        raise UnknownNameError("metric", info.metric, METRICS) from None
    if info.metric == "span_f1":
        return fn(_tag_names(info, y_true), _tag_names(info, y_pred))
    return fn(y_true, y_pred)


def _most_common(values: Any) -> Any:
    """The most frequent value; ties go to the smallest value (a deterministic rule)."""
    counts = Counter(np.asarray(values).ravel().tolist())
    best = max(counts.values())
    return min(v for v, c in counts.items() if c == best)


def majority_baseline(task: TaskData) -> dict[str, float]:
    """The task's metric on validation for a constant predictor (it ignores the input).

    * classification: always the most frequent train class (ties: the smallest id);
    * regression: always the train mean;
    * tagging: always the most frequent train tag overall (ties: the smallest id); the word-aware
      baseline is :func:`per_word_baseline`.
    """
    info, train, val = task.info, task.train, task.validation
    if info.kind == "tagging":
        if not train.tags or val.tags is None:
            raise BadInputError(f"task {info.name!r} has no train tags; a tagging baseline needs them.")
        tag = _most_common(np.concatenate([np.asarray(t).ravel() for t in train.tags]))
        pred = [np.full(len(t), tag, dtype=np.int64) for t in val.tags]
        return evaluate(info, val.tags, pred)
    if len(train.labels) == 0:
        raise BadInputError(f"task {info.name!r} has no train labels; a majority baseline needs them.")
    if info.kind == "regression":
        constant = float(np.mean(train.labels))
        pred = np.full(len(val.labels), constant, dtype=np.float64)
    else:
        pred = np.full(len(val.labels), _most_common(train.labels), dtype=np.int64)
    return evaluate(info, val.labels, pred)


def per_word_baseline(task: TaskData) -> dict[str, float]:
    """A tagging task's metric on validation when each word gets its most frequent train tag.

    Exact word form; ties: the smallest id; words never seen in train get the most frequent train tag
    overall. This is a lexical baseline (a lookup table, no context), far above the constant
    :func:`majority_baseline` for part-of-speech tags: on the default study's ``bbc_pos`` (300 train,
    100 validation sentences) 0.735 against 0.119.

    Raises:
        BadInputError: the task is not a tagging task, or has no train words and tags.
    """
    info, train, val = task.info, task.train, task.validation
    if info.kind != "tagging":
        raise BadInputError(f"task {info.name!r} is not a tagging task; the per-word baseline needs words and tags.")
    if not train.tags or val.words is None or train.words is None:
        raise BadInputError(f"task {info.name!r} has no train tags; a tagging baseline needs them.")
    by_word: dict[str, Counter[int]] = {}
    for words, tags in zip(train.words, train.tags):
        for w, t in zip(words, np.asarray(tags).tolist()):
            by_word.setdefault(w, Counter())[t] += 1
    fallback = _most_common(np.concatenate([np.asarray(t).ravel() for t in train.tags]))
    best = {w: min(v for v, c in cnt.items() if c == max(cnt.values())) for w, cnt in by_word.items()}
    pred = [np.array([best.get(w, fallback) for w in words], dtype=np.int64) for words in val.words]
    return evaluate(info, val.tags, pred)


#: baseline name -> (description for tables, function); :func:`task_baselines` applies the ones that fit.
BASELINES: dict[str, tuple[str, Callable[[TaskData], dict[str, float]]]] = {
    "majority": ("majority class / tag (train mean for regression)", majority_baseline),
    "per_word_majority": ("per-word most frequent tag", per_word_baseline),
}


def task_baselines(task: TaskData) -> dict[str, dict[str, float]]:
    """Every baseline that applies to ``task``: ``majority`` always, ``per_word_majority`` for tagging."""
    out = {"majority": majority_baseline(task)}
    if task.info.kind == "tagging":
        out["per_word_majority"] = per_word_baseline(task)
    return out


def glue_average(scores: Mapping[str, float]) -> dict[str, float]:
    """The GLUE average of per-task ``score`` values, with and without WNLI.

    Returns ``glue_avg_9`` (mean over the nine tasks) when all nine are in ``scores`` and
    ``glue_avg_8_no_wnli`` (WNLI left out, as many papers do because its dev set is adversarial) when
    the other eight are. A task missing from one average is logged. MNLI enters with the matched
    validation score only (the leaderboard also averages mismatched).

    Raises:
        BadInputError: not even the eight tasks without WNLI are present (the message lists the missing).
    """
    missing = [t for t in GLUE_TASKS if t not in scores]
    eight = [t for t in GLUE_TASKS if t != "wnli"]
    missing8 = [t for t in eight if t not in scores]
    if missing8:
        raise BadInputError(
            f"the GLUE average needs scores of {', '.join(eight)} (and wnli for the 9-task average); "
            f"missing: {', '.join(missing)}. Evaluate those tasks first."
        )
    out = {"glue_avg_8_no_wnli": float(np.mean([scores[t] for t in eight]))}
    if missing:
        log.warning("glue_avg_9 left out: no score for %s", ", ".join(missing))
    else:
        out["glue_avg_9"] = float(np.mean([scores[t] for t in GLUE_TASKS]))
    return out
