"""Point-cloud validation, shared PCA / k-NN work, the measure registry and layer selection."""

from __future__ import annotations

import numpy as np
import pytest

import latentatlas as la
from latentatlas.errors import BadInputError, TooFewPointsError, UnknownNameError
from latentatlas.layers import resolve_layers
from latentatlas.measures import PointCloud, registry as reg, validate_cloud


def test_validate_rejects_bad_clouds() -> None:
    with pytest.raises(BadInputError, match="2-D"):
        validate_cloud(np.zeros((3, 4, 5)))
    with pytest.raises(BadInputError, match="non-finite.*row 1"):
        validate_cloud(np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]))
    with pytest.raises(TooFewPointsError, match="at least 5 points"):
        validate_cloud(np.zeros((4, 2)), min_points=5)
    with pytest.raises(BadInputError, match="numbers"):
        validate_cloud(np.array([["a", "b"]]))
    X = validate_cloud(np.arange(6, dtype=np.float64).reshape(3, 2))
    assert X.dtype == np.float32 and X.flags.c_contiguous


def test_eigenvalues_match_full_pca(rng: np.random.Generator) -> None:
    from sklearn.decomposition import PCA

    X = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12))
    cloud = PointCloud(X)
    expected = PCA().fit(X).explained_variance_
    np.testing.assert_allclose(cloud.eigenvalues(), expected, rtol=1e-4, atol=1e-6)
    # the second moment rebuilt from the spectrum equals XᵀX computed directly
    np.testing.assert_allclose(cloud.second_moment(), X.T @ X, rtol=1e-5, atol=1e-6 * np.abs(X.T @ X).max())


def test_eigenvalues_when_fewer_points_than_dims(rng: np.random.Generator) -> None:
    cloud = PointCloud(rng.normal(size=(5, 20)))
    lam = cloud.eigenvalues()
    assert lam.shape == (5,)
    assert lam[-1] == pytest.approx(0.0, abs=1e-5)  # n points span at most n-1 directions


def test_knn_matches_brute_force_and_excludes_self(rng: np.random.Generator) -> None:
    X = rng.normal(size=(200, 6)).astype(np.float32)
    cloud = PointCloud(X)
    D, I = cloud.knn(5)
    full = np.linalg.norm(X[:, None, :].astype(np.float64) - X[None, :, :], axis=-1)
    np.fill_diagonal(full, np.inf)
    expected_idx = np.argsort(full, axis=1)[:, :5]
    np.testing.assert_array_equal(I, expected_idx)
    np.testing.assert_allclose(D, np.take_along_axis(full, expected_idx, axis=1), rtol=1e-6)
    assert not (I == np.arange(200)[:, None]).any()
    # a smaller k is served from the same graph
    D3, I3 = cloud.knn(3)
    np.testing.assert_array_equal(I3, I[:, :3])


def test_knn_with_duplicates_gives_zero_distance_to_twin() -> None:
    X = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [6.0, 5.0]], dtype=np.float32)
    D, I = PointCloud(X).knn(1)
    assert I[0, 0] == 1 and I[1, 0] == 0
    assert D[0, 0] == 0.0 and D[1, 0] == 0.0


def test_knn_bad_k() -> None:
    cloud = PointCloud(np.zeros((4, 2)) + np.arange(4)[:, None])
    with pytest.raises(BadInputError, match="at least 5 points"):
        cloud.knn(4)


def test_registry_names_and_lookup() -> None:
    names = set(reg.names())
    expected = {"acs", "iv", "isoscore", "eee", "vrm", "pc_ratio", "koleo", "knn_overlap", "gauss_kl"}
    expected |= {"dkls", "knn_kl"}
    for prefix in ("pq_", "aq_"):
        expected |= {prefix + s for s in ("pp", "pp_published", "pc_var", "pc_kl", "cd_var")}
        expected |= {prefix + s for s in ("pd_eee", "re", "ri", "rs")}
    assert expected <= names
    for name in names:
        spec = reg.get(name)
        assert spec.reference and spec.family and spec.summary, name
    with pytest.raises(UnknownNameError, match="did you mean 'isoscore'"):
        reg.get("isoscor")


def test_compute_checks_params_and_points(rng: np.random.Generator) -> None:
    X = rng.normal(size=(50, 4))
    with pytest.raises(BadInputError, match="no parameter"):
        la.compute("eee", X, bogus=1)
    with pytest.raises(TooFewPointsError):
        la.compute("eee", X[:2])


def test_battery_shares_one_pca(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = np.linalg.eigh

    def counting(a):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return real(a)

    monkeypatch.setattr(np.linalg, "eigh", counting)
    X = rng.normal(size=(400, 8))
    out = la.run_battery(X, ["eee", "isoscore", "pc_ratio"])
    assert set(out) == {"eee", "isoscore", "pc_ratio"}
    assert calls["n"] == 1


def test_flatten() -> None:
    flat = reg.flatten({"a": 1, "b": np.float32(2.5)})
    assert flat == {"a": 1.0, "b": 2.5} and all(type(v) is float for v in flat.values())


@pytest.mark.parametrize(
    ("selection", "expected"),
    [("all", [0, 1, 2, 3, 4]), ("last", [4]), (-1, [4]), ([0, -1], [0, 4]), ("1:3", [1, 2]), ("0,2,-2", [0, 2, 3])],
)
def test_resolve_layers(selection: object, expected: list[int]) -> None:
    assert resolve_layers(selection, 4) == expected  # type: ignore[arg-type]


def test_resolve_layers_out_of_range() -> None:
    with pytest.raises(BadInputError, match=r"valid layers are 0\.\.4"):
        resolve_layers(7, 4)
    with pytest.raises(BadInputError, match="not understood"):
        resolve_layers("middle", 4)
