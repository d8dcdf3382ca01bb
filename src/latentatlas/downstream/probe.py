"""Probe mode: a linear model on frozen features of one layer (the cheap alternative to fine-tuning).

Classification and tagging use multinomial logistic regression (L2, inverse strength ``C``) on
standardised features, or, with ``classifier="ridge"``, a ridge classifier (least squares on ±1
one-vs-rest targets, strength ``alpha``: closed form, 10–20× faster with many classes); regression uses
ridge regression (strength ``alpha``). A probe is convex, so the
only randomness is which training examples it sees: each seed draws a seeded ``train_fraction`` subset of
the training split (whole sentences for tagging), so the spread over seeds measures how much the score
depends on the training sample. Validation predictions are scored with the task's official metric.
Tagging words cut off by truncation have no vector and are predicted as the most frequent training tag.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

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


def fit_predict(
    F_train: np.ndarray,
    y_train: np.ndarray,
    F_eval: np.ndarray,
    info: TaskInfo,
    settings: ProbeSettings,
) -> np.ndarray:
    """Fit the probe on ``(F_train, y_train)`` and predict ``F_eval`` (class ids or real values)."""
    from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if info.kind == "regression":
        est = make_pipeline(StandardScaler(), Ridge(alpha=settings.alpha))
        est.fit(F_train, y_train.astype(np.float64))
        return est.predict(F_eval)
    classes = np.unique(y_train)
    if classes.size == 1:  # a degenerate training sample: the constant predictor
        return np.full(F_eval.shape[0], classes[0])
    clf = (
        RidgeClassifier(alpha=settings.alpha)
        if settings.classifier == "ridge"
        else LogisticRegression(C=settings.C, max_iter=settings.max_iter)
    )
    est = make_pipeline(StandardScaler(), clf)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(lbfgs failed to converge|max_iter).*")
        est.fit(F_train, y_train)
    return est.predict(F_eval)


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

    Rows hold ``layer``, ``seed``, ``n_train`` and every metric of
    :func:`~latentatlas.downstream.metrics.evaluate` (``score`` is the official one).
    """
    from .metrics import evaluate

    settings = settings or ProbeSettings()
    info = task.info
    y_train_all = targets(info, task.train)
    y_val = targets(info, task.validation)
    if settings.train_fraction == 1.0 and len(set(seeds)) > 1:
        log.warning("probe train_fraction=1: every seed sees the same data, so the seeds agree")
    fallback = int(np.bincount(y_train_all[train.kept]).argmax()) if info.kind == "tagging" else None
    rows = []
    for seed in seeds:
        picked = _train_rows(info, task.train, settings.train_fraction, seed)
        picked = picked[train.kept[picked]]
        for layer in layers:
            pred = np.empty(y_val.shape, dtype=np.float64 if info.kind == "regression" else np.int64)
            if fallback is not None:
                pred[:] = fallback
            kept = validation.kept
            pred[kept] = fit_predict(
                train.by_layer[layer][picked], y_train_all[picked], validation.by_layer[layer][kept], info, settings
            )
            metrics = evaluate(info, per_sentence(info, task.validation, y_val), per_sentence(info, task.validation, pred))
            rows.append({"layer": int(layer), "seed": int(seed), "n_train": int(picked.size), **metrics})
    return rows
