"""Relate a study's geometry to its downstream scores: the tables behind the report's analysis section.

Input: the tidy geometry table (one row per model spec × layer × measure), the per-model scores
(:class:`~latentatlas.pipeline.downstream.ModelScores`) and the transferability table. The training
family is every model not held out (``analysis.holdout`` of the study); correlations and fits use only
training models, and held-out models are predicted (Marbut's protocol, reference/marbut.md §2.3).

Outputs (all tidy DataFrames):

Models come in groups of related models (``groups``: by default each model alone; the study runner
passes :func:`~latentatlas.stats.groups.model_group` of each spec, so the seeds of one perturbation
are one group): every cross-validation leaves out whole groups and every permutation moves whole groups.

* ``models``: one row per model: spec, family, holdout, group, task scores, average, and one column per
  ``measure@layer`` (plus ``logme:<task>`` / ``hscore:<task>`` transferability columns);
* ``correlations``: Pearson / Spearman / Kendall with bootstrap CIs per (measure, layer, target), the
  group-level p (``p_group``: the correlation of group means) and its Benjamini–Hochberg ``q_value``
  over the whole table (:mod:`.multiple`), and the within-family
  ``partial_r`` / ``within_rho`` with family-blocked bootstrap CIs (:mod:`.within`);
* ``fits``: per (measure, layer, target, model kind ∈ {alone, + family}) R², leave-one-group-out
  MSE/MAE (``logo_mse``, ``logo_mae``) and held-out MSE/MAE, beside the same MSEs of two reference
  predictors on the same rows, the training mean and the nearest training model (:mod:`.reference`);
* ``holdout``: per (measure, layer, target, kind, spec) the prediction, the truth and the two reference
  predictions (with the spec of the nearest training model);
* ``selection``: per target, what reporting the best (measure, layer) costs: its family-wise permutation
  p-value (:mod:`.selection`) and the nested leave-one-group-out of select-then-fit (:mod:`.cv`);
* ``transfer``: per task, geometry vs. LogME / H-score through the same nested cross-validation, with
  paired bootstrap intervals of the differences and a verdict (:mod:`.contest`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BadInputError
from .contest import COLUMNS as CONTEST_COLUMNS
from .contest import compare_families
from .correlate import correlation_table
from .cv import CV_NAME, MIN_GROUPS, nested_cv
from .multiple import bh_qvalues, group_level_pvalues
from .predict import FACTOR_SUFFIX, analyse
from .reference import prediction_band, reference_logo, reference_predictions
from .selection import N_PERMUTATIONS, max_abs_r_test
from .summary import caveat, conclusion
from .within import within_family_bootstrap

log = logging.getLogger(__name__)

SEP = "@"


@dataclass
class StudyAnalysis:
    models: pd.DataFrame
    correlations: pd.DataFrame
    fits: pd.DataFrame
    holdout: pd.DataFrame
    transfer: pd.DataFrame
    targets: list[str]
    has_factor: bool
    selection: pd.DataFrame = field(default_factory=pd.DataFrame)
    cv: str = CV_NAME
    noise: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The output tables of the analysis, by file name stem."""
        return {
            "correlations": self.correlations,
            "fits": self.fits.drop(columns="coef", errors="ignore"),
            "holdout_predictions": self.holdout,
            "transfer_comparison": self.transfer,
            "selection": self.selection,
            "models": self.models,
        }

    def noise_ratio(self, predictor: str) -> float:
        """Noise SD / between-model SD of a ``measure@layer`` candidate (:mod:`.noise`); NaN when the study
        measured no noise or not that candidate's."""
        if self.noise is None or self.noise.empty or not isinstance(predictor, str) or SEP not in predictor:
            return float("nan")
        measure, layer = predictor.rsplit(SEP, 1)
        hit = self.noise[(self.noise["measure"] == measure) & (self.noise["layer"] == int(layer))]
        return float(hit["noise_ratio"].iloc[0]) if len(hit) else float("nan")

    def best(self, target: str = "average", k: int = 5) -> pd.DataFrame:
        """The ``k`` (measure, layer) with the largest |Pearson r| against ``target`` on training models."""
        c = self.correlations[self.correlations["target"] == target].dropna(subset=["pearson_r"])
        return c.reindex(c["pearson_r"].abs().sort_values(ascending=False).index).head(k)

    @property
    def n_train_groups(self) -> int:
        """Groups of related models among the training models."""
        return int(self.models.loc[~self.models["holdout"], "group"].nunique())

    def selection_row(self, target: str) -> dict[str, Any] | None:
        """The selection table's row of ``target`` as a dict, or None."""
        if self.selection.empty or target not in set(self.selection["target"]):
            return None
        return self.selection[self.selection["target"] == target].iloc[0].to_dict()

    def conclusion(self, target: str = "average") -> tuple[str, str]:
        """The plain-words conclusion about ``target`` and its caveat (:func:`.summary.conclusion`)."""
        row = self.selection_row(target) or {"target": target, "best": None, "note": "no selection table"}
        return conclusion(row), caveat(row, n_holdout=int(self.models["holdout"].sum()))

    def prediction_band(self, target: str, predictor: str, grid: np.ndarray,
                        level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """OLS line of ``target ~ predictor`` over the training models and its pointwise prediction band
        on ``grid`` (:func:`.reference.prediction_band`)."""
        train = self.models[~self.models["holdout"]]
        ok = np.isfinite(train[[target, predictor]].to_numpy(dtype=float)).all(axis=1)
        return prediction_band(train.loc[ok, predictor].to_numpy(dtype=float),
                               train.loc[ok, target].to_numpy(dtype=float), grid, level)


def column(measure: str, layer: int) -> str:
    return f"{measure}{SEP}{layer}"


LAST = -1
"""Layer index of the rows :func:`with_last_layer` adds: each model's own last layer."""


def with_last_layer(geometry: pd.DataFrame) -> pd.DataFrame:
    """``geometry`` plus, when the models' depths differ, a copy of each model's deepest layer as layer
    :data:`LAST`; unchanged when every model has the same layers (the copy would duplicate a column)."""
    if geometry.empty or geometry.groupby("spec")["layer"].max().nunique() <= 1:
        return geometry
    deepest = geometry.groupby("spec")["layer"].transform("max")
    last = geometry.loc[geometry["layer"] == deepest].assign(layer=LAST)
    return pd.concat([geometry, last], ignore_index=True)


def model_table(
    geometry: pd.DataFrame,
    scores: pd.DataFrame,
    transfer: pd.DataFrame,
    *,
    families: dict[str, str],
    holdout: set[str],
    groups: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per model: spec, family, holdout, group, scores, ``measure@layer`` and ``method:task``
    columns; a model missing from ``groups`` (or all, when it is None) is its own group."""
    wide = geometry.pivot_table(index="spec", columns=["measure", "layer"], values="value", aggfunc="first")
    wide.columns = [column(m, int(l)) for m, l in wide.columns]
    table = scores.set_index("spec").join(wide, how="left")
    if not transfer.empty:
        tw = transfer.pivot_table(index="spec", columns=["method", "task"], values="value", aggfunc="first")
        tw.columns = [f"{m}:{t}" for m, t in tw.columns]
        table = table.join(tw, how="left")
    table = table.reset_index()
    table.insert(1, "family", table["spec"].map(lambda s: families.get(s, s)))
    table.insert(2, "holdout", table["spec"].isin(holdout))
    table.insert(3, "group", table["spec"].map(lambda s: (groups or {}).get(s, s)))
    return table


def _fit_rows(table: pd.DataFrame, target: str, predictor: str, use_factor: bool) -> tuple[list[dict], list[dict]]:
    # a held-out model without this column (a shallower model has no value at a deep layer) cannot be
    # predicted from it; it must not cost the fit on the training models
    table = table[~(table["holdout"] & table[predictor].isna())]
    res = None
    # with the family factor first; when only that fit is impossible (too few rows per family, a held-out
    # model of a family without training models) the fit alone still stands
    for factor in (["family"] if use_factor else []) + [None]:
        try:
            res = analyse(table, target, [predictor], factor=factor, holdout="holdout", id_col="spec",
                          groups="group", selection=False)
            break
        except BadInputError as exc:  # constant or missing predictor: no fit, said in the log
            log.debug("no fit of %s ~ %s%s: %s", target, predictor, " + family" if factor else "", exc)
    if res is None:
        return [], []
    ref_logo, ref_held = _references(table, target, predictor)
    fits, held = [], []
    for key, entry in res["models"].items():
        kind = "+ family" if key.endswith(FACTOR_SUFFIX) else "alone"
        base = {"predictor": predictor, "target": target, "kind": kind}
        scored = [p for p in entry["predictions"] if p["actual"] is not None]
        fits.append({
            **base,
            "pearson_r": entry["pearson_r"], "r2": entry["r2"], "logo_mse": entry["logo_mse"],
            "logo_mae": entry["logo_mae"], "n_groups": res["n_groups"], "holdout_mse": entry["holdout_mse"],
            "holdout_mae": entry["holdout_mae"],
            # held-out models with a value for this column (a shallow one has none at a deep layer)
            "n_holdout": len(entry["predictions"]), "n_train": entry["n_train"], **ref_logo,
            **{f"{ref}_holdout_mse": _mse([ref_held[p["id"]][f"{ref}_predicted"] - p["actual"] for p in scored])
               for ref in ("mean", "nearest")},
            "coef": entry["coef"],
        })
        held.extend({**base, "spec": p["id"], "predicted": p["predicted"], "actual": p["actual"], **ref_held[p["id"]]}
                    for p in entry["predictions"])
    return fits, held


def _mse(errors: Sequence[float]) -> float:
    return float(np.mean(np.square(errors))) if len(errors) else float("nan")


def _references(table: pd.DataFrame, target: str, predictor: str) -> tuple[dict[str, float], dict[str, dict]]:
    """The reference predictors (:mod:`.reference`) on the rows of the fit of ``target ~ predictor``:
    their leave-one-group-out MSE over the training models, and per held-out spec the training-mean and
    nearest-training-model predictions (with the nearest model's spec)."""
    train = table[~table["holdout"]]
    x, y = train[predictor].to_numpy(dtype=float), train[target].to_numpy(dtype=float)
    mean, nearest = reference_logo(x, y, train["group"].astype(str).to_numpy())
    logo_mse = {"mean_logo_mse": _mse(mean - y), "nearest_logo_mse": _mse(nearest - y)}
    held = table[table["holdout"]]
    ref = reference_predictions(x, y, held[predictor].to_numpy(dtype=float))
    specs = train["spec"].to_numpy()
    per_spec = {
        spec: {"mean_predicted": float(m), "nearest_predicted": float(v), "nearest_spec": str(specs[i])}
        for spec, m, v, i in zip(held["spec"], ref.mean, ref.nearest_value, ref.nearest)
    }
    return logo_mse, per_spec


FIT_COLUMNS = ["measure", "layer", "target", "kind", "pearson_r", "r2", "logo_mse", "logo_mae", "n_groups",
               "holdout_mse", "holdout_mae", "n_holdout", "n_train", "mean_logo_mse", "nearest_logo_mse",
               "mean_holdout_mse", "nearest_holdout_mse", "coef"]
"""Columns of ``fits``; ``mean_*`` / ``nearest_*``: the reference predictors (:mod:`.reference`) on the
same rows: leave-one-group-out over the training models and on the held-out models the fit predicts."""
HOLDOUT_COLUMNS = ["measure", "layer", "target", "kind", "spec", "predicted", "actual", "mean_predicted",
                   "nearest_predicted", "nearest_spec"]


def _split_predictor(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``predictor`` (``measure@layer``) split into ``measure`` and ``layer``; empty input keeps the columns."""
    if df.empty:
        return pd.DataFrame(columns=columns)
    parts = df["predictor"].str.rsplit(SEP, n=1, expand=True)
    df = df.copy()
    df.insert(0, "measure", parts[0])
    df.insert(1, "layer", parts[1].astype(int))
    return df.drop(columns="predictor")


def relate(
    geometry: pd.DataFrame,
    scores: pd.DataFrame,
    transfer: pd.DataFrame,
    *,
    targets: Sequence[str],
    families: dict[str, str],
    holdout: set[str],
    groups: Mapping[str, str] | None = None,
    n_boot: int = 1000,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
    noise: pd.DataFrame | None = None,
) -> StudyAnalysis:
    """Correlations, fits, held-out predictions, selection cost and the baseline comparison of every
    (measure, layer) for every target.

    ``groups``: model spec → group label (related models share one); a model not in it is its own group.
    ``noise``: the measures' own noise (:func:`.noise.noise_table`, keyed by measure and layer as here);
    given, the correlations gain ``noise_ratio`` and the selection ``best_noise_ratio`` (noise SD over
    between-model SD of the candidate; ≥ :data:`.noise.NOISY_RATIO` flags a candidate whose values are
    largely subsample noise). The selection itself does not look at it.
    When the models differ in depth, every measure also gets layer ``LAST`` (-1): each model's own last
    layer, so that a shallow held-out model (a miniature zoo model) is compared with deep training models
    at the same relative place; a fixed layer index past its depth has no value for it.
    """
    geometry = with_last_layer(geometry)
    table = model_table(geometry, scores, transfer, families=families, holdout=holdout, groups=groups)
    train = table[~table["holdout"]]
    if len(train) < 3:
        raise BadInputError(
            f"the analysis needs at least 3 training (not held-out) models, the study has {len(train)}; "
            "add models or hold fewer out."
        )
    use_factor = train["family"].nunique() > 1
    train_geometry = geometry[geometry["spec"].isin(set(train["spec"]))]
    corr = correlation_table(train_geometry, scores[scores["spec"].isin(set(train["spec"]))],
                             targets=list(targets), key="spec", n_boot=n_boot, seed=seed)
    corr = with_group_pvalues(corr, train, targets=list(targets))
    corr = with_within_family(corr, train, targets=list(targets), n_boot=n_boot, seed=seed)
    geo_cols = [c for c in table.columns if SEP in c]
    fits: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for target in targets:
        for col in geo_cols:
            f, h = _fit_rows(table, target, col, use_factor)
            fits.extend(f)
            held.extend(h)
    if not fits:
        log.warning("no (measure, layer) could be fitted: %d training models are too few for a fit with "
                    "leave-one-group-out (it needs parameters + 1 + the largest group)", len(train))
    fits_df = _split_predictor(pd.DataFrame(fits), FIT_COLUMNS)
    held_df = _split_predictor(pd.DataFrame(held), HOLDOUT_COLUMNS)
    selection = selection_table(train, targets=list(targets), n_permutations=n_permutations, seed=seed)
    comparison = transfer_comparison(table, targets=[t for t in targets if t != "average"], n_boot=n_boot,
                                     n_permutations=n_permutations, seed=seed)
    result = StudyAnalysis(table, corr, fits_df, held_df, comparison, list(targets), use_factor, selection,
                           noise=noise)
    if noise is not None:
        result.correlations = corr.merge(noise[["measure", "layer", "noise_ratio"]], on=["measure", "layer"],
                                         how="left")
        result.selection = selection.assign(best_noise_ratio=[result.noise_ratio(b) for b in selection["best"]])
    return result


def _finite_block(train: pd.DataFrame, target: str, columns: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Training rows with a finite ``target`` and the ``columns`` finite on all of them."""
    rows = train[np.isfinite(pd.to_numeric(train[target], errors="coerce").to_numpy(dtype=float))]
    values = rows[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(values).all(axis=0) if len(rows) else np.zeros(len(columns), dtype=bool)
    return rows, [c for c, good in zip(columns, ok) if good]


def _join_per_target(
    corr: pd.DataFrame,
    train: pd.DataFrame,
    targets: Sequence[str],
    columns: Sequence[str],
    compute: Callable[[pd.DataFrame, list[str], str], pd.DataFrame],
) -> pd.DataFrame:
    """``corr`` left-joined on (measure, layer, target) with ``columns`` of ``compute(rows, usable, target)``.

    For every target, ``rows`` are the training rows with a finite target and ``usable`` the geometry
    columns finite on all of them (:func:`_finite_block`); a target with fewer than 3 such rows or no
    usable column is skipped (NaN). ``compute`` returns one row per usable column: ``predictor`` (the
    geometry column), ``target`` and ``columns``.
    """
    geo_cols = [c for c in train.columns if SEP in c]
    frames = []
    for target in targets:
        rows, usable = _finite_block(train, target, geo_cols)
        if len(rows) >= 3 and usable:
            frames.append(compute(rows, usable, target))
    if not frames:
        return corr.assign(**{c: np.nan for c in columns})
    extra = pd.concat(frames, ignore_index=True)
    parts = extra["predictor"].str.rsplit(SEP, n=1, expand=True)
    extra = extra.drop(columns="predictor").assign(measure=parts[0], layer=parts[1].astype(int))
    return corr.merge(extra[["measure", "layer", "target", *columns]], on=["measure", "layer", "target"], how="left")


def with_group_pvalues(corr: pd.DataFrame, train: pd.DataFrame, *, targets: Sequence[str]) -> pd.DataFrame:
    """``corr`` plus ``p_group`` (the t-test p of the correlation of group means, :mod:`.multiple`) and
    ``q_value``, its Benjamini–Hochberg q over every (measure, layer, target) of the table, both placed
    after ``pearson_p``. With one model per group ``p_group`` equals ``pearson_p``."""

    def group_p(rows: pd.DataFrame, usable: list[str], target: str) -> pd.DataFrame:
        p, _ = group_level_pvalues(rows[usable].to_numpy(dtype=float), rows[target].to_numpy(dtype=float),
                                   rows["group"].astype(str).to_numpy())
        return pd.DataFrame({"predictor": usable, "target": target, "p_group": p})

    out = _join_per_target(corr, train, targets, ["p_group"], group_p)
    out["q_value"] = bh_qvalues(out["p_group"].to_numpy(dtype=float))
    at = list(out.columns).index("pearson_p") + 1
    order = [*list(out.columns)[:at], "p_group", "q_value"]
    return out[order + [c for c in out.columns if c not in order]]


WITHIN_COLUMNS = ["partial_r", "partial_r_lo", "partial_r_hi", "within_rho", "within_rho_lo", "within_rho_hi",
                  "n_families"]


def with_within_family(
    corr: pd.DataFrame, train: pd.DataFrame, *, targets: Sequence[str], n_boot: int, seed: int, ci: float = 0.95
) -> pd.DataFrame:
    """``corr`` plus :data:`WITHIN_COLUMNS`: within-family ``partial_r`` / ``within_rho`` of each
    (measure, layer, target) over the training models, with family-blocked bootstrap CIs (groups of
    related models resampled within families). NaN where the column misses a model or has no
    within-family variation."""

    def within(rows: pd.DataFrame, usable: list[str], target: str) -> pd.DataFrame:
        got = within_family_bootstrap(
            rows[usable].to_numpy(dtype=float).T, rows[[target]].to_numpy(dtype=float).T,
            families=rows["family"].astype(str).to_numpy(), groups=rows["group"].astype(str).to_numpy(),
            n_boot=n_boot, ci=ci, seed=seed,
        )
        part = pd.DataFrame({"predictor": usable, "target": target})
        for c in WITHIN_COLUMNS[:-1]:
            part[c] = got[c][:, 0]
        part["n_families"] = got["n_families"]
        return part

    return _join_per_target(corr, train, targets, WITHIN_COLUMNS, within)


SELECTION_COLUMNS = [
    "target", "candidates", "best", "best_r", "max_abs_r", "p_family_wise", "n_permutations",
    "n_distinct_permutations", "nested_mse", "nested_mae", "nested_spearman", "nested_kendall", "nested_n_groups",
    "mean_only_mse", "nested_p_spearman", "nested_p_mse", "chosen", "cv", "note",
]


def selection_table(
    train: pd.DataFrame, *, targets: Sequence[str], n_permutations: int = N_PERMUTATIONS, seed: int = 0
) -> pd.DataFrame:
    """Per target: the (measure, layer) with the largest |r| over the training models, the family-wise
    permutation p-value of that maximum over every candidate (groups permuted within families), and the
    nested leave-one-group-out of select-then-fit. Candidates: the ``measure@layer`` columns with a value
    for every training model. When nested CV is impossible (fewer than :data:`~.cv.MIN_GROUPS` groups)
    its figures are NaN and ``note`` says why."""
    geo_cols = [c for c in train.columns if SEP in c]
    rows = []
    for target in targets:
        block, usable = _finite_block(train, target, geo_cols)
        row: dict[str, Any] = {c: np.nan for c in SELECTION_COLUMNS}
        row.update(target=target, candidates=len(usable), best=None, chosen=None, cv=CV_NAME, note=None)
        y = block[target].to_numpy(dtype=float) if len(block) else np.empty(0)
        if len(block) < 3 or not usable or np.ptp(y) == 0:
            row["note"] = "no selection: fewer than 3 training models, no complete candidate, or a constant target"
            rows.append(row)
            continue
        X = block[usable].to_numpy(dtype=float)
        groups = block["group"].astype(str).to_numpy()
        families = block["family"].astype(str).to_numpy() if block["family"].nunique() > 1 else None
        test = max_abs_r_test(X, y, groups=groups, families=families, n_permutations=n_permutations, seed=seed)
        row.update(best=usable[test.best], best_r=test.r, max_abs_r=test.max_abs_r,
                   p_family_wise=test.p_family_wise, n_permutations=test.n_permutations,
                   n_distinct_permutations=test.n_distinct_permutations)
        try:
            ncv = nested_cv(X, y, usable, groups, families=families, min_groups=MIN_GROUPS,
                            n_permutations=n_permutations, seed=seed)
        except BadInputError as exc:
            row["note"] = f"no nested CV: {exc}"
        else:
            row.update(nested_mse=ncv.mse, nested_mae=ncv.mae, nested_spearman=ncv.spearman,
                       nested_kendall=ncv.kendall, nested_n_groups=ncv.n_groups, mean_only_mse=ncv.baseline_mse,
                       nested_p_spearman=ncv.p_spearman, nested_p_mse=ncv.p_mse,
                       chosen=", ".join(f"{k} ({v})" for k, v in ncv.chosen.items()))
        rows.append(row)
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


BASELINE_METHODS = ("logme", "hscore")
"""Label-aware transferability methods compared with geometry (columns ``<method>:<task>``)."""


def transfer_comparison(
    table: pd.DataFrame, *, targets: Sequence[str], n_boot: int = 1000, n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> pd.DataFrame:
    """Per task: geometry vs. LogME / H-score as predictors of the score, on equal terms.

    Each predictor family (``geometry``: every ``measure@layer`` column; ``logme`` / ``hscore``: their
    columns for the task) goes through the same nested leave-one-group-out of select-then-fit over the
    training models with a finite score and a value for every candidate; the table
    (:data:`.contest.COLUMNS`) gives each family's nested-CV MSE and rank correlations and, for each
    baseline, the difference from geometry with a paired group-bootstrap interval and a verdict.
    """
    train = table[~table["holdout"]]
    geo_cols = [c for c in table.columns if SEP in c]
    frames = []
    for target in targets:
        base_cols = [c for c in table.columns if any(c == f"{m}:{target}" for m in BASELINE_METHODS)]
        block, usable = _finite_block(train, target, [*geo_cols, *base_cols])
        if len(block) < 3:
            continue
        y = block[target].to_numpy(dtype=float)
        candidates: dict[str, tuple[np.ndarray, list[str]]] = {}
        geo = [c for c in usable if SEP in c]
        if geo:
            candidates["geometry"] = (block[geo].to_numpy(dtype=float), geo)
        for m in BASELINE_METHODS:
            cols = [c for c in usable if c == f"{m}:{target}"]
            if cols:
                candidates[m] = (block[cols].to_numpy(dtype=float), cols)
        if candidates:
            families = block["family"].astype(str).to_numpy() if block["family"].nunique() > 1 else None
            frames.append(compare_families(target, y, candidates, groups=block["group"].astype(str).to_numpy(),
                                           families=families, n_boot=n_boot, n_permutations=n_permutations,
                                           seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CONTEST_COLUMNS)
