"""Spread measures against values known from their definitions, and IsoScore against its package."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import latentatlas as la
from latentatlas.errors import TooFewPointsError
from latentatlas.measures.spread import eee_from_eigenvalues, vasicek_entropy


@pytest.fixture(scope="module")
def gauss() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((6000, 10))


@pytest.fixture(scope="module")
def aniso() -> np.ndarray:
    rng = np.random.default_rng(2)
    return rng.standard_normal((3000, 12)) * np.geomspace(0.05, 4.0, 12) @ _rotation(12, 3)


@pytest.fixture(scope="module")
def line() -> np.ndarray:
    t = np.random.default_rng(3).standard_normal(500)
    return np.outer(t, np.arange(1, 9)) + 5.0


def _rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


def test_acs_exact_against_brute_force() -> None:
    V = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]])  # zero row is ignored
    U = V[:3] / np.linalg.norm(V[:3], axis=1, keepdims=True)
    pairs = [U[i] @ U[j] for i, j in itertools.combinations(range(3), 2)]
    assert la.compute("acs", V) == pytest.approx(np.mean(pairs))
    assert la.compute("acs", np.tile([[3.0, 4.0]], (5, 1))) == pytest.approx(1.0)


def test_isotropic_gaussian(gauss: np.ndarray) -> None:
    r = la.run_battery(gauss, ["acs", "eee", "isoscore", "vrm", "gauss_kl", "pc_ratio", "koleo", "dkls", "iv"])
    assert abs(r["acs"]) < 0.01
    assert r["eee"] < 0.05
    assert r["isoscore"] > 0.99
    assert r["vrm"] < 0.01
    assert r["gauss_kl"] < 0.05
    assert r["pc_ratio"] > 0.8
    assert r["koleo"] == pytest.approx(1.0, abs=0.1)
    assert r["dkls"] < 0.01
    assert r["iv"] > 0.5


def test_points_on_a_line(line: np.ndarray) -> None:
    r = la.run_battery(line, ["eee", "isoscore", "pc_ratio", "acs", "gauss_kl"])
    assert r["eee"] == pytest.approx((7 / 8) ** 2, abs=1e-6)  # one spike in D = 8 axes: ((D-1)/D)²
    assert r["isoscore"] == pytest.approx(0.0, abs=1e-6)
    assert r["pc_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert r["acs"] > 0.5  # offset line: vectors point roughly the same way
    assert r["gauss_kl"] > 50  # flat directions, floored eigenvalues


def test_eee_hand_computed() -> None:
    # λ = (3, 1): S = (3, 4), R = (2, 4), trapezoid over x=0..1 of (1, 0) = 0.5, / (4·2/2) = 0.125
    assert eee_from_eigenvalues(np.array([1.0, 3.0])) == pytest.approx(0.125)
    assert eee_from_eigenvalues(np.ones(5)) == pytest.approx(0.0)


@pytest.mark.parametrize("name", ["eee", "isoscore", "vrm", "gauss_kl", "pc_ratio", "dkls"])
def test_rotation_invariance(name: str, aniso: np.ndarray) -> None:
    rotated = aniso @ _rotation(aniso.shape[1], 7)
    assert la.compute(name, rotated) == pytest.approx(la.compute(name, aniso), rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("name", ["eee", "isoscore", "vrm", "gauss_kl", "pc_ratio", "koleo", "knn_kl", "acs"])
def test_scale_invariance(name: str, aniso: np.ndarray) -> None:
    assert la.compute(name, 7.5 * aniso) == pytest.approx(la.compute(name, aniso), rel=1e-3, abs=1e-6)


def test_anisotropy_orders_the_measures(gauss: np.ndarray, aniso: np.ndarray) -> None:
    for name in ["eee", "vrm", "gauss_kl", "dkls", "knn_kl"]:
        assert la.compute(name, aniso) > la.compute(name, gauss), name
    for name in ["isoscore", "pc_ratio", "koleo", "iv"]:
        assert la.compute(name, aniso) < la.compute(name, gauss), name


def test_isoscore_matches_package(aniso: np.ndarray) -> None:
    from IsoScore import IsoScore

    for X in (aniso, aniso[:, :5] * [1, 2, 3, 4, 50], np.random.default_rng(5).standard_normal((40, 60))):
        assert la.compute("isoscore", X) == pytest.approx(float(IsoScore.IsoScore(X)), abs=1e-6)


def test_vasicek_entropy_of_normal_and_uniform() -> None:
    rng = np.random.default_rng(0)
    H = vasicek_entropy(np.column_stack([rng.standard_normal(20000), rng.uniform(0, 2, 20000)]))
    assert H[0] == pytest.approx(0.5 * np.log(2 * np.pi * np.e), abs=0.02)
    assert H[1] == pytest.approx(np.log(2.0), abs=0.02)


def test_duplicates_keep_values_finite() -> None:
    X = np.random.default_rng(0).standard_normal((400, 8))
    X[:150] = X[0]
    for name, value in la.run_battery(X).items():
        assert np.isfinite(value), name


@pytest.mark.parametrize("name", ["koleo", "knn_kl", "knn_overlap", "iv", "dkls"])
def test_seeded_measures_reproducible(name: str, aniso: np.ndarray) -> None:
    params = {"iv": {"directions": "random"}, "dkls": {"reference": "sampled"}}.get(name, {})
    params = {**params, "max_points": 1000} if name in ("koleo", "knn_kl", "knn_overlap") else params
    a = la.compute(name, aniso, seed=3, **params)
    assert la.compute(name, aniso, seed=3, **params) == a
    assert la.compute(name, aniso, seed=4, **params) != a


def test_published_variants(gauss: np.ndarray, aniso: np.ndarray) -> None:
    analytic = la.compute("koleo", aniso)
    assert la.compute("koleo", aniso, reference="sampled") == pytest.approx(analytic, rel=0.1)
    # the published DKLS bins over a sampled range, so its scale differs; it still orders the clouds
    assert la.compute("dkls", aniso, reference="sampled") > la.compute("dkls", gauss, reference="sampled")
    assert la.compute("knn_kl", aniso, clip=True) > la.compute("knn_kl", gauss, clip=True) >= 0


def test_too_few_points() -> None:
    with pytest.raises(TooFewPointsError, match="needs at least 4 points"):
        la.compute("vrm", np.random.default_rng(0).standard_normal((3, 5)))


@pytest.mark.parametrize("name", ["eee", "isoscore", "pc_ratio", "vrm", "gauss_kl", "dkls", "koleo"])
def test_identical_points_are_rejected(name: str) -> None:
    with pytest.raises(la.BadInputError, match="zero variance"):
        la.compute(name, np.ones((50, 4)))
