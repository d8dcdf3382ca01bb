"""Exact Ward in O(n·d) memory against scikit-learn and scipy; cuts at many K; two-stage Ward."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, ward
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

from latentatlas.analyses.concepts.cluster import Hierarchy, default_k, sweep_ks, two_stage, two_stage_agreement, ward_tree
from latentatlas.errors import BadInputError


def _blobs(rng: np.random.Generator, n: int, d: int, centres: int) -> np.ndarray:
    mu = rng.standard_normal((centres, d)) * 4
    return mu[rng.integers(0, centres, n)] + rng.standard_normal((n, d))


@pytest.mark.parametrize("kind", ["random", "clustered", "anisotropic"])
def test_same_partition_as_sklearn(rng: np.random.Generator, kind: str) -> None:
    n, d = 600, 12
    if kind == "random":
        X = rng.standard_normal((n, d))
    elif kind == "clustered":
        X = _blobs(rng, n, d, 9)
    else:
        X = rng.standard_normal((n, d)) * np.geomspace(10, 0.1, d)
    tree = ward_tree(X.astype(np.float32))
    ks = [2, 7, 40, 200, n - 1]
    cuts = tree.cut(ks)
    for k in ks:
        ref = AgglomerativeClustering(n_clusters=k, linkage="ward").fit(X.astype(np.float32)).labels_
        assert adjusted_rand_score(ref, cuts[k]) == 1.0
        assert cuts[k].max() == k - 1 and cuts[k][0] == 0  # numbered by first appearance


def test_heights_equal_scipy(rng: np.random.Generator) -> None:
    X = _blobs(rng, 400, 5, 6)
    Z = ward(X)
    tree = ward_tree(X, n_candidates=3)  # a short candidate list forces many bound failures / searches
    np.testing.assert_allclose(tree.linkage[:, 2], Z[:, 2], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(tree.linkage[:, 3], Z[:, 3])
    assert np.all(np.diff(tree.linkage[:, 2]) >= 0)
    for k in (3, 30):
        assert adjusted_rand_score(fcluster(Z, k, "maxclust"), tree.labels(k)) == 1.0


def test_tiny_hand_example() -> None:
    # 1-d points 0, 1, 10: Δ(0,1) = 1/2·1 = 0.5; then Δ({0,1},10) = 2·1/3·9.5² = 60.1666…
    tree = ward_tree(np.array([[0.0], [1.0], [10.0]]))
    np.testing.assert_allclose(tree.linkage[:, 2], np.sqrt(2 * np.array([0.5, 2 / 3 * 9.5**2])))
    np.testing.assert_array_equal(tree.labels(2), [0, 0, 1])
    np.testing.assert_array_equal(tree.labels(3), [0, 1, 2])
    np.testing.assert_array_equal(tree.labels(1), [0, 0, 0])


def test_weights_equal_repeated_points(rng: np.random.Generator) -> None:
    # a point of weight w is Ward-equivalent to w coincident copies merged first (Δ = 0 between copies)
    X = rng.standard_normal((40, 3))
    w = rng.integers(1, 4, 40)
    weighted = ward_tree(X, w)
    expanded = ward_tree(np.repeat(X, w, axis=0))
    owner = np.repeat(np.arange(40), w)
    for k in (2, 5, 17):
        lab = expanded.labels(k)
        assert adjusted_rand_score(weighted.labels(k), lab[np.searchsorted(owner, np.arange(40))]) == 1.0


def test_exact_ties_do_not_stall() -> None:
    X = np.array([[0.0, 0], [1, 0], [0.5, np.sqrt(3) / 2], [0, 0], [5, 5], [5, 5]])  # equilateral + duplicates
    tree = ward_tree(X)
    assert tree.linkage.shape == (5, 4) and tree.linkage[-1, 3] == 6
    assert adjusted_rand_score(tree.labels(2), [0, 0, 0, 0, 1, 1]) == 1.0


def test_two_stage(rng: np.random.Generator) -> None:
    X = _blobs(rng, 3000, 8, 12).astype(np.float32)
    h = two_stage(X, 300, seed=0)
    assert isinstance(h, Hierarchy) and h.n_points == 3000 and h.n_leaves <= 300
    labels = h.labels(12)
    assert labels.shape == (3000,) and labels.max() == 11
    # well separated blobs: two-stage and exact Ward agree; the agreement helper reports it
    assert adjusted_rand_score(labels, ward_tree(X).labels(12)) > 0.99
    assert two_stage_agreement(X, 12, 300, n_sub=1500, seed=0) > 0.99
    assert two_stage(X, 300, seed=0, quantiser="sklearn").labels(12).max() == 11


def test_bad_input(rng: np.random.Generator) -> None:
    tree = ward_tree(rng.standard_normal((10, 2)))
    with pytest.raises(BadInputError, match="K=\\[11\\].*1 ≤ K ≤ 10"):
        tree.labels(11)
    with pytest.raises(BadInputError, match="n ≥ 2"):
        ward_tree(np.zeros((1, 3)))
    with pytest.raises(BadInputError, match="NaN"):
        ward_tree(np.array([[0.0], [np.nan]]))
    with pytest.raises(BadInputError, match="positive"):
        ward_tree(np.zeros((3, 2)), np.array([1.0, 0.0, 1.0]))
    with pytest.raises(BadInputError, match="n_cells"):
        two_stage(np.zeros((5, 2)), 9)


def test_default_k_scales_with_occurrences_at_the_papers_ratio() -> None:
    # the papers: K = 600 on ≈ 250,000 occurrences (≈ 417 per concept)
    assert default_k(250_000) == 600
    assert default_k(25_000) == 60
    assert default_k(10_000) == 24
    assert default_k(1_000) == 2 and default_k(3) == 2  # never fewer than 2 concepts
    with pytest.raises(BadInputError, match="at least 2"):
        default_k(1)


def test_sweep_ks_from_one_tree(rng: np.random.Generator) -> None:
    assert sweep_ks(24, 10_000) == [6, 12, 24, 48, 96, 192, 600]
    assert sweep_ks(3, 40) == [2, 3, 6, 12, 24, 40]  # clipped to the points; 600 becomes 40
    X = _blobs(rng, 120, 5, 6)
    tree = ward_tree(X)
    ks = sweep_ks(default_k(X.shape[0]) * 10, X.shape[0])
    cuts = tree.cut(ks)
    for k in ks:  # every cut of the one tree has exactly K concepts and matches scipy's cut
        assert np.unique(cuts[k]).size == k
        assert adjusted_rand_score(cuts[k], fcluster(ward(X), k, "maxclust")) == pytest.approx(1.0)
