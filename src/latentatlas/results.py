"""The tidy results table: one row per (model, layer, measure[.key]) value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .io import atomic_write

COLUMNS = [
    "model",
    "variant",
    "seed",
    "spec",
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
    values: Mapping[str, float],
    families: Mapping[str, str],
    n_points: int,
    params: Mapping[str, Mapping[str, Any]],
    measure_seed: int,
) -> list[dict[str, Any]]:
    """Rows of the tidy table for one cloud; ``values`` are flattened (``name`` or ``name.key``)."""
    rows = []
    for flat_name, value in values.items():
        base_name = flat_name.split(".", 1)[0]
        rows.append(
            {
                "model": base,
                "variant": variant,
                "seed": variant_seed,
                "spec": spec,
                "layer": layer,
                "measure": flat_name,
                "family": families[base_name],
                "value": float(value),
                "n_points": n_points,
                "params": json.dumps(
                    {**params.get(base_name, {}), "seed": measure_seed}, sort_keys=True
                ),
            }
        )
    return rows


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
