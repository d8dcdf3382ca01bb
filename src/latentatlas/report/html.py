"""The HTML report: per-layer profiles of every measure for every model, figures embedded as PNG."""

from __future__ import annotations

import base64
import html
import logging
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from ..measures import registry as reg
from . import figures
from .sections import SLOT

log = logging.getLogger(__name__)


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("latentatlas", "report/templates"),
        autoescape=select_autoescape(["html"]),
    )


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def render_report(
    df: pd.DataFrame,
    manifest: dict[str, Any],
    *,
    scores: pd.DataFrame | None = None,
    model_scores: Any = None,
    baselines: pd.DataFrame | None = None,
    transfer: pd.DataFrame | None = None,
    analysis: Any = None,
    extra_sections: list[tuple[str, str]] | None = None,
) -> str:
    """Render the report page as a string (the downstream and analysis sections when given).

    ``extra_sections``: ``(name, html fragment)`` pairs of attached analyses (see :mod:`.sections`)."""
    sections = []
    for family, fam_df in df.groupby("family", sort=False):
        plots = []
        for measure in fam_df["measure"].unique():
            base = measure.split(".", 1)[0]
            spec = reg.get(base)
            plots.append(
                {
                    "measure": measure,
                    "summary": spec.summary,
                    "reference": spec.reference,
                    "png": _b64(figures.layer_profile(fam_df, measure)),
                }
            )
        sections.append({"family": family, "plots": plots})
    last = df.loc[df.groupby("spec")["layer"].transform("max") == df["layer"]]
    table = last.pivot_table(index="measure", columns="spec", values="value", sort=False)
    table_html = table.to_html(
        float_format=lambda v: f"{v:.4g}", classes="results", border=0, na_rep="–"
    )
    downstream = _downstream(model_scores, baselines, analysis) if model_scores is not None else None
    return _env().get_template("report.html").render(
        manifest=manifest,
        downstream=downstream,
        sections=sections,
        last_layer_table=table_html,
        n_rows=len(df),
        n_models=df["spec"].nunique(),
        n_layers=df["layer"].nunique(),
        n_measures=df["measure"].nunique(),
        escape=html.escape,
        extra_sections=extra_sections or [],
        slot=SLOT,
    )


def _table(df: pd.DataFrame, table_id: str, digits: int = 4) -> str:
    return df.to_html(
        float_format=lambda v: f"{v:.{digits}g}", classes="results", border=0, na_rep="–", index=False,
        table_id=table_id,
    )


def _downstream(model_scores: Any, baselines: pd.DataFrame | None, analysis: Any) -> dict[str, Any]:
    """Tables and figures of the downstream and analysis sections."""
    out: dict[str, Any] = {}
    table = model_scores.table.copy()
    tasks = [t for t in model_scores.targets if t != "average"]
    cols = ["spec", *[c for t in tasks for c in (t, f"{t}_std")], "average"]
    scores = table[[c for c in cols if c in table.columns]]
    averaged = [t for t in model_scores.targets if t != "average"]
    if baselines is not None and not baselines.empty:
        rows = baselines[baselines["metric"] == "score"]
        kind = rows["baseline"] if "baseline" in rows.columns else pd.Series("majority", index=rows.index)
        for name, label in (("majority", "majority-class baseline"),
                            ("per_word_majority", "per-word most frequent tag baseline")):
            base = rows[kind == name].set_index("task")["value"]
            if base.empty:
                continue
            row: dict[str, Any] = {"spec": label, **{t: base.get(t) for t in tasks}}
            row["average"] = float(np.mean([base[t] for t in averaged])) if averaged and all(
                t in base for t in averaged) else np.nan
            scores = pd.concat([scores, pd.DataFrame([row])], ignore_index=True)
    out["scores_table"] = _table(scores, "scores")
    learn = getattr(model_scores, "learnability", None)
    if learn is not None and not learn.empty:
        cols = ["task", "baseline", "best_spec", "best", "worst_spec", "worst", "seed_sd", "model_sd",
                "learnable", "reason"]
        out["tasks_table"] = _table(learn[cols], "task-learnability", 3)
        out["left_out"] = model_scores.left_out
    if analysis is None:
        return out
    target = "average"
    corr = analysis.correlations[analysis.correlations["target"] == target]
    mat = corr.pivot_table(index="measure", columns="layer", values="pearson_r", sort=False)
    out["heatmap"] = _b64(figures.correlation_heatmap(
        mat, title=f"Pearson r of each measure with the {target} score (training models)"))
    best = analysis.best(target, k=4)
    out["best_table"] = _table(best[["measure", "layer", "target", "n", "pearson_r", "pearson_lo", "pearson_hi",
                                     "spearman_rho", "kendall_tau"]], "best-correlations", 3)
    scatters = []
    fits = analysis.fits
    for _, r in best.iterrows():
        col = f"{r['measure']}@{int(r['layer'])}"
        lines = {}
        sel = fits[(fits["measure"] == r["measure"]) & (fits["layer"] == r["layer"]) & (fits["target"] == target)]
        for _, f in sel.iterrows():
            coef = f["coef"]
            if f["kind"] == "alone":
                lines["OLS fit"] = (coef["intercept"], coef[col])
            else:  # one line per family: intercept + family offset
                for fam in sorted(analysis.models["family"].unique()):
                    lines[f"OLS + family: {fam}"] = (coef["intercept"] + coef.get(f"family[{fam}]", 0.0), coef[col])
        scatters.append({"measure": col, "png": _b64(figures.score_scatter(
            analysis.models, col, target, fits=lines, title=f"{target} score vs {col} (r = {r['pearson_r']:.2f})"))})
    out["scatters"] = scatters
    fit_cols = ["measure", "layer", "kind", "pearson_r", "r2", "loo_mse", "loo_mae", "holdout_mse", "holdout_mae",
                "n_holdout"]
    ft = fits[fits["target"] == target].dropna(subset=["loo_mse"]).sort_values("loo_mse").head(15)
    out["fits_table"] = _table(ft[[c for c in fit_cols if c in ft.columns]], "fits", 3)
    top, sel = _predictable_best(analysis, target)
    if top is not None and sel["actual"].notna().any():
        out["holdout_png"] = _b64(figures.predicted_vs_actual(
            sel, title=f"held-out models: {target} predicted from {top['measure']}@{int(top['layer'])}"))
        out["holdout_table"] = _table(sel[["spec", "predicted", "actual"]], "holdout", 3)
    out["transfer_table"] = _table(analysis.transfer, "transfer", 3)
    out["has_factor"] = analysis.has_factor
    return out


def _predictable_best(analysis: Any, target: str) -> tuple[Any, pd.DataFrame]:
    """The (measure, layer) most correlated with ``target`` that predicts every held-out model (a shallow
    model has no value at a deep layer), with its ``alone`` held-out predictions; ``(None, empty)``."""
    held = analysis.holdout
    if held.empty:
        return None, held
    held = held[(held["target"] == target) & (held["kind"] == "alone")]
    n_held = held["spec"].nunique()
    for _, row in analysis.best(target, k=len(analysis.correlations)).iterrows():
        sel = held[(held["measure"] == row["measure"]) & (held["layer"] == row["layer"])]
        if len(sel) == n_held and len(sel):
            return row, sel
    return None, held.iloc[:0]
