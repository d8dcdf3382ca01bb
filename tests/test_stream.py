"""Streaming measures equal their in-memory values and never read the whole cloud; subsample intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from latentatlas.errors import BadInputError
from latentatlas.measures import cloud as cloud_mod
from latentatlas.measures import registry as reg
from latentatlas.measures import spread as spread_mod
from latentatlas.measures.similarity import cka
from latentatlas.measures.stream import (
    streamable,
    RowReader,
    StreamedCloud,
    readable,
    stream_battery,
    stream_cka,
    subsample_interval,
    subsample_rows,
)

CHUNK = 97  # deliberately not a divisor of n


class GuardedArray:
    """An array-like that serves row slices of at most ``limit`` rows (or fancy-indexed rows) and
    refuses to be converted whole: proof that a computation streams."""

    def __init__(self, A: np.ndarray, limit: int) -> None:
        self.A, self.limit = A, limit
        self.shape, self.dtype = A.shape, A.dtype
        self.max_rows = 0

    def __getitem__(self, key: Any) -> np.ndarray:
        out = self.A[key]
        rows = out.shape[0] if out.ndim == 2 else 1
        if rows > self.limit:
            raise AssertionError(f"read {rows} rows at once (limit {self.limit})")
        self.max_rows = max(self.max_rows, rows)
        return out

    def __array__(self, *a: Any, **k: Any) -> np.ndarray:
        raise AssertionError("the whole cloud was materialised")


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloud_mod, "_CHUNK_ROWS", CHUNK)
    monkeypatch.setattr(spread_mod, "_ROWS", CHUNK)


@pytest.fixture
def memmap16(tmp_path: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A float16 cloud on disk (anisotropic, shifted) and its float32 in-memory copy."""
    n, d = 1500, 24
    X = (rng.normal(size=(n, d)) * np.linspace(3, 0.1, d) + 2.0).astype(np.float16)
    np.save(tmp_path / "layer.npy", X)
    mm = np.load(tmp_path / "layer.npy", mmap_mode="r")
    return mm, np.asarray(mm, dtype=np.float32)


def test_streamed_battery_equals_in_memory_bit_for_bit(memmap16, small_chunks) -> None:  # type: ignore[no-untyped-def]
    mm, X = memmap16
    guarded = GuardedArray(mm, CHUNK)
    streamed = stream_battery(guarded, seed=0)
    in_memory = reg.run_battery(X, streamable(), seed=0)
    assert set(streamed) == set(streamable())
    for name in streamable():
        assert streamed[name] == in_memory[name], name
    assert guarded.max_rows == CHUNK


def test_streamed_spectrum_matches_numpy(memmap16) -> None:  # type: ignore[no-untyped-def]
    mm, X = memmap16
    lam = StreamedCloud(mm).eigenvalues()
    ref = np.sort(np.linalg.eigvalsh(np.cov(X.astype(np.float64), rowvar=False)))[::-1]
    np.testing.assert_allclose(lam, ref, rtol=1e-5, atol=1e-7)  # float32 GEMM per chunk, float64 sums
    # exact ACS against the O(n²) pair average
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    G = U.astype(np.float64) @ U.T.astype(np.float64)
    n = X.shape[0]
    assert stream_battery(mm, ["acs"])["acs"] == pytest.approx((G.sum() - np.trace(G)) / (n * (n - 1)), rel=1e-6)  # unit vectors in float32


def test_stream_cka_equals_feature_form(rng: np.random.Generator) -> None:
    X = rng.normal(size=(800, 12)).astype(np.float32) + 5
    Y = (X @ rng.normal(size=(12, 7)) + 0.3 * rng.normal(size=(800, 7))).astype(np.float32) - 3
    guarded_x, guarded_y = GuardedArray(X, 64), GuardedArray(Y, 64)
    assert stream_cka(guarded_x, guarded_y, chunk_rows=64) == pytest.approx(cka(X, Y), rel=1e-10)
    assert stream_cka(X, X) == pytest.approx(1.0, rel=1e-12)
    Q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    assert stream_cka(X, 2.5 * X @ Q) == pytest.approx(1.0, rel=1e-9)  # rotation and scale invariant
    with pytest.raises(BadInputError, match="same rows"):
        stream_cka(X, Y[:10])


def test_streamed_cloud_validates_in_chunks(small_chunks) -> None:  # type: ignore[no-untyped-def]
    X = np.ones((500, 3), dtype=np.float32)
    X[:, 0] = np.arange(500)
    X[321, 2] = np.nan
    with pytest.raises(BadInputError, match="row 321"):
        StreamedCloud(GuardedArray(X, CHUNK))
    with pytest.raises(BadInputError, match="2-D"):
        StreamedCloud(np.zeros((4, 5, 6)))
    with pytest.raises(BadInputError, match="subsample_interval"):
        stream_battery(X[:10], ["twonn"])


def test_subsample_interval_is_seeded_and_reads_only_the_subsample(rng: np.random.Generator) -> None:
    X = rng.normal(size=(3000, 5)).astype(np.float32)
    guarded = GuardedArray(X, 400)
    est = subsample_interval(guarded, "twonn", size=400, n_boot=8, seed=3)
    again = subsample_interval(X, "twonn", size=400, n_boot=8, seed=3)
    assert est == again and est.size == 400 and est.n_points == 3000
    # the estimate is the measure on the documented rows
    assert est.value == reg.compute("twonn", X[subsample_rows(3000, 400, 3, 0)], seed=3)
    assert est.low <= np.median(est.replicates) <= est.high and est.low < est.high
    assert len(set(est.replicates)) == 8  # independent subsamples
    assert 3.5 < est.value < 6.5  # TwoNN of a 5-D Gaussian
    other = subsample_interval(X, "twonn", size=400, n_boot=8, seed=4)
    assert other.value != est.value


def test_subsample_interval_full_size_collapses_to_the_full_value(rng: np.random.Generator) -> None:
    X = rng.normal(size=(300, 8)).astype(np.float32)
    est = subsample_interval(X, "pq_pp", size=10_000, n_boot=3, seed=0, params={"nbits": 4})
    full = reg.compute("pq_pp", X, seed=0, nbits=4)
    assert est.size == 300 and est.value == est.low == est.high == full
    with pytest.raises(BadInputError, match="n_boot"):
        subsample_interval(X, "twonn", size=100, n_boot=1)


def test_row_reader_reads_the_npy_without_mapping_it(memmap16, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mm, X = memmap16
    r = readable(mm)
    assert isinstance(r, RowReader) and r.shape == mm.shape and r.dtype == np.float16
    np.testing.assert_array_equal(r[10:250], mm[10:250])
    rows = np.array([0, 1, 2, 7, 8, 1499])
    np.testing.assert_array_equal(r[rows], mm[rows])
    assert r[5:5].shape == (0, 24)
    assert readable(mm[:100]) is not None and not isinstance(readable(mm[:100]), RowReader)  # a view stays a view
    assert not isinstance(readable(X), RowReader)
    assert StreamedCloud(tmp_path / "layer.npy").eigenvalues().tolist() == StreamedCloud(X).eigenvalues().tolist()
