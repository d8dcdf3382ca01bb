"""How well do geometry columns predict a score? Fit, leave-one-out and held-out prediction per model.

:func:`analyse` is what ``latentatlas predict`` prints and what the study runner calls on its
one-row-per-model table (spec, family, holdout flag, task scores, one column per ``measure@layer``).
It follows Marbut's protocol (reference/marbut.md §2.3): fit ``target ~ predictor`` (and
``target ~ predictor + factor``) on the training rows, report correlation, R², coefficients and the
leave-one-out error, and predict the held-out rows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import BadInputError, UnknownNameError
from .regress import LEVERAGE_TOL, OLSFit, fit_ols, holdout_from_fit, loo_from_fit

log = logging.getLogger(__name__)

JOINT = "joint"
"""Key of the model using every predictor together (present when more than one predictor is given)."""

FACTOR_SUFFIX = " + factor"
"""Suffix of the key of a model that adds the factor: ``"<predictor> + factor"``, ``"joint + factor"``."""

TRUTHY = frozenset({"1", "1.0", "true", "t", "yes", "y", "holdout", "held-out", "heldout", "test"})
FALSY = frozenset({"0", "0.0", "false", "f", "no", "n", "train", "", "nan", "none"})

MODEL_KEYS = (
    "formula", "predictors", "factor", "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "r2",
    "adj_r2", "coef", "se", "p_values", "loo_mse", "loo_mae", "n_train", "holdout_mse", "holdout_mae",
    "predictions", "note",
)
"""Keys of every model entry of :func:`analyse`."""


def holdout_mask(values: pd.Series) -> np.ndarray:
    """True where a holdout flag is truthy (1, true, yes, holdout, test; any case); False for 0/false/no/
    train/empty. Any other value raises a :class:`BadInputError` naming it."""
    out = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values.tolist()):
        if isinstance(v, (bool, np.bool_)):
            out[i] = bool(v)
            continue
        text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip().lower()
        if text in TRUTHY:
            out[i] = True
        elif text not in FALSY:
            raise BadInputError(
                f"holdout flag {v!r} in column {values.name!r} is neither true nor false; use 1/true/yes/"
                "holdout for held-out rows and 0/false/no (or empty) for training rows."
            )
    return out


def analyse(
    table: pd.DataFrame,
    target: str,
    predictors: Sequence[str],
    *,
    factor: str | None = None,
    holdout: str | Sequence[bool] | np.ndarray | None = None,
    id_col: str | None = None,
) -> dict[str, Any]:
    """Fit, cross-validate and (optionally) predict held-out rows for each predictor.

    Models, keyed in ``result["models"]``: each predictor alone (key: its name); with ``factor``, each
    predictor plus the factor (``"<predictor> + factor"``); with more than one predictor, all of them
    jointly (``"joint"``, and ``"joint + factor"``).

    Args:
        table: one row per model (observation).
        target: numeric column to explain (e.g. the GLUE average); may be missing in held-out rows.
        predictors: numeric columns (e.g. ``aq_pp@6``).
        factor: optional categorical column (e.g. the model family), treatment-coded.
        holdout: a column name whose truthy values (1/true/yes/holdout) mark held-out rows, or a boolean
            mask; held-out rows are predicted, never fitted.
        id_col: column naming the rows in ``predictions``; default ``spec``, else ``model``, else the row
            position.

    Returns:
        ``{"target", "factor", "id_col", "n_rows", "n_train", "n_holdout", "models": {key: entry}}``,
        each entry with :data:`MODEL_KEYS`: ``pearson_r``/``spearman_rho`` (and p-values) between the
        predictor and the target over training rows for a single-predictor model, between fitted
        values and the target otherwise; ``r2``, ``adj_r2``; ``coef``/``se``/``p_values`` dicts
        (``intercept``, slopes, ``factor[level]``); ``loo_mse``, ``loo_mae``; ``n_train``;
        ``holdout_mse``/``holdout_mae`` (``None`` without held-out targets); ``predictions``: one
        ``{"id", "predicted", "actual", "error"}`` per held-out row (``actual``/``error`` ``None`` where
        the target is missing; error = predicted − actual); ``note``: ``None``, or why ``loo_mse`` /
        ``loo_mae`` are ``None`` (a training row with leverage 1, e.g. the only row of a factor level:
        the fit is reported, leave-one-out is undefined). Every number is a plain float (JSON-ready).

    Raises:
        BadInputError: unknown columns (with suggestions), non-numeric or missing predictor values, a
            missing training target, a constant predictor or target, too few training rows (each model
            needs parameters + 2), an unseen factor level among held-out rows.
    """
    predictors = list(dict.fromkeys(predictors))
    if not predictors:
        raise BadInputError("no predictor given; name at least one numeric column with --predictor.")
    columns = list(map(str, table.columns))
    for role, col in [("target", target), *[("predictor", p) for p in predictors],
                      ("factor", factor), ("holdout", holdout if isinstance(holdout, str) else None),
                      ("id", id_col)]:
        if col is not None and col not in table.columns:
            raise UnknownNameError(f"{role} column", str(col), columns, hint=f"(the table's columns: {', '.join(columns)}).")
    if factor is not None and factor in predictors:
        raise BadInputError(f"column {factor!r} is both a predictor and the factor; use it as one of them.")
    if target in predictors:
        raise BadInputError(f"column {target!r} is both the target and a predictor; pick another predictor.")

    ids = _row_ids(table, id_col)
    table = table.set_axis(pd.Index(ids, name="id"), axis=0)  # errors from the fits name rows by id
    mask = _mask(table, holdout)
    train = table.loc[~mask]
    test = table.loc[mask]
    if train.empty:
        raise BadInputError("every row is marked held out; leave some rows for fitting the model.")
    _check_training(train, target, predictors, ids[~mask])
    if factor is not None and train[factor].isna().any():
        rows = ", ".join(ids[~mask][train[factor].isna().to_numpy()][:10])
        raise BadInputError(f"factor column {factor!r} is empty in training rows ({rows}); fill in their level.")
    _check_heldout(test, predictors, factor, ids[mask])

    specs: dict[str, list[str]] = {p: [p] for p in predictors}
    if len(predictors) > 1:
        specs[JOINT] = predictors
    models: dict[str, Any] = {}
    for key, preds in specs.items():
        models[key] = _entry(train, test, ids[mask], target, preds, None, single=len(preds) == 1)
        if factor is not None:
            models[key + FACTOR_SUFFIX] = _entry(train, test, ids[mask], target, preds, factor, single=False)
    return {
        "target": target,
        "factor": factor,
        "id_col": id_col,
        "n_rows": int(len(table)),
        "n_train": int(len(train)),
        "n_holdout": int(len(test)),
        "models": models,
    }


# ------------------------------------------------------------------------------------------ internals
def _row_ids(table: pd.DataFrame, id_col: str | None) -> np.ndarray:
    col = id_col or next((c for c in ("spec", "model") if c in table.columns), None)
    if col is None:
        return np.array([str(i) for i in range(len(table))], dtype=object)
    return table[col].astype(str).to_numpy(dtype=object)


def _mask(table: pd.DataFrame, holdout: str | Sequence[bool] | np.ndarray | None) -> np.ndarray:
    if holdout is None:
        return np.zeros(len(table), dtype=bool)
    if isinstance(holdout, str):
        return holdout_mask(table[holdout])
    mask = np.asarray(holdout)
    if mask.dtype != bool or mask.shape != (len(table),):
        raise BadInputError(
            f"holdout mask must be {len(table)} booleans (one per row) but has dtype {mask.dtype} and shape "
            f"{mask.shape}; pass a column name or a boolean array."
        )
    return mask


def _numeric_column(df: pd.DataFrame, col: str, role: str) -> pd.Series:
    values = pd.to_numeric(df[col], errors="coerce")
    text = values.isna() & df[col].notna()
    if text.any():
        raise BadInputError(
            f"{role} column {col!r} is not numeric: {int(text.sum())} value(s) such as "
            f"{df.loc[text, col].iloc[0]!r} are not numbers; choose a numeric column or fix those cells."
        )
    return values


def _check_training(train: pd.DataFrame, target: str, predictors: list[str], ids: np.ndarray) -> None:
    for col, role in [(target, "target"), *[(p, "predictor") for p in predictors]]:
        values = _numeric_column(train, col, role)
        missing = ~np.isfinite(values.to_numpy(dtype=float))
        if missing.any():
            which = ", ".join(ids[missing][:10])
            fix = ("fill them or mark those rows as held out" if role == "target"
                   else "fill them or drop those rows")
            raise BadInputError(
                f"{role} column {col!r} is missing in {int(missing.sum())} of {len(train)} training rows "
                f"({which}); {fix}."
            )
        if np.ptp(values.to_numpy(dtype=float)) == 0:
            raise BadInputError(
                f"{role} column {col!r} is constant ({values.iloc[0]:g}) over the {len(train)} training rows; "
                + ("there is nothing to explain." if role == "target" else "it cannot explain anything: drop it.")
            )


def _check_heldout(test: pd.DataFrame, predictors: list[str], factor: str | None, ids: np.ndarray) -> None:
    for p in predictors:
        values = _numeric_column(test, p, "predictor")
        missing = ~np.isfinite(values.to_numpy(dtype=float))
        if missing.any():
            raise BadInputError(
                f"predictor column {p!r} is missing in {int(missing.sum())} held-out row(s) "
                f"({', '.join(ids[missing][:10])}); a prediction needs every predictor: fill them or drop those rows."
            )
    if factor is not None and test[factor].isna().any():
        raise BadInputError(f"factor column {factor!r} is empty in some held-out rows; fill in their level.")


def _n_params(train: pd.DataFrame, preds: list[str], factor: str | None) -> int:
    return 1 + len(preds) + (train[factor].astype(str).nunique() - 1 if factor else 0)


def _entry(
    train: pd.DataFrame,
    test: pd.DataFrame,
    test_ids: np.ndarray,
    target: str,
    preds: list[str],
    factor: str | None,
    *,
    single: bool,
) -> dict[str, Any]:
    need = _n_params(train, preds, factor) + 2
    formula = f"{target} ~ {' + '.join([*preds, *([factor] if factor else [])])}"
    if len(train) < need:
        raise BadInputError(
            f"'{formula}' has {need - 2} parameters; fitting it with leave-one-out needs at least {need} "
            f"training rows (parameters + 2) but there are {len(train)}; add rows or drop terms."
        )
    fit: OLSFit = fit_ols(train, target, preds, factor)
    lone = fit.leverage > 1.0 - LEVERAGE_TOL
    note = None
    if lone.any():  # e.g. the single training row of a factor level: the fit is fine, LOO is not defined
        note = (f"leave-one-out undefined: row(s) {list(map(str, train.index[lone]))} alone determine a "
                "coefficient (leverage 1)")
        log.warning("%s: %s", formula, note)
        cv = None
    else:
        cv = loo_from_fit(fit, train)
    y = train[target].to_numpy(dtype=float)
    x = train[preds[0]].to_numpy(dtype=float) if single else fit.fitted
    pr = stats.pearsonr(x, y)
    sr = stats.spearmanr(x, y)
    entry: dict[str, Any] = {
        "formula": formula,
        "predictors": list(preds),
        "factor": factor,
        "pearson_r": _f(pr.statistic),
        "pearson_p": _f(pr.pvalue),
        "spearman_rho": _f(sr.statistic),
        "spearman_p": _f(sr.pvalue),
        "r2": _f(fit.r2),
        "adj_r2": _f(fit.adj_r2),
        "coef": fit.coef_dict(),
        "se": {k: _f(v) for k, v in zip(fit.names, fit.se)},
        "p_values": {k: _f(v) for k, v in zip(fit.names, fit.p)},
        "loo_mse": None if cv is None else _f(cv.mse),
        "loo_mae": None if cv is None else _f(cv.mae),
        "n_train": int(fit.n),
        "holdout_mse": None,
        "holdout_mae": None,
        "predictions": [],
        "note": note,
    }
    if len(test):
        held = holdout_from_fit(fit, test)
        entry["holdout_mse"] = _f(held.mse)
        entry["holdout_mae"] = _f(held.mae)
        entry["predictions"] = [
            {"id": str(i), "predicted": _f(p), "actual": _f(a), "error": _f(p - a)}
            for i, p, a in zip(test_ids, held.predicted, held.actual)
        ]
    log.debug("%s: R²=%.3f LOO MSE=%s", formula, fit.r2, entry["loo_mse"])
    return entry


def _f(value: Any) -> float | None:
    """A plain float, or None for missing / non-finite values (JSON has no NaN)."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None
