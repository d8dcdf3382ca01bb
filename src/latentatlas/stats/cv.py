"""Cross-validation that leaves out whole groups of related models.

Leave-one-group-out (LOGO) for OLS. With the full fit's residuals e = y − Xb̂ and the hat matrix
H = X(XᵀX)⁻¹Xᵀ, leaving out the rows I of one group gives the residuals

    e₍₋I₎ = (I − H_II)⁻¹ e_I

(the block form of Allen's PRESS, e.g. Belsley, Kuh & Welsch 1980 §2.1), identical to refitting without
those rows and predicting them; ŷ₍₋I₎ = y_I − e₍₋I₎. When every row is its own group this is the
ordinary leave-one-out. I − H_II is singular exactly when the rows left out are the only rows that
determine a coefficient (e.g. all rows of one factor level): LOGO is then undefined for that group.
MSE and MAE are means over rows (every model counts once). This departs from Marbut's leave-one-out
whenever a group has several models; on the paper's seven perturbed BERT-base models, with the two
seeds of α = 5 as one group, LOGO MSE / LOO MSE of ``GLUE ~ measure`` is 1.00 (AQ-PP), 1.04
(AQ-PD-EEE), 1.25 (VRM), 1.31 (EEE), 2.45 (IsoScore) and 4.58 (PQ-PP): with one twin left in the
training rows, the fit had already seen a near copy of the model it was asked to predict.

Nested cross-validation of "select, then fit" (:func:`nested_cv`): for each group g in turn, on the
other groups only, pick the candidate column with the largest |Pearson r| with the target, fit
``target ~ candidate`` by OLS, and predict the rows of g. Because the choice is made without the
left-out group, the errors are an honest estimate of how well the whole procedure predicts a new model
(Varma & Simon 2006; Cawley & Talbot 2010). Reported: MSE and MAE over rows; Spearman ρ and Kendall τ_b
between the predicted and the actual group means over the left-out groups (ranking new models is what
the prediction is used for; a group's members are not independent observations, so groups are the
units); and, as the chance baseline on the same folds, the MSE / MAE of predicting the training mean.
Optionally the whole nested procedure is rerun on permuted targets to give permutation p-values of ρ
and of the MSE (pooled out-of-fold predictions are not independent pairs, so ρ's null is wide).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import BadInputError
from .groups import group_codes
from .regress import LEVERAGE_TOL, OLSFit, _formula, design_matrix, fit_ols
from .selection import permuted_targets

log = logging.getLogger(__name__)

CV_NAME = "leave-one-group-out"
"""How every cross-validated figure is computed (the ``cv`` field of results)."""

MIN_GROUPS = 4
"""Fewest groups nested cross-validation accepts: each fold then selects and fits on at least 3 groups."""


def group_folds(codes: np.ndarray) -> list[np.ndarray]:
    """Row indices of each group 0..G−1 (the test rows of each LOGO fold)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return np.split(order, bounds)


# ------------------------------------------------------------------------------------------ LOGO, OLS
class LOGOResult(NamedTuple):
    """Leave-one-group-out CV of an OLS fit: MSE, MAE over rows, each row's prediction, number of groups."""

    mse: float
    mae: float
    predictions: np.ndarray
    n_groups: int


def logo_residuals(fit: OLSFit, df: pd.DataFrame, codes: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The LOGO residuals e₍₋I₎ of every row (NaN in an undefined group) and the codes of the groups
    whose removal leaves a coefficient undetermined (smallest eigenvalue of I − H_II < LEVERAGE_TOL)."""
    X, _ = design_matrix(df, fit.predictors, fit.factor, list(fit.levels) or None)
    Q, _ = np.linalg.qr(X)
    out = np.full(len(df), np.nan)
    lone = []
    for g, rows in enumerate(group_folds(codes)):
        Qi = Q[rows]
        A = np.eye(rows.size) - Qi @ Qi.T
        if np.linalg.eigvalsh(A).min() < LEVERAGE_TOL:
            lone.append(g)
            continue
        out[rows] = np.linalg.solve(A, fit.residuals[rows])
    return out, lone


def check_logo_rows(fit_n: int, n_params: int, codes: np.ndarray, formula: str) -> None:
    """Raise unless every fit without one group keeps at least parameters + 1 rows, and there are 2 groups."""
    sizes = np.bincount(codes)
    need = n_params + 1 + int(sizes.max())
    if sizes.size < 2 or fit_n < need:
        raise BadInputError(
            f"leave-one-group-out of {formula} needs at least {need} rows (parameters + 1 + the largest "
            f"group, {int(sizes.max())} row(s)) in at least 2 groups but got {fit_n} row(s) in {sizes.size} "
            "group(s); add rows or drop terms."
        )


def logo_from_fit(fit: OLSFit, df: pd.DataFrame, groups: Sequence[Any] | np.ndarray | None = None) -> LOGOResult:
    """LOGO of an existing fit on the rows of ``df``; ``groups``: one label per row (None: each row alone).

    Raises:
        BadInputError: fewer than parameters + 1 + largest-group rows, a single group, or a group whose
            removal leaves a coefficient undetermined (named).
    """
    codes = group_codes(groups, len(df))
    formula = _formula(fit.target, fit.predictors, fit.factor)
    check_logo_rows(fit.n, fit.n_params, codes, formula)
    e, lone = logo_residuals(fit, df, codes)
    if lone:
        labels = list(groups) if groups is not None else [str(i) for i in df.index]
        first = {c: labels[i] for i, c in reversed(list(enumerate(codes)))}
        names = [str(first[g]) for g in lone]
        raise BadInputError(
            f"leave-one-group-out is undefined for group(s) {names}: their rows alone determine a coefficient "
            f"of {formula} (leverage 1, e.g. all rows of a factor level); add rows like them or drop the factor."
        )
    y = fit.fitted + fit.residuals
    return LOGOResult(mse=float(np.mean(e**2)), mae=float(np.mean(np.abs(e))), predictions=y - e,
                      n_groups=int(codes.max()) + 1)


def logo(
    df: pd.DataFrame, target: str, predictors: Sequence[str], factor: str | None = None,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> LOGOResult:
    """Fit ``target ~ predictors (+ factor)`` on ``df`` and cross-validate it leaving out one group at a time."""
    return logo_from_fit(fit_ols(df, target, predictors, factor), df, groups)


# ----------------------------------------------------------------------------------------- nested CV
@dataclass(frozen=True)
class NestedCVResult:
    """Nested LOGO of select-then-fit; row arrays are aligned with the input rows."""

    mse: float
    mae: float
    spearman: float
    kendall: float
    baseline_mse: float
    baseline_mae: float
    n_groups: int
    chosen: dict[str, int]
    predicted: np.ndarray = field(repr=False)
    actual: np.ndarray = field(repr=False)
    codes: np.ndarray = field(repr=False)
    baseline: np.ndarray = field(repr=False)
    p_spearman: float = float("nan")
    p_mse: float = float("nan")
    n_permutations: int = 0

    def group_means(self) -> tuple[np.ndarray, np.ndarray]:
        """(predicted, actual) mean of each group 0..G−1."""
        return _group_mean(self.predicted, self.codes), _group_mean(self.actual, self.codes)

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready summary (plain floats, None for undefined)."""
        return {
            "mse": _f(self.mse), "mae": _f(self.mae), "spearman": _f(self.spearman),
            "kendall": _f(self.kendall), "n_groups": self.n_groups, "baseline_mse": _f(self.baseline_mse),
            "baseline_mae": _f(self.baseline_mae), "p_spearman": _f(self.p_spearman), "p_mse": _f(self.p_mse),
            "n_permutations": self.n_permutations, "chosen": dict(self.chosen),
        }


def _group_mean(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return np.bincount(codes, weights=values) / np.bincount(codes)


def _nested_predictions(X: np.ndarray, Y: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nested LOGO predictions for every row of Y (B, n) at once, and the chosen column per (row, fold)
    (−1 when every column is constant on the training groups: the training mean is predicted).

    In each fold the chosen column maximises |r| = |Σ(x − x̄)(y − ȳ)| / √(Σ(x − x̄)² Σ(y − ȳ)²); the
    y-norm is common to every column, so |sxy|/√sxx is maximised; then slope = sxy/sxx and
    intercept = ȳ − slope·x̄ on the training rows.
    """
    B, n = Y.shape
    folds = group_folds(codes)
    predicted = np.empty((B, n))
    chosen = np.full((B, len(folds)), -1, dtype=np.int64)
    for g, rows in enumerate(folds):
        train = np.ones(n, dtype=bool)
        train[rows] = False
        Xt, Yt = X[train], Y[:, train]
        xbar, ybar = Xt.mean(axis=0), Yt.mean(axis=1)
        Xc = Xt - xbar
        sxx = (Xc * Xc).sum(axis=0)
        usable = sxx > 1e-12 * np.maximum(1.0, (Xt * Xt).sum(axis=0))
        if not usable.any():
            predicted[:, rows] = ybar[:, None]
            continue
        sxy = (Yt - ybar[:, None]) @ Xc  # (B, P)
        score = np.where(usable, np.abs(sxy) / np.sqrt(np.where(usable, sxx, 1.0)), -1.0)
        best = np.argmax(score, axis=1)
        slope = sxy[np.arange(B), best] / sxx[best]
        intercept = ybar - slope * xbar[best]
        predicted[:, rows] = intercept[:, None] + slope[:, None] * X[rows][:, best].T
        chosen[:, g] = best
    return predicted, chosen


def _row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman ρ of each row of a with the same row of b (B, G); NaN where either row is constant."""
    ra = stats.rankdata(a, axis=1)
    rb = stats.rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (ra * rb).sum(axis=1) / np.where(den > 1e-12, den, 1.0), np.nan)


def _group_means_rows(A: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Group means of every row of A (B, n) → (B, G)."""
    onehot = np.eye(int(codes.max()) + 1)[codes]  # (n, G)
    return (A @ onehot) / onehot.sum(axis=0)


def nested_cv(
    X: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    groups: Sequence[Any] | np.ndarray | None = None,
    *,
    families: Sequence[Any] | np.ndarray | None = None,
    min_groups: int = MIN_GROUPS,
    n_permutations: int = 0,
    seed: int = 0,
) -> NestedCVResult:
    """Nested leave-one-group-out of "pick the candidate with the largest |r|, fit OLS, predict".

    Args:
        X: (n, P) candidate columns, finite.
        y: (n,) target, finite.
        names: the P candidate names (for :attr:`NestedCVResult.chosen`).
        groups: one label per row; None: each row is its own group.
        families: one label per row; the permutation null permutes groups within families.
        min_groups: fewest groups accepted (default :data:`MIN_GROUPS`).
        n_permutations: when > 0, the whole nested procedure is rerun on that many permuted targets
            (the scheme of :func:`.selection.permuted_targets`, seeded) and ``p_spearman`` /
            ``p_mse`` say how often a permuted target did as well: (1 + #{ρ_b ≥ ρ}) / (1 + B) and
            (1 + #{MSE_b ≤ MSE}) / (1 + B). Pooled out-of-fold predictions are not independent, so the
            spread of ρ under the null is much wider than for independent pairs (on 24 noise models
            with 200 noise candidates its standard deviation is about 0.38 against 0.21): this
            permutation null is the reference for ρ, and the mean-only MSE the reference for the MSE.

    Raises:
        BadInputError: fewer than ``min_groups`` groups, shapes that disagree, non-finite values.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[0] != y.size or X.shape[1] != len(names):
        raise BadInputError(f"nested CV needs X of shape (n, {len(names)}) and y of length n; got {X.shape} "
                            f"and {y.shape}.")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise BadInputError("nested CV needs finite candidates and targets; drop rows or columns with missing values.")
    codes = group_codes(groups, y.size)
    G = int(codes.max()) + 1 if codes.size else 0
    if G < min_groups:
        raise BadInputError(
            f"nested cross-validation needs at least {min_groups} groups of models (each fold selects and fits "
            f"on the others) but the training rows form {G}; add models from other groups."
        )
    pred, picks = _nested_predictions(X, y[None, :], codes)
    predicted = pred[0]
    baseline = np.empty(y.size)
    for rows in group_folds(codes):
        baseline[rows] = np.delete(y, rows).mean()
    chosen: dict[str, int] = {}
    for b in picks[0]:
        name = names[b] if b >= 0 else "(none: every candidate constant)"
        chosen[name] = chosen.get(name, 0) + 1
    err, base_err = predicted - y, baseline - y
    pg, ag = _group_mean(predicted, codes), _group_mean(y, codes)
    rho = float(_row_spearman(pg[None, :], ag[None, :])[0])
    tau = float(stats.kendalltau(pg, ag).statistic) if np.isfinite(rho) else float("nan")
    mse = float(np.mean(err**2))
    p_rho = p_mse = float("nan")
    if n_permutations > 0:
        Yp = permuted_targets(y, n_permutations, groups=codes, families=families, seed=seed)
        null_pred, _ = _nested_predictions(X, Yp, codes)
        null_mse = ((null_pred - Yp) ** 2).mean(axis=1)
        null_rho = _row_spearman(_group_means_rows(null_pred, codes), _group_means_rows(Yp, codes))
        p_mse = (1 + int((null_mse <= mse * (1 + 1e-12)).sum())) / (1 + n_permutations)
        if np.isfinite(rho):
            p_rho = (1 + int((np.nan_to_num(null_rho, nan=-np.inf) >= rho - 1e-12).sum())) / (1 + n_permutations)
    return NestedCVResult(
        mse=mse, mae=float(np.mean(np.abs(err))), spearman=rho, kendall=tau,
        baseline_mse=float(np.mean(base_err**2)), baseline_mae=float(np.mean(np.abs(base_err))), n_groups=G,
        chosen=dict(sorted(chosen.items(), key=lambda kv: (-kv[1], kv[0]))), predicted=predicted, actual=y,
        codes=codes, baseline=baseline, p_spearman=p_rho, p_mse=p_mse, n_permutations=int(n_permutations),
    )


def _f(value: Any) -> float | None:
    v = float(value)
    return v if np.isfinite(v) else None
