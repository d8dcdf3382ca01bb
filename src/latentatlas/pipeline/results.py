"""The tidy results table: one row per (model, site, layer, measure) value."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import atomic_write
from ..settings import RESIDUAL

COLUMNS = [
    "model",
    "variant",
    "seed",
    "spec",
    "site",
    "layer",
    "measure",
    "family",
    "value",
    "n_points",
    "params",
]


def rows_for(
    *,
    spec: str,
    base: str,
    variant: str,
    variant_seed: int | None,
    layer: int,
    site: str = RESIDUAL,
    values: Mapping[str, float],
    families: Mapping[str, str],
    n_points: int,
    params: Mapping[str, Mapping[str, Any]],
    measure_seed: int,
) -> list[dict[str, Any]]:
    """Rows of the tidy table for one cloud (``values``: measure name → value)."""
    rows = []
    for name, value in values.items():
        rows.append(
            {
                "model": base,
                "variant": variant,
                "seed": variant_seed,
                "spec": spec,
                "site": site,
                "layer": layer,
                "measure": name,
                "family": families[name],
                "value": float(value),
                "n_points": n_points,
                "params": json.dumps(
                    {**params.get(name, {}), "seed": measure_seed}, sort_keys=True
                ),
            }
        )
    return rows


def results_table(
    grid: Sequence[tuple[Any, str, int, Any]],
    outcomes: Sequence[tuple[Mapping[str, float], Mapping[str, float], int]],
    families: Mapping[str, str],
    params: Mapping[str, Mapping[str, Any]],
    measure_seed: int,
    measure_times: dict[str, float] | None = None,
) -> pd.DataFrame:
    """The tidy table of a measure grid: ``grid`` holds (model spec, site, layer, job) per cell and ``outcomes``
    the cell's (values, timings, n_points); per-measure seconds are summed into ``measure_times``."""
    rows: list[dict[str, Any]] = []
    for (spec, site, layer, _), (values, timings, n_points) in zip(grid, outcomes, strict=True):
        if measure_times is not None:
            for name, dt in timings.items():
                measure_times[name] = measure_times.get(name, 0.0) + dt
        rows.extend(rows_for(spec=str(spec), base=spec.base, variant=spec.variant or "pretrained",
                             variant_seed=spec.seed, layer=layer, site=site, values=values, families=families,
                             n_points=n_points, params=params, measure_seed=measure_seed))
    return to_frame(rows)


def to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["seed"] = df["seed"].astype("Int64")
    df["layer"] = df["layer"].astype("int64")
    df["n_points"] = df["n_points"].astype("int64")
    return df


def write_results(df: pd.DataFrame, out_dir: Path) -> tuple[Path, Path]:
    """Write ``results.parquet`` and ``results.csv`` atomically."""
    pq = atomic_write(out_dir / "results.parquet", lambda p: df.to_parquet(p, index=False))
    csv = atomic_write(out_dir / "results.csv", lambda p: df.to_csv(p, index=False))
    return pq, csv
