"""Ordinary least squares with an optional treatment-coded factor, leave-one-out CV, held-out prediction.

Model (Marbut's ``glue ~ metric`` and ``glue ~ metric + architecture``, reference/marbut.md §2.3):

    y = b₀ + Σⱼ bⱼ xⱼ + Σ_{l ≥ 2} c_l [factor = level_l] + ε,   ε ~ N(0, σ²)

Factor levels are sorted; the first is the reference level and each other level gets a dummy column
named ``factor[level]`` (R's ``contr.treatment``). With design matrix X (n × p, full column rank):

* b̂ = argmin ‖y − Xb‖² (``numpy.linalg.lstsq``); residuals e = y − Xb̂; df = n − p;
* σ̂² = ‖e‖²/df; Cov(b̂) = σ̂²(XᵀX)⁻¹ = σ̂² R⁻¹R⁻ᵀ from the thin QR X = QR; se = √diag;
  t = b̂/se; two-sided p from t(df);
* R² = 1 − ‖e‖²/Σ(y − ȳ)²; adjusted R² = 1 − (1 − R²)(n − 1)/df;
* leave-one-out residual of row i: eᵢ/(1 − hᵢᵢ) with hᵢᵢ = ‖Qᵢ‖² the leverage (hat-matrix diagonal;
  Allen's PRESS, 1974), identical to refitting without row i.

Rank-deficient designs, one-level factors and too few rows raise :class:`BadInputError` (nothing is
dropped silently). A held-out row whose factor level was not seen in training raises too, naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import BadInputError

INTERCEPT = "intercept"
LEVERAGE_TOL = 1e-10
"""A row with leverage above 1 − LEVERAGE_TOL cannot be left out (its LOO residual is undefined)."""


def factor_term(factor: str, level: Any) -> str:
    """Name of the dummy column of ``level`` of ``factor``: ``factor[level]``."""
    return f"{factor}[{level}]"


@dataclass(frozen=True)
class OLSFit:
    """A fitted OLS model; arrays are aligned with :attr:`names`."""

    target: str
    predictors: tuple[str, ...]
    factor: str | None
    levels: tuple[Any, ...]
    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    t: np.ndarray
    p: np.ndarray
    r2: float
    adj_r2: float
    sigma2: float
    df_resid: int
    n: int
    fitted: np.ndarray = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    leverage: np.ndarray = field(repr=False)

    @property
    def n_params(self) -> int:
        return len(self.names)

    def coef_dict(self) -> dict[str, float]:
        """``{name: estimate}`` with ``intercept`` first, then slopes, then factor levels."""
        return {k: float(v) for k, v in zip(self.names, self.coef)}

    def table(self) -> pd.DataFrame:
        """Coefficient table: term, estimate, se, t, p."""
        return pd.DataFrame({"term": self.names, "estimate": self.coef, "se": self.se, "t": self.t, "p": self.p})

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Predictions for the rows of ``df`` (same predictor and factor columns as the fit)."""
        X, _ = design_matrix(df, self.predictors, self.factor, self.levels, check_levels=True)
        return X @ self.coef


def design_matrix(
    df: pd.DataFrame,
    predictors: Sequence[str],
    factor: str | None = None,
    levels: Sequence[Any] | None = None,
    *,
    check_levels: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """The (n, p) design matrix [1, x₁..x_k, dummies of levels[1:]] and its column names.

    ``levels`` defaults to the sorted levels present in ``df``; with ``check_levels`` a row whose level
    is not in ``levels`` raises a :class:`BadInputError` naming it.
    """
    cols = [np.ones(len(df))]
    names = [INTERCEPT]
    for p in predictors:
        cols.append(_numeric(df, p))
        names.append(p)
    if factor is not None:
        values = df[factor].astype(str).to_numpy()
        lv = list(levels) if levels is not None else sorted(set(values))
        if check_levels:
            unseen = sorted(set(values) - set(map(str, lv)))
            if unseen:
                raise BadInputError(
                    f"factor {factor!r} level(s) {unseen} of the rows to predict were not seen in the "
                    f"training rows (seen: {[str(v) for v in lv]}); add training rows with that level or "
                    "fit without the factor."
                )
        for level in lv[1:]:
            cols.append((values == str(level)).astype(float))
            names.append(factor_term(factor, level))
    return np.column_stack(cols), names


def fit_ols(df: pd.DataFrame, target: str, predictors: Sequence[str], factor: str | None = None) -> OLSFit:
    """Fit ``target ~ predictors (+ factor)`` by least squares; formulas in the module docstring.

    Raises:
        BadInputError: missing or non-numeric columns, NaN values, a factor with a single level, a
            rank-deficient design (collinear predictors, a constant predictor) or n ≤ p.
    """
    predictors = tuple(predictors)
    y = _numeric(df, target)
    levels: tuple[Any, ...] = ()
    if factor is not None:
        if factor not in df.columns:
            raise BadInputError(f"factor column {factor!r} is not in the table; columns: {list(df.columns)}.")
        levels = tuple(sorted(df[factor].astype(str).unique()))
        if len(levels) < 2:
            raise BadInputError(
                f"factor {factor!r} has a single level {levels[0]!r} in the training rows; a factor needs at "
                "least 2 levels to estimate an effect: drop the factor."
            )
    X, names = design_matrix(df, predictors, factor, levels or None)
    n, p = X.shape
    if n <= p:
        raise BadInputError(
            f"{_formula(target, predictors, factor)} has {p} parameters and needs at least {p + 1} rows "
            f"to fit (residual degrees of freedom ≥ 1) but got {n}; add rows or drop terms."
        )
    coef, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    if rank < p:
        raise BadInputError(
            f"the design of {_formula(target, predictors, factor)} is rank-deficient (rank {rank} < {p} "
            f"columns {names}): a predictor is constant, duplicates another or is explained by the factor; "
            "drop one of the collinear terms."
        )
    Q, R = np.linalg.qr(X)
    fitted = X @ coef
    resid = y - fitted
    df_resid = n - p
    rss = float(resid @ resid)
    sigma2 = rss / df_resid
    Rinv = np.linalg.inv(R)  # p × p upper triangular, full rank (checked above)
    se = np.sqrt(sigma2 * (Rinv * Rinv).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = coef / se
    pval = 2.0 * stats.t.sf(np.abs(t), df_resid)
    tss = float(((y - y.mean()) ** 2).sum())
    if tss == 0:
        raise BadInputError(f"target {target!r} is constant over the training rows; there is nothing to explain.")
    r2 = 1.0 - rss / tss
    adj = 1.0 - (1.0 - r2) * (n - 1) / df_resid
    return OLSFit(
        target=target, predictors=predictors, factor=factor, levels=levels, names=tuple(names),
        coef=coef, se=se, t=t, p=pval, r2=r2, adj_r2=adj, sigma2=sigma2, df_resid=df_resid, n=n,
        fitted=fitted, residuals=resid, leverage=(Q * Q).sum(axis=1),
    )


class LOOResult(NamedTuple):
    """Leave-one-out cross-validation: mean squared and absolute error, and each row's prediction."""

    mse: float
    mae: float
    predictions: np.ndarray


def loo(df: pd.DataFrame, target: str, predictors: Sequence[str], factor: str | None = None) -> LOOResult:
    """Leave-one-out predictions ŷ₍₋ᵢ₎ = yᵢ − eᵢ/(1 − hᵢᵢ) and their MSE / MAE (PRESS shortcut).

    Needs at least p + 2 rows (p parameters) so that every leave-one-out fit has a residual degree of
    freedom; a row with leverage 1 (e.g. the only row of a factor level) cannot be left out and raises.
    """
    return loo_from_fit(fit_ols(df, target, predictors, factor), df)


def loo_from_fit(fit: OLSFit, df: pd.DataFrame) -> LOOResult:
    """:func:`loo` for an existing fit on the rows of ``df`` (no refit)."""
    need = fit.n_params + 2
    if fit.n < need:
        raise BadInputError(
            f"leave-one-out of {_formula(fit.target, fit.predictors, fit.factor)} needs at least {need} rows "
            f"(parameters + 2) but got {fit.n}; add rows or drop terms."
        )
    h = fit.leverage
    lone = np.flatnonzero(h > 1.0 - LEVERAGE_TOL)
    if lone.size:
        rows = [str(i) for i in df.index[lone]]
        raise BadInputError(
            f"leave-one-out is undefined for row(s) {rows}: each is the only row that determines one "
            f"coefficient of {_formula(fit.target, fit.predictors, fit.factor)} (leverage 1, e.g. the single "
            "row of a factor level); add rows like it or drop the factor."
        )
    e_loo = fit.residuals / (1.0 - h)
    y = fit.fitted + fit.residuals
    return LOOResult(mse=float(np.mean(e_loo**2)), mae=float(np.mean(np.abs(e_loo))), predictions=y - e_loo)


@dataclass(frozen=True)
class HoldoutResult:
    """Predictions for held-out rows. ``actual``/``error`` are NaN where the held-out target is missing;
    ``mse``/``mae`` cover rows with a target and are ``None`` when there are none."""

    fit: OLSFit
    predicted: np.ndarray
    actual: np.ndarray
    mse: float | None
    mae: float | None

    @property
    def error(self) -> np.ndarray:
        """predicted − actual."""
        return self.predicted - self.actual


def predict_holdout(
    train_df: pd.DataFrame,
    test_df: pd.DataFrame,
    target: str,
    predictors: Sequence[str],
    factor: str | None = None,
) -> HoldoutResult:
    """Fit on ``train_df``, predict ``test_df``; a test row's target may be missing (NaN or no column).

    Raises:
        BadInputError: anything :func:`fit_ols` rejects, a missing/NaN predictor in the test rows, or a
            test row whose factor level did not occur in training (named in the message).
    """
    return holdout_from_fit(fit_ols(train_df, target, predictors, factor), test_df)


def holdout_from_fit(fit: OLSFit, test_df: pd.DataFrame) -> HoldoutResult:
    """:func:`predict_holdout` for an existing fit (no refit)."""
    predicted = fit.predict(test_df)
    if fit.target in test_df.columns:
        actual = pd.to_numeric(test_df[fit.target], errors="coerce").to_numpy(dtype=float)
    else:
        actual = np.full(len(test_df), np.nan)
    ok = np.isfinite(actual)
    err = predicted[ok] - actual[ok]
    mse = float(np.mean(err**2)) if ok.any() else None
    mae = float(np.mean(np.abs(err))) if ok.any() else None
    return HoldoutResult(fit=fit, predicted=predicted, actual=actual, mse=mse, mae=mae)


def _formula(target: str, predictors: Sequence[str], factor: str | None) -> str:
    rhs = " + ".join([*predictors, *([factor] if factor else [])]) or "1"
    return f"'{target} ~ {rhs}'"


def _numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        raise BadInputError(f"column {column!r} is not in the table; columns: {list(map(str, df.columns))}.")
    raw = df[column]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        arr = raw.to_numpy(dtype=float)  # fast path: already numeric
        if np.isfinite(arr).all():
            return arr
    values = pd.to_numeric(raw, errors="coerce")
    bad_text = values.isna() & raw.notna()
    if bad_text.any():
        example = df.loc[bad_text, column].iloc[0]
        raise BadInputError(
            f"column {column!r} must be numeric but holds {int(bad_text.sum())} non-numeric value(s), "
            f"e.g. {example!r}; fix those cells or choose a numeric column."
        )
    arr = values.to_numpy(dtype=float)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = [str(i) for i in df.index[bad][:10]]
        raise BadInputError(
            f"column {column!r} has {int(bad.sum())} missing/non-finite value(s) in rows {rows}; fill them "
            "or leave those rows out."
        )
    return arr
