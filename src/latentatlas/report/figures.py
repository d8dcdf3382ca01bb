"""Matplotlib figures for the report, returned as PNG bytes (Agg backend, no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def png(fig: plt.Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (tight bounding box); the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def layer_profile(df: pd.DataFrame, measure: str) -> bytes:
    """Per-layer profile of one measure, one line per model spec."""
    sub = df[df["measure"] == measure].sort_values("layer")
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for spec, g in sub.groupby("spec", sort=False):
        ax.plot(g["layer"], g["value"], marker="o", ms=3, lw=1.4, label=spec)
    ax.set_title(measure)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("value")
    layers = sorted(sub["layer"].unique())
    ax.set_xticks(layers)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="best", frameon=False)
    return png(fig)


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


def correlation_heatmap(matrix: pd.DataFrame, *, title: str) -> bytes:
    """Measures (rows) × layers (columns) of a correlation in [−1, 1], annotated, diverging colours."""
    M = matrix.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.6 + 0.5 * M.shape[1], 0.8 + 0.24 * M.shape[0]))
    im = ax.imshow(np.ma.masked_invalid(M), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(M.shape[1]), [str(c) for c in matrix.columns])
    ax.set_yticks(range(M.shape[0]), [str(r) for r in matrix.index], fontsize=6)
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if np.isfinite(M[i, j]):
                ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=5,
                        color="w" if abs(M[i, j]) > 0.6 else "k")
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    return png(fig)


def score_scatter(
    table: pd.DataFrame, x: str, y: str, *, fits: dict[str, tuple[float, float]], title: str
) -> bytes:
    """Score against one measure: training models by family with their OLS line, held-out models hollow.

    ``fits`` maps a label to ``(intercept, slope)`` of a line drawn over the x range.
    """
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    train = table[~table["holdout"]]
    for family, g in train.groupby("family", sort=True):
        ax.scatter(g[x], g[y], s=22, label=f"{family} (train)")
    held = table[table["holdout"]]
    if len(held):
        ax.scatter(held[x], held[y], s=40, facecolors="none", edgecolors="crimson", label="held out")
        for _, r in held.iterrows():
            ax.annotate(str(r["spec"]).split("@")[-1][:22], (r[x], r[y]), fontsize=5, color="crimson",
                        xytext=(3, 3), textcoords="offset points")
    xs = np.linspace(float(np.nanmin(table[x])), float(np.nanmax(table[x])), 50)
    for label, (b0, b1) in fits.items():
        ax.plot(xs, b0 + b1 * xs, lw=1.2, label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, frameon=False)
    return png(fig)


def predicted_vs_actual(df: pd.DataFrame, *, title: str) -> bytes:
    """Held-out models: predicted against actual score, with the identity line."""
    fig, ax = plt.subplots(figsize=(4.0, 3.6))
    ax.scatter(df["actual"], df["predicted"], s=30, color="crimson")
    for _, r in df.iterrows():
        ax.annotate(str(r["spec"]).split("@")[-1][:22], (r["actual"], r["predicted"]), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")
    lo = float(np.nanmin(df[["actual", "predicted"]].to_numpy()))
    hi = float(np.nanmax(df[["actual", "predicted"]].to_numpy()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8, label="perfect prediction")
    ax.set_xlabel("actual score")
    ax.set_ylabel("predicted score")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, frameon=False)
    return png(fig)
