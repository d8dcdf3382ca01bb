"""Probe mode: a linear model on frozen features of one layer (the cheap alternative to fine-tuning).

Classification and tagging use multinomial logistic regression (L2, inverse strength ``C``) on
standardised features, with ``C`` chosen by cross-validation on the training split
(:func:`select_C`), or, with ``classifier="ridge"``, a ridge classifier (least squares on ±1
one-vs-rest targets, strength ``alpha``: closed form, 10–20× faster with many classes); regression uses
ridge regression (strength ``alpha``). A probe is convex, so the
only randomness is which training examples it sees: each seed draws a seeded ``train_fraction`` subset of
the training split (whole sentences for tagging), so the spread over seeds measures how much the score
depends on the training sample. Validation predictions are scored with the task's official metric.
Tagging words cut off by truncation have no vector and are predicted as the most frequent training tag.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..provenance import available_cores, single_thread_pool
from ..settings import ProbeSettings
from .base import Split, TaskData, TaskInfo
from .encode import Features

log = logging.getLogger(__name__)


def targets(info: TaskInfo, split: Split) -> np.ndarray:
    """One target per feature row: the labels, or all word tags concatenated for tagging."""
    if info.kind == "tagging":
        assert split.tags is not None
        return np.concatenate([np.asarray(t, dtype=np.int64) for t in split.tags]) if split.tags else np.zeros(0, np.int64)
    return np.asarray(split.labels)


def per_sentence(info: TaskInfo, split: Split, flat: np.ndarray) -> Any:
    """Predictions in the shape :func:`~latentatlas.downstream.metrics.evaluate` expects."""
    if info.kind != "tagging":
        return flat
    assert split.tags is not None
    bounds = np.cumsum([len(t) for t in split.tags])[:-1]
    return list(np.split(flat, bounds))


def _train_rows(info: TaskInfo, split: Split, fraction: float, seed: int) -> np.ndarray:
    """Rows of a seeded ``fraction`` of the training examples (all words of the chosen sentences)."""
    n_examples = len(split)
    k = max(2, int(round(fraction * n_examples)))
    chosen = np.sort(np.random.default_rng(seed).choice(n_examples, size=min(k, n_examples), replace=False))
    if info.kind != "tagging":
        return chosen
    assert split.tags is not None
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in split.tags])])
    return np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in chosen])


#: Cross-validation fits only rank the grid, so they stop earlier than the final fit: at most this many
#: L-BFGS iterations, at this tolerance (scikit-learn's defaults: 100 and 1e-4; the final fit keeps
#: ``ProbeSettings.max_iter`` and 1e-4).
CV_MAX_ITER, CV_TOL = 100, 1e-3


def _estimator(info: TaskInfo, settings: ProbeSettings, C: float, *, cv: bool = False) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if info.kind == "regression":
        return make_pipeline(StandardScaler(), Ridge(alpha=settings.alpha))
    clf = (
        RidgeClassifier(alpha=settings.alpha)
        if settings.classifier == "ridge"
        else LogisticRegression(C=C, max_iter=min(settings.max_iter, CV_MAX_ITER), tol=CV_TOL, warm_start=True)
        if cv
        else LogisticRegression(C=C, max_iter=settings.max_iter)
    )
    return make_pipeline(StandardScaler(), clf)


def _fit(est: Any, X: np.ndarray, y: np.ndarray) -> Any:
    est.fit(X, y)
    return est


@contextlib.contextmanager
def _parallel_fits(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A pool of ``workers`` threads for independent fits, one BLAS thread each, with L-BFGS's
    convergence warnings silenced (set here, in the calling thread: ``warnings.catch_warnings`` is not
    thread-safe). A fit's numbers are those of a one-thread run, whatever the number of workers."""
    with warnings.catch_warnings(), single_thread_pool(workers) as pool:
        warnings.filterwarnings("ignore", message=".*(lbfgs failed to converge|max_iter).*")
        yield pool


def fit_predict(
    F_train: np.ndarray,
    y_train: np.ndarray,
    F_eval: np.ndarray,
    info: TaskInfo,
    settings: ProbeSettings,
) -> np.ndarray:
    """Fit the probe on ``(F_train, y_train)`` and predict ``F_eval`` (class ids or real values).

    Logistic regression uses ``settings.C``, or 1.0 when it is ``None`` (:func:`probe` chooses it first
    with :func:`select_C`).
    """
    if info.kind == "regression":
        return _fit(_estimator(info, settings, 1.0), F_train, y_train.astype(np.float64)).predict(F_eval)
    classes = np.unique(y_train)
    if classes.size == 1:  # a degenerate training sample: the constant predictor
        return np.full(F_eval.shape[0], classes[0])
    C = settings.C if settings.C is not None else 1.0
    return _fit(_estimator(info, settings, C), F_train, y_train).predict(F_eval)


def cv_folds(y: np.ndarray, k: int, seed: int, groups: np.ndarray | None = None) -> np.ndarray:
    """A fold id in ``0..k−1`` for every row, seeded.

    With ``groups`` (e.g. the sentence of each word of a tagging task) whole groups go to one fold: the
    groups are put in a seeded random order and dealt out round-robin. Without, folds are stratified:
    each class's rows, in a seeded random order, are dealt out round-robin, continuing from where the
    previous class stopped, so fold sizes differ by at most one and every fold holds ⌊n_c/k⌋ or
    ⌈n_c/k⌉ rows of class c.
    """
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), dtype=np.int64)
    if groups is not None:
        uniq, inverse = np.unique(groups, return_inverse=True)
        fold_of_group = np.empty(len(uniq), dtype=np.int64)
        fold_of_group[rng.permutation(len(uniq))] = np.arange(len(uniq)) % k
        return fold_of_group[inverse.reshape(-1)]
    start = 0
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        folds[rows] = (start + np.arange(len(rows))) % k
        start += len(rows)
    return folds


def _cv_score(info: TaskInfo, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The task's official metric on one fold (plain accuracy over words for tagging)."""
    from .metrics import METRICS, accuracy

    if info.kind == "tagging":
        return accuracy(y_true, y_pred)["score"]
    return METRICS[info.metric](y_true, y_pred)["score"]


def select_C(
    F: np.ndarray,
    y: np.ndarray,
    info: TaskInfo,
    settings: ProbeSettings,
    *,
    seed: int,
    groups: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """The logistic-regression ``C`` of ``settings.C_grid`` with the best mean cross-validated score.

    ``settings.cv_folds`` seeded folds (:func:`cv_folds`; ``groups`` keep a sentence's words together)
    of the training rows ``(F, y)``; for every fold the grid is fitted in increasing order, each fit
    warm-started from the previous one (the same optimum, fewer iterations; at most
    :data:`CV_MAX_ITER` iterations at tolerance :data:`CV_TOL`). The score is the task's
    metric on the held-out fold (:func:`_cv_score`), averaged over folds; ties go to the smaller C
    (stronger regularisation). With fewer than two groups or examples there is nothing to validate on:
    C = 1 (scikit-learn's default) is returned with NaN scores.

    Returns:
        ``(C, mean_scores)`` with one mean score per grid value.
    """
    grid = sorted(settings.C_grid)
    n_units = len(np.unique(groups)) if groups is not None else len(y)
    k = min(settings.cv_folds, n_units)
    if k < 2:
        return 1.0, np.full(len(grid), np.nan)
    folds = cv_folds(y, k, seed, groups)

    def fold_scores(f: int) -> np.ndarray:
        train, held = folds != f, folds == f
        classes = np.unique(y[train])
        est = _estimator(info, settings, grid[0], cv=True)
        out = np.zeros(len(grid))
        for g, C in enumerate(grid):
            if classes.size == 1:
                pred = np.full(int(held.sum()), classes[0])
            else:
                est.set_params(logisticregression__C=C)
                pred = _fit(est, F[train], y[train]).predict(F[held])
            out[g] = _cv_score(info, y[held], pred)
        return out

    # the folds at once, one per core (L-BFGS's loss and BLAS release the GIL)
    with _parallel_fits(min(k, available_cores())) as pool:
        per_fold = list(pool.map(fold_scores, range(k)))
    scores = np.sum(per_fold, axis=0) / k
    return float(grid[int(np.argmax(scores))]), scores


def probe(
    task: TaskData,
    train: Features,
    validation: Features,
    *,
    layers: Sequence[int],
    seeds: Sequence[int],
    settings: ProbeSettings | None = None,
) -> list[dict[str, Any]]:
    """Probe every layer with every seed; one row per (layer, seed) with the task's metrics.

    Logistic regression's ``C``, unless ``settings.C`` fixes it, is chosen once per layer by
    :func:`select_C` on the whole training split (folds seeded by the first seed); every seed then fits
    its own training sample with it, so the spread over seeds is that of the training sample alone.

    Rows hold ``layer``, ``seed``, ``n_train``, ``C`` (logistic regression only: the C used) and every
    metric of :func:`~latentatlas.downstream.metrics.evaluate` (``score`` is the official one).
    """
    from .metrics import evaluate

    settings = settings or ProbeSettings()
    info = task.info
    y_train_all = targets(info, task.train)
    y_val = targets(info, task.validation)
    if settings.train_fraction == 1.0 and len(set(seeds)) > 1:
        log.warning("probe train_fraction=1: every seed sees the same data, so the seeds agree")
    fallback = int(np.bincount(y_train_all[train.kept]).argmax()) if info.kind == "tagging" else None
    logistic = info.kind != "regression" and settings.classifier == "logistic"
    C_of = {layer: settings.C for layer in layers}
    if logistic and settings.C is None:
        rows_all = np.flatnonzero(train.kept)
        sentence_of_row = _sentence_of_row(info, task.train)
        groups = None if sentence_of_row is None else sentence_of_row[rows_all]
        for layer in layers:
            C_of[layer], _ = select_C(train.by_layer[layer][rows_all], y_train_all[rows_all], info, settings,
                                      seed=int(seeds[0]), groups=groups)

    def run(seed: int, layer: int) -> dict[str, Any]:
        picked = _train_rows(info, task.train, settings.train_fraction, seed)
        picked = picked[train.kept[picked]]
        pred = np.empty(y_val.shape, dtype=np.float64 if info.kind == "regression" else np.int64)
        if fallback is not None:
            pred[:] = fallback
        kept = validation.kept
        fitted = settings.model_copy(update={"C": C_of[layer]})
        pred[kept] = fit_predict(train.by_layer[layer][picked], y_train_all[picked],
                                 validation.by_layer[layer][kept], info, fitted)
        metrics = evaluate(info, per_sentence(info, task.validation, y_val), per_sentence(info, task.validation, pred))
        return {"layer": int(layer), "seed": int(seed), "n_train": int(picked.size),
                **({"C": float(fitted.C or 1.0)} if logistic else {}), **metrics}

    # one fit per core; the rows come out in (seed, layer) order
    jobs = [(int(seed), int(layer)) for seed in seeds for layer in layers]
    with _parallel_fits(available_cores()) as pool:
        return list(pool.map(lambda job: run(*job), jobs))


def _sentence_of_row(info: TaskInfo, split: Split) -> np.ndarray | None:
    """The sentence index of every feature row of a tagging split (None for sentence tasks)."""
    if info.kind != "tagging":
        return None
    assert split.tags is not None
    return np.repeat(np.arange(len(split.tags)), [len(t) for t in split.tags])
