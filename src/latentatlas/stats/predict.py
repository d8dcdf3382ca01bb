"""How well do geometry columns predict a score? Fit, cross-validation and held-out prediction per model.

:func:`analyse` is what ``latentatlas predict`` prints and what the study runner calls on its
one-row-per-model table (spec, family, holdout flag, task scores, one column per ``measure@layer``).
It follows Marbut's protocol (reference/marbut.md §2.3): fit ``target ~ predictor`` (and
``target ~ predictor + factor``) on the training rows, report correlation, R², coefficients and the
cross-validated error, and predict the held-out rows. Departures from the paper, both because rows are
related and predictors are searched:

* the cross-validation leaves out whole groups of related models (leave-one-group-out,
  :mod:`.cv`; with one row per group it is Marbut's leave-one-out);
* a search over several predictors reports what it cost (``selection``): the family-wise permutation
  p-value of the best |r| (:mod:`.selection`), Benjamini–Hochberg q-values of every predictor
  (:mod:`.multiple`), and the nested cross-validation of the whole select-then-fit procedure.
"""

from __future__ import annotations

import fnmatch
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import BadInputError, UnknownNameError
from .cv import CV_NAME, MIN_GROUPS, check_logo_rows, logo_residuals, nested_cv
from .groups import group_codes
from .multiple import bh_qvalues, group_level_pvalues
from .regress import OLSFit, fit_ols, holdout_from_fit
from .selection import N_PERMUTATIONS, PERMUTATION, max_abs_r_test

log = logging.getLogger(__name__)

JOINT = "joint"
"""Key of the model using every predictor together (present when more than one predictor is given)."""

FACTOR_SUFFIX = " + factor"
"""Suffix of the key of a model that adds the factor: ``"<predictor> + factor"``, ``"joint + factor"``."""

TRUTHY = frozenset({"1", "1.0", "true", "t", "yes", "y", "holdout", "held-out", "heldout", "test"})
FALSY = frozenset({"0", "0.0", "false", "f", "no", "n", "train", "", "nan", "none"})

MODEL_KEYS = (
    "formula", "predictors", "factor", "pearson_r", "pearson_p", "p_group", "q_value", "spearman_rho",
    "spearman_p", "r2", "adj_r2", "coef", "se", "p_values", "logo_mse", "logo_mae", "n_train", "holdout_mse",
    "holdout_mae", "predictions", "note",
)
"""Keys of every model entry of :func:`analyse`."""

SELECTION_KEYS = (
    "candidates", "n_candidates", "best", "best_r", "max_abs_r", "p_family_wise", "n_permutations",
    "n_distinct_permutations", "permutation", "seed", "nested_cv",
)
"""Keys of the ``selection`` object of :func:`analyse`."""


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
    groups: str | Sequence[Any] | np.ndarray | None = None,
    dropna: bool = False,
    selection: bool = True,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit, cross-validate and (optionally) predict held-out rows for each predictor.

    Models, keyed in ``result["models"]``: each predictor alone (key: its name); with ``factor``, each
    predictor plus the factor (``"<predictor> + factor"``); with more than one predictor, all of them
    jointly (``"joint"``, and ``"joint + factor"``) when the training rows allow the fit and its
    cross-validation (otherwise left out, said in ``notes``).

    Args:
        table: one row per model (observation).
        target: numeric column to explain (e.g. the GLUE average); may be missing in held-out rows.
        predictors: numeric columns (e.g. ``aq_pp@6``); with several, also the candidates of ``selection``.
        factor: optional categorical column (e.g. the model family), treatment-coded; it is also the
            family within which the permutation test permutes.
        holdout: a column name whose truthy values (1/true/yes/holdout) mark held-out rows, or a boolean
            mask; held-out rows are predicted, never fitted.
        id_col: column naming the rows in ``predictions``; default ``spec``, else ``model``, else the row
            position.
        groups: a column name or one label per row: rows with the same label are related models (seed
            twins, checkpoints of one run) and are left out together; None: each row its own group.
        dropna: leave out rows with a missing target (training rows), predictor, factor or group value,
            as R's ``lm`` does (``na.omit``), and count them in ``n_dropped``; without it they are an error.
        selection: compute ``selection`` (False: ``None``; the study runner fits one column at a time).
        n_permutations, seed: permutations of the family-wise test and their seed.

    Returns:
        ``{"target", "factor", "id_col", "group_col", "cv", "n_rows", "n_dropped", "dropped", "n_train",
        "n_holdout", "n_groups", "models": {key: entry}, "selection", "notes"}``; ``cv`` is
        ``"leave-one-group-out"``, ``n_groups`` the number of groups among training rows. Each entry has
        :data:`MODEL_KEYS`: ``pearson_r``/``spearman_rho`` (and p-values) between the predictor and the
        target over training rows for a single-predictor model, between fitted values and the target
        otherwise; ``p_group``: the t-test p of the correlation of the group means (:mod:`.multiple`; equal
        to ``pearson_p`` with one row per group, larger when related rows would otherwise count as
        independent evidence) and ``q_value``: its Benjamini–Hochberg q over the single predictors
        (``None`` for joint and factor models); ``r2``, ``adj_r2``; ``coef``/``se``/``p_values`` dicts
        (``intercept``, slopes, ``factor[level]``); ``logo_mse``, ``logo_mae`` (leave-one-group-out);
        ``n_train``; ``holdout_mse``/``holdout_mae`` (``None`` without held-out targets); ``predictions``:
        one ``{"id", "predicted", "actual", "error"}`` per held-out row (``actual``/``error`` ``None``
        where the target is missing; error = predicted − actual); ``note``: ``None``, or why
        ``logo_mse`` / ``logo_mae`` are ``None`` (a group whose rows alone determine a coefficient, e.g.
        the only rows of a factor level: the fit is reported, its cross-validation is undefined).
        ``selection`` (:data:`SELECTION_KEYS`): the predictors searched (``candidates``), the one with the
        largest |r| on training rows (``best``, ``best_r``, ``max_abs_r``), the family-wise permutation
        p-value of that maximum (``p_family_wise``; :mod:`.selection`), and ``nested_cv``: ``mse``, ``mae``,
        ``spearman``, ``kendall``, ``n_groups``, ``baseline_mse``/``baseline_mae`` (predicting the training
        mean on the same folds), ``p_spearman``/``p_mse`` (the whole nested procedure rerun on
        ``n_permutations`` permuted targets) and ``chosen`` (how many folds picked each candidate) of the
        nested leave-one-group-out of select-then-fit (:func:`.cv.nested_cv`). Every number is a plain
        float.

    Raises:
        BadInputError: unknown columns (with suggestions), non-numeric predictor values, missing values
            (without ``dropna``), a missing training target, a constant predictor or target, too few
            training rows (each fit needs parameters + 1 + its largest group), a group column with one
            value, fewer than 4 training groups for the nested cross-validation, an unseen factor level
            among held-out rows.
    """
    predictors = list(dict.fromkeys(predictors))
    if not predictors:
        raise BadInputError("no predictor given; name at least one numeric column with --predictor or --predictors.")
    columns = list(map(str, table.columns))
    group_col = groups if isinstance(groups, str) else None
    for role, col in [("target", target), *[("predictor", p) for p in predictors],
                      ("factor", factor), ("holdout", holdout if isinstance(holdout, str) else None),
                      ("id", id_col), ("group", group_col)]:
        if col is not None and col not in table.columns:
            raise UnknownNameError(f"{role} column", str(col), columns, hint=f"(the table's columns: {', '.join(columns)}).")
    if factor is not None and factor in predictors:
        raise BadInputError(f"column {factor!r} is both a predictor and the factor; use it as one of them.")
    if target in predictors:
        raise BadInputError(f"column {target!r} is both the target and a predictor; pick another predictor.")
    if group_col is not None and group_col in (target, factor, *predictors):
        raise BadInputError(f"column {group_col!r} is the group column and also a target, factor or predictor; "
                            "pick a column that only labels related models.")

    ids = _row_ids(table, id_col)
    table = table.set_axis(pd.Index(ids, name="id"), axis=0)  # errors from the fits name rows by id
    mask = _mask(table, holdout)
    group_labels = _group_labels(table, groups)
    n_rows = len(table)
    table, mask, group_labels, dropped = _drop_missing(
        table, mask, group_labels, target, predictors, factor, group_col, dropna)
    ids = table.index.to_numpy(dtype=object)
    train = table.loc[~mask]
    test = table.loc[mask]
    if train.empty:
        raise BadInputError("every row is marked held out; leave some rows for fitting the model.")
    train_groups = group_labels[~mask]
    _check_groups(train_groups, group_col)
    _check_training(train, target, predictors)
    if factor is not None and train[factor].isna().any():
        rows = ", ".join(ids[~mask][train[factor].isna().to_numpy()][:10])
        raise BadInputError(f"factor column {factor!r} is empty in training rows ({rows}); fill in their level.")
    _check_heldout(test, factor)

    specs: dict[str, list[str]] = {p: [p] for p in predictors}
    notes: list[str] = []
    if len(predictors) > 1:
        specs[JOINT] = predictors
    codes = group_codes(train_groups, len(train))
    models: dict[str, Any] = {}
    for key, preds in specs.items():
        for fac in [None, *([factor] if factor is not None else [])]:
            name = key if fac is None else key + FACTOR_SUFFIX
            if key == JOINT and not _feasible(train, preds, fac, codes):
                notes.append(f"'{name}' left out: {_n_params(train, preds, fac)} parameters are too many for "
                             f"{len(train)} training rows in {int(codes.max()) + 1} groups")
                log.info("%s", notes[-1])
                continue
            models[name] = _entry(train, test, ids[mask], target, preds, fac, codes, train_groups,
                                  single=len(preds) == 1 and fac is None)
    result: dict[str, Any] = {
        "target": target,
        "factor": factor,
        "id_col": id_col,
        "group_col": group_col,
        "cv": CV_NAME,
        "n_rows": int(n_rows),
        "n_dropped": len(dropped),
        "dropped": dropped,
        "n_train": int(len(train)),
        "n_holdout": int(len(test)),
        "n_groups": int(codes.max()) + 1,
        "models": models,
        "selection": None,
        "notes": notes,
    }
    if selection:
        result["selection"] = select(train, target, predictors, codes, factor=factor,
                                     n_permutations=n_permutations, seed=seed)
    _add_qvalues(models, predictors, train, target, codes)
    return result


def select(
    train: pd.DataFrame,
    target: str,
    candidates: Sequence[str],
    groups: Sequence[Any] | np.ndarray | None = None,
    *,
    factor: str | None = None,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``selection`` object of :func:`analyse` for the training rows (see there); raises a
    :class:`BadInputError` when the rows form fewer than :data:`~.cv.MIN_GROUPS` groups."""
    candidates = list(candidates)
    X = train[candidates].to_numpy(dtype=float)
    y = train[target].to_numpy(dtype=float)
    families = train[factor].astype(str).to_numpy() if factor is not None else None
    ncv = nested_cv(X, y, candidates, groups, families=families, min_groups=MIN_GROUPS,
                    n_permutations=n_permutations, seed=seed)
    test = max_abs_r_test(X, y, groups=groups, families=families, n_permutations=n_permutations, seed=seed)
    return {
        "candidates": candidates,
        "n_candidates": len(candidates),
        "best": candidates[test.best],
        "best_r": _f(test.r),
        "max_abs_r": _f(test.max_abs_r),
        "p_family_wise": _f(test.p_family_wise),
        "n_permutations": test.n_permutations,
        "n_distinct_permutations": _f(test.n_distinct_permutations),
        "permutation": PERMUTATION + (f" (family: {factor})" if factor else ""),
        "seed": int(seed),
        "nested_cv": ncv.as_dict(),
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


def _group_labels(table: pd.DataFrame, groups: str | Sequence[Any] | np.ndarray | None) -> np.ndarray:
    """One group label per row: the group column, the given labels, or (None) the row ids (positions when
    the ids repeat), i.e. each row its own group."""
    if groups is None:
        ids = table.index.to_numpy(dtype=object)
        return ids if len(set(ids)) == len(ids) else np.array([str(i) for i in range(len(table))], dtype=object)
    if isinstance(groups, str):
        return table[groups].to_numpy(dtype=object)
    labels = np.asarray(list(groups), dtype=object)
    if labels.shape != (len(table),):
        raise BadInputError(f"groups has {labels.size} labels for {len(table)} rows; give one group label per row.")
    return labels


def _drop_missing(
    table: pd.DataFrame, mask: np.ndarray, groups: np.ndarray, target: str, predictors: list[str],
    factor: str | None, group_col: str | None, dropna: bool,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Rows with a missing value in a column the models use (the target counts in training rows only),
    dropped with ``dropna`` (their ids returned) and otherwise an error naming the first such column."""
    _numeric_column(table.loc[~mask], target, "target")  # held-out rows may have no (or any) target
    target_values = pd.to_numeric(table[target], errors="coerce").to_numpy(dtype=float)
    _refuse_infinite("target", target, target_values, ~mask, table.index)
    checks: list[tuple[str, str, np.ndarray]] = [("target", target, ~mask & ~np.isfinite(target_values))]
    for p in predictors:
        values = _numeric_column(table, p, "predictor").to_numpy(dtype=float)
        _refuse_infinite("predictor", p, values, np.ones(len(table), dtype=bool), table.index)
        checks.append(("predictor", p, ~np.isfinite(values)))
    for role, col in (("factor", factor), ("group", group_col)):
        if col is not None:
            checks.append((role, col, table[col].isna().to_numpy()))
    missing = np.zeros(len(table), dtype=bool)
    for _, _, m in checks:
        missing |= m
    if not missing.any():
        return table, mask, groups, []
    ids = table.index.to_numpy(dtype=object)
    if dropna:
        dropped = [str(i) for i in ids[missing]]
        log.info("--dropna: %d of %d rows with a missing value left out (%s)", len(dropped), len(table),
                 ", ".join(dropped[:10]))
        keep = ~missing
        return table.loc[keep], mask[keep], groups[keep], dropped
    fix = (f"{int(missing.sum())} of {len(table)} rows have a missing value in a column the models use: fill them, "
           "or pass --dropna to leave those rows out as R's lm does (the count is reported)")
    for role, col, m in checks:
        train_m, held_m = m & ~mask, m & mask
        if train_m.any():
            raise BadInputError(
                f"{role} column {col!r} is missing in {int(train_m.sum())} of {int((~mask).sum())} training rows "
                f"({', '.join(map(str, ids[train_m][:10]))}); {fix}."
            )
        if held_m.any():
            raise BadInputError(
                f"{role} column {col!r} is missing in {int(held_m.sum())} held-out row(s) "
                f"({', '.join(map(str, ids[held_m][:10]))}); a prediction needs every value: {fix}."
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _refuse_infinite(role: str, col: str, values: np.ndarray, used: np.ndarray, ids: pd.Index) -> None:
    """An infinite value is not a missing one (``--dropna`` would hide it): refused, naming the rows."""
    bad = used & np.isinf(values)
    if bad.any():
        rows = ", ".join(map(str, ids.to_numpy(dtype=object)[bad][:10]))
        raise BadInputError(
            f"{role} column {col!r} has infinite values (inf or -inf) in {int(bad.sum())} row(s) ({rows}); "
            "replace them with finite numbers, or empty the cells to mark them missing."
        )


def _check_groups(train_groups: np.ndarray, group_col: str | None) -> None:
    if group_col is not None and len(train_groups) > 1 and len(set(train_groups.tolist())) == 1:
        raise BadInputError(
            f"group column {group_col!r} has one value ({train_groups[0]!r}) in all {len(train_groups)} training "
            "rows, so there is nothing to leave out; pass a column that tells unrelated models apart, or leave "
            "--group-col out (each row its own group)."
        )


def _check_training(train: pd.DataFrame, target: str, predictors: list[str]) -> None:
    for col, role in [(target, "target"), *[(p, "predictor") for p in predictors]]:
        values = train[col].astype(float) if pd.api.types.is_numeric_dtype(train[col]) else pd.to_numeric(train[col])
        if np.ptp(values.to_numpy(dtype=float)) == 0:
            raise BadInputError(
                f"{role} column {col!r} is constant ({values.iloc[0]:g}) over the {len(train)} training rows; "
                + ("there is nothing to explain." if role == "target" else "it cannot explain anything: drop it.")
            )


def _check_heldout(test: pd.DataFrame, factor: str | None) -> None:
    if factor is not None and test[factor].isna().any():
        raise BadInputError(f"factor column {factor!r} is empty in some held-out rows; fill in their level.")


def _n_params(train: pd.DataFrame, preds: list[str], factor: str | None) -> int:
    return 1 + len(preds) + (train[factor].astype(str).nunique() - 1 if factor else 0)


def _feasible(train: pd.DataFrame, preds: list[str], factor: str | None, codes: np.ndarray) -> bool:
    """Whether every leave-one-group-out fit keeps parameters + 1 rows."""
    return len(train) >= _n_params(train, preds, factor) + 1 + int(np.bincount(codes).max())


def _add_qvalues(
    models: dict[str, Any], predictors: list[str], train: pd.DataFrame, target: str, codes: np.ndarray
) -> None:
    """Each single-predictor model's group-level p (``p_group``) and its Benjamini–Hochberg q over the
    predictors (``q_value``); joint and factor models keep None."""
    p, _ = group_level_pvalues(train[predictors].to_numpy(dtype=float), train[target].to_numpy(dtype=float), codes)
    for k, pk, q in zip(predictors, p, bh_qvalues(p)):
        models[k]["p_group"] = _f(pk)
        models[k]["q_value"] = _f(q)


def _entry(
    train: pd.DataFrame,
    test: pd.DataFrame,
    test_ids: np.ndarray,
    target: str,
    preds: list[str],
    factor: str | None,
    codes: np.ndarray,
    labels: np.ndarray,
    *,
    single: bool,
) -> dict[str, Any]:
    k = _n_params(train, preds, factor)
    largest = int(np.bincount(codes).max())
    need = k + 1 + largest
    formula = f"{target} ~ {' + '.join([*preds, *([factor] if factor else [])])}"
    if len(train) < need:
        why = "parameters + 2" if largest == 1 else f"parameters + 1 + the largest group's {largest} rows"
        raise BadInputError(
            f"'{formula}' has {k} parameters; fitting it with leave-one-group-out needs at least {need} "
            f"training rows ({why}) but there are {len(train)}; add rows or drop terms."
        )
    fit: OLSFit = fit_ols(train, target, preds, factor)
    check_logo_rows(fit.n, fit.n_params, codes, f"'{formula}'")
    e, lone = logo_residuals(fit, train, codes)
    note = None
    if lone:  # e.g. the only training rows of a factor level: the fit is fine, its CV is not defined
        first = {c: labels[i] for i, c in reversed(list(enumerate(codes)))}
        note = (f"leave-one-group-out undefined: group(s) {[str(first[g]) for g in lone]} alone determine a "
                "coefficient (leverage 1)")
        log.warning("%s: %s", formula, note)
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
        "p_group": None,
        "q_value": None,
        "spearman_rho": _f(sr.statistic),
        "spearman_p": _f(sr.pvalue),
        "r2": _f(fit.r2),
        "adj_r2": _f(fit.adj_r2),
        "coef": fit.coef_dict(),
        "se": {k: _f(v) for k, v in zip(fit.names, fit.se)},
        "p_values": {k: _f(v) for k, v in zip(fit.names, fit.p)},
        "logo_mse": None if lone else _f(np.mean(e**2)),
        "logo_mae": None if lone else _f(np.mean(np.abs(e))),
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
    log.debug("%s: R²=%.3f LOGO MSE=%s", formula, fit.r2, entry["logo_mse"])
    return entry


def _f(value: Any) -> float | None:
    """A plain float, or None for missing / non-finite values (JSON has no NaN)."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def expand_predictors(
    columns: Sequence[str],
    names: Sequence[str] | None = None,
    globs: Sequence[str] | None = None,
    *,
    exclude: Sequence[str | None] = (),
) -> list[str]:
    """The predictor columns: ``names`` as given, then every column matching one of ``globs``
    (``fnmatch``, case-sensitive, in table order), without duplicates; columns in ``exclude`` (the
    target, factor, group, holdout and id columns) are never matched by a glob.

    Raises:
        BadInputError: a glob that matches no column (naming it and the columns there are).
    """
    out = list(names or [])
    skip = {c for c in exclude if c is not None}
    for pattern in globs or []:
        hits = [c for c in map(str, columns) if fnmatch.fnmatchcase(c, pattern) and c not in skip]
        if not hits:
            shown = ", ".join(c for c in map(str, columns) if c not in skip)
            other_case = [c for c in map(str, columns) if fnmatch.fnmatch(c.lower(), pattern.lower()) and c not in skip]
            hint = (f" (globs are case-sensitive; it would match {', '.join(map(repr, other_case[:3]))} ignoring case)"
                    if other_case else "")
            raise BadInputError(
                f"--predictors {pattern!r} matches no predictor column{hint}; use a glob such as 'aq_*' over the "
                f"columns {shown}."
            )
        out.extend(hits)
    return list(dict.fromkeys(out))
