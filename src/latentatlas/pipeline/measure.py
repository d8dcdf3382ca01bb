"""Stage: the measure grid, every measure entry on every (model, site, layer) cloud, through a value cache.

A grid cell is a :class:`MeasureJob` (store path, layer, cloud key); the entries, subsample size, seed
and cache folder every cell shares are a :class:`GridContext`. Cells run on an engine (local or Ray)
and read their cloud from the activation store, so a worker needs nothing but the two small objects.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..engine import Engine, LocalEngine, run_all
from ..errors import BadInputError
from ..io import atomic_write_json, content_key, entry_lock, warn_read_only, writable
from ..measures import registry as reg
from ..provenance import available_cores, single_thread_pool
from ..settings import MeasureEntry, Study
from ..store import ActivationStore
from .extract import ExtractedModel
from .results import results_table

log = logging.getLogger(__name__)


class MeasureCache:
    """Per-cloud JSON of measure values, keyed by the cloud's identity; one file per cloud.

    A file maps each entry key to ``{"value": v, "checksum": c}``, where ``c`` is the content key of
    (cloud key, entry key, value): a value edited by hand, copied from another cloud's file, of the
    wrong type (a string, a list) or not finite fails validation on :meth:`load` and is recomputed
    (one warning per file names the entries). Non-finite results are returned but never cached (a
    measure undefined on a cloud is computed again on each run).

    Safe under concurrent writers (two studies sharing one cache folder, or engine workers): every
    write is read-merge-write under a per-file lock, and the file is replaced atomically, so readers
    never see half a file and no writer loses another's values. In a read-only cache folder, values
    are read without locks and new ones are not kept (one warning).
    """

    def __init__(self, root: Path) -> None:
        self.root = root / "measures"

    def path(self, cloud_key: str) -> Path:
        return self.root / f"{cloud_key}.json"

    def lock(self, cloud_key: str) -> Any:
        self.root.mkdir(parents=True, exist_ok=True)
        return entry_lock(str(self.path(cloud_key)) + ".lock", self.root.parent, "cannot keep measure values")

    @staticmethod
    def checksum(cloud_key: str, entry: str, value: float) -> str:
        """The checksum stored beside a value: content key of (cloud key, entry key, value)."""
        return content_key({"cloud": cloud_key, "entry": entry, "value": value})

    def load(self, cloud_key: str, *, quiet: bool = False) -> dict[str, float]:
        """The valid cached values of a cloud (entry key → value); invalid ones are left out (and
        logged, unless ``quiet``)."""
        p = self.path(cloud_key)
        warn = log.debug if quiet else log.warning
        if not p.exists():
            return {}
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            warn("measure cache %s is unreadable; recomputing its values", p)
            return {}
        if not isinstance(data, dict):
            warn("measure cache %s holds a %s, not a table of values; recomputing them", p, type(data).__name__)
            return {}
        good: dict[str, float] = {}
        bad: dict[str, str] = {}
        for entry, record in data.items():
            why = self._invalid(cloud_key, entry, record)
            if why:
                bad[entry] = why
            else:
                good[entry] = float(record["value"])
        if bad:
            named = ", ".join(f"{e.partition('|')[0]} ({why})" for e, why in list(bad.items())[:5])
            warn("measure cache %s: %d value(s) failed validation, recomputing them: %s%s",
                 p, len(bad), named, ", ..." if len(bad) > 5 else "")
        return good

    @classmethod
    def _invalid(cls, cloud_key: str, entry: str, record: Any) -> str:
        """Why a cached record is not a valid value ('' when it is)."""
        if not isinstance(record, dict) or "value" not in record or "checksum" not in record:
            return "no checksum"
        value = record["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"a {type(value).__name__}, not a number"
        if not math.isfinite(value):
            return "not finite"
        if record["checksum"] != cls.checksum(cloud_key, entry, float(value)):
            return "checksum mismatch"
        return ""

    def update(self, cloud_key: str, fresh: Mapping[str, Any]) -> dict[str, float]:
        """Read-merge-write under the file lock; returns the merged values (finite ones only are kept)."""
        fresh = {k: float(v) for k, v in fresh.items() if math.isfinite(float(v))}
        if not writable(self.root):
            warn_read_only(self.root, "measure value")
            return {**self.load(cloud_key, quiet=True), **fresh}
        with self.lock(cloud_key):
            merged = {**self.load(cloud_key, quiet=True), **fresh}  # invalid values are dropped
            atomic_write_json(
                self.path(cloud_key),
                {k: {"value": v, "checksum": self.checksum(cloud_key, k, v)} for k, v in merged.items()},
            )
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


def measure_job_one_thread(ctx: GridContext, job: MeasureJob) -> tuple[dict[str, float], dict[str, float], int]:
    """:func:`measure_job` with one BLAS and OpenMP thread: what another engine's worker process runs, so its
    values equal the local engine's (see :func:`measure_grid`)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return measure_job(ctx, job)


def measure_grid(
    ctx: GridContext, jobs: list[MeasureJob], engine: Engine, *, progress: bool = False
) -> list[tuple[dict[str, float], dict[str, float], int]]:
    """Every job's (values, timings, n_points), in job order; a tqdm bar for local runs with progress.

    Locally the clouds are measured one per core, each with one BLAS and one OpenMP thread: the measures
    are many small dense problems (a 384 × 384 eigenproblem, a 3,000-point k-NN search), which two
    threads share badly, so whole clouds in parallel are faster. One thread per cloud also makes each
    value independent of the machine's core count: with two BLAS threads the eigensolvers differ in the
    ninth digit, and k-means can settle in another optimum (``pq_pp`` of MiniLM's layer 0 moved by 0.10
    of 3.2).
    """
    if isinstance(engine, LocalEngine):
        with single_thread_pool(available_cores(), openmp=True) as pool:
            outcomes: Iterable[tuple[dict[str, float], dict[str, float], int]] = pool.map(
                functools.partial(measure_job, ctx), jobs)
            if progress:
                from tqdm.auto import tqdm

                outcomes = tqdm(outcomes, total=len(jobs), leave=False, desc="measure", unit="cloud")
            return list(outcomes)
    return run_all(engine, measure_job_one_thread, jobs, ctx)


@dataclass
class Measured:
    """The measure stage's output: the tidy results table and the seconds spent per measure."""

    results: pd.DataFrame
    measure_times: dict[str, float]


def measure_study(
    models: list[ExtractedModel],
    entries: list[MeasureEntry],
    study: Study,
    engine: Engine,
    *,
    progress: bool = False,
) -> Measured:
    """The measure stage: every entry on every (model, site, layer) cloud of the extracted ``models``,
    through the measure cache, as the tidy results table (:func:`~.results.results_table`).

    Raises BadInputError when the grid gives no row (no layer, no measure)."""
    grid = [(m.spec, site, layer, MeasureJob(str(store.path), layer, cloud_key(store, layer, study.max_points, study.seed)))
            for m in models for site, store in m.stores.items() for layer in store.layers]
    ctx = GridContext(tuple(entries), study.max_points, study.seed, str(study.cache))
    outcomes = measure_grid(ctx, [job for *_, job in grid], engine, progress=progress)
    log.info("measures: %d clouds × %d measures", len(grid), len(entries))
    measure_times: dict[str, float] = {}
    results = results_table(grid, outcomes, {e.name: reg.get(e.name).family for e in entries},
                            {e.name: dict(e.params) for e in entries}, study.seed, measure_times)
    if results.empty:
        raise BadInputError("the study produced no results; check its models, layers and measures.")
    return Measured(results, measure_times)


__all__ = [
    "GridContext", "MeasureCache", "MeasureJob", "Measured", "cached_battery", "cloud_key", "entry_key", "measure_grid",
    "measure_job", "measure_job_one_thread", "measure_study",
]
