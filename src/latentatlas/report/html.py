"""The HTML report of a study: what the data support first, then every figure and table behind it.

:func:`build_report` renders the page and the files of its figures: every figure is embedded as PNG and
also kept as ``figures/<name>.svg``, ``.pdf`` and ``.csv`` (the data it plots), for a paper.

Order of the analysis section: the conclusion in plain words (:meth:`StudyAnalysis.conclusion`), the
selection table (nested cross-validation and family-wise p), the score against the selected measure, the
held-out models beside the two reference predictors, then the correlation heatmaps and curves, the
strongest correlations (q-values, within-family r), the fits (beside the references) and geometry
against LogME / H-score. What cannot be computed is said where it would have been.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, select_autoescape

from ..errors import BadInputError, UnknownNameError
from ..measures import registry as reg
from . import figures
from .sections import SLOT

log = logging.getLogger(__name__)

FIGURES_DIR = "figures"
"""Folder of the figure files, inside the output folder."""

MIN_CI_GROUPS = 6
"""Fewest training groups for which bootstrap intervals are shown: with G groups there are only
C(2G − 1, G) distinct resamples (126 for G = 5), too few for a 95 % percentile interval."""

TOP_CORRELATIONS = 10
TOP_FITS = 15
LAST_LAYER_COLUMNS = 15
"""Models per last-layer table (more are split over several tables, so that each fits the page)."""


@dataclass
class Report:
    """The page and the files of its figures (path relative to the output folder → bytes)."""

    page: str
    files: dict[str, bytes] = field(default_factory=dict)


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("latentatlas", "report/templates"),
        autoescape=select_autoescape(["html"]),
    )


class _Figures:
    """Collects the figures of one page: PNG for the page, SVG / PDF / CSV as files."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def add(self, name: str, fig: Any, data: pd.DataFrame) -> dict[str, Any]:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "figure"
        unique, k = stem, 1
        while f"{FIGURES_DIR}/{unique}.svg" in self.files:
            k += 1
            unique = f"{stem}-{k}"
        out = figures.save(fig)
        links = {}
        for ext, content in (("svg", out["svg"]), ("pdf", out["pdf"]), ("csv", data.to_csv(index=False).encode())):
            links[ext] = f"{FIGURES_DIR}/{unique}.{ext}"
            self.files[links[ext]] = content
        w, h = figures.png_size(out["png"])
        scale = figures.CSS_DPI / figures.DPI
        return {"name": unique, "png": base64.b64encode(out["png"]).decode("ascii"), "width": round(w * scale),
                "height": round(h * scale), "links": links}


def build_report(
    df: pd.DataFrame,
    manifest: dict[str, Any],
    *,
    scores: pd.DataFrame | None = None,
    model_scores: Any = None,
    baselines: pd.DataFrame | None = None,
    transfer: pd.DataFrame | None = None,
    analysis: Any = None,
    extra_sections: list[tuple[str, str]] | None = None,
    groups: Mapping[str, str] | None = None,
    noise: pd.DataFrame | None = None,
    noise_summary: pd.DataFrame | None = None,
) -> Report:
    """The report page and its figure files (the downstream and analysis sections when given).

    ``groups``: model spec → group of related models (seed twins are drawn as one line with a band);
    default: the analysis's groups, else each model alone. ``extra_sections``: ``(name, html fragment)``
    pairs of attached analyses (see :mod:`.sections`). ``noise`` / ``noise_summary``: the measures' own
    noise per (measure, layer) and per measure (:mod:`latentatlas.stats.noise`), shown beside the
    spread between models."""
    n_models = df["spec"].nunique()
    if "site" in df.columns and df["site"].nunique() > 1:  # one line (and last-layer column) per model and site
        df = df.assign(spec=df["spec"] + " [" + df["site"] + "]")
    figs = _Figures()
    models = _models(df, manifest, groups, analysis)
    styles = figures.model_styles(models)
    downstream = None
    if model_scores is not None:
        downstream = _downstream(model_scores, baselines, scores, manifest, analysis, df, models, styles, figs)
    page = _env().get_template("report.html").render(
        manifest=manifest,
        methods=_methods(df, manifest, analysis),
        models=models.to_dict("records"),
        downstream=downstream,
        sections=_profiles(df, models, figs),
        last_layer=_last_layer(df),
        n_rows=len(df),
        n_models=n_models,
        n_layers=df["layer"].nunique(),
        n_measures=df["measure"].nunique(),
        escape=html.escape,
        extra_sections=extra_sections or [],
        noise=_noise(noise, noise_summary, analysis),
        slot=SLOT,
    )
    return Report(page=page, files=figs.files)


def render_report(df: pd.DataFrame, manifest: dict[str, Any], **kwargs: Any) -> str:
    """The report page as a string (:func:`build_report` without the figure files)."""
    return build_report(df, manifest, **kwargs).page


# ------------------------------------------------------------------------------------------ helpers
def _models(df: pd.DataFrame, manifest: dict[str, Any], groups: Mapping[str, str] | None, analysis: Any) -> pd.DataFrame:
    """One row per model in the study's order: spec, short name, family, group, holdout."""
    records = {m["spec"]: m for m in manifest.get("models", [])}
    specs = list(dict.fromkeys([*records, *df["spec"]]))
    from_analysis: dict[str, str] = {}
    if analysis is not None and "group" in analysis.models:
        from_analysis = dict(zip(analysis.models["spec"], analysis.models["group"].astype(str)))
    rows = []
    for spec in specs:
        m = records.get(spec, {})
        rows.append({
            "spec": spec, "name": figures.short_name(spec),
            "family": str(m.get("family") or spec.partition("@")[0]),
            "group": str((groups or {}).get(spec) or from_analysis.get(spec) or spec),
            "holdout": bool(m.get("holdout", False)),
        })
    return pd.DataFrame(rows, columns=["spec", "name", "family", "group", "holdout"])


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "–" if not math.isfinite(f) else f"{f:.{digits}g}"


def _ci(v: Any, lo: Any, hi: Any, show: bool, digits: int = 2) -> str:
    if v is None or not np.isfinite(float(v)):
        return "–"
    text = f"{float(v):.{digits}f}"
    if show and lo is not None and np.isfinite(float(lo)) and np.isfinite(float(hi)):
        text += f" [{float(lo):.{digits}f}, {float(hi):.{digits}f}]"
    return text


def _p(v: Any) -> str:
    if v is None or not np.isfinite(float(v)):
        return "–"
    v = float(v)
    return f"{v:.2g}" if v >= 0.01 else f"{v:.1g}"


def _table(df: pd.DataFrame, table_id: str, *, empty: str, classes: str = "results") -> str:
    """``df`` (already formatted) as an HTML table, or a paragraph saying why there is none."""
    if df.empty:
        return f'<p class="empty" id="{html.escape(table_id)}">{html.escape(empty)}</p>'
    return df.to_html(classes=classes, border=0, na_rep="–", index=False, table_id=table_id, escape=True)


def _names(specs: Any) -> list[str]:
    return [figures.short_name(s) for s in specs]


# ------------------------------------------------------------------------------------------ methods
def _methods(df: pd.DataFrame, manifest: dict[str, Any], analysis: Any) -> dict[str, Any]:
    """The methods box: the study as run (YAML), points per cloud, probe settings, seeds, versions."""
    study = manifest.get("study", {})
    pts = df.drop_duplicates(["spec", "layer"])["n_points"] if "n_points" in df else pd.Series(dtype=float)
    if len(pts) and pts.min() == pts.max():
        points = f"{int(pts.min())} points per cloud (every model × layer)"
    elif len(pts):
        points = (f"{int(pts.min())}–{int(pts.max())} points per cloud (median {int(pts.median())}; a model with "
                  "fewer tokens than the cap uses all of them)")
    else:
        points = "–"
    ds = study.get("downstream", {}) or {}
    if not study.get("tasks"):
        downstream = "no downstream tasks"
    elif ds.get("mode") == "finetune":
        ft = ds.get("finetune", {})
        downstream = (f"full fine-tuning: learning rate {ft.get('learning_rate')}, effective batch {ft.get('batch_size')}, "
                      f"{ft.get('epochs')} epoch(s), max length {ft.get('max_length')}, weight decay {ft.get('weight_decay')}")
    else:
        pr = ds.get("probe", {})
        reg_text = (f"ridge classifier, alpha = {pr.get('alpha')}" if pr.get("classifier") == "ridge"
                    else f"logistic regression, C = {pr.get('C')} (inverse L2), at most {pr.get('max_iter')} iterations")
        downstream = (f"linear probe on frozen features ({reg_text}; ridge regression alpha = {pr.get('alpha')} for "
                      f"regression tasks), {pr.get('train_fraction')} of the training examples per seed, probe "
                      f"layers {ds.get('probe_layers')}, score layer {ds.get('score_layer')}")
    an = study.get("analysis", {}) or {}
    seeds = (f"corpus sample {study.get('corpus', {}).get('seed')}; point sample and measures {study.get('seed')}; "
             f"downstream runs {ds.get('seeds')}; analysis (bootstrap, permutations) {an.get('seed')}")
    stats_text = None
    if analysis is not None:
        sel = analysis.selection
        n_perm = int(sel["n_permutations"].dropna().iloc[0]) if not sel.empty and sel["n_permutations"].notna().any() else None
        stats_text = (f"{int((~analysis.models['holdout']).sum())} training models in {analysis.n_train_groups} groups of "
                      f"related models (seed twins together), {int(analysis.models['holdout'].sum())} held out; "
                      f"{analysis.cv} cross-validation; {an.get('n_boot')} bootstrap resamples"
                      + (f"; {n_perm} permutations" if n_perm else ""))
    return {
        "yaml": yaml.safe_dump(study, sort_keys=False, allow_unicode=True),
        "points": points, "max_points": study.get("max_points"), "downstream": downstream, "seeds": seeds,
        "stats": stats_text,
        "versions": ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items()),
    }


# ----------------------------------------------------------------------------------------- profiles
def _base(measure: str) -> str:
    return measure.split(".", 1)[0]


def _spec(measure: str) -> Any:
    try:
        return reg.get(_base(measure))
    except UnknownNameError:  # a measure no longer registered: the report still renders
        return None


def _profiles(df: pd.DataFrame, models: pd.DataFrame, figs: _Figures) -> list[dict[str, Any]]:
    """One panel figure per measure family with every measure's per-layer profile."""
    sections = []
    for family, fam_df in df.groupby("family", sort=False):
        measures = list(dict.fromkeys(fam_df["measure"]))
        specs = {m: _spec(m) for m in measures}
        directions = {m: (s.higher_means_spread if s is not None else None) for m, s in specs.items()}
        fig, data = figures.layer_profiles(fam_df, models, directions, title=f"{family} measures per layer")
        sections.append({
            "family": family,
            "figure": figs.add(f"profiles_{family}", fig, data),
            "measures": [{"measure": m, "summary": s.summary if s else "", "reference": s.reference if s else ""}
                         for m, s in specs.items()],
        })
    return sections


def _last_layer(df: pd.DataFrame) -> dict[str, Any]:
    """Measures × models at each model's last layer, as rows of formatted cells."""
    last = df.loc[df.groupby("spec")["layer"].transform("max") == df["layer"]]
    table = last.pivot_table(index="measure", columns="spec", values="value", sort=False)
    specs = list(dict.fromkeys(s for s in df["spec"] if s in table.columns))
    parts = []
    for start in range(0, len(specs), LAST_LAYER_COLUMNS):  # at most this many models per table: page width
        chunk = specs[start:start + LAST_LAYER_COLUMNS]
        rows = [{"measure": m, "cells": [_num(table.loc[m, s], 3) for s in chunk]} for m in table.index]
        parts.append({"specs": _names(chunk), "rows": rows, "first": start + 1, "last": start + len(chunk)})
    return {"parts": parts, "n_models": len(specs)}


# --------------------------------------------------------------------------------------- downstream
def _downstream(model_scores: Any, baselines: pd.DataFrame | None, scores: pd.DataFrame | None,
                manifest: dict[str, Any], analysis: Any, df: pd.DataFrame, models: pd.DataFrame,
                styles: Mapping[str, figures.Style], figs: _Figures) -> dict[str, Any]:
    """Tables and figures of the downstream and analysis sections."""
    out: dict[str, Any] = {}
    table = model_scores.table.copy()
    tasks = [c for c in table.columns if c not in ("spec", "average") and not str(c).endswith("_std")]  # all, averaged or not
    cols = ["spec", *[c for t in tasks for c in (t, f"{t}_std")], "average"]
    shown = table[[c for c in cols if c in table.columns]].copy()
    base = pd.Series(dtype=float)  # the majority baseline per task
    averaged = [t for t in model_scores.targets if t != "average"]
    if baselines is not None and not baselines.empty:
        rows = baselines[baselines["metric"] == "score"]
        kind = rows["baseline"] if "baseline" in rows.columns else pd.Series("majority", index=rows.index)
        for name, label in (("majority", "majority-class baseline"),
                            ("per_word_majority", "per-word most frequent tag baseline")):
            values = rows[kind == name].set_index("task")["value"]
            if values.empty:
                continue
            if name == "majority":
                base = values
            row: dict[str, Any] = {"spec": label, **{t: values.get(t) for t in tasks}}
            row["average"] = (float(np.mean([values[t] for t in averaged]))
                              if averaged and all(t in values.index for t in averaged) else np.nan)
            shown = pd.concat([shown, pd.DataFrame([row])], ignore_index=True)
    shown["spec"] = _names(shown["spec"])
    out["scores_table"] = _table(shown.map(lambda v: v if isinstance(v, str) else _num(v, 4)), "scores",
                                 empty="no model has a downstream score")
    out["at_baseline"] = _at_baseline(scores, base, manifest)
    learn = getattr(model_scores, "learnability", None)
    if learn is not None and not learn.empty:
        cols = ["task", "baseline", "best_spec", "best", "worst_spec", "worst", "seed_sd", "model_sd",
                "learnable", "reason"]
        shown_learn = learn[cols].assign(best_spec=_names(learn["best_spec"]), worst_spec=_names(learn["worst_spec"]))
        out["tasks_table"] = _table(shown_learn.map(lambda v: v if isinstance(v, (str, bool)) else _num(v, 3)),
                                    "task-learnability", empty="no task could be judged")
        out["left_out"] = model_scores.left_out
    if analysis is not None:
        out.update(_analysis(analysis, df, models, styles, figs))
    else:
        n_train = int((~models["holdout"]).sum())
        out["no_analysis"] = (f"No geometry → performance analysis: it needs at least 3 training (not held-out) "
                              f"models with scores, and this study has {n_train}.")
    return out


def _at_baseline(scores: pd.DataFrame | None, base: pd.Series, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Which runs ended at or below the majority-class baseline of their task (a fine-tuning run that did
    not leave the class prior, a probe that learnt nothing): a sentence and one line per model; None when
    none did."""
    if scores is None or scores.empty or base.empty:
        return None
    official = scores[scores["metric"] == "score"]
    official = official[official["layer"] == official.groupby("spec")["layer"].transform("max")]
    low = official[official["value"] <= official["task"].map(base) + 1e-9]
    if low.empty:
        return None
    mode = manifest.get("study", {}).get("downstream", {}).get("mode", "probe")
    what = "fine-tuning run(s) stayed" if mode == "finetune" else "probe run(s) ended"
    per_model = []
    for spec, g in low.groupby("spec", sort=False):
        tasks = ", ".join(f"{task} (seed {', '.join(str(int(s)) for s in sorted(t['run_seed']))})"
                          for task, t in g.groupby("task", sort=False))
        per_model.append(f"{figures.short_name(spec)} on {tasks}")
    return {"text": (f"{len(low)} {what} at or below the majority-class baseline of their task "
                     f"({low['spec'].nunique()} model(s)): there the model learnt nothing beyond the class prior, "
                     "and its score is the baseline's."),
            "runs": per_model}


def _analysis(analysis: Any, df: pd.DataFrame, models: pd.DataFrame, styles: Mapping[str, figures.Style],
              figs: _Figures) -> dict[str, Any]:
    out: dict[str, Any] = {"has_factor": analysis.has_factor}
    targets = list(analysis.targets)
    main = "average" if "average" in targets else targets[0]
    order = [main, *[t for t in targets if t != main]]
    n_groups = analysis.n_train_groups
    show_ci = n_groups >= MIN_CI_GROUPS
    out["n_groups"] = n_groups
    out["ci_note"] = None if show_ci else (
        f"No bootstrap interval is shown: the training models form only {n_groups} groups of related models, "
        f"and an interval needs at least {MIN_CI_GROUPS} (with fewer there are too few distinct resamples).")
    out["main"] = main
    out["conclusions"] = [dict(zip(("text", "caveat"), analysis.conclusion(t)), target=t) for t in order]
    out["selection_table"] = _selection_table(analysis.selection, order)
    numbers = _holdout_numbers(analysis.models)
    out["scatters"] = [s for t in order if (s := _scatter(analysis, t, numbers, styles, figs)) is not None]
    out["no_scatter"] = [t for t in order if t not in {s["target"] for s in out["scatters"]}]
    out["holdout"] = _holdout_blocks(analysis, main, numbers, styles, figs)
    correlations, out["last_note"] = _without_repeated_last(analysis, df)
    layers = sorted({int(v) for v in correlations["layer"].unique()})
    measures = list(dict.fromkeys(correlations["measure"]))
    out["heatmaps"] = []
    for t in order:
        corr = correlations[correlations["target"] == t]
        fig, data = figures.correlation_heatmap(corr, measures, layers,
                                                title=f"Pearson r with the {t} score (training models)")
        out["heatmaps"].append({"target": t, **figs.add(f"correlation_{t}", fig, data)})
    families = {m: (s.family if (s := _spec(m)) is not None else "other") for m in measures}
    corr = correlations[correlations["target"] == main]
    if corr["pearson_r"].notna().any():
        fig, data = figures.correlation_curves(corr, families, target=main, bands=show_ci)
        out["curves"] = figs.add(f"correlation_curves_{main}", fig, data)
    out["best_table"] = _best_table(analysis, main, show_ci, skip_last=out["last_note"] is not None)
    out.update(_fits(analysis, main))
    out["transfer_table"] = _transfer_table(analysis.transfer, show_ci, n_groups)
    return out


def _noise(noise: pd.DataFrame | None, summary: pd.DataFrame | None, analysis: Any) -> dict[str, Any] | None:
    """The measure-noise section: one sentence, the per-measure table, and the selected candidates' ratios."""
    if noise is None:
        return None
    ok = noise.dropna(subset=["noise_ratio"])
    out: dict[str, Any] = {"n": len(ok), "n_noisy": int(ok["noisy"].sum()) if len(ok) else 0,
                           "n_models": int(noise["n_models"].max()) if len(noise) else 0,
                           "n_draws": int(noise["n_draws"].max()) if len(noise) else 0,
                           "median": _num(float(ok["noise_ratio"].median()), 2) if len(ok) else "–"}
    rows = [{"measure": r["measure"], "layers": _num(r["layers"]), "median noise / spread": _num(r["median_ratio"], 2),
             "largest (layer)": f"{_num(r['max_ratio'], 2)} ({int(r['max_layer'])})",
             "noisy layers": _num(r["noisy_layers"])}
            for _, r in (summary if summary is not None else pd.DataFrame()).iterrows()]
    out["table"] = _table(pd.DataFrame(rows), "noise-table",
                          empty="no noise could be estimated: fewer than 2 training models with 2 draws, or no spread")
    selected = []
    if analysis is not None and not analysis.selection.empty and "best_noise_ratio" in analysis.selection:
        for _, r in analysis.selection.iterrows():
            if isinstance(r["best"], str):
                selected.append(f"{r['target']}: {r['best']} {_num(r['best_noise_ratio'], 2)}")
    out["selected"] = selected
    return out


def _without_repeated_last(analysis: Any, df: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The correlation table without layer -1 when every training model has the same depth: there -1 (each
    model's own last layer, added so that shallower held-out models can be predicted) repeats the deepest
    layer over the training models. Returns the table and a note saying so (None when nothing was dropped)."""
    corr = analysis.correlations
    if not (corr["layer"] == -1).any():
        return corr, None
    train = set(analysis.models.loc[~analysis.models["holdout"], "spec"])
    depths = df[df["spec"].isin(train)].groupby("spec")["layer"].max().unique()
    if len(depths) != 1:
        return corr, None
    return corr[corr["layer"] != -1], (
        f"Every training model has {int(depths[0])} as its last layer, so layer -1 (each model's own last layer, "
        f"which predicts the shallower held-out models) repeats layer {int(depths[0])} here and is not shown again.")


def _selection_table(selection: pd.DataFrame, order: list[str]) -> str:
    if selection.empty:
        return _table(selection, "selection", empty="no selection table: the analysis had no target")
    rows = []
    for t in order:
        sel = selection[selection["target"] == t]
        if sel.empty:
            continue
        r = sel.iloc[0]
        chosen = ", ".join(str(r["chosen"]).split(", ")[:3]) if isinstance(r["chosen"], str) else "–"
        rows.append({
            "target": t,
            "candidates": _num(r["candidates"]),
            "nested-CV MSE": _num(r["nested_mse"]),
            "training-mean MSE": _num(r["mean_only_mse"]),
            "nested Spearman (perm. p)": (f"{_num(r['nested_spearman'], 2)} ({_p(r['nested_p_spearman'])})"
                                          if np.isfinite(float(r["nested_spearman"])) else "–"),
            "groups": _num(r["nested_n_groups"]),
            "best (measure@layer)": r["best"] or "–",
            "best r": _num(r["best_r"], 2),
            "family-wise p": _p(r["p_family_wise"]),
            **({"noise / spread of best": _num(r["best_noise_ratio"], 2)} if "best_noise_ratio" in r.index else {}),
            "permutations": _num(r["n_permutations"]),
            "folds picked": chosen,
            "note": r["note"] if isinstance(r["note"], str) else "",
        })
    return _table(pd.DataFrame(rows), "selection", empty="no selection table")


def _holdout_numbers(table: pd.DataFrame) -> dict[str, int]:
    """Held-out spec → its number (1, 2, …) in every figure and table of the page."""
    return {s: i + 1 for i, s in enumerate(table.loc[table["holdout"], "spec"])}


def _points(analysis: Any, numbers: Mapping[str, int]) -> pd.DataFrame:
    """The model table with string groups and each held-out model's number."""
    pts = analysis.models.copy()
    pts["group"] = pts["group"].astype(str)
    pts["number"] = pts["spec"].map(lambda s: numbers.get(s, ""))
    return pts


def _scatter(analysis: Any, target: str, numbers: Mapping[str, int], styles: Mapping[str, figures.Style],
             figs: _Figures) -> dict[str, Any] | None:
    """Score against the measure the selection picked for ``target``; None when nothing was picked."""
    row = analysis.selection_row(target)
    if not row or not row.get("best"):
        return None
    col = row["best"]
    pts = _points(analysis, numbers)
    xs = pts[col].to_numpy(dtype=float)
    finite = xs[np.isfinite(xs)]
    grid = np.linspace(finite.min(), finite.max(), 60)
    try:
        band = (grid, *analysis.prediction_band(target, col, grid))
    except BadInputError as exc:
        log.info("no prediction band for %s ~ %s: %s", target, col, exc)
        band = None
    train = pts[~pts["holdout"]][target].to_numpy(dtype=float)
    title = f"{target} vs {col} (r = {row['best_r']:.2f}, family-wise p = {_p(row['p_family_wise'])})"
    fig, data = figures.score_scatter(pts, styles, x=col, y=target, band=band,
                                      train_mean=float(np.nanmean(train)), title=title, xlabel=col)
    missing = [f"{numbers[s]} {figures.short_name(s)}" for s, v in zip(pts["spec"], xs)
               if s in numbers and not np.isfinite(v)]
    return {"target": target, "measure": col, "missing": missing, **figs.add(f"scatter_{target}", fig, data)}


def _split(col: str) -> tuple[str, int]:
    measure, _, layer = col.rpartition("@")
    return measure, int(layer)


def _holdout_blocks(analysis: Any, target: str, numbers: Mapping[str, int], styles: Mapping[str, figures.Style],
                    figs: _Figures) -> list[dict[str, Any]]:
    """Held-out predictions of ``target`` from the selected measure and, when that one misses some held-out
    models, from the most correlated measure that has a value for all of them."""
    if not numbers:
        return [{"empty": "No model is held out (analysis.holdout of the study is empty), so nothing is predicted "
                          "out of sample."}]
    blocks = []
    row = analysis.selection_row(target)
    picked = _split(row["best"]) if row and row.get("best") else None
    if picked is not None:
        blocks.append(_holdout_block(analysis, target, picked, "the measure the selection picked", numbers, styles,
                                     figs))
    top, _ = _predictable_best(analysis, target)
    if top is not None and (picked is None or blocks[-1]["n_missing"]):
        pair = (top["measure"], int(top["layer"]))
        if pair != picked:
            blocks.append(_holdout_block(analysis, target, pair,
                                         "the most correlated measure with a value for every held-out model",
                                         numbers, styles, figs))
    if not blocks:
        blocks.append({"empty": f"No (measure, layer) could be fitted to {target}, so no held-out model is predicted."})
    return blocks


def _holdout_block(analysis: Any, target: str, pair: tuple[str, int], why: str, numbers: Mapping[str, int],
                   styles: Mapping[str, figures.Style], figs: _Figures) -> dict[str, Any]:
    measure, layer = pair
    col = f"{measure}@{layer}"
    held = analysis.holdout
    if not held.empty:
        held = held[(held["target"] == target) & (held["kind"] == "alone") & (held["measure"] == measure)
                    & (held["layer"] == layer)]
    by_spec = held.set_index("spec") if not held.empty else pd.DataFrame()
    table = analysis.models.set_index("spec")
    rows, missing = [], 0
    for spec, n in numbers.items():
        m = table.loc[spec]
        rec = {"#": n, "model": figures.short_name(spec), "family": figures.short_name(m["family"]),
               "actual": _num(m[target], 4)}
        if spec in by_spec.index:
            p = by_spec.loc[spec]
            rec.update({"geometry fit": _num(p["predicted"], 4), "training mean": _num(p["mean_predicted"], 4),
                        "nearest training model": f"{_num(p['nearest_predicted'], 4)} "
                                                  f"({figures.short_name(p['nearest_spec'])})"})
        else:
            missing += 1
            value = m.get(col, np.nan)
            why_not = (f"no prediction: the model has no value of {measure} at layer {layer}"
                       if not np.isfinite(float(value)) else f"no prediction: {col} could not be fitted")
            rec.update({"geometry fit": why_not, "training mean": "–", "nearest training model": "–"})
        rows.append(rec)
    out: dict[str, Any] = {"measure": col, "why": why, "n_missing": missing,
                           "table": _table(pd.DataFrame(rows), "holdout-" + re.sub(r"[^A-Za-z0-9_-]", "-", col),
                                           empty="no held-out model", classes="results text")}
    scored = held.dropna(subset=["actual", "predicted"]) if not held.empty else held
    if not scored.empty:
        err = {k: float(np.mean((scored[c] - scored["actual"]) ** 2))
               for k, c in (("geometry fit", "predicted"), ("training mean", "mean_predicted"),
                            ("nearest training model", "nearest_predicted"))}
        out["mse"] = ", ".join(f"{k} {v:.3g}" for k, v in err.items())
        out["n_scored"] = len(scored)
        data = scored.assign(number=scored["spec"].map(numbers),
                             group=scored["spec"].map(dict(zip(analysis.models["spec"], analysis.models["group"].astype(str)))))
        fig, data = figures.predicted_vs_actual(data, styles, title=f"held-out models: {target} from {col}")
        out["figure"] = figs.add(f"holdout_{target}_{col}", fig, data)
    else:
        out["mse"] = None
    return out


def _predictable_best(analysis: Any, target: str) -> tuple[Any, pd.DataFrame]:
    """The (measure, layer) most correlated with ``target`` that predicts every held-out model (a shallow
    model has no value at a deep layer), with its ``alone`` held-out predictions; ``(None, empty)``."""
    held = analysis.holdout
    if held.empty:
        return None, held
    held = held[(held["target"] == target) & (held["kind"] == "alone")]
    n_held = int(analysis.models["holdout"].sum())
    for _, row in analysis.best(target, k=len(analysis.correlations)).iterrows():
        sel = held[(held["measure"] == row["measure"]) & (held["layer"] == row["layer"])]
        if len(sel) == n_held and len(sel):
            return row, sel
    return None, held.iloc[:0]


def _best_table(analysis: Any, target: str, show_ci: bool, skip_last: bool = False) -> str:
    best = analysis.best(target, k=len(analysis.correlations))
    if skip_last:  # layer -1 repeats the deepest layer of every training model
        best = best[best["layer"] != -1]
    best = best.head(TOP_CORRELATIONS)
    rows = []
    for _, r in best.iterrows():
        rows.append({
            "measure": r["measure"], "layer": _num(r["layer"]), "n": _num(r["n"]),
            "Pearson r" + (" [95% CI]" if show_ci else ""): _ci(r["pearson_r"], r.get("pearson_lo"), r.get("pearson_hi"), show_ci),
            "p (group means)": _p(r.get("p_group")), "q value": _p(r.get("q_value")),
            "within-family partial r": _ci(r.get("partial_r"), r.get("partial_r_lo"), r.get("partial_r_hi"), show_ci),
            "within-family ρ": _ci(r.get("within_rho"), r.get("within_rho_lo"), r.get("within_rho_hi"), show_ci),
            "families": _num(r.get("n_families")),
            **({"noise / spread": _num(r.get("noise_ratio"), 2)} if "noise_ratio" in r.index else {}),
        })
    return _table(pd.DataFrame(rows), "best-correlations",
                  empty=f"no correlation with {target} could be computed (a constant score or measure)")


def _fits(analysis: Any, target: str) -> dict[str, Any]:
    fits = analysis.fits
    fits = fits[fits["target"] == target] if not fits.empty else fits
    usable = fits.dropna(subset=["logo_mse"]) if not fits.empty else fits
    out: dict[str, Any] = {}
    ft = usable.sort_values("logo_mse").head(TOP_FITS) if not usable.empty else usable
    rows = []
    for _, r in ft.iterrows():
        rows.append({
            ("measure", ""): r["measure"], ("layer", ""): _num(r["layer"]), ("kind", ""): r["kind"],
            ("r", ""): _num(r["pearson_r"], 2), ("R²", ""): _num(r["r2"], 2), ("groups", ""): _num(r["n_groups"]),
            ("leave-one-group-out MSE", "fit"): _num(r["logo_mse"]),
            ("leave-one-group-out MSE", "training mean"): _num(r.get("mean_logo_mse")),
            ("leave-one-group-out MSE", "nearest model"): _num(r.get("nearest_logo_mse")),
            ("held-out MSE", "n"): _num(r["n_holdout"]),
            ("held-out MSE", "fit"): _num(r["holdout_mse"]),
            ("held-out MSE", "training mean"): _num(r.get("mean_holdout_mse")),
            ("held-out MSE", "nearest model"): _num(r.get("nearest_holdout_mse")),
        })
    table = pd.DataFrame(rows)
    if rows:
        table.columns = pd.MultiIndex.from_tuples(table.columns)
    out["fits_table"] = _table(table, "fits", empty=(
        f"no fit of {target} has a leave-one-group-out error: too few training models or groups for a fit "
        "(it needs parameters + 1 + the largest group)"))
    out["fits_summary"] = _fits_summary(fits[fits["kind"] == "alone"] if not fits.empty else fits,
                                        int(analysis.models["holdout"].sum()))
    return out


def _fits_summary(fits: pd.DataFrame, n_held: int) -> list[str]:
    """How many fits beat the two references, in words (the list above is sorted by its own error, so its
    top is a selected few: the nested cross-validation says what that selection is worth)."""
    if fits.empty:
        return []
    lines = []
    cv = fits.dropna(subset=["logo_mse", "mean_logo_mse", "nearest_logo_mse"])
    if len(cv):
        lines.append(f"Leave-one-group-out: {int((cv['logo_mse'] < cv['mean_logo_mse']).sum())} of {len(cv)} fits "
                     f"(measure alone) beat the training mean and {int((cv['logo_mse'] < cv['nearest_logo_mse']).sum())} "
                     "the nearest training model; being among many, some do by chance.")
    if n_held:
        full = fits[(fits["n_holdout"] == n_held)].dropna(subset=["holdout_mse", "mean_holdout_mse"])
        if full.empty:
            lines.append(f"No fit predicts all {n_held} held-out models (each misses a model without that layer, "
                         "or a held-out model has no score).")
        else:
            lines.append(
                f"Held out: of the {len(full)} fits that predict all {n_held} held-out models, "
                f"{int((full['holdout_mse'] < full['mean_holdout_mse']).sum())} beat predicting the training mean and "
                f"{int((full['holdout_mse'] < full['nearest_holdout_mse']).sum())} beat the nearest training model "
                "on them.")
    return lines


def _transfer_table(transfer: pd.DataFrame, show_ci: bool, n_groups: int) -> str:
    rows = []
    for _, r in transfer.iterrows():
        verdict = r["verdict"] if isinstance(r["verdict"], str) else ""
        if not show_ci and r["vs"] is not None and isinstance(r["vs"], str):
            verdict = f"no verdict: only {n_groups} groups, too few for a bootstrap interval"
        rows.append({
            "task": r["task"], "predictor": r["predictor"], "candidates": _num(r["candidates"]),
            "groups": _num(r["n_groups"]), "nested-CV MSE": _num(r["nested_mse"]),
            "training-mean MSE": _num(r["mean_only_mse"]),
            "nested Spearman": _num(r["nested_spearman"], 2),
            "geometry − this, MSE" + (" [95% CI]" if show_ci else ""): _ci(r["mse_diff"], r["mse_diff_lo"], r["mse_diff_hi"], show_ci, 3)
            if isinstance(r["vs"], str) else "",
            "geometry − this, Spearman" + (" [95% CI]" if show_ci else ""): _ci(r["spearman_diff"], r["spearman_diff_lo"],
                                                                                r["spearman_diff_hi"], show_ci)
            if isinstance(r["vs"], str) else "",
            "verdict": verdict,
        })
    return _table(pd.DataFrame(rows), "transfer",
                  empty="no comparison: no task with at least 3 training models that have a geometry value, LogME "
                        "and H-score (or the study computes no transferability baseline)")


__all__ = ["FIGURES_DIR", "MIN_CI_GROUPS", "Report", "build_report", "render_report"]
