"""Matplotlib figures for the report, returned as PNG bytes (Agg backend, no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
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
    return _png(fig)


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
    return _png(fig)
