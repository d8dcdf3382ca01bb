"""Matplotlib figures for the report (Agg backend, no display needed).

:func:`png` turns any figure into PNG bytes. The study report's figures are functions that return
``(Figure, DataFrame)``: the figure and the data it plots, one row per plotted value, so that
:func:`save` can write each as PNG (embedded in the page), SVG and PDF (for a paper) with the CSV
beside it.

Sizes are real: a PNG of :data:`DPI` dots per inch is shown in the page at :data:`CSS_DPI` CSS pixels
per inch (:func:`css_width`), so a figure of 6 inches is 576 px wide at 100 % zoom and a label of
``s`` points is ``s · 96 / 72`` px high; no text is smaller than :data:`MIN_TEXT_PT` points (8 px).

Colours (:func:`model_styles`): each model family has a fixed hue from a colour-blind-safe qualitative
palette (Okabe & Ito 2008) in order of first appearance; the groups of related models inside a family
get shades of that hue from dark to light and their own marker. Seed twins (one group) are drawn as
their mean with a band from their minimum to their maximum.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

DPI = 144
"""Resolution of the PNGs embedded in the page."""
CSS_DPI = 96
"""CSS pixels per inch: a PNG is shown at its size in inches."""
MIN_TEXT_PT = 6.0
"""Smallest text in a figure, in points (8 CSS px at 100 %)."""

STYLE = {
    "font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "legend.title_fontsize": 7.5, "axes.spines.top": False, "axes.spines.right": False,
    "svg.fonttype": "none", "svg.hashsalt": "latentatlas", "figure.dpi": DPI, "savefig.dpi": DPI,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6,
}
"""Matplotlib settings of every report figure (text kept as text in SVG)."""

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#000000", "#999933", "#882255", "#56B4E9")
"""One hue per model family (Okabe–Ito without the yellow that is unreadable on white, plus olive and wine;
the sky blue, too close to a light shade of the first blue, comes last)."""
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h")
"""Markers of the groups inside one family."""
LAST_LABEL = "last"
"""Tick label of layer -1 (each model's own last layer)."""


def png(fig: plt.Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (tight bounding box); the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def save(fig: plt.Figure) -> dict[str, bytes]:
    """The figure as ``{"png", "svg", "pdf"}`` bytes (tight bounding box, no date stamps, so the same
    figure gives the same files); the figure is closed."""
    out = {}
    with plt.rc_context(STYLE):
        for fmt, meta in (("png", {}), ("svg", {"Date": None}), ("pdf", {"CreationDate": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches="tight", metadata=meta)
            out[fmt] = buf.getvalue()
    plt.close(fig)
    return out


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels of PNG bytes (read from the IHDR chunk)."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def css_width(data: bytes) -> int:
    """The width in CSS pixels at which a PNG of :data:`DPI` is shown at its size in inches."""
    return round(png_size(data)[0] * CSS_DPI / DPI)


def short_name(spec: str) -> str:
    """A model spec for a legend: a path base replaced by its last component (``/tmp/x/tiny@v(a=1)`` →
    ``tiny@v(a=1)``)."""
    base, sep, rest = str(spec).partition("@")
    if "/" in base:
        base = base.rstrip("/").rsplit("/", 1)[-1]
    return base + sep + rest


def _mix(colour: str, other: tuple[float, float, float], t: float) -> tuple[float, float, float]:
    c = np.asarray(to_rgb(colour))
    return tuple(float(v) for v in (1 - t) * c + t * np.asarray(other))


def _shades(colour: str, k: int) -> list[tuple[float, float, float]]:
    """``k`` shades of ``colour`` from darker to lighter (the hue itself in the middle)."""
    if k == 1:
        return [to_rgb(colour)]
    out = []
    for t in np.linspace(-0.35, 0.45, k):
        out.append(_mix(colour, (0.0, 0.0, 0.0), -t) if t < 0 else _mix(colour, (1.0, 1.0, 1.0), t))
    return out


@dataclass(frozen=True)
class Style:
    """How one group of related models is drawn."""

    family: str
    colour: tuple[float, float, float]
    marker: str
    label: str
    n_models: int


def model_styles(models: pd.DataFrame) -> dict[str, Style]:
    """Group → :class:`Style`; ``models`` has ``spec``, ``family`` and ``group`` columns, in the study's
    order (families and groups keep their order of first appearance)."""
    styles: dict[str, Style] = {}
    families = list(dict.fromkeys(models["family"]))
    for i, family in enumerate(families):
        sub = models[models["family"] == family]
        groups = list(dict.fromkeys(sub["group"]))
        for j, (group, colour) in enumerate(zip(groups, _shades(PALETTE[i % len(PALETTE)], len(groups)))):
            members = list(sub.loc[sub["group"] == group, "spec"])
            n = len(members)
            label = (short_name(group).removesuffix("()") + f" (mean and range of {n})" if n > 1
                     else short_name(members[0]))
            styles[group] = Style(str(family), colour, MARKERS[j % len(MARKERS)], label, n)
    return styles


def _layer_ticks(ax: plt.Axes, layers: Sequence[int]) -> None:
    ax.set_xticks(list(layers), [str(int(v)) for v in layers])


def _outside_legend(fig: plt.Figure, handles: list, labels: list[str], title: str | None = None) -> None:
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, title=title,
               handler_map={tuple: HandlerTuple(ndivide=1)}, alignment="left")


def _grid(n: int, ncols: int, panel: tuple[float, float]) -> tuple[plt.Figure, list[plt.Axes]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False,
                             layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def direction_label(measure: str, higher_means_spread: bool | None) -> str:
    """The y label of a measure: its name and what a higher value means."""
    if higher_means_spread is None:
        return measure
    return f"{measure}  ({'↑ more' if higher_means_spread else '↑ less'} spread)"


def layer_profiles(
    df: pd.DataFrame,
    models: pd.DataFrame,
    directions: Mapping[str, bool | None],
    *,
    title: str,
    ncols: int = 3,
) -> tuple[plt.Figure, pd.DataFrame]:
    """Per-layer profiles of several measures, one panel each, one line per group of related models
    (the mean of its models, with a min–max band when it has several), one legend outside the axes.

    ``df``: tidy results (``spec``, ``layer``, ``measure``, ``value``); ``models``: ``spec``, ``family``,
    ``group`` of every model; ``directions``: measure → ``higher_means_spread`` (the y label says it).
    Data: one row per measure × model × layer with the model's value and its group's mean, min and max.
    """
    styles = model_styles(models)
    group_of = dict(zip(models["spec"], models["group"]))
    family_of = dict(zip(models["spec"], models["family"]))
    data = df[["measure", "spec", "layer", "value"]].copy()
    data.insert(1, "family", data["spec"].map(family_of))
    data.insert(2, "group", data["spec"].map(lambda s: group_of.get(s, s)))
    stats = data.groupby(["measure", "group", "layer"])["value"].agg(group_mean="mean", group_min="min",
                                                                     group_max="max")
    data = data.merge(stats.reset_index(), on=["measure", "group", "layer"], how="left")
    measures = list(dict.fromkeys(data["measure"]))
    with plt.rc_context(STYLE):
        fig, axes = _grid(len(measures), ncols, (3.0, 2.25))
        for ax, measure in zip(axes, measures):
            sub = stats.loc[measure]
            for group, style in styles.items():
                if group not in sub.index.get_level_values(0):
                    continue
                g = sub.loc[group].sort_index()
                ax.plot(g.index, g["group_mean"], color=style.colour, marker=style.marker, ms=3.2, lw=1.3)
                if style.n_models > 1:
                    ax.fill_between(g.index, g["group_min"], g["group_max"], color=style.colour, alpha=0.22, lw=0)
            _layer_ticks(ax, sorted(data.loc[data["measure"] == measure, "layer"].unique()))
            ax.set_xlabel("layer (0 = embeddings)")
            ax.set_ylabel(direction_label(measure, directions.get(measure)))
        handles = [(Line2D([], [], color=s.colour, marker=s.marker, ms=3.5, lw=1.3),
                    *([Patch(color=s.colour, alpha=0.22, lw=0)] if s.n_models > 1 else []))
                   for g, s in styles.items() if g in set(data["group"])]
        labels = [s.label for g, s in styles.items() if g in set(data["group"])]
        _outside_legend(fig, handles, labels, title="model (family colour)")
        fig.suptitle(title, fontsize=9)
    return fig, data


def heatmap(M: np.ndarray, rows: list[int], cols: list[int], *, title: str, xlabel: str, ylabel: str) -> bytes:
    """A layer × layer matrix as an annotated heatmap."""
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * len(cols), 1.0 + 0.5 * len(rows)))
    im = ax.imshow(M, cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            bright = im.norm(M[i, j]) > 0.6  # dark text on the yellow end of viridis
            ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=6, color="k" if bright else "w")
    ax.set_title(title)
    ax.set_xlabel(xlabel, fontsize=7)
    ax.set_ylabel(ylabel, fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return png(fig)


def _layer_order(layers: Sequence[int]) -> list[int]:
    """Layers in order with -1 (each model's last layer) at the end."""
    return sorted(int(v) for v in layers if v >= 0) + ([-1] if -1 in {int(v) for v in layers} else [])


def _layer_name(layer: int) -> str:
    return LAST_LABEL if layer == -1 else str(layer)


def correlation_heatmap(
    corr: pd.DataFrame, measures: Sequence[str], layers: Sequence[int], *, title: str, alpha: float = 0.05
) -> tuple[plt.Figure, pd.DataFrame]:
    """Pearson r of every measure (rows) at every layer (columns), annotated; a cell with no value (a
    constant measure, a layer not every training model has) is grey with "–", never dropped.

    ``corr``: rows of the correlation table of one target (``measure``, ``layer``, ``pearson_r``,
    ``q_value``); ``layers``: every layer of the study (-1, each model's last layer, goes last). A value
    with ``q_value`` ≤ ``alpha`` is marked ``*``. Data: one row per cell.
    """
    cols = _layer_order(layers)
    grid = pd.MultiIndex.from_product([list(measures), cols], names=["measure", "layer"])
    keep = [c for c in ("pearson_r", "q_value", "n") if c in corr.columns]
    data = (corr.drop_duplicates(["measure", "layer"]).set_index(["measure", "layer"])[keep]
            .reindex(grid).reset_index())
    M = data["pearson_r"].to_numpy(dtype=float).reshape(len(measures), len(cols))
    Q = (data["q_value"].to_numpy(dtype=float) if "q_value" in data else np.full(M.size, np.nan)).reshape(M.shape)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(1.5 + 0.46 * len(cols), 0.9 + 0.25 * len(measures)), layout="constrained")
        cmap = plt.get_cmap("RdBu_r").with_extremes(bad="#e4e4e4")
        im = ax.imshow(np.ma.masked_invalid(M), cmap=cmap, vmin=-1, vmax=1, aspect="auto")
        ax.set_xticks(range(len(cols)), [_layer_name(c) for c in cols])
        ax.set_yticks(range(len(measures)), list(measures))
        ax.grid(False)
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                v = M[i, j]
                text = "–" if not np.isfinite(v) else f"{v:.2f}" + ("*" if Q[i, j] <= alpha else "")
                ax.text(j, i, text, ha="center", va="center", fontsize=6.5,
                        color="w" if np.isfinite(v) and abs(v) > 0.6 else "k")
        ax.set_xlabel("layer (0 = embeddings" + (", last = each model's last layer)" if -1 in cols else ")"))
        ax.set_title(title, fontsize=8.5, loc="left")
        fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02, label="Pearson r")
    return fig, data


def correlation_curves(
    corr: pd.DataFrame, families: Mapping[str, str], *, target: str, bands: bool, ncols: int = 2,
) -> tuple[plt.Figure, pd.DataFrame]:
    """Pearson r with ``target`` against layer, one panel per measure family, one line per measure with its
    bootstrap 95 % band (``bands``: False draws no band, for too few groups). Layer -1 (each model's last
    layer) is a separate point after the others. Data: the plotted rows (measure, family, layer, r, CI)."""
    cols = [c for c in ("measure", "layer", "pearson_r", "pearson_lo", "pearson_hi") if c in corr.columns]
    data = corr[cols].copy()
    data.insert(1, "family", data["measure"].map(lambda m: families.get(m, "other")))
    data = data.sort_values(["family", "measure", "layer"], kind="stable").reset_index(drop=True)
    fams = list(dict.fromkeys(families[m] for m in dict.fromkeys(corr["measure"]) if m in families))
    fams += [f for f in data["family"].unique() if f not in fams]
    depth = int(data.loc[data["layer"] >= 0, "layer"].max()) if (data["layer"] >= 0).any() else 0
    with plt.rc_context(STYLE):
        fig, axes = _grid(len(fams), ncols, (3.3, 2.3))
        for ax, fam in zip(axes, fams):
            sub = data[data["family"] == fam]
            for k, (measure, g) in enumerate(sub.groupby("measure", sort=False)):
                colour, marker = PALETTE[k % len(PALETTE)], MARKERS[(k // len(PALETTE)) % len(MARKERS)]
                body, last = g[g["layer"] >= 0], g[g["layer"] == -1]
                ax.plot(body["layer"], body["pearson_r"], color=colour, marker=marker, ms=3, lw=1.2, label=measure)
                if bands and "pearson_lo" in g:
                    ax.fill_between(body["layer"], body["pearson_lo"], body["pearson_hi"], color=colour, alpha=0.15,
                                    lw=0)
                if len(last):
                    yerr = None
                    if bands and "pearson_lo" in g:
                        yerr = np.abs(last[["pearson_lo", "pearson_hi"]].to_numpy(dtype=float).T
                                      - last["pearson_r"].to_numpy(dtype=float))
                    ax.errorbar([depth + 1.2] * len(last), last["pearson_r"], yerr=yerr, color=colour, marker=marker,
                                ms=3, lw=0, elinewidth=1, capsize=2)
            ticks = sorted(int(v) for v in data.loc[data["layer"] >= 0, "layer"].unique())
            labels = [str(t) for t in ticks]
            if (data["layer"] == -1).any():
                ticks.append(depth + 1.2)
                labels.append(LAST_LABEL)
            ax.set_xticks(ticks, labels)
            ax.axhline(0, color="k", lw=0.6)
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(fam, loc="left")
            ax.set_xlabel("layer (0 = embeddings)")
            ax.set_ylabel(f"Pearson r with {target}")
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig, data


def _label_offsets() -> list[tuple[float, float]]:
    """Candidate label offsets in points: the four corners next to the point, then rings further out."""
    near = [(4.0, 3.0), (4.0, -10.0), (-10.0, 3.0), (-10.0, -10.0)]
    rings = [(r * math.cos(a), r * math.sin(a)) for r in (14, 22, 30, 40, 52, 66)
             for a in np.linspace(0, 2 * math.pi, 12, endpoint=False)]
    return near + rings


def _place_labels(ax: plt.Axes, xy: np.ndarray, texts: Sequence[str], colour: str = "k") -> None:
    """Number labels next to points, each at the first offset (:func:`_label_offsets`) where its box does
    not overlap a label already placed; a label away from its point gets a thin leader line. The figure's
    layout is fixed first and frozen after, so the boxes stay where they were checked."""
    fig = ax.figure
    fig.canvas.draw()
    fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    for (x, y), text in zip(xy, texts):
        label = None
        for dx, dy in _label_offsets():
            far = math.hypot(dx, dy) > 12
            label = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                                color=colour, va="bottom", ha="left",
                                arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.5"} if far else None)
            label.update_positions(renderer)
            box = Text.get_window_extent(label, renderer).expanded(1.1, 1.1)  # the text, not its leader line
            if not any(box.overlaps(b) for b in placed):
                break
            label.remove()
            label = None
        if label is None:  # every candidate taken: the first one, so the number is still there
            dx, dy = _label_offsets()[0]
            label = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, color=colour)
        label.update_positions(renderer)
        placed.append(Text.get_window_extent(label, renderer))


def score_scatter(
    points: pd.DataFrame,
    styles: Mapping[str, Style],
    *,
    x: str,
    y: str,
    band: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    train_mean: float | None,
    title: str,
    xlabel: str,
) -> tuple[plt.Figure, pd.DataFrame]:
    """Score against one measure: training models filled, held-out models hollow and numbered, every
    model in its family's colour; the OLS fit on the training models with its prediction band
    (``band``: grid, fit, lower, upper) and the training mean as a dashed line.

    ``points``: ``spec``, ``family``, ``group``, ``holdout``, ``number`` (held-out label, else empty),
    ``x`` and ``y`` columns. Data: the plotted models with the fit and band at their x.
    """
    data = points[["spec", "family", "group", "holdout", "number", x, y]].rename(columns={x: "x", y: "y"})
    data = data[np.isfinite(data[["x", "y"]].to_numpy(dtype=float)).all(axis=1)].reset_index(drop=True)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.7, 2.9), layout="constrained")
        handles, labels = [], []
        if band is not None:
            grid, fit, lo, hi = band
            ax.fill_between(grid, lo, hi, color="0.6", alpha=0.25, lw=0)
            ax.plot(grid, fit, color="k", lw=1.1)
            handles += [(Line2D([], [], color="k", lw=1.1), Patch(color="0.6", alpha=0.25, lw=0))]
            labels.append("OLS fit, 95 % prediction band")
            order = np.argsort(grid)
            for col, vals in (("fit", fit), ("band_lo", lo), ("band_hi", hi)):
                data[col] = np.interp(data["x"], np.asarray(grid)[order], np.asarray(vals)[order])
        if train_mean is not None:
            ax.axhline(train_mean, color="0.35", lw=1, ls="--")
            handles.append(Line2D([], [], color="0.35", lw=1, ls="--"))
            labels.append("training mean")
        for group, style in styles.items():
            g = data[data["group"] == group]
            if g.empty:
                continue
            tr, ho = g[~g["holdout"]], g[g["holdout"]]
            ax.scatter(tr["x"], tr["y"], s=24, color=style.colour, marker=style.marker, zorder=3, lw=0.4,
                       edgecolors="w")
            ax.scatter(ho["x"], ho["y"], s=30, facecolors="none", edgecolors=[style.colour], marker=style.marker,
                       lw=1.2, zorder=3)
        fams: dict[str, Style] = {}
        for s in styles.values():
            fams.setdefault(s.family, s)
        for fam, s in fams.items():
            if fam in set(data["family"]):
                handles.append(Patch(color=s.colour))
                labels.append(short_name(fam))
        handles += [Line2D([], [], ls="", marker="o", color="0.3", ms=5),
                    Line2D([], [], ls="", marker="o", mfc="none", mec="0.3", ms=5)]
        labels += ["training model", "held out (numbered, see table)"]
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{y} score")
        ax.set_title(title, loc="left", fontsize=8.5)
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
                   handler_map={tuple: HandlerTuple(ndivide=1)})
        held = data[data["holdout"]]
        if len(held):
            _place_labels(ax, held[["x", "y"]].to_numpy(dtype=float), [str(n) for n in held["number"]])
    return fig, data


def predicted_vs_actual(held: pd.DataFrame, styles: Mapping[str, Style], *, title: str) -> tuple[plt.Figure, pd.DataFrame]:
    """Held-out models: the geometry prediction against the truth (numbered, family colours), beside the
    two references (training mean, nearest training model), with the identity line.

    ``held``: ``number``, ``spec``, ``group``, ``actual``, ``predicted``, ``mean_predicted``,
    ``nearest_predicted``. Data: those rows with a finite truth and prediction.
    """
    data = held.dropna(subset=["actual", "predicted"]).reset_index(drop=True)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.6, 3.2), layout="constrained")
        values = data[["actual", "predicted", "mean_predicted", "nearest_predicted"]].to_numpy(dtype=float)
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        pad = 0.06 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
        ax.scatter(data["actual"], data["nearest_predicted"], s=22, marker="x", color="0.45", lw=1, zorder=2)
        ax.scatter(data["actual"], data["mean_predicted"], s=30, marker="_", color="0.2", lw=1.4, zorder=2)
        for group, style in styles.items():
            g = data[data["group"] == group]
            ax.scatter(g["actual"], g["predicted"], s=28, color=style.colour, marker=style.marker, zorder=3,
                       edgecolors="w", lw=0.4)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlabel("actual score")
        ax.set_ylabel("predicted score")
        ax.set_title(title, loc="left", fontsize=8.5)
        handles = [Line2D([], [], ls="", marker="o", color="0.3", ms=5),
                   Line2D([], [], ls="", marker="_", color="0.2", ms=7, mew=1.4),
                   Line2D([], [], ls="", marker="x", color="0.45", ms=5),
                   Line2D([], [], ls="--", color="k", lw=0.8)]
        fig.legend(handles, ["geometry fit (family colour)", "training mean", "nearest training model",
                             "perfect prediction"], loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        _place_labels(ax, data[["actual", "predicted"]].to_numpy(dtype=float), [str(n) for n in data["number"]])
    return fig, data


__all__ = [
    "CSS_DPI", "DPI", "MIN_TEXT_PT", "PALETTE", "STYLE", "Style", "correlation_curves", "correlation_heatmap",
    "css_width", "direction_label", "heatmap", "layer_profiles", "model_styles", "png", "png_size",
    "predicted_vs_actual", "save", "score_scatter", "short_name",
]
