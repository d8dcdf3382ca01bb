"""Relate a study's geometry to its downstream scores: the tables behind the report's analysis section.

Input: the tidy geometry table (one row per model spec × layer × measure), the per-model scores
(:class:`~latentatlas.downstream.stage.ModelScores`) and the transferability table. The training
family is every model not held out (``analysis.holdout`` of the study); correlations and fits use only
training models, and held-out models are predicted (Marbut's protocol, reference/marbut.md §2.3).

Outputs (all tidy DataFrames):

* ``models``: one row per model: spec, family, holdout, task scores, average, and one column per
  ``measure@layer`` (plus ``logme:<task>`` / ``hscore:<task>`` transferability columns);
* ``correlations``: Pearson / Spearman / Kendall with bootstrap CIs per (measure, layer, target);
* ``fits``: per (measure, layer, target, model kind ∈ {alone, + family}) R², LOO MSE/MAE and held-out
  MSE/MAE;
* ``holdout``: per (measure, layer, target, kind, spec) the prediction and the truth;
* ``transfer``: geometry vs. LogME / H-score as predictors of each task's score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import BadInputError
from .correlate import correlation_table
from .predict import FACTOR_SUFFIX, analyse

log = logging.getLogger(__name__)

SEP = "@"
REFERENCE_MEASURES = ("aq_pp", "pq_pp", "aq_pd_eee", "eee", "vrm", "isoscore", "twonn")
"""Measures always shown in the transferability comparison (Marbut's exported predictors and companions)."""


@dataclass
class StudyAnalysis:
    models: pd.DataFrame
    correlations: pd.DataFrame
    fits: pd.DataFrame
    holdout: pd.DataFrame
    transfer: pd.DataFrame
    targets: list[str]
    has_factor: bool

    def tables(self) -> dict[str, pd.DataFrame]:
        """The output tables of the analysis, by file name stem."""
        return {
            "correlations": self.correlations,
            "fits": self.fits.drop(columns="coef", errors="ignore"),
            "holdout_predictions": self.holdout,
            "transfer_comparison": self.transfer,
            "models": self.models,
        }

    def best(self, target: str = "average", k: int = 5) -> pd.DataFrame:
        """The ``k`` (measure, layer) with the largest |Pearson r| against ``target`` on training models."""
        c = self.correlations[self.correlations["target"] == target].dropna(subset=["pearson_r"])
        return c.reindex(c["pearson_r"].abs().sort_values(ascending=False).index).head(k)


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
) -> pd.DataFrame:
    """One row per model: spec, family, holdout, scores, ``measure@layer`` and ``method:task`` columns."""
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
            res = analyse(table, target, [predictor], factor=factor, holdout="holdout", id_col="spec")
            break
        except BadInputError as exc:  # constant or missing predictor: no fit, said in the log
            log.debug("no fit of %s ~ %s%s: %s", target, predictor, " + family" if factor else "", exc)
    if res is None:
        return [], []
    fits, held = [], []
    for key, entry in res["models"].items():
        kind = "+ family" if key.endswith(FACTOR_SUFFIX) else "alone"
        base = {"predictor": predictor, "target": target, "kind": kind}
        fits.append({
            **base,
            "pearson_r": entry["pearson_r"], "r2": entry["r2"], "loo_mse": entry["loo_mse"],
            "loo_mae": entry["loo_mae"], "holdout_mse": entry["holdout_mse"], "holdout_mae": entry["holdout_mae"],
            # held-out models with a value for this column (a shallow one has none at a deep layer)
            "n_holdout": len(entry["predictions"]), "n_train": entry["n_train"], "coef": entry["coef"],
        })
        held.extend({**base, "spec": p["id"], "predicted": p["predicted"], "actual": p["actual"]}
                    for p in entry["predictions"])
    return fits, held


FIT_COLUMNS = ["measure", "layer", "target", "kind", "pearson_r", "r2", "loo_mse", "loo_mae", "holdout_mse",
               "holdout_mae", "n_holdout", "n_train", "coef"]
HOLDOUT_COLUMNS = ["measure", "layer", "target", "kind", "spec", "predicted", "actual"]


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
    n_boot: int = 1000,
    seed: int = 0,
) -> StudyAnalysis:
    """Correlations, fits and held-out predictions of every (measure, layer) for every target.

    When the models differ in depth, every measure also gets layer ``LAST`` (-1): each model's own last
    layer, so that a shallow held-out model (a miniature zoo model) is compared with deep training models
    at the same relative place; a fixed layer index past its depth has no value for it.
    """
    geometry = with_last_layer(geometry)
    table = model_table(geometry, scores, transfer, families=families, holdout=holdout)
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
                    "leave-one-out (it needs parameters + 2)", len(train))
    fits_df = _split_predictor(pd.DataFrame(fits), FIT_COLUMNS)
    held_df = _split_predictor(pd.DataFrame(held), HOLDOUT_COLUMNS)
    comparison = transfer_comparison(table, corr, targets=[t for t in targets if t != "average"])
    return StudyAnalysis(table, corr, fits_df, held_df, comparison, list(targets), use_factor)


def transfer_comparison(table: pd.DataFrame, corr: pd.DataFrame, *, targets: Sequence[str]) -> pd.DataFrame:
    """Per task: LogME / H-score of the frozen features vs. label-free geometry as predictors of the score.

    Geometry rows: the (measure, layer) with the largest |Pearson r| on training models (chosen after the
    fact, so optimistic: said in the ``note`` column) and the reference measures at the last layer.
    """
    rows = []
    geo_cols = [c for c in table.columns if SEP in c]
    layers = {int(c.rsplit(SEP, 1)[1]) for c in geo_cols}
    last = LAST if LAST in layers else max(layers, default=0)
    for target in targets:
        candidates: list[tuple[str, str, str]] = []
        for c in table.columns:
            if c.endswith(f":{target}"):
                candidates.append((c.split(":", 1)[0], c, "label-aware baseline"))
        c_t = corr[(corr["target"] == target)].dropna(subset=["pearson_r"])
        if not c_t.empty:
            top = c_t.loc[c_t["pearson_r"].abs().idxmax()]
            candidates.append((f"geometry best: {top['measure']}@{int(top['layer'])}",
                               column(top["measure"], int(top["layer"])), "best of all (measure, layer): optimistic"))
        for m in REFERENCE_MEASURES:
            if column(m, last) in table.columns:
                candidates.append((f"{m}@{last}", column(m, last), "reference measure, last layer"))
        for name, col, note in candidates:
            fits, _ = _fit_rows(table, target, col, use_factor=False)
            alone = next((f for f in fits if f["kind"] == "alone"), None)
            rows.append({
                "task": target, "predictor": name, "note": note,
                "pearson_r": None if alone is None else alone["pearson_r"],
                "r2": None if alone is None else alone["r2"],
                "loo_mse": None if alone is None else alone["loo_mse"],
                "holdout_mse": None if alone is None else alone["holdout_mse"],
            })
    return pd.DataFrame(rows, columns=["task", "predictor", "note", "pearson_r", "r2", "loo_mse", "holdout_mse"])
