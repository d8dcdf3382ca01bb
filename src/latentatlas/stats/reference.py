"""Two reference predictors every geometry fit is shown beside, and the prediction band of a fit.

A fit ``score ~ measure`` is worth reporting only if it predicts better than what needs no geometry
model at all. Two references, computed on exactly the rows the fit uses (training models with a finite
score and a value of the column; held-out models with a value of the column):

* **training mean**: every model is predicted as ȳ, the mean score of the training models. It ignores
  the geometry entirely; a fit that does not beat it has learnt nothing that transfers.
* **nearest training model**: a model with value x is predicted as the score of the training model whose
  value of the *same column* is closest, argmin_i |x_i − x| (one-nearest-neighbour in the fitted
  column; ties: the mean score of the tied models). It uses the same geometry as the fit but no line, so
  a fit that loses to it gains nothing from assuming a linear relation. Nearest in one column, not in the
  space of all columns: that makes it the non-parametric twin of the fit it stands beside.

Both are cross-validated the way the fit is (:mod:`.cv`): leaving out one group of related models at a
time, the left-out rows are predicted from the other groups only (the mean of the other groups' rows;
the nearest model among the other groups). MSE is the mean over rows, as for ``logo_mse``.

:func:`prediction_band` gives the pointwise OLS prediction interval of ``y ~ x`` for drawing,

    ŷ(x) ± t_{n−2, (1+level)/2} · s · √(1 + 1/n + (x − x̄)² / Sxx),  s² = Σ e² / (n − 2),

which treats the rows as independent (seed twins make it somewhat too narrow; the figure says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..errors import BadInputError
from .cv import group_folds
from .groups import group_codes

REFERENCES = ("training mean", "nearest training model")
"""The reference predictors, in words, in the order of :class:`ReferencePredictions` fields."""


@dataclass(frozen=True)
class ReferencePredictions:
    """Predictions of new rows by the two references; ``nearest``: index of the nearest training row
    (the first of several tied ones)."""

    mean: np.ndarray
    nearest_value: np.ndarray
    nearest: np.ndarray


def _check(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.size != y.size or x.size == 0:
        raise BadInputError(f"reference predictors need as many values as scores (got {x.size} and {y.size}), "
                            "at least one.")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise BadInputError("reference predictors need finite values and scores; drop missing rows first.")
    return x, y


def reference_predictions(x_train: np.ndarray, y_train: np.ndarray, x_new: np.ndarray) -> ReferencePredictions:
    """Training mean and nearest-training-model predictions of the rows ``x_new`` (module docstring).

    Raises:
        BadInputError: no training rows, lengths that disagree, non-finite values.
    """
    x, y = _check(x_train, y_train)
    new = np.asarray(x_new, dtype=float).ravel()
    if not np.isfinite(new).all():
        raise BadInputError("reference predictions need finite values of the new rows.")
    dist = np.abs(new[:, None] - x[None, :])
    tied = dist <= dist.min(axis=1, keepdims=True) if new.size else np.zeros((0, x.size), dtype=bool)
    nearest_value = (tied * y[None, :]).sum(axis=1) / np.maximum(tied.sum(axis=1), 1)
    return ReferencePredictions(mean=np.full(new.size, y.mean()), nearest_value=nearest_value,
                                nearest=tied.argmax(axis=1) if new.size else np.zeros(0, dtype=np.int64))


def reference_logo(
    x: np.ndarray, y: np.ndarray, groups: Sequence[Any] | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-group-out predictions of every row by the training mean and by the nearest training
    model, each from the other groups only; ``groups``: one label per row (None: each row alone).

    Raises:
        BadInputError: fewer than 2 groups, lengths that disagree, non-finite values.
    """
    x, y = _check(x, y)
    codes = group_codes(groups, x.size)
    folds = group_folds(codes)
    if len(folds) < 2:
        raise BadInputError("leave-one-group-out of the reference predictors needs at least 2 groups.")
    mean = np.empty(x.size)
    nearest = np.empty(x.size)
    for rows in folds:
        keep = np.ones(x.size, dtype=bool)
        keep[rows] = False
        ref = reference_predictions(x[keep], y[keep], x[rows])
        mean[rows], nearest[rows] = ref.mean, ref.nearest_value
    return mean, nearest


def prediction_band(
    x: np.ndarray, y: np.ndarray, grid: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS line of ``y ~ x`` and its pointwise prediction interval on ``grid`` (module docstring):
    ``(fit, lower, upper)``.

    Raises:
        BadInputError: fewer than 3 rows, a constant x, non-finite values, a level outside (0, 1).
    """
    x, y = _check(x, y)
    if x.size < 3 or np.ptp(x) == 0:
        raise BadInputError("a prediction band needs at least 3 rows with more than one value of x.")
    if not 0 < level < 1:
        raise BadInputError(f"level={level} must lie in (0, 1), e.g. 0.95.")
    grid = np.asarray(grid, dtype=float)
    n = x.size
    xbar = x.mean()
    sxx = float(((x - xbar) ** 2).sum())
    slope = float(((x - xbar) * (y - y.mean())).sum()) / sxx
    intercept = y.mean() - slope * xbar
    resid = y - (intercept + slope * x)
    s = np.sqrt(float((resid**2).sum()) / (n - 2))
    half = stats.t.ppf((1 + level) / 2, n - 2) * s * np.sqrt(1 + 1 / n + (grid - xbar) ** 2 / sxx)
    fit = intercept + slope * grid
    return fit, fit - half, fit + half


__all__ = ["REFERENCES", "ReferencePredictions", "prediction_band", "reference_logo", "reference_predictions"]
