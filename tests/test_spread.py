"""Spread family: values known from the definitions, brute-force oracles, the IsoScore package, invariances."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import differential_entropy, entropy, norm

import latentatlas as la
from latentatlas.errors import BadInputError, TooFewPointsError
from latentatlas.measures import registry
from latentatlas.measures import spread as sp
from latentatlas.measures.cloud import PointCloud

SPREAD = ["acs", "iv", "isoscore", "eee", "vrm", "pc_ratio", "koleo", "knn_overlap", "gauss_kl", "dkls", "knn_kl"]
KNN = ("koleo", "knn_kl", "knn_overlap")


def _rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


@pytest.fixture(scope="module")
def gauss() -> np.ndarray:
    """Isotropic centered Gaussian, n ≫ d."""
    return np.random.default_rng(1).standard_normal((6000, 10))


@pytest.fixture(scope="module")
def aniso() -> np.ndarray:
    """Anisotropic Gaussian (std spread 80×), rotated off the axes and shifted."""
    rng = np.random.default_rng(2)
    return rng.standard_normal((3000, 12)) * np.geomspace(0.05, 4.0, 12) @ _rotation(12, 3) + 0.7


@pytest.fixture(scope="module")
def line() -> np.ndarray:
    """Points on an affine line in 8 dimensions."""
    t = np.random.default_rng(3).standard_normal(500)
    return np.outer(t, np.arange(1, 9)) + 5.0


def _f32(X: np.ndarray) -> np.ndarray:
    """What the measures see: the cloud is validated to float32."""
    return np.asarray(X, dtype=np.float32).astype(np.float64)


def _matched_scores(X: np.ndarray) -> np.ndarray:
    """Independent float64 PCA + variance matching (numpy only), columns in descending variance."""
    X = _f32(X)
    w, V = np.linalg.eigh(np.cov(X.T))
    order = np.argsort(w)[::-1]
    return (X - X.mean(0)) @ V[:, order] * math.sqrt(X.shape[1] / w.sum())


def _brute_nn(X: np.ndarray, k: int) -> np.ndarray:
    """Sorted distances to the k nearest other points, by the full distance matrix (tests only)."""
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    return np.sort(D, axis=1)[:, :k]


# -- registry ------------------------------------------------------------------------------------------


def test_registry_entries() -> None:
    assert set(SPREAD) <= set(registry.names("spread"))
    for name in SPREAD:
        spec = registry.get(name)
        assert spec.family == "spread"
        assert isinstance(spec.higher_means_spread, bool), name
        assert spec.reference and spec.summary, name
    assert not registry.get("eee").stochastic and registry.get("koleo").stochastic
    assert {n: registry.get(n).required_points() for n in ("acs", "eee", "vrm", "koleo")} == {
        "acs": 2, "eee": 3, "vrm": 5, "koleo": 3
    }


@pytest.mark.parametrize("name", SPREAD)
def test_too_few_points(name: str) -> None:
    need = registry.get(name).required_points()
    X = np.random.default_rng(0).standard_normal((need - 1, 4))
    with pytest.raises(TooFewPointsError, match=f"needs at least {need} points"):
        la.compute(name, X)
    assert math.isfinite(la.compute(name, np.random.default_rng(0).standard_normal((need, 4))))


@pytest.mark.parametrize("name", ["eee", "isoscore", "pc_ratio", "vrm", "gauss_kl", "dkls", *KNN])
def test_identical_points_are_rejected(name: str) -> None:
    with pytest.raises(BadInputError, match="zero variance"):
        la.compute(name, np.ones((50, 4)))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("iv", {"directions": "sideways"}),
        ("vrm", {"v_ref": "guess"}),
        ("vrm", {"method": "kde"}),
        ("dkls", {"reference": "uniform"}),
        ("dkls", {"bins": 1}),
        ("koleo", {"reference": "other"}),
        ("koleo", {"max_points": 2}),
        ("knn_overlap", {"k": 0}),
        ("gauss_kl", {"v_ref": "exact"}),
    ],
)
def test_bad_parameters(name: str, params: dict[str, object], aniso: np.ndarray) -> None:
    with pytest.raises(BadInputError):
        la.compute(name, aniso[:200], **params)


# -- ACS ------------------------------------------------------------------------------------------------


def test_acs_exact_against_brute_force() -> None:
    V = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]])  # the zero row has no direction
    U = V[:3] / np.linalg.norm(V[:3], axis=1, keepdims=True)
    pairs = [U[i] @ U[j] for i, j in itertools.combinations(range(3), 2)]
    assert pairs == pytest.approx([0.0, 1 / math.sqrt(2), 1 / math.sqrt(2)])
    assert la.compute("acs", V) == pytest.approx(math.sqrt(2) / 3)
    # a random cloud with duplicated rows, against the full pairwise matrix
    X = _f32(np.random.default_rng(4).standard_normal((60, 5)) + 0.3)
    X[40:] = X[:20]
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    G = U @ U.T
    assert la.compute("acs", X) == pytest.approx((G.sum() - 60) / (60 * 59), abs=1e-7)


def test_acs_sign_pattern_on_a_line() -> None:
    v = np.array([1.0, -2.0, 0.5])
    X = np.outer([1.0, 2.0, 3.0, 4.0, 5.0, -1.0, -7.0], v)  # cosines are ±1: 5 one way, 2 the other
    p, q, n = 5, 2, 7
    assert la.compute("acs", X) == pytest.approx(((p - q) ** 2 - n) / (n * (n - 1)))  # = 1/21
    assert la.compute("acs", np.outer([1.0, 2.0, 9.0], v)) == pytest.approx(1.0)
    assert la.compute("acs", np.outer([1.0, -1.0], v)) == pytest.approx(-1.0)


def test_acs_of_centered_gaussian_and_offsets(gauss: np.ndarray) -> None:
    assert abs(la.compute("acs", gauss)) < 1e-3
    assert la.compute("acs", gauss + 10.0) > 0.95  # far from the origin every vector points alike


def test_acs_needs_two_directions() -> None:
    with pytest.raises(BadInputError, match="non-zero"):
        la.compute("acs", np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]))


# -- I(V) -----------------------------------------------------------------------------------------------


def test_iv_hand_computed() -> None:
    # VᵀV = diag(1, 4): directions ±e1, ±e2; Z(e1) = e + 1, Z(−e1) = 1/e + 1, Z(e2) = 1 + e², Z(−e2) = 1 + e⁻²
    V = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert la.compute("iv", V) == pytest.approx((1 + math.exp(-2)) / (1 + math.exp(2)))
    assert la.compute("iv", V, normalize=True) == pytest.approx((1 + math.exp(-1)) / (1 + math.e))


def test_iv_extremes(gauss: np.ndarray) -> None:
    small = 0.05 * gauss  # Z(c) ≈ n·exp(σ²/2) for every c
    assert la.compute("iv", small) > 0.95
    assert la.compute("iv", small, directions="random") > 0.95
    on_line = np.outer(np.random.default_rng(0).standard_normal(300) * 5, [1.0, 0.0, 0.0])
    assert la.compute("iv", on_line) < 1e-3
    huge = la.compute("iv", 1000.0 * on_line)  # log-space: no overflow
    assert 0.0 <= huge < 1e-100


# -- spectrum measures ----------------------------------------------------------------------------------


def test_isotropic_gaussian(gauss: np.ndarray) -> None:
    r = la.run_battery(gauss, ["acs", "eee", "isoscore", "vrm", "gauss_kl", "pc_ratio", "koleo", "dkls", "knn_kl"])
    n, d = gauss.shape
    assert r["eee"] < 0.05  # sampling spread of the eigenvalues (±2√(d/n)) alone gives ≈ 0.02
    assert r["isoscore"] > 0.99
    assert r["vrm"] < 0.005
    assert r["gauss_kl"] < 0.02  # ≈ d²/(4n) sampling bias
    mp = ((1 - math.sqrt(d / n)) / (1 + math.sqrt(d / n))) ** 2  # Marchenko–Pastur edge ratio ≈ 0.85
    assert r["pc_ratio"] == pytest.approx(mp, abs=0.05)
    assert r["koleo"] == pytest.approx(1.0, abs=0.03)
    assert r["dkls"] < 1e-3
    assert abs(r["knn_kl"]) < 0.1


def test_points_on_a_line(line: np.ndarray) -> None:
    r = la.run_battery(line, ["eee", "isoscore", "pc_ratio", "acs", "gauss_kl"])
    assert r["eee"] == pytest.approx((7 / 8) ** 2, abs=1e-6)  # one spike in D = 8 axes: ((D − 1)/D)²
    assert r["isoscore"] == pytest.approx(0.0, abs=1e-6)
    assert r["pc_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert r["acs"] > 0.5  # offset line: vectors point roughly the same way
    assert r["gauss_kl"] > 50  # flat directions, floored eigenvalues


def test_eee_hand_computed() -> None:
    # λ = (3, 1): S = (3, 4), R = (2, 4), trapezoid over x = 0..1 of (1, 0) = 0.5, / (4·2/2) = 0.125
    assert sp.eee_from_eigenvalues(np.array([1.0, 3.0])) == pytest.approx(0.125)
    assert sp.eee_from_eigenvalues(np.ones(5)) == pytest.approx(0.0)
    assert sp.eee_from_eigenvalues(np.array([1.0, 0, 0, 0])) == pytest.approx((3 / 4) ** 2)


def test_four_point_cross_hand_computed() -> None:
    # points (±2, 0), (0, ±1): covariance diag(8/3, 2/3), Σλ = 10/3, matched λ′ = (1.6, 0.4)
    X = np.array([[2.0, 0], [-2, 0], [0, 1], [0, -1]])
    assert la.compute("pc_ratio", X) == pytest.approx(0.25)
    assert la.compute("gauss_kl", X) == pytest.approx(-0.5 * math.log(1.6 * 0.4))
    assert la.compute("eee", X) == pytest.approx(0.15)  # S − R = (1, 0): trapezoid ½, / (S_D·D/2 = 10/3)
    lam_hat = math.sqrt(2) * np.array([8, 2]) / math.hypot(8, 2)
    delta2 = ((lam_hat - 1) ** 2).sum() / (2 * (2 - math.sqrt(2)))
    assert la.compute("isoscore", X) == pytest.approx(((2 - delta2 * (2 - math.sqrt(2))) ** 2 - 2) / 2)


def test_pc_ratio_is_zero_when_n_le_d() -> None:
    assert la.compute("pc_ratio", np.random.default_rng(0).standard_normal((6, 9))) == 0.0


def test_isoscore_matches_package(aniso: np.ndarray) -> None:
    from IsoScore import IsoScore  # takes (n_samples, dimension) and uses torch.cov(points.T)

    rng = np.random.default_rng(5)
    clouds = [
        aniso,
        aniso[:, :5] * [1, 2, 3, 4, 50],
        rng.standard_normal((40, 60)),  # n < d: zero eigenvalues
        rng.standard_normal((500, 7)) @ rng.standard_normal((7, 7)),
    ]
    for X in clouds:
        expected = float(IsoScore.IsoScore(_f32(X)))
        assert la.compute("isoscore", X) == pytest.approx(expected, abs=1e-6)


# -- per-component measures -----------------------------------------------------------------------------

# An anisotropic Gaussian with a known spectrum: every variance-matched measure has a closed form.
_SD = np.array([0.5, 1.0, 1.5])
_LAMP = _SD**2 * 3 / (_SD**2).sum()  # matched variances (0.214, 0.857, 1.929)
_KL = -0.5 * float(np.log(_LAMP).sum())  # KL(N(0, diag λ′) ‖ N(0, I)) ≈ 0.519


@pytest.fixture(scope="module")
def known() -> np.ndarray:
    return np.random.default_rng(6).standard_normal((8000, 3)) * _SD


def test_known_spectrum_gaussian(known: np.ndarray) -> None:
    assert la.compute("gauss_kl", known) == pytest.approx(_KL, abs=0.03)
    # Gaussian components with variance λ′ have entropy ratio r = √λ′
    assert la.compute("vrm", known) == pytest.approx(float(((1 - np.sqrt(_LAMP)) ** 2).mean()), abs=0.01)
    edges = np.linspace(-4, 4, 31)
    q = np.diff(np.r_[0, norm.cdf(edges[1:-1]), 1])
    kls = [(p * np.log(p / q)).sum() for p in (np.diff(np.r_[0, norm.cdf(edges[1:-1] / math.sqrt(v)), 1]) for v in _LAMP)]
    assert la.compute("dkls", known) == pytest.approx(float(np.mean(np.square(kls))), rel=0.1)
    # entropy of N(0, diag λ′) is H(N(0, I)) − KL
    h_ref = 1.5 * math.log(2 * math.pi * math.e)
    assert la.compute("koleo", known) == pytest.approx(1 - _KL / h_ref, abs=0.01)
    assert la.compute("knn_kl", known) == pytest.approx(_KL, abs=0.06)


def test_vrm_against_scipy(aniso: np.ndarray) -> None:
    Z = _matched_scores(aniso)
    for method, scipy_method in (("vasicek", "vasicek"), ("auto", "auto")):
        for X, S in ((aniso, Z), (aniso[:700], _matched_scores(aniso[:700]))):
            r = np.exp(differential_entropy(S, axis=0, method=scipy_method)) / math.sqrt(2 * math.pi * math.e)
            expected = float(((1 - r) ** 2).mean())
            assert la.compute("vrm", X, method=method) == pytest.approx(expected, rel=1e-4), (method, len(X))
    assert la.compute("vrm", aniso[:700], method="auto") != pytest.approx(la.compute("vrm", aniso[:700]), rel=1e-4)


def test_vrm_of_uniform_components_hand_computed() -> None:
    # independent uniforms of distinct widths: PCs are the axes; a uniform of variance v has entropy ln√(12v)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    X = np.random.default_rng(7).uniform(0, 1, (20000, 4)) * w
    lam = w**2 * 4 / (w**2).sum()
    r = np.sqrt(12 * lam) / math.sqrt(2 * math.pi * math.e)
    assert la.compute("vrm", X) == pytest.approx(float(((1 - r) ** 2).mean()), abs=0.005)


def test_vasicek_entropy_of_normal_and_uniform() -> None:
    rng = np.random.default_rng(0)
    Z = np.column_stack([rng.standard_normal(20000), rng.uniform(0, 2, 20000)])
    H = sp.vasicek_entropy(Z)
    assert H[0] == pytest.approx(0.5 * np.log(2 * np.pi * np.e), abs=0.02)
    assert H[1] == pytest.approx(np.log(2.0), abs=0.02)
    assert H == pytest.approx(differential_entropy(Z, axis=0, method="vasicek"), rel=1e-10)
    assert sp.vasicek_entropy(Z[:50], window=3) == pytest.approx(
        differential_entropy(Z[:50], axis=0, method="vasicek", window_length=3), rel=1e-10
    )


def test_vrm_flat_directions_count_as_zero_ratio() -> None:
    X = np.random.default_rng(8).standard_normal((6, 10))  # n ≤ d: at most 6 components, 4+ flat
    Z = _matched_scores(X)[:, :6]
    r = np.exp(sp.vasicek_entropy(Z)) / math.sqrt(2 * math.pi * math.e)
    assert la.compute("vrm", X) == pytest.approx((((1 - r) ** 2).sum() + 4) / 10, rel=1e-3)


def test_dkls_exact_against_histograms(aniso: np.ndarray) -> None:
    Z = _matched_scores(aniso)
    edges = np.linspace(-4, 4, 31)
    q = np.diff(np.r_[0, norm.cdf(edges[1:-1]), 1])
    kls = []
    for z in Z.T:
        p = np.histogram(np.clip(z, -4, 4), edges)[0] / len(z)
        kls.append(entropy(p, q))
    assert la.compute("dkls", aniso) == pytest.approx(float(np.mean(np.square(kls))), rel=1e-4)


def test_dkls_published_against_histograms(aniso: np.ndarray) -> None:
    X = aniso[:500]
    n, d = X.shape
    G = np.empty((n, d))
    for j, block in sp.gaussian_columns(n, d, seed=9):
        G[:, j : j + block.shape[0]] = block.T
    Z = _matched_scores(X) * math.sqrt(G.var(axis=0, ddof=1).sum() / d)  # total variance of the sample
    lo, hi = G.min(), G.max()
    kls = []
    for z, g in zip(Z.T, G.T):
        p = np.histogram(z, 30, range=(lo, hi))[0] + 1e-16  # out-of-range values are dropped
        q = np.histogram(g, 30, range=(lo, hi))[0] + 1e-16
        kls.append(entropy(p, q))
    assert la.compute("dkls", X, seed=9, reference="sampled") == pytest.approx(float(np.mean(np.square(kls))), rel=1e-4)


# -- neighbourhood measures -----------------------------------------------------------------------------


def test_knn_overlap_against_brute_force(aniso: np.ndarray) -> None:
    X = _f32(aniso[:300])
    k = min(5 * 12, 100)
    D = _brute_nn(X, k)
    h1, edges = np.histogram(D[:, 0], 30, range=(D[:, [0, -1]].min(), D[:, [0, -1]].max()))
    hk, _ = np.histogram(D[:, -1], edges)
    assert la.compute("knn_overlap", X) == pytest.approx(np.minimum(h1, hk).sum() / 300)
    assert la.compute("knn_overlap", X, k=5, bins=10) != la.compute("knn_overlap", X)


def test_knn_overlap_is_high_for_uneven_clusters() -> None:
    # as in the published 100-d results: even spread ≈ 0, clusters of uneven size and width high
    rng = np.random.default_rng(10)
    d = 50
    spread = rng.standard_normal((1000, d))
    sizes = np.array([500, 250, 120, 60, 40, 20, 10])
    label = np.repeat(np.arange(7), sizes)
    width = np.geomspace(0.05, 1, 7)[label, None]
    uneven = (rng.standard_normal((7, d)) * 3)[label] + width * rng.standard_normal((1000, d))
    assert la.compute("knn_overlap", spread) < 0.2
    assert la.compute("knn_overlap", uneven) > 0.6
    assert not registry.get("knn_overlap").higher_means_spread


def test_koleo_against_brute_force(aniso: np.ndarray) -> None:
    X = _f32(aniso[:400])
    n, d = X.shape
    s = math.sqrt(d / np.var(X, axis=0, ddof=1).sum())
    rho = _brute_nn(X, 1)[:, 0] * s
    log_vd = d / 2 * math.log(math.pi) - math.lgamma(d / 2 + 1)
    h = d * np.log(rho).mean() + log_vd + np.euler_gamma + math.log(n - 1)
    analytic = la.compute("koleo", X, max_points=None, reference="analytic")
    assert analytic == pytest.approx(h / (d / 2 * math.log(2 * math.pi * math.e)), rel=1e-6)
    # the default divides by the same estimator on the seeded reference sample
    G = sp.gaussian_reference(n, d, seed=0).X.astype(np.float64)
    rho_g = _brute_nn(G, 1)[:, 0]
    h_g = d * np.log(rho_g).mean() + log_vd + np.euler_gamma + math.log(n - 1)
    assert la.compute("koleo", X, max_points=None) == pytest.approx(h / h_g, rel=1e-5)
    # the published code's one-dimensional form against the same sampled reference

    def pub(r: np.ndarray) -> float:
        return float(np.log(n * r + 1e-16).mean() + math.log(2) + np.euler_gamma)

    assert la.compute("koleo", X, max_points=None, reference="published") == pytest.approx(pub(rho) / pub(rho_g), rel=1e-5)


def test_knn_kl_against_brute_force(aniso: np.ndarray) -> None:
    X = _f32(aniso[:400])
    n, d = X.shape
    s = math.sqrt(d / np.var(X, axis=0, ddof=1).sum())
    Z = (X - X.mean(0)) * s
    G = sp.gaussian_reference(n, d, seed=2).X.astype(np.float64)
    rho = _brute_nn(X, 1)[:, 0] * s
    nu = np.sqrt(((Z[:, None, :] - G[None, :, :]) ** 2).sum(-1)).min(axis=1)
    expected = d * np.log(nu / rho).mean() + math.log(n / (n - 1))
    assert la.compute("knn_kl", X, seed=2, max_points=None) == pytest.approx(expected, rel=1e-4)
    clipped = d * np.maximum(np.log(nu / rho), 0).mean()
    assert la.compute("knn_kl", X, seed=2, max_points=None, clip=True) == pytest.approx(clipped, rel=1e-4)


def test_koleo_sampled_reference_cancels_estimator_bias() -> None:
    X = np.random.default_rng(11).standard_normal((2000, 60))  # the 1-NN estimator is biased at d = 60
    assert la.compute("koleo", X, reference="sampled") == pytest.approx(1.0, abs=0.01)
    assert la.compute("koleo", X, reference="published") == pytest.approx(1.0, abs=0.01)
    assert la.compute("koleo", X, reference="analytic") > 1.02


def test_koleo_default_does_not_depend_on_width() -> None:
    """Isotropic Gaussians of width 16 and 128 both score ≈ 1 by default; the analytic ratio grows with d."""
    values, analytic = {}, {}
    for d in (16, 128):
        X = np.random.default_rng(d).standard_normal((2000, d))
        values[d] = la.compute("koleo", X)
        analytic[d] = la.compute("koleo", X, reference="analytic")
        assert values[d] == pytest.approx(1.0, abs=0.01), d
    assert abs(values[128] - values[16]) < 0.01
    # the textbook ratio keeps its estimator bias, which grows with the width (≈ 1.02 at 16, 1.13 at 128)
    assert analytic[16] == pytest.approx(1.019, abs=0.01)
    assert analytic[128] == pytest.approx(1.129, abs=0.01)
    assert analytic[128] - analytic[16] > 0.1


def test_knn_measures_share_one_subsample_and_graph(aniso: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    from latentatlas.measures import cloud as cloud_module

    calls: list[tuple[int, int]] = []
    real = cloud_module._exact_knn

    def counting(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        calls.append((X.shape[0], k))
        return real(X, k)

    monkeypatch.setattr(cloud_module, "_exact_knn", counting)
    in_registry_order = [n for n in registry.names("spread") if n in KNN]
    assert in_registry_order[0] == "knn_overlap"
    la.run_battery(aniso, in_registry_order, params={m: {"max_points": 1000} for m in KNN})
    # k-NN overlap's graph (k = 5d) serves the 1-NN of the others; the one other search is the 1-NN graph
    # of KoLeo's sampled Gaussian reference (fetched with the minimum k of 32)
    assert calls == [(1000, 60), (1000, 32)]


# -- invariances ----------------------------------------------------------------------------------------

_MOST = ["eee", "isoscore", "vrm", "gauss_kl", "pc_ratio", "dkls", "koleo", "knn_overlap"]


@pytest.mark.parametrize("name", [*_MOST, "acs", "iv"])
def test_rotation_invariance(name: str, aniso: np.ndarray) -> None:
    X = aniso - aniso.mean(0) if name == "iv" else aniso  # I(V) sees norms: keep them moderate
    rotated = X @ _rotation(X.shape[1], 7)
    assert la.compute(name, rotated) == pytest.approx(la.compute(name, X), rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("name", [*_MOST, "acs", "knn_kl"])
def test_scale_invariance(name: str, aniso: np.ndarray) -> None:
    assert la.compute(name, 7.5 * aniso) == pytest.approx(la.compute(name, aniso), rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("name", [*_MOST, "knn_kl"])
def test_translation_invariance(name: str, aniso: np.ndarray) -> None:
    assert la.compute(name, aniso - 3.0) == pytest.approx(la.compute(name, aniso), rel=1e-3, abs=1e-6)


def test_iv_and_acs_are_not_translation_invariant(gauss: np.ndarray) -> None:
    for name in ("acs", "iv"):
        assert la.compute(name, 0.3 * gauss + 2.0) != pytest.approx(la.compute(name, 0.3 * gauss), abs=0.05)


@pytest.mark.parametrize("name", ["eee", "isoscore", "pc_ratio", "gauss_kl"])
def test_duplicating_every_point_keeps_the_spectrum_shape(name: str, aniso: np.ndarray) -> None:
    # covariance of the doubled cloud is proportional to the original's
    # (float32 covariance accumulation: λ_min/λ_max ≈ 1.5e-4 is good to ~1e-4 relative)
    assert la.compute(name, np.vstack([aniso, aniso])) == pytest.approx(la.compute(name, aniso), rel=1e-3)


def test_direction_matches_registry(gauss: np.ndarray, aniso: np.ndarray) -> None:
    iso, an = gauss[:3000] * 0.2, aniso * (0.2 / aniso.std())  # moderate norms so I(V) is informative
    iso = np.hstack([iso, 0.2 * np.random.default_rng(12).standard_normal((3000, 2))])  # d = 12 both
    for name in SPREAD:
        if name in ("acs", "knn_overlap"):
            continue  # ACS: a common direction, not the centered shape; overlap: density heterogeneity
        a, b = la.compute(name, iso), la.compute(name, an)
        more_spread_first = a > b
        assert more_spread_first == registry.get(name).higher_means_spread, (name, a, b)


# -- duplicates, seeds, published options ---------------------------------------------------------------


def test_duplicates_keep_values_finite() -> None:
    X = np.random.default_rng(0).standard_normal((400, 8))
    X[:150] = X[0]
    for name, value in la.run_battery(X, SPREAD).items():
        assert np.isfinite(value), name


def test_distinct_option_measures_the_distinct_rows() -> None:
    rng = np.random.default_rng(13)
    X = rng.standard_normal((600, 6))
    X[300:] = X[rng.integers(0, 300, 300)]  # half the rows repeat earlier rows
    for name in KNN:
        unique = np.unique(X, axis=0)
        assert la.compute(name, X, distinct=True) == pytest.approx(la.compute(name, unique), rel=1e-6), name
    assert la.compute("koleo", X) < 0  # zero 1-NN distances: entropy → −∞
    assert la.compute("koleo", X, distinct=True) > 0.9


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("koleo", {"max_points": 1000}),
        ("koleo", {"max_points": None, "reference": "sampled"}),
        ("knn_kl", {"max_points": None}),
        ("knn_overlap", {"max_points": 1000}),
        ("iv", {"directions": "random"}),
        ("dkls", {"reference": "sampled"}),
        ("vrm", {"v_ref": "sampled"}),
        ("gauss_kl", {"v_ref": "sampled"}),
    ],
)
def test_seeded_measures_reproducible(name: str, params: dict[str, object], aniso: np.ndarray) -> None:
    a = la.compute(name, aniso, seed=3, **params)
    assert la.compute(name, PointCloud(aniso), seed=3, **params) == a
    assert la.compute(name, aniso, seed=4, **params) != a


def test_deterministic_defaults_ignore_the_seed(aniso: np.ndarray) -> None:
    for name in ("iv", "vrm", "gauss_kl", "dkls"):
        assert la.compute(name, aniso, seed=1) == la.compute(name, aniso, seed=2), name


def test_sampled_reference_variance_is_close_to_d(aniso: np.ndarray) -> None:
    n, d = aniso.shape
    draws = np.array([sp.sampled_v_ref(n, d, s) for s in range(400)])
    sd = d * math.sqrt(2 / (d * (n - 1)))  # χ²_{d(n−1)}/(n − 1): mean d, sd d·√(2/(d(n−1)))
    assert draws.mean() == pytest.approx(d, abs=4 * sd / 20)
    assert draws.std() == pytest.approx(sd, rel=0.2)
    v = sp.sampled_v_ref(n, d, 3)
    lam = np.linalg.eigvalsh(np.cov(_f32(aniso).T)) * v / np.trace(np.cov(_f32(aniso).T))
    assert la.compute("gauss_kl", aniso, seed=3, v_ref="sampled") == pytest.approx(
        0.5 * (v - d - np.log(lam).sum()), rel=1e-5
    )
    r0 = np.exp(sp.vasicek_entropy(_matched_scores(aniso))) / math.sqrt(2 * math.pi * math.e)
    r = r0 * math.sqrt(v / d)  # rescaling by c shifts each entropy by ln c
    assert la.compute("vrm", aniso, seed=3, v_ref="sampled") == pytest.approx(float(((1 - r) ** 2).mean()), rel=1e-4)


def test_published_variants_order_the_clouds(gauss: np.ndarray, aniso: np.ndarray) -> None:
    g, a = gauss[:3000, :10], aniso[:, :10]
    assert la.compute("dkls", a, reference="sampled") > la.compute("dkls", g, reference="sampled")
    assert la.compute("knn_kl", a, clip=True) > la.compute("knn_kl", g, clip=True) >= 0
    assert la.compute("koleo", a, reference="published") < la.compute("koleo", g, reference="published")


def test_clouds_of_one_shape_share_one_reference_sample(aniso: np.ndarray) -> None:
    # The reference depends on (n, d, seed) only: two clouds share its sample and its 1-NN search, and
    # each cloud's KoLeo ratio is the one it has measured alone.
    A, B = _f32(aniso[:300]), _f32(aniso[300:600] * 3.0 + 1.0)
    alone = [la.compute("koleo", X, max_points=None) for X in (A, B)]
    sp.gaussian_reference.cache_clear()
    together = [la.compute("koleo", X, max_points=None) for X in (A, B)]
    assert together == alone
    assert sp.gaussian_reference(300, A.shape[1], 0) is sp.gaussian_reference(300, A.shape[1], 0)
    assert sp.gaussian_reference.cache_info().misses == 1
