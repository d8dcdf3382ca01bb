"""Local topology features per token: values against closed forms, brute force and reference packages."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from latentatlas.errors import BadInputError
from latentatlas.measures import topology as topo
from latentatlas.measures.topology import (
    ImageGrid,
    datastore_knn,
    local_pca_dim,
    local_topology_features,
    local_twonn,
    store_topology_features,
    wasserstein_norm,
)


def _circle(n: int, radius: float = 1.0, d: int = 2, seed: int = 0) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    P = np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)
    if d > 2:
        Q = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, 2)))[0]
        P = P @ Q.T
    return P.astype(np.float32)


def _embedded(n: int, intrinsic: int, ambient: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Z = rng.uniform(-1, 1, size=(n, intrinsic))
    Q = np.linalg.qr(rng.standard_normal((ambient, intrinsic)))[0]
    return (Z @ Q.T).astype(np.float32)


def _col(F: np.ndarray, names: list[str], name: str) -> np.ndarray:
    return F[:, names.index(name)]


def test_whole_circle_neighbourhood_has_one_long_h1_bar() -> None:
    n = 40
    X = _circle(n, d=5)
    F, names, _ = local_topology_features(X, k=n - 1, n_jobs=1)  # every neighbourhood is the whole circle
    # One H1 bar born at the chord between neighbours, dying at the largest inscribed triangle's side
    # (√3 for a unit circle, up to the discretisation): W1 norm = persistence/√2.
    chord = 2 * math.sin(math.pi / n)
    w1 = _col(F, names, "wasserstein_p1_h1")
    w2 = _col(F, names, "wasserstein_p2_h1")
    assert np.all(w1 > (1.6 - chord) / math.sqrt(2))
    assert np.allclose(w1, w2, rtol=1e-4)  # a single bar: the p=1 and p=2 norms coincide
    dg = topo.rips_diagrams(cdist(X, X)[np.triu_indices(n, 1)], n, 1)[1]
    long = dg[:, 1] - dg[:, 0]
    assert long.size == 1 and long[0] > 1.6 - chord
    assert dg[0, 0] == pytest.approx(chord, rel=1e-4)


def test_small_arcs_of_a_circle_have_no_long_h1_bar() -> None:
    X = _circle(200, d=5)
    F, names, _ = local_topology_features(X, k=8, n_jobs=1)  # an arc is contractible
    assert np.all(_col(F, names, "wasserstein_p1_h1") < 1e-3)
    # H0 of 9 equally spaced points on an arc: 8 bars, each dying at the chord length
    chord = 2 * math.sin(math.pi / 200)
    assert np.allclose(_col(F, names, "wasserstein_p1_h0"), 8 * chord / math.sqrt(2), rtol=1e-4)
    assert np.allclose(_col(F, names, "wasserstein_p2_h0"), math.sqrt(8) * chord / math.sqrt(2), rtol=1e-4)


def test_codensity_is_the_brute_force_kth_distance(rng: np.random.Generator) -> None:
    X = rng.standard_normal((300, 7)).astype(np.float32)
    k = 10
    F, names, _ = local_topology_features(X, k=k, n_jobs=1)
    D = cdist(X.astype(np.float64), X.astype(np.float64))
    np.testing.assert_allclose(_col(F, names, "codensity"), np.sort(D, axis=1)[:, k], rtol=1e-5)


@pytest.mark.parametrize(("intrinsic", "lo", "hi"), [(1, 0.85, 1.15), (2, 1.7, 2.3)])
def test_local_intrinsic_dimension_recovers_line_and_plane(intrinsic: int, lo: float, hi: float) -> None:
    X = _embedded(1500, intrinsic)
    F, names, _ = local_topology_features(X, k=32, n_jobs=1)
    assert lo < np.median(_col(F, names, "twonn_local")) < hi
    assert np.all(_col(F, names, "lpca90") == intrinsic)  # a flat piece: exactly `intrinsic` components


def test_local_twonn_and_pca_match_reference_packages(rng: np.random.Generator) -> None:
    skdim = pytest.importorskip("skdim")
    from sklearn.decomposition import PCA

    P = rng.standard_normal((4, 33, 6))
    P[:, :, 3:] *= 0.2
    D = np.stack([cdist(p, p) for p in P])
    ours = local_twonn(D)
    for p, value in zip(P, ours, strict=True):
        ref = skdim.id.TwoNN(discard_fraction=0.0, method="mle").fit(p).dimension_
        assert value == pytest.approx(ref, rel=1e-9)
        ratios = np.cumsum(PCA().fit(p).explained_variance_ratio_)
        assert local_pca_dim(cdist(p, p)[None], 0.9)[0] == np.searchsorted(ratios, 0.9) + 1


def test_local_twonn_edge_cases() -> None:
    same = np.zeros((1, 5, 5))
    assert local_twonn(same)[0] == 0.0 and local_pca_dim(same)[0] == 0.0
    square = cdist(*(2 * [np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=float)]))[None]
    assert np.isnan(local_twonn(square)[0])  # r1 = r2 everywhere: μ = 1, the dimension is undefined


def test_wasserstein_norm_matches_persim() -> None:
    persim = pytest.importorskip("persim")
    dgm = np.array([[0.1, 0.9], [0.3, 0.4], [0.2, 2.0], [0.5, np.inf]])
    finite = dgm[:3]
    assert wasserstein_norm(dgm, 1.0) == pytest.approx(persim.wasserstein(finite, np.array([[0.0, 0.0]])))
    assert wasserstein_norm(dgm, 2.0) == pytest.approx(math.sqrt((0.8**2 + 0.1**2 + 1.8**2) / 2))
    assert wasserstein_norm(np.zeros((0, 2)), 1.0) == 0.0


def test_persistence_image_matches_persim() -> None:
    persim = pytest.importorskip("persim")
    from persim.images_weights import linear_ramp

    dgm = np.array([[0.1, 0.5], [0.35, 0.95], [0.6, 0.7], [0.05, 2.5]])  # the last is outside the grid
    sigma = 0.07
    grid = ImageGrid(1, (0.0, 1.0), (0.0, 1.0), 5, 5, sigma)
    pim = persim.PersistenceImager(
        birth_range=(0.0, 1.0), pers_range=(0.0, 1.0), pixel_size=0.2, weight=linear_ramp,
        weight_params={"low": 0.0, "high": 1.0, "start": 0.0, "end": 1.0},
        kernel_params={"sigma": np.array([[sigma**2, 0.0], [0.0, sigma**2]])},
    )
    ref = pim.transform(dgm, skew=True)
    ours = grid.transform([dgm, dgm[:0]])
    np.testing.assert_allclose(ours[0], ref.ravel(), rtol=1e-9, atol=1e-12)
    assert np.all(ours[1] == 0)
    assert grid.pixel_size == (0.2, 0.2)


def test_h0_image_integrates_out_birth() -> None:
    grid = ImageGrid(0, (0.0, 0.0), (0.0, 1.0), 1, 4, 1e-4)
    img = grid.transform([np.array([[0.0, 0.6], [0.0, 0.1]])])[0]
    # tiny σ: each bar lands in its pixel with weight p / p_max
    np.testing.assert_allclose(img, [0.1, 0.0, 0.6, 0.0], atol=1e-9)
    with pytest.raises(BadInputError, match="n_birth=1"):
        ImageGrid(0, (0.0, 0.0), (0.0, 1.0), 3, 4, 0.1)


def test_stored_ranges_give_the_same_features_and_grid(rng: np.random.Generator) -> None:
    X = rng.standard_normal((400, 6)).astype(np.float32)
    F, names, spec = local_topology_features(X, k=12, n_jobs=1, seed=3)
    again, _, spec2 = local_topology_features(X, k=12, n_jobs=1, image=spec.image)
    np.testing.assert_array_equal(F, again)
    assert spec2.image == spec.image
    # the fit is seeded and sample-based: the same seed gives the same grid
    assert local_topology_features(X, k=12, n_jobs=1, seed=3)[2].image == spec.image
    # another cloud on the stored grid: same pixels, not refitted to the wider cloud
    Y = 3 * rng.standard_normal((300, 6)).astype(np.float32)
    _, names_y, spec_y = local_topology_features(Y, k=12, n_jobs=1, image=spec.image)
    assert names_y == names and spec_y.image == spec.image
    assert spec_y.image != local_topology_features(Y, k=12, n_jobs=1)[2].image
    # the spec round-trips through JSON
    assert topo.TopologySpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    grid = spec.image.grid(1)
    assert grid.to_json()["pixel_size"] == list(grid.pixel_size)
    assert all(n.startswith("pi_h1_b") for n in names if n.startswith("pi_h1"))
    assert sum(n.startswith("pi_h0_p") for n in names) == spec.image.grid(0).n_pers


def test_parallel_equals_serial(rng: np.random.Generator) -> None:
    X = rng.standard_normal((1200, 5)).astype(np.float32)  # two parallel chunks
    serial, _, spec = local_topology_features(X, k=6, n_jobs=1)
    parallel, _, _ = local_topology_features(X, k=6, n_jobs=2, image=spec.image)
    np.testing.assert_array_equal(serial, parallel)


def test_only_h0(rng: np.random.Generator) -> None:
    X = rng.standard_normal((100, 4)).astype(np.float32)
    F, names, spec = local_topology_features(X, k=5, dims=(0,), n_jobs=1)
    assert F.shape == (100, len(names)) and not any("h1" in n for n in names)
    with pytest.raises(BadInputError, match="no grid for H1"):
        local_topology_features(X, k=5, dims=(0, 1), image=spec.image, n_jobs=1)


@pytest.mark.parametrize(
    ("X", "kw", "message"),
    [
        (np.ones((50, 4)), {"k": 5}, "all 50 points .* are identical"),
        (np.random.default_rng(0).standard_normal((10, 3)), {"k": 10}, "k=10 neighbours need at least 11"),
        (np.random.default_rng(0).standard_normal((10, 3)), {"k": 1}, "k ≥ 2"),
        (np.random.default_rng(0).standard_normal((10, 3)), {"k": 3, "dims": (2,)}, "subset of"),
    ],
)
def test_bad_input(X: np.ndarray, kw: dict, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        local_topology_features(X, n_jobs=1, **kw)


def test_datastore_neighbours_are_training_rows_only(rng: np.random.Generator) -> None:
    X = rng.standard_normal((120, 5)).astype(np.float32)
    X[7] = X[3]  # a twin inside the datastore: the row still does not count itself
    train = np.flatnonzero(rng.random(120) < 0.6)
    train = np.union1d(train, [3, 7])
    D, I = datastore_knn(X, train, 6)
    assert np.isin(I, train).all()
    is_train = np.isin(np.arange(120), train)
    assert not (I == np.arange(120)[:, None]).any()  # no row is its own neighbour
    Dfull = cdist(X.astype(np.float64), X.astype(np.float64))
    for i in range(120):
        cand = train[train != i]
        np.testing.assert_allclose(D[i], np.sort(Dfull[i, cand])[:6], rtol=1e-6, atol=1e-6)
    assert D[3, 0] == 0.0 and I[3, 0] == 7 and I[7, 0] == 3
    assert (~is_train).sum() > 20  # validation rows queried the training rows from outside
    with pytest.raises(BadInputError, match="datastore points"):
        datastore_knn(X, train[:5], 6)


def test_validation_rows_do_not_shape_training_features_or_ranges(rng: np.random.Generator) -> None:
    X = rng.standard_normal((400, 6)).astype(np.float32)
    train = np.arange(400) % 4 != 0  # a boolean datastore mask: 300 training rows
    F, names, spec = local_topology_features(X, k=10, n_jobs=1, seed=2, datastore=train)
    # validation tokens moved anywhere (here: much wider spread): ranges and training rows unchanged
    Y = X.copy()
    Y[~train] = 5 * rng.standard_normal((int((~train).sum()), 6))
    G, _, spec_y = local_topology_features(Y, k=10, n_jobs=1, seed=2, datastore=train)
    assert spec_y.image == spec.image
    np.testing.assert_array_equal(F[train], G[train])
    assert not np.allclose(F[~train], G[~train])
    # a validation row's codensity is its k-th distance to the training rows
    Dfull = cdist(Y.astype(np.float64), Y[train].astype(np.float64))
    np.testing.assert_allclose(_col(G, names, "codensity")[~train], np.sort(Dfull[~train], axis=1)[:, 9], rtol=1e-5)
    # the whole-cloud features (no datastore) do depend on the validation rows
    assert local_topology_features(Y, k=10, n_jobs=1, seed=2)[2].image != spec.image


class _FakeStore:
    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self.key = "fakestore0123456789"
        self.n_tokens = X.shape[0]

    def layer(self, layer: int) -> np.ndarray:
        return self.X


def test_store_features_are_cached(tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _FakeStore(rng.standard_normal((150, 5)).astype(np.float32))
    F, names, spec = store_topology_features(store, 2, cache_dir=tmp_path, k=6, n_jobs=1)
    files = list((tmp_path / "topology").glob("*.npz"))
    assert len(files) == 1

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(topo, "local_topology_features", boom)
    F2, names2, spec2 = store_topology_features(store, 2, cache_dir=tmp_path, k=6, n_jobs=1)
    np.testing.assert_array_equal(F, F2)
    assert names2 == names and spec2 == spec
    monkeypatch.undo()
    # another k is another entry; a corrupt entry is recomputed
    store_topology_features(store, 2, cache_dir=tmp_path, k=7, n_jobs=1)
    assert len(list((tmp_path / "topology").glob("*.npz"))) == 2
    # a datastore is part of the key, and its features are those of local_topology_features
    Fd, _, _ = store_topology_features(store, 2, cache_dir=tmp_path, k=6, n_jobs=1, datastore=np.arange(100))
    assert len(list((tmp_path / "topology").glob("*.npz"))) == 3
    np.testing.assert_array_equal(Fd, local_topology_features(store.X, k=6, n_jobs=1, datastore=np.arange(100))[0])
    files[0].write_bytes(b"garbage")
    F3, _, _ = store_topology_features(store, 2, cache_dir=tmp_path, k=6, n_jobs=1)
    np.testing.assert_array_equal(F, F3)
