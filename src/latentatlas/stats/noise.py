"""A measure's own noise beside the spread between models: is a (measure, layer) value a property of the
model, or of the token sample it was computed on?

A study measures every cloud on a seeded subsample of ``max_points`` tokens (and some measures draw
random numbers of their own: k-means starts, random projections). Measuring the same cloud again on
subsamples drawn with other seeds (``noise_seeds`` of the study) gives each model ``D ≥ 2`` draws
``v_{m,1..D}`` of every (measure, layer). With the models ``m = 1..M`` of the spread set (the training
models of a study):

    noise variance    σ²_noise   = (1/M) Σ_m  s²_m,   s²_m = (1/(D−1)) Σ_d (v_{m,d} − v̄_m)²
    between-model SD  σ_between  = SD over m of v_{m,primary}       (ddof = 1; the values the analysis uses)
    ratio             σ_noise / σ_between

``σ²_noise`` is the pooled within-model variance (with D = 2, s²_m = (v_{m,1} − v_{m,2})² / 2); the
between-model SD is that of the study's own values, so it contains the noise too, and the ratio is at
most about 1 for a measure that is noise alone. A ratio r caps the correlation any score can have with
the measure at √(1 − r²) of its noise-free value (the attenuation of a correlation by measurement error,
Spearman 1904): r = 0.3 costs 5 %, r = 0.5 costs 13 %, r = 0.7 costs 29 %. Candidates with
ratio ≥ :data:`NOISY_RATIO` are flagged: there the noise is at least a quarter of the observed variance
between models.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from ..errors import BadInputError

NOISY_RATIO = 0.5
"""Noise SD / between-model SD at or above which a (measure, layer) is flagged as noisy."""

KEYS = ["measure", "layer"]
NOISE_COLUMNS = [*KEYS, "noise_sd", "between_sd", "noise_ratio", "noisy", "n_models", "n_draws"]
"""Columns of :func:`noise_table` (``n_models``: models with ≥ 2 finite draws; ``n_draws``: draws per
model, the most any model has)."""


def noise_table(
    draws: pd.DataFrame, *, primary: int, spread: Collection[str] | None = None
) -> pd.DataFrame:
    """The noise SD, between-model SD and their ratio of every (measure, layer) (module docstring).

    Args:
        draws: one row per (spec, measure, layer, draw) with its ``value``; ``draw`` is the subsample
            seed, ``primary`` the draw the study's results use.
        primary: the draw whose values give the between-model SD.
        spread: the specs over which both SDs are computed (default: every spec of ``draws``).

    NaN where fewer than 2 models have 2 finite draws (noise) or fewer than 2 models a finite primary
    value (spread); a ratio with a between-model SD of 0 is NaN.

    Raises:
        BadInputError: a column is missing, or ``primary`` is not among the draws.
    """
    missing = sorted({"spec", *KEYS, "draw", "value"} - set(draws.columns))
    if missing:
        raise BadInputError(f"the draws table lacks column(s) {missing}; pass spec, measure, layer, draw, value.")
    if len(draws) and primary not in set(draws["draw"]):
        raise BadInputError(f"draw {primary} (the study's seed) is not among the draws {sorted(set(draws['draw']))}.")
    rows = draws if spread is None else draws[draws["spec"].isin(set(spread))]
    rows = rows[np.isfinite(rows["value"].to_numpy(dtype=float))]
    if rows.empty:
        return pd.DataFrame(columns=NOISE_COLUMNS)
    cell = rows.groupby([*KEYS, "spec"], sort=False)["value"]
    within = pd.DataFrame({"var": cell.var(ddof=1), "n": cell.size()}).reset_index()
    within = within[within["n"] >= 2]
    noise = within.groupby(KEYS, sort=False).agg(noise_var=("var", "mean"), n_models=("var", "size"),
                                                 n_draws=("n", "max"))
    first = rows[rows["draw"] == primary].groupby(KEYS, sort=False)["value"]
    between = pd.DataFrame({"between_sd": first.std(ddof=1), "n_spread": first.size()})
    out = between.join(noise, how="outer").reset_index()
    out.loc[out["n_spread"] < 2, "between_sd"] = np.nan
    out.loc[out["n_models"].fillna(0) < 2, "noise_var"] = np.nan
    out["noise_sd"] = np.sqrt(out["noise_var"].astype(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = out["noise_sd"].to_numpy(dtype=float) / out["between_sd"].to_numpy(dtype=float)
    out["noise_ratio"] = np.where(np.isfinite(ratio), ratio, np.nan)
    out["noisy"] = out["noise_ratio"] >= NOISY_RATIO
    out["n_models"] = out["n_models"].fillna(0).astype(int)
    out["n_draws"] = out["n_draws"].fillna(1).astype(int)
    out["layer"] = out["layer"].astype(int)
    return out[NOISE_COLUMNS].sort_values(KEYS, kind="mergesort").reset_index(drop=True)


def noise_summary(noise: pd.DataFrame) -> pd.DataFrame:
    """Per measure: its layers, the median and largest noise ratio over them (with the layer of the largest)
    and how many layers are flagged (:data:`NOISY_RATIO`); measures in the order of ``noise``."""
    cols = ["measure", "layers", "median_ratio", "max_ratio", "max_layer", "noisy_layers"]
    ok = noise.dropna(subset=["noise_ratio"])
    if ok.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for measure, part in ok.groupby("measure", sort=False):
        worst = part.loc[part["noise_ratio"].idxmax()]
        rows.append({"measure": measure, "layers": len(part), "median_ratio": float(part["noise_ratio"].median()),
                     "max_ratio": float(worst["noise_ratio"]), "max_layer": int(worst["layer"]),
                     "noisy_layers": int(part["noisy"].sum())})
    return pd.DataFrame(rows, columns=cols)


__all__ = ["NOISE_COLUMNS", "NOISY_RATIO", "noise_summary", "noise_table"]
