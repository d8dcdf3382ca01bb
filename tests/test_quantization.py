"""Quantized cell-density measures: count statistics by hand, reconstruction, seeding and sharing."""

from __future__ import annotations

import numpy as np
import pytest

import latentatlas as la
from latentatlas.errors import TooFewPointsError
from latentatlas.measures import PointCloud
from latentatlas.measures.quantization import (
    fit_quantizer,
    lloyd_patchiness,
    published_patchiness,
    unpack_codes,
)

SMALL = {"M": 2, "nbits": 4}


@pytest.fixture(scope="module")
def cloud_x() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2000, 16)) * np.linspace(0.2, 2, 16)).astype(np.float32)


def test_lloyd_patchiness_by_hand() -> None:
    even = np.full(16, 10)
    assert lloyd_patchiness(even, 16) == pytest.approx(1 - 1 / 10)
    clumped = np.array([160] + [0] * 15)  # μ = 10, V = 160²/16 − 10² = 1500 → 1 + 15 − 0.1
    assert lloyd_patchiness(clumped, 16) == pytest.approx(15.9)
    poisson = np.random.default_rng(0).poisson(50, size=20000)
    assert lloyd_patchiness(poisson, 20000) == pytest.approx(1.0, abs=0.01)


def test_published_patchiness_formula() -> None:
    codes = np.array([[0, 1], [0, 1], [1, 1], [3, 0]])  # k = 4
    counts = np.concatenate([np.histogram(codes[:, m], bins=4)[0] for m in range(2)])
    m_ = counts.sum() / 4
    assert published_patchiness(codes, 4) == pytest.approx((m_ + counts.var() / m_ - 1) / m_)


def test_unpack_codes_roundtrip() -> None:
    rng = np.random.default_rng(0)
    for nbits in (4, 6, 8):
        codes = rng.integers(0, 1 << nbits, size=(50, 3))
        bits = ((codes[:, :, None] >> np.arange(nbits)) & 1).reshape(50, -1).astype(np.uint8)
        packed = np.packbits(bits, axis=1, bitorder="little")
        np.testing.assert_array_equal(unpack_codes(packed, 3, nbits), codes)


@pytest.mark.parametrize("kind", ["pq", "aq"])
def test_perfect_reconstruction_of_few_distinct_points(kind: str) -> None:
    base = np.random.default_rng(1).standard_normal((8, 8)).astype(np.float32) * 3
    X = np.repeat(base, 40, axis=0)  # 8 distinct points, 16 codewords per codebook
    re = la.compute(f"{kind}_re", X, **SMALL)
    assert re == pytest.approx(0.0, abs=1e-4 if kind == "pq" else 2e-2)


@pytest.mark.parametrize("kind", ["pq", "aq"])
def test_family_values_in_range(kind: str, cloud_x: np.ndarray) -> None:
    names = [n for n in la.names("quantization") if n.startswith(kind)]
    cloud = PointCloud(cloud_x)
    r = la.run_battery(cloud, names, params={n: SMALL for n in names})
    assert 0 < r[f"{kind}_re"] < 1
    assert 0 <= r[f"{kind}_ri"] <= 1
    assert r[f"{kind}_pp"] > 1 - 1 / (2000 / 16)
    assert r[f"{kind}_pc_kl"] >= 0
    assert 0 <= r[f"{kind}_pd_eee"] < 1
    assert all(np.isfinite(v) for v in r.values())
    # all nine measures shared one trained quantizer
    fits = [k for k in cloud._memo if isinstance(k, tuple) and k[0] == "quantizer"]
    assert len(fits) == 1


def test_uniform_codes_give_zero_kl_and_minimal_patchiness(monkeypatch: pytest.MonkeyPatch) -> None:
    from latentatlas.measures import quantization as q

    codes = np.tile(np.arange(16), 10)[:, None].repeat(2, axis=1)
    fit = q.QuantizerFit("pq", 2, 16, codes, [np.eye(16)] * 2, np.ones(160), 1.0)
    cloud = PointCloud(np.zeros((160, 2)) + np.arange(160)[:, None])
    assert q._pc_kl(fit, cloud) == pytest.approx(0.0)
    assert q._pp(fit, cloud) == pytest.approx(1 - 1 / 10)
    assert q._pc_var(fit, cloud) == pytest.approx(0.0)
    assert q._rs(fit, cloud) == 0.0


@pytest.mark.parametrize("kind", ["pq", "aq"])
def test_seeded(kind: str, cloud_x: np.ndarray) -> None:
    a = fit_quantizer(cloud_x, kind, seed=1, train_size=1000, **SMALL)
    b = fit_quantizer(cloud_x, kind, seed=1, train_size=1000, **SMALL)
    c = fit_quantizer(cloud_x, kind, seed=2, train_size=1000, **SMALL)
    np.testing.assert_array_equal(a.codes, b.codes)
    assert not np.array_equal(a.codes, c.codes)


def test_pq_needs_divisible_dimension(cloud_x: np.ndarray) -> None:
    with pytest.raises(la.BadInputError, match="divisible"):
        la.compute("pq_pp", cloud_x[:, :15], M=4, nbits=4)


def test_too_few_points_for_codebook() -> None:
    X = np.random.default_rng(0).standard_normal((100, 8))
    with pytest.raises(TooFewPointsError, match="needs at least 256 points"):
        la.compute("aq_pp", X)
    assert np.isfinite(la.compute("aq_pp", X, nbits=4, M=2))
