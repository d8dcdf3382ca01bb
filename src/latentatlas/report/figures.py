"""Matplotlib figures for the report, returned as PNG bytes (Agg backend, no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
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
