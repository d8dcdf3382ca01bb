"""Measures on clouds too large for RAM: exact streamed passes, and seeded subsamples with intervals.

Two kinds of measure:

* **streamable** — functions of the mean, the covariance spectrum or per-row sums: the PCA spectrum
  (``eee``, ``isoscore``, ``pc_ratio``, ``pca90/95/99``, ``participation_ratio``), the exact average
  cosine similarity (``acs``) and linear CKA in feature form. :class:`StreamedCloud` wraps an
  (n, d) array-like — typically an activation-store layer, whose memory map is swapped for a
  :class:`RowReader` of positioned reads so that no mapped page counts in the process's memory —
  without copying it; every pass reads row chunks (float16 rows become float32 per chunk, sums are float64),
  so memory is O(chunk·d + d²) whatever n is, and the values equal the in-memory ones bit for bit
  (same chunks, same arithmetic).
* **subsampled** — measures that need a k-NN graph or trained quantizers. :func:`subsample_interval`
  computes them on a seeded subsample of a stated size ``m`` (rows read from the memory map, nothing
  else) and reports a subsampling-bootstrap interval: the measure on ``n_boot`` further independent
  size-``m`` subsamples without replacement (Politis & Romano 1994, *Large sample confidence regions
  based on subsamples under minimal assumptions*), percentile interval. Resampling with replacement
  would duplicate points and collapse nearest-neighbour distances to zero, hence subsampling.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadInputError, CacheCorruptError, TooFewPointsError
from . import cloud as cloud_mod
from . import registry as reg
from .cloud import PointCloud

log = logging.getLogger(__name__)


def streamable() -> list[str]:
    """Names of the measures registered as streamable (computed exactly in streamed passes)."""
    return [s.name for s in reg.MEASURES.values() if s.streamable]


class RowReader:
    """Rows of an ``.npy`` file read with positioned reads (``os.pread``), never memory-mapped.

    Pages of a memory map that a process has touched count in its resident memory (RSS) until the
    kernel evicts them, so streaming a 1.5 GB memmap would "use" 1.5 GB. Read through this class the
    same bytes go through the page cache only, and the process holds one chunk. Supports what the
    streaming code needs: ``shape``, ``dtype``, ``len``, row slices (step 1) and integer row arrays.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise BadInputError(f"{self.path} uses .npy format {version}; save it with numpy.save (format 1.0/2.0).")
            self._offset = f.tell()
        if fortran or len(shape) != 2:
            raise BadInputError(f"{self.path} must hold a C-ordered 2-D array to be streamed, got shape {shape}.")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.ndim = 2
        self._row_bytes = self.shape[1] * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, start: int, stop: int) -> np.ndarray:
        n = max(0, stop - start)
        buf = bytearray(n * self._row_bytes)
        if n:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                view, pos, done = memoryview(buf), self._offset + start * self._row_bytes, 0
                while done < len(buf):
                    got = os.preadv(fd, [view[done:]], pos + done)
                    if got <= 0:
                        raise CacheCorruptError(f"{self.path} is shorter than its header says; rebuild it.")
                    done += got
            finally:
                os.close(fd)
        return np.frombuffer(buf, dtype=self.dtype).reshape(n, self.shape[1])

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                raise BadInputError("RowReader reads contiguous row slices only (step 1).")
            return self._read(start, stop)
        rows = np.asarray(key)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise BadInputError("RowReader takes a row slice or a 1-D array of row indices.")
        out = np.empty((rows.size, self.shape[1]), dtype=self.dtype)
        if rows.size:
            # consecutive runs of indices become one read each
            breaks = np.flatnonzero(np.diff(rows) != 1) + 1
            for run in np.split(np.arange(rows.size), breaks):
                lo = int(rows[run[0]])
                if lo < 0 or lo + run.size > self.shape[0]:
                    raise BadInputError(f"row index out of range for {self.shape[0]} rows.")
                out[run[0] : run[0] + run.size] = self._read(lo, lo + run.size)
        return out

    def __repr__(self) -> str:
        return f"RowReader({self.path}, shape={self.shape}, dtype={self.dtype})"


def readable(X: Any) -> Any:
    """``X`` ready for streaming: a path or a whole-file ``np.memmap`` becomes a :class:`RowReader`
    (positioned reads, no mapped pages); anything else is returned as is."""
    if isinstance(X, (str, Path)):
        return RowReader(X)
    if isinstance(X, np.memmap) and getattr(X, "filename", None) and X.ndim == 2 and X.flags.c_contiguous:
        try:
            reader = RowReader(X.filename)
        except (OSError, ValueError, BadInputError):
            return X
        # np.load(..., mmap_mode) maps from the data offset; a view with the file's own shape, dtype and
        # offset is the whole array (row or column slices change the shape or the contiguity)
        if reader.shape == X.shape and reader.dtype == X.dtype and int(X.offset) == reader._offset:
            return reader
    return X


def iter_chunks(X: Any, chunk_rows: int | None = None) -> Iterator[np.ndarray]:
    """Yield consecutive row blocks of ``X`` as float32 arrays (one block in memory at a time)."""
    step = int(chunk_rows or cloud_mod._CHUNK_ROWS)
    for s in range(0, int(X.shape[0]), step):
        yield np.asarray(X[s : s + step], dtype=np.float32)


class StreamedCloud(PointCloud):
    """A :class:`PointCloud` over an array that is never loaded whole (a memmap, or any array-like
    with ``shape``, ``dtype`` and row slicing). Validation (2-D, numeric, finite, enough points) is
    one chunked pass; PCA and ACS then stream through the same chunked code as in-memory clouds."""

    def __init__(self, X: Any, *, name: str = "streamed cloud", min_points: int = 2,
                 chunk_rows: int | None = None) -> None:
        X = readable(X)
        shape = tuple(getattr(X, "shape", ()))
        dtype = np.dtype(getattr(X, "dtype", np.float64))
        if len(shape) != 2:
            raise BadInputError(f"{name} must be 2-D (n_points, n_dims), got shape {shape}; reshape it.")
        if dtype.kind not in "fiu":
            raise BadInputError(f"{name} must hold real numbers, got dtype {dtype}; save a float array.")
        if shape[1] < 1:
            raise BadInputError(f"{name} has no dimensions (shape {shape}).")
        if shape[0] < min_points:
            raise TooFewPointsError(name, min_points, shape[0])
        step = int(chunk_rows or cloud_mod._CHUNK_ROWS)
        for i, block in enumerate(iter_chunks(X, step)):
            ok = np.isfinite(block).all(axis=1)
            if not ok.all():
                row = i * step + int(np.flatnonzero(~ok)[0])
                raise BadInputError(
                    f"{name} has non-finite values (NaN or inf), first in row {row}; remove or repair those rows."
                )
        super().__init__(X, name=name, validate=False)


def stream_battery(
    X: Any,
    measures: Iterable[str] | None = None,
    *,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    name: str = "streamed cloud",
) -> dict[str, Any]:
    """Run streamable measures on ``X`` without loading it (default: every :func:`streamable` one).

    A measure that is not streamable raises a :class:`BadInputError` naming :func:`subsample_interval`.
    """
    names = streamable()
    wanted = list(measures) if measures is not None else names
    for m in wanted:
        reg.get(m)  # unknown names first, with suggestions
        if m not in names:
            raise BadInputError(
                f"measure {m!r} cannot stream (it needs a k-NN graph or quantizers over the whole cloud); "
                f"compute it on a subsample with latentatlas.measures.stream.subsample_interval. "
                f"Streamable: {', '.join(names)}."
            )
    return reg.run_battery(StreamedCloud(X, name=name), wanted, seed=seed, params=params)


def stream_cka(X: Any, Y: Any, *, chunk_rows: int | None = None) -> float:
    """Linear CKA (biased) in feature form, one streamed pass over both clouds (Kornblith et al. 2019).

    CKA = ‖Y_cᵀX_c‖²_F / (‖X_cᵀX_c‖_F·‖Y_cᵀY_c‖_F) with centred X_c, Y_c. The centred cross-products come
    from raw sums of shifted rows: Σ(x−a)(y−b)ᵀ − n·(x̄−a)(ȳ−b)ᵀ, the shifts a, b being the first chunk's
    means (this keeps float64 sums well conditioned). Memory O(chunk·(d₁+d₂) + (d₁+d₂)²).
    """
    X, Y = readable(X), readable(Y)
    n = int(X.shape[0])
    if int(Y.shape[0]) != n:
        raise BadInputError(f"the two clouds must have the same rows, got {n} and {int(Y.shape[0])}.")
    if n < 2:
        raise TooFewPointsError("linear CKA", 2, n)
    step = int(chunk_rows or cloud_mod._CHUNK_ROWS)
    d1, d2 = int(X.shape[1]), int(Y.shape[1])
    a = np.asarray(X[:step], dtype=np.float64).mean(axis=0)
    b = np.asarray(Y[:step], dtype=np.float64).mean(axis=0)
    sx, sy = np.zeros(d1), np.zeros(d2)
    xx, yy, yx = np.zeros((d1, d1)), np.zeros((d2, d2)), np.zeros((d2, d1))
    for bx, by in zip(iter_chunks(X, step), iter_chunks(Y, step), strict=True):
        cx, cy = bx.astype(np.float64) - a, by.astype(np.float64) - b
        sx += cx.sum(axis=0)
        sy += cy.sum(axis=0)
        xx += cx.T @ cx
        yy += cy.T @ cy
        yx += cy.T @ cx
    mx, my = sx / n, sy / n
    xx -= n * np.outer(mx, mx)
    yy -= n * np.outer(my, my)
    yx -= n * np.outer(my, mx)
    den = np.linalg.norm(xx) * np.linalg.norm(yy)
    return float(np.sum(yx**2) / den) if den > 0 else 0.0


@dataclass(frozen=True)
class SubsampleEstimate:
    """A measure on a seeded size-``size`` subsample, with a subsampling-bootstrap percentile interval."""

    measure: str
    value: float
    low: float
    high: float
    size: int
    n_points: int
    n_boot: int
    level: float
    seed: int
    replicates: tuple[float, ...] = field(repr=False, default=())

    def to_dict(self) -> dict[str, Any]:
        return {"measure": self.measure, "value": self.value, "low": self.low, "high": self.high,
                "size": self.size, "n_points": self.n_points, "n_boot": self.n_boot, "level": self.level,
                "seed": self.seed}


def subsample_rows(n: int, size: int, seed: int, replicate: int) -> np.ndarray:
    """Sorted row indices of replicate ``replicate`` (0 = the estimate), drawn without replacement
    from a generator seeded with (seed, replicate)."""
    return np.sort(np.random.default_rng([int(seed), int(replicate)]).choice(n, size=size, replace=False))


def subsample_interval(
    X: Any,
    measure: str,
    *,
    size: int,
    n_boot: int = 20,
    level: float = 0.95,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> SubsampleEstimate:
    """``measure`` on a seeded size-``size`` subsample of ``X`` plus a percentile interval over
    ``n_boot`` further independent subsamples (rows read from ``X``; the cloud is never loaded whole).

    Only ``size`` rows are in memory at once. ``size`` ≥ n uses every row (the interval collapses).
    """
    spec = reg.get(measure)
    X = readable(X)
    n = int(X.shape[0])
    if size < 2:
        raise BadInputError(f"subsample size must be at least 2, got {size}.")
    if n_boot < 2:
        raise BadInputError(f"n_boot must be at least 2 for an interval, got {n_boot}.")
    if not 0 < level < 1:
        raise BadInputError(f"level must lie in (0, 1), got {level}.")
    m = min(int(size), n)
    if m < spec.required_points(params):
        raise TooFewPointsError(f"measure {measure!r} on a subsample", spec.required_points(params), m)
    kw = dict(params or {})

    def one(replicate: int) -> float:
        rows = np.arange(n) if m == n else subsample_rows(n, m, seed, replicate)
        value = reg.compute(measure, np.asarray(X[rows], dtype=np.float32), seed=seed, **kw)
        if isinstance(value, Mapping):
            raise BadInputError(f"measure {measure!r} returns several values; subsample_interval needs a scalar one.")
        return float(value)

    value = one(0)
    reps = np.array([one(r) for r in range(1, n_boot + 1)])
    alpha = (1 - level) / 2
    low, high = np.quantile(reps, [alpha, 1 - alpha])
    return SubsampleEstimate(measure, value, float(low), float(high), m, n, int(n_boot), float(level), int(seed),
                             tuple(float(r) for r in reps))


# -- a cloud in a .npy file (the `latentatlas measure` command) ------------------------------------------

#: Bytes per point and dimension that an in-memory (not streamable) measure may hold: the float32 copy of
#: the cloud (4) plus float64 work arrays of the same shape (8).
IN_MEMORY_BYTES_PER_VALUE = 4 + 8
#: Bytes per point of the shared exact k-NN graph: 32 neighbours (the fewest the graph is built with),
#: float32 search distances, int64 indices and float64 exact distances.
KNN_BYTES_PER_POINT = 32 * (4 + 8 + 8)


def in_memory_bytes(n: int, d: int) -> int:
    """Rough peak memory of the measures that are not streamable on an n × d cloud:
    n·d·:data:`IN_MEMORY_BYTES_PER_VALUE` + n·:data:`KNN_BYTES_PER_POINT` bytes."""
    return int(n) * (int(d) * IN_MEMORY_BYTES_PER_VALUE + KNN_BYTES_PER_POINT)


def _load_float32(X: Any, chunk_rows: int | None = None) -> np.ndarray:
    """All rows of ``X`` as one float32 array, converted chunk by chunk (no second full-size copy)."""
    out = np.empty(tuple(X.shape), dtype=np.float32)
    step = int(chunk_rows or cloud_mod._CHUNK_ROWS)
    for s in range(0, out.shape[0], step):
        out[s : s + step] = X[s : s + step]
    return out


def _subsample_hint(n: int, d: int, limit: float) -> int:
    """The largest round number of points (one or two significant digits) whose estimate fits ``limit``."""
    fits = max(2, int(limit // (d * IN_MEMORY_BYTES_PER_VALUE + KNN_BYTES_PER_POINT)))
    magnitude = 10 ** max(0, len(str(fits)) - 2)
    return min(n, max(2, fits // magnitude * magnitude))


def measure_file(
    path: str | Path,
    measures: Iterable[str] | None = None,
    *,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    max_points: int | None = None,
    max_memory: float | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Measures of the cloud in a ``.npy`` file, never loading more of it than a measure needs.

    The file is memory-mapped and read in row chunks (:class:`RowReader`): validation (2-D, real,
    finite) is one chunked pass and the :func:`streamable` measures stream, so memory stays
    O(chunk·d + d²) whatever the number of points; their values equal the in-memory ones bit for bit.
    The other measures (k-NN graphs, quantizers) need the cloud in memory as float32: their estimated
    peak, :func:`in_memory_bytes`, must fit ``max_memory`` bytes (default: half the memory available
    now), otherwise a one-line :class:`~latentatlas.errors.EnvironmentLimitError` says how much they need
    and how to subsample. ``max_points``: measure everything on a seeded subsample of that many rows
    (:func:`subsample_rows` with ``seed``), read from the file row by row.
    """
    from ..errors import EnvironmentLimitError
    from ..io import load_npy
    from ..provenance import available_memory_bytes

    wanted = list(measures) if measures is not None else reg.names()
    params = params or {}
    specs = [reg.cloud_measure(m) for m in wanted]  # unknown names and bad parameters before any pass
    for s in specs:
        s.check_params(params.get(s.name))
    if max_points is not None and max_points < 2:
        raise BadInputError(f"--max-points {max_points}: a subsample needs at least 2 points.")
    if max_memory is not None and max_memory <= 0:
        raise BadInputError(f"max_memory={max_memory}: give a positive size (--max-memory, in GB).")
    p = Path(path)
    name = f"cloud {p.name}"
    X = readable(load_npy(p))
    if len(X.shape) == 2 and max_points is not None and X.shape[0] > max_points:
        rows = subsample_rows(int(X.shape[0]), int(max_points), seed, 0)
        log.info("%s: measuring a seeded subsample of %d of %d points (seed %d)", name, rows.size, X.shape[0], seed)
        return reg.run_battery(np.asarray(X[rows], dtype=np.float32), wanted, seed=seed, params=params,
                               progress=progress)
    cloud = StreamedCloud(X, name=name)  # one chunked pass: 2-D, real, finite, at least 2 points
    in_memory = [s.name for s in specs if not s.streamable]
    out: dict[str, float] = {}
    if in_memory:
        n, d = cloud.n, cloud.d
        need = in_memory_bytes(n, d)
        limit = float(max_memory) if max_memory is not None else available_memory_bytes() / 2
        if need > limit:
            allowed = "--max-memory" if max_memory is not None else "half the memory available now"
            raise EnvironmentLimitError(
                f"measure(s) {', '.join(in_memory)} need the whole cloud in memory: about {need / 1e9:.2f} GB for "
                f"{n:,} × {d} points, more than the {limit / 1e9:.2f} GB allowed ({allowed}); pass --max-points "
                f"{_subsample_hint(n, d, limit)} to measure a seeded subsample, or measure only streamable "
                f"ones ({', '.join(streamable())})."
            )
        whole = PointCloud(_load_float32(cloud.X), name=name, validate=False)  # validated by the pass above
        out.update(reg.run_battery(whole, in_memory, seed=seed, params=params, progress=progress))
        del whole
    streamed = [s.name for s in specs if s.streamable]
    if streamed:
        out.update(reg.run_battery(cloud, streamed, seed=seed, params=params, progress=progress))
    return {m: out[m] for m in wanted}
