"""Intrinsic dimension: known manifolds, scikit-dimension as oracle, duplicates and bad k."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import latentatlas as la
from latentatlas.measures.dimension import gride_profile


def embed(Z: np.ndarray, D: int, seed: int) -> np.ndarray:
    """Rotate low-dimensional points into D dimensions."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((D, D)))
    return Z @ q[: Z.shape[1]]


@pytest.fixture(scope="module")
def subspace5() -> np.ndarray:
    return embed(np.random.default_rng(0).standard_normal((3000, 5)), 100, 1)


@pytest.fixture(scope="module")
def swiss_roll() -> np.ndarray:
    rng = np.random.default_rng(2)
    t = 1.5 * np.pi * (1 + 2 * rng.random(4000))
    h = 20 * rng.random(4000)
    return embed(np.column_stack([t * np.cos(t), h, t * np.sin(t)]), 50, 3)


@pytest.fixture(scope="module")
def sphere3() -> np.ndarray:
    g = np.random.default_rng(4).standard_normal((4000, 4))
    return embed(g / np.linalg.norm(g, axis=1, keepdims=True), 40, 5)


@pytest.mark.parametrize("name", ["twonn", "mle", "gride"])
def test_recovers_known_dimensions(name: str, subspace5: np.ndarray, swiss_roll: np.ndarray, sphere3: np.ndarray) -> None:
    assert la.compute(name, subspace5) == pytest.approx(5, abs=0.4)
    assert la.compute(name, swiss_roll) == pytest.approx(2, abs=0.25)
    assert la.compute(name, sphere3) == pytest.approx(3, abs=0.3)


def test_linear_measures(subspace5: np.ndarray, sphere3: np.ndarray) -> None:
    assert la.compute("pca99", subspace5) == 5
    assert la.compute("participation_ratio", subspace5) == pytest.approx(5, abs=0.2)
    assert la.compute("pca90", sphere3) == 4  # the 3-sphere spans 4 linear dimensions
    lam = np.array([4.0, 3.0, 2.0, 1.0])
    X = embed(np.random.default_rng(0).standard_normal((20000, 4)) * np.sqrt(lam), 10, 0)
    assert la.compute("participation_ratio", X) == pytest.approx(100 / 30, rel=0.03)
    assert la.compute("pca90", X) == 3  # 0.4, 0.7, 0.9 of the variance


def test_agrees_with_scikit_dimension(swiss_roll: np.ndarray, subspace5: np.ndarray) -> None:
    skdim = pytest.importorskip("skdim")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for X in (swiss_roll, subspace5):
            assert la.compute("twonn", X) == pytest.approx(skdim.id.TwoNN().fit(X).dimension_, rel=1e-6)
            assert la.compute("twonn", X, method="mle") == pytest.approx(
                skdim.id.TwoNN(method="mle").fit(X).dimension_, rel=1e-6
            )
            assert la.compute("mle", X, k=10) == pytest.approx(
                skdim.id.MLE().fit(X, n_neighbors=10).dimension_, rel=1e-6
            )


def test_twonn_linear_without_discarding_is_finite(swiss_roll: np.ndarray, subspace5: np.ndarray) -> None:
    """With discard_fraction=0 the paper's F = i/N reaches 1; the full fit uses i/(N + 1) and stays finite."""
    assert la.compute("twonn", swiss_roll, discard_fraction=0.0) == pytest.approx(2, abs=0.1)
    assert la.compute("twonn", subspace5, discard_fraction=0.0) == pytest.approx(5, abs=0.2)
    # known answer on a line: points 0, 1, 3, 7, 15 have (r₁, r₂) = (1, 3), (1, 2), (2, 3), (4, 6), (8, 12),
    # so sorted μ = (1.5, 1.5, 1.5, 2, 3), fitted against y = −ln(1 − i/6), i = 1…5
    X = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
    log_mu = np.log([1.5, 1.5, 1.5, 2.0, 3.0])
    y = -np.log(1 - np.arange(1, 6) / 6)
    assert la.compute("twonn", X, discard_fraction=0.0) == pytest.approx((log_mu @ y) / (log_mu @ log_mu), rel=1e-12)


def test_gride_profile_is_flat_on_a_clean_manifold(subspace5: np.ndarray) -> None:
    profile = gride_profile(subspace5, max_n1=8)
    assert list(profile) == [1, 2, 4, 8]
    assert all(v == pytest.approx(5, abs=0.4) for v in profile.values())
    assert profile[1] == pytest.approx(la.compute("twonn", subspace5, discard_fraction=0.0, method="mle"), rel=0.01)


@pytest.mark.parametrize("name", ["twonn", "mle", "gride"])
def test_duplicates_removed_and_all_duplicates_rejected(name: str, swiss_roll: np.ndarray) -> None:
    X = np.vstack([swiss_roll, swiss_roll[:500]]).astype(np.float32)
    assert la.compute(name, X) == pytest.approx(la.compute(name, swiss_roll.astype(np.float32)), rel=1e-9)
    with pytest.raises(la.BadInputError, match="only 1 distinct point"):
        la.compute(name, np.ones((40, 3)))


def test_k_larger_than_points() -> None:
    with pytest.raises(la.TooFewPointsError, match="needs at least 21 points"):
        la.compute("mle", np.random.default_rng(0).standard_normal((15, 4)))
    with pytest.raises(la.BadInputError, match="at least 31 points"):
        la.compute("mle", np.random.default_rng(0).standard_normal((25, 4)), k=30)
