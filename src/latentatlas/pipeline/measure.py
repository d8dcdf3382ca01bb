"""Stage: the measure grid, every measure entry on every (model, site, layer) cloud, through a value cache.

A grid cell is a :class:`MeasureJob` (store path, layer, cloud key); the entries, subsample size, seed
and cache folder every cell shares are a :class:`GridContext`. Cells run on an engine (local or Ray)
and read their cloud from the activation store, so a worker needs nothing but the two small objects.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import Engine, LocalEngine, run_all
from ..io import atomic_write_json, content_key
from ..measures import registry as reg
from ..settings import MeasureEntry
from ..store import ActivationStore

log = logging.getLogger(__name__)


class MeasureCache:
    """Per-cloud JSON of measure values, keyed by the cloud's identity; one file per cloud.

    Safe under concurrent writers (two studies sharing one cache folder, or engine workers): every
    write is read-merge-write under a per-file lock, and the file is replaced atomically, so readers
    never see half a file and no writer loses another's values.
    """

    def __init__(self, root: Path) -> None:
        self.root = root / "measures"

    def path(self, cloud_key: str) -> Path:
        return self.root / f"{cloud_key}.json"

    def lock(self, cloud_key: str) -> Any:
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path(cloud_key)) + ".lock")

    def load(self, cloud_key: str) -> dict[str, Any]:
        p = self.path(cloud_key)
        if not p.exists():
            return {}
        try:
            data = json.loads(p.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, json.JSONDecodeError):
            log.warning("measure cache %s is unreadable; recomputing", p)
            return {}

    def update(self, cloud_key: str, fresh: Mapping[str, Any]) -> dict[str, Any]:
        """Read-merge-write under the file lock; returns the merged values."""
        with self.lock(cloud_key):
            merged = {**self.load(cloud_key), **dict(fresh)}
            atomic_write_json(self.path(cloud_key), merged)
        return merged


def entry_key(e: MeasureEntry, seed: int) -> str:
    """The cache key of one measure entry: its name, its full parameters and (if stochastic) the seed."""
    spec = reg.get(e.name)
    params = {**spec.defaults, **e.params}
    return f"{e.name}|{content_key({'params': params, 'seed': seed if spec.stochastic else None})}"


def cloud_key(store: ActivationStore, layer: int, max_points: int | None, seed: int) -> str:
    """The identity of one cloud: the store (whose key includes the site), the layer and the seeded subsample."""
    return content_key({"store": store.key, "layer": layer, "max_points": max_points, "seed": seed})


def cached_battery(
    X: np.ndarray,
    entries: list[MeasureEntry],
    *,
    seed: int,
    cache: MeasureCache | None = None,
    key: str | None = None,
    progress: bool = False,
) -> tuple[dict[str, float], dict[str, float]]:
    """Run ``entries`` on one cloud, reusing cached values; returns (values by name, timings)."""
    stored = cache.load(key) if cache and key else {}
    todo = [e for e in entries if entry_key(e, seed) not in stored]
    timings: dict[str, float] = {}
    if todo:
        fresh = reg.run_battery(
            X, [e.name for e in todo], seed=seed, params={e.name: e.params for e in todo},
            timings=timings, progress=progress,
        )
        new = {entry_key(e, seed): fresh[e.name] for e in todo}
        stored.update(new)
        if cache and key:
            cache.update(key, new)
    return {e.name: stored[entry_key(e, seed)] for e in entries}, timings


@dataclass(frozen=True)
class MeasureJob:
    """One cell of the measure grid: every measure entry on one (model, layer) cloud."""

    store_path: str
    layer: int
    cloud_key: str


@dataclass(frozen=True)
class GridContext:
    """What every measure job shares: the entries, subsample size, seed and the cache folder."""

    entries: tuple[MeasureEntry, ...]
    max_points: int | None
    seed: int
    cache_root: str


def measure_job(ctx: GridContext, job: MeasureJob) -> tuple[dict[str, float], dict[str, float], int]:
    """Run one grid cell (in this process or on an engine worker): open the store, read the cloud,
    measure it through the locked measure cache. Returns (values, timings, n_points)."""
    store = ActivationStore.open(job.store_path, verify="size")
    X = store.cloud(job.layer, max_points=ctx.max_points, seed=ctx.seed)
    values, mt = cached_battery(
        X, list(ctx.entries), seed=ctx.seed, cache=MeasureCache(Path(ctx.cache_root)), key=job.cloud_key
    )
    return values, mt, int(X.shape[0])


def measure_grid(
    ctx: GridContext, jobs: list[MeasureJob], engine: Engine, *, progress: bool = False
) -> list[tuple[dict[str, float], dict[str, float], int]]:
    """Every job's (values, timings, n_points), in job order; a tqdm bar for local runs with progress."""
    if progress and isinstance(engine, LocalEngine):
        from tqdm.auto import tqdm

        return [measure_job(ctx, job) for job in tqdm(jobs, leave=False, desc="measure", unit="cloud")]
    return run_all(engine, measure_job, jobs, ctx)


__all__ = [
    "GridContext", "MeasureCache", "MeasureJob", "cached_battery", "cloud_key", "entry_key", "measure_grid",
    "measure_job",
]
