"""Similarity between two spaces over the same tokens: sanity properties and a hand-checked CKA."""

from __future__ import annotations

import numpy as np
import pytest

import latentatlas as la
from latentatlas.measures.similarity import compare_layers, similarity

SIMILARITIES = ["cka", "mutual_knn", "svcca", "pwcca", "rsa"]


@pytest.fixture(scope="module")
def spaces() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1500, 16)) * np.linspace(0.5, 2, 16)
    Q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    return {
        "X": X,
        "rotated": 2.5 * X @ Q + 7.0,
        "independent": rng.standard_normal((1500, 16)),
        "linear": X @ rng.standard_normal((16, 16)),
    }


@pytest.mark.parametrize("name", SIMILARITIES)
def test_self_and_rotation_score_one(name: str, spaces: dict[str, np.ndarray]) -> None:
    assert similarity(name, spaces["X"], spaces["X"]) == pytest.approx(1.0, abs=1e-6)
    assert similarity(name, spaces["X"], spaces["rotated"]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(("name", "bound"), [("cka", 0.03), ("mutual_knn", 0.03), ("rsa", 0.05), ("svcca", 0.15), ("pwcca", 0.15)])
def test_independent_spaces_score_near_zero(name: str, bound: float, spaces: dict[str, np.ndarray]) -> None:
    assert abs(similarity(name, spaces["X"], spaces["independent"])) < bound


def test_unbiased_cka_removes_small_sample_inflation() -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((32, 64)), rng.standard_normal((32, 64))
    biased, unbiased = similarity("cka", X, Y), similarity("cka", X, Y, unbiased=True)
    assert biased > 0.3  # the known inflation of biased HSIC at small n
    assert abs(unbiased) < 0.1


def test_cka_by_hand() -> None:
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    Y = X * [1.0, 0.0]  # keep only the first coordinate
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    K, L = Xc @ Xc.T, Yc @ Yc.T
    expected = np.sum(K * L) / (np.linalg.norm(K) * np.linalg.norm(L))
    assert similarity("cka", X, Y) == pytest.approx(expected) == pytest.approx(1 / np.sqrt(2))


def test_cca_measures_invariant_to_invertible_maps(spaces: dict[str, np.ndarray]) -> None:
    assert similarity("pwcca", spaces["X"], spaces["linear"]) == pytest.approx(1.0, abs=1e-6)
    assert similarity("svcca", spaces["X"], spaces["linear"], keep=1.0) == pytest.approx(1.0, abs=1e-6)
    # the 99% SVD truncation is per space, so a non-orthogonal map changes which directions survive
    assert 0.95 < similarity("svcca", spaces["X"], spaces["linear"]) < 1.0
    assert similarity("cka", spaces["X"], spaces["linear"]) < 0.95  # CKA is not


def _orthonormal_centered(n: int, k: int, seed: int) -> np.ndarray:
    """k orthonormal, centered vectors of length n (columns)."""
    A = np.random.default_rng(seed).standard_normal((n, k))
    Q, _ = np.linalg.qr(A - A.mean(0))
    return Q


def test_pwcca_weights_by_the_narrower_side() -> None:
    """Known answer: X = [e₁, 3e₂], Y = [e₁, 0.6e₂ + 0.8e₃, e₄] with orthonormal centered eᵢ.

    ρ = (1, 0.6). X (2 neurons) weighs: variates e₁, e₂ get α = (1, 3), so PWCCA = (1 + 1.8)/4 = 0.7.
    Y's variates (e₁, 0.6e₂ + 0.8e₃) would give α = (1, 1) and 0.8, the old value of pwcca(Y, X).
    """
    e = _orthonormal_centered(200, 4, seed=3)
    X = np.column_stack([e[:, 0], 3 * e[:, 1]])
    Y = np.column_stack([e[:, 0], 0.6 * e[:, 1] + 0.8 * e[:, 2], e[:, 3]])
    assert similarity("pwcca", X, Y) == pytest.approx(0.7, abs=1e-6)  # clouds are held in float32
    assert similarity("pwcca", Y, X) == pytest.approx(0.7, abs=1e-6)


def test_pwcca_symmetric_for_different_widths() -> None:
    rng = np.random.default_rng(4)
    X = rng.standard_normal((800, 6)) * np.linspace(0.3, 3, 6)
    Y = np.column_stack([X @ rng.standard_normal((6, 4)), rng.standard_normal((800, 6))]) + 0.5 * rng.standard_normal(
        (800, 10)
    )
    forward, backward = similarity("pwcca", X, Y), similarity("pwcca", Y, X)
    assert 0.2 < forward < 0.95
    assert backward == pytest.approx(forward, rel=1e-9)


def test_procrustes_distance(spaces: dict[str, np.ndarray]) -> None:
    assert similarity("procrustes", spaces["X"], spaces["rotated"]) == pytest.approx(0.0, abs=1e-9)
    assert similarity("procrustes", spaces["X"], spaces["independent"]) > 1.0


def test_compare_layers_matrix(spaces: dict[str, np.ndarray]) -> None:
    A = [spaces["X"], spaces["independent"]]
    M = compare_layers(A, A, ["cka", "procrustes"])
    assert M["cka"].shape == (2, 2)
    np.testing.assert_allclose(np.diag(M["cka"]), 1.0, atol=1e-9)
    assert M["cka"][0, 1] == pytest.approx(M["cka"][1, 0])
    np.testing.assert_allclose(np.diag(M["procrustes"]), 0.0, atol=1e-9)


def test_row_mismatch_and_single_cloud_use(spaces: dict[str, np.ndarray]) -> None:
    with pytest.raises(la.BadInputError, match=r"same tokens .*\(1500, 16\) and \(100, 16\)"):
        similarity("cka", spaces["X"], spaces["X"][:100])
    with pytest.raises(la.BadInputError, match="compares two clouds"):
        la.compute("cka", spaces["X"])
    with pytest.raises(la.BadInputError, match="at least 11 points"):
        similarity("mutual_knn", spaces["X"][:10], spaces["X"][:10], k=10)
