"""Quantized cell-density family: count statistics by hand, reconstruction, seeding, sharing, limits."""

from __future__ import annotations

import math

import faiss
import numpy as np
import pytest

import latentatlas as la
from latentatlas.errors import BadInputError, TooFewPointsError
from latentatlas.measures import PointCloud
from latentatlas.measures import quantization as q

SMALL = {"M": 2, "nbits": 4}  # 2 codebooks of 16 codewords
KINDS = ["pq", "aq"]
STATS = ["pp", "pp_published", "pc_var", "pc_kl", "cd_var", "pd_eee", "re", "ri", "rs"]


@pytest.fixture(scope="module")
def cloud_x() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2000, 16)) * np.linspace(0.2, 2.0, 16)).astype(np.float32)


def crafted_fit(codes: np.ndarray, k: int, *, codebooks: list[np.ndarray] | None = None,
                errors: np.ndarray | None = None) -> q.QuantizerFit:
    codes = np.asarray(codes, dtype=np.int64)
    n, M = codes.shape
    return q.QuantizerFit(
        kind="pq", M=M, k=k, codes=codes,
        codebooks=codebooks if codebooks is not None else [np.eye(k)] * M,
        errors=errors if errors is not None else np.ones(n), sq_norm_sum=float(n),
    )


def dummy_cloud(n: int, d: int = 2) -> PointCloud:
    return PointCloud(np.arange(n * d, dtype=np.float32).reshape(n, d))


# -- registry ------------------------------------------------------------------------------------------


def test_registered_names_and_defaults() -> None:
    names = set(la.names("quantization"))
    assert names == {f"{kind}_{stat}" for kind in KINDS for stat in STATS}
    for name in names:
        spec = la.get(name)
        assert spec.stochastic
        assert {"M": 4, "nbits": 8, "train_size": None, "train_iters": 25}.items() <= spec.defaults.items()
        assert spec.required_points() == 256 and spec.required_points({"nbits": 4}) == 16
        assert "=" in (spec.func.__doc__ or "")  # docstring states the formula
    assert la.get("pq_pc_kl").defaults["reference"] == "exact"


# -- count statistics by hand ----------------------------------------------------------------------------


def test_lloyd_patchiness_by_hand() -> None:
    # uniform: variance term 0, index 1 − 1/μ
    assert q.lloyd_patchiness(np.full(16, 10)) == pytest.approx(1 - 1 / 10)
    # μ = 2, V = (0 + 4 + 4 + 0)/4 = 2: 1 + 2/4 − 1/2 = 1
    assert q.lloyd_patchiness(np.array([2, 0, 4, 2])) == pytest.approx(1.0)
    # clumped: μ = 10, V = 160²/16 − 10² = 1500: 1 + 15 − 0.1
    assert q.lloyd_patchiness(np.array([160] + [0] * 15)) == pytest.approx(15.9)
    # Poisson occupancy: ≈ 1
    poisson = np.random.default_rng(0).poisson(50, size=20_000)
    assert q.lloyd_patchiness(poisson) == pytest.approx(1.0, abs=0.01)


def test_published_patchiness_by_hand() -> None:
    # k = 4; np.histogram over the observed range: codebook 0 → [2, 1, 0, 1], codebook 1 → [1, 0, 0, 3]
    codes = np.array([[0, 1], [0, 1], [1, 1], [3, 0]])
    # m = 8/4 = 2, V = var([2,1,0,1,1,0,0,3]) = 1: (2 + 1/2 − 1)/2
    assert q.published_patchiness(codes, 4) == pytest.approx(0.75)
    # the textbook index of the same counts: μ = 1, V = 1 → 1 + 1 − 1
    assert q.point_patchiness(crafted_fit(codes, 4), dummy_cloud(4)) == pytest.approx(1.0)


def test_published_binning_over_observed_range_keeps_the_counts() -> None:
    """Codes that miss the ends of [0, k) still get one histogram bin each (the documented claim)."""
    rng = np.random.default_rng(3)
    k, M, n = 16, 3, 500
    codes = rng.integers(3, 10, size=(n, M))  # only codes 3..9 occur
    counts = np.stack([np.bincount(codes[:, m], minlength=k) for m in range(M)])
    mu, V = n / k, counts.var()
    assert q.published_patchiness(codes, k) == pytest.approx(1 + V / (M * mu) ** 2 - 1 / (M * mu))


def test_pc_var_and_pc_kl_by_hand() -> None:
    # one codebook, k = 4, counts [4, 2, 2, 0] of N = 8: p = [.5, .25, .25, 0]
    fit = crafted_fit(np.array([0, 0, 0, 0, 1, 1, 2, 2])[:, None], 4)
    cloud = dummy_cloud(8)
    # odds = p/(1−p)·3 = [3, 1, 1, 0]: var = 1.1875
    assert q.point_count_variance(fit, cloud) == pytest.approx(1.1875)
    # KL to uniform = .5 ln 2 + 2·.25 ln 1 + 0
    assert q.point_count_kl(fit, cloud) == pytest.approx(0.5 * math.log(2))
    # every point in one cell: odds 1/0
    assert q.point_count_variance(crafted_fit(np.zeros((8, 1)), 4), cloud) == math.inf


def test_uniform_codes_give_zero_kl_and_zero_count_variance() -> None:
    codes = np.tile(np.arange(16), 10)[:, None].repeat(2, axis=1)
    fit, cloud = crafted_fit(codes, 16), dummy_cloud(160)
    assert q.point_count_kl(fit, cloud) == 0.0
    assert q.point_count_variance(fit, cloud) == 0.0
    assert q.point_patchiness(fit, cloud) == pytest.approx(1 - 1 / 10)
    # the published sampled reference: seeded, positive (a sampled histogram is never exactly uniform)
    a = q.point_count_kl(fit, cloud, seed=1, reference="sampled")
    assert a == q.point_count_kl(fit, cloud, seed=1, reference="sampled")
    assert a != q.point_count_kl(fit, cloud, seed=2, reference="sampled")
    assert 0 < a < 0.5
    with pytest.raises(BadInputError, match="reference"):
        q.point_count_kl(fit, cloud, reference="gaussian")


def test_cd_var_by_hand() -> None:
    # squared nearest-other distances: book 0 → [1, 1, 4], book 1 → [4, 4, 4]; /4 → var 0.125
    books = [np.array([[0.0], [1.0], [3.0]]), np.array([[0.0], [2.0], [4.0]])]
    fit = crafted_fit(np.zeros((3, 2)), 3, codebooks=books)
    assert q.centroid_distance_variance(fit, dummy_cloud(3)) == pytest.approx(0.125)
    collapsed = crafted_fit(np.zeros((3, 1)), 3, codebooks=[np.zeros((3, 2))])
    assert q.centroid_distance_variance(collapsed, dummy_cloud(3)) == 0.0


def test_pd_eee_by_hand() -> None:
    line = [[0, 0], [1, 1], [2, 2], [2, 2]]  # 3 distinct collinear points: spectrum (λ, 0) → EEE 1/4
    square = [[1, 1], [1, -1], [-1, 1], [-1, -1]]  # isotropic: EEE 0
    single = [[5, 5], [5, 5]]  # one distinct point: skipped
    X = np.array(line + square + single, dtype=np.float32)
    codes = np.array([0] * 4 + [1] * 4 + [2] * 2)[:, None]
    assert q.point_distribution_eee(crafted_fit(codes, 4), PointCloud(X)) == pytest.approx(0.125)
    with pytest.raises(BadInputError, match="two distinct points"):
        q.point_distribution_eee(crafted_fit(np.array([0, 0, 1])[:, None], 4), PointCloud(np.ones((3, 2))))


def test_reconstruction_spread_by_hand() -> None:
    cloud = dummy_cloud(4)
    ramp = crafted_fit(np.zeros((4, 1)), 2, errors=np.array([1.0, 2.0, 3.0, 4.0]))
    assert q.reconstruction_iqr(ramp, cloud) == pytest.approx(0.8125 - 0.4375)
    assert q.reconstruction_skew(ramp, cloud) == pytest.approx(0.0, abs=1e-12)
    spike = crafted_fit(np.zeros((4, 1)), 2, errors=np.array([0.0, 0.0, 0.0, 1.0]))
    assert q.reconstruction_skew(spike, cloud) == pytest.approx(2 / math.sqrt(3))
    flat = crafted_fit(np.zeros((4, 1)), 2, errors=np.zeros(4))
    assert q.reconstruction_iqr(flat, cloud) == 0.0 and q.reconstruction_skew(flat, cloud) == 0.0


# -- trained quantizers ------------------------------------------------------------------------------------


def test_unpack_codes_matches_faiss_decode() -> None:
    X = np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32)
    lsq = faiss.LocalSearchQuantizer(8, 3, 4)  # 12 bits: codes straddle bytes, 4 bits of padding
    lsq.train_iters = 2
    lsq.train(X)
    packed = lsq.compute_codes(X)
    codes = q.unpack_codes(packed, 3, 4)
    books = faiss.vector_to_array(lsq.codebooks).reshape(3, 16, 8)
    np.testing.assert_allclose(sum(books[m][codes[:, m]] for m in range(3)), lsq.decode(packed), atol=1e-5)


def test_pq_reconstructs_few_distinct_subvectors_exactly() -> None:
    # each of the 2 sub-spaces sees only 8 distinct sub-vectors (≤ 16 codewords), the full rows 64
    rng = np.random.default_rng(1)
    left, right = rng.standard_normal((8, 4)) * 3, rng.standard_normal((8, 4)) * 3
    i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    X = np.hstack([left[i.ravel()], right[j.ravel()]]).astype(np.float32).repeat(5, axis=0)
    assert np.unique(X, axis=0).shape[0] == 64
    # faiss re-seeds the 8 surplus (empty) centroids per sub-space by splitting used ones into
    # c·(1 ± 1/1024), so the kept centroids may sit 1/1024 (relative) off their points: RE ≲ 1e-6
    assert la.compute("pq_re", X, **SMALL) < 1e-5


def test_aq_reconstructs_few_distinct_points() -> None:
    base = np.random.default_rng(1).standard_normal((8, 8)).astype(np.float32) * 3
    X = np.repeat(base, 40, axis=0)  # 8 distinct points, 16 codewords per codebook
    assert la.compute("aq_re", X, **SMALL) < 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_family_on_a_gaussian_cloud(kind: str, cloud_x: np.ndarray) -> None:
    names = [f"{kind}_{s}" for s in STATS]
    cloud = PointCloud(cloud_x)
    r = la.run_battery(cloud, names, params={n: SMALL for n in names})
    assert all(np.isfinite(v) for v in r.values())
    assert 0 < r[f"{kind}_re"] < 1
    assert 0 < r[f"{kind}_ri"] < 1
    assert 0 < r[f"{kind}_pd_eee"] < 1 and 0 < r[f"{kind}_cd_var"] < 1
    assert r[f"{kind}_pc_kl"] > 0 and r[f"{kind}_pc_var"] > 0
    # the published index is the textbook one with the mean scaled by M
    fit = q.fit_quantizer(cloud, kind, **SMALL)
    mu, M = cloud.n / fit.k, SMALL["M"]
    V = (r[f"{kind}_pp"] - 1 + 1 / mu) * mu**2
    assert r[f"{kind}_pp_published"] == pytest.approx(1 + V / (M * mu) ** 2 - 1 / (M * mu))
    assert r[f"{kind}_re"] == pytest.approx(float((fit.errors**2).sum() / (cloud_x.astype(np.float64) ** 2).sum()))
    assert fit.codes.shape == (2000, 2) and fit.codes.min() >= 0 and fit.codes.max() < 16
    assert [b.shape for b in fit.codebooks] == [(16, 8 if kind == "pq" else 16)] * 2


@pytest.mark.parametrize("kind", KINDS)
def test_nine_measures_share_one_training(kind: str, cloud_x: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    real = q.FITTERS[kind]

    def counting(*args: object) -> q.QuantizerFit:
        calls.append(args[1:])
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setitem(q.FITTERS, kind, counting)
    cloud = PointCloud(cloud_x[:1000])
    for stat in STATS:
        la.compute(f"{kind}_{stat}", cloud, **SMALL)
    assert calls == [(2, 4, 0, 1000, 25)]  # (M, nbits, seed, training rows, iterations)
    fit = q.fit_quantizer(cloud, kind, **SMALL)
    assert q.fit_quantizer(cloud, kind, **SMALL) is fit and len(calls) == 1  # the memoised fit itself
    la.compute(f"{kind}_pp", cloud, M=2, nbits=3)  # other parameters: a second training
    assert len(calls) == 2


def test_default_training_is_the_published_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """25 iterations on every point (the old default trained 10 iterations on a 10,000-point subsample).

    PQ only (fast); the 25 iterations of both kinds are also in the shared-training test above.
    """
    calls: list[tuple] = []
    real = q.FITTERS["pq"]
    monkeypatch.setitem(q.FITTERS, "pq", lambda *args: calls.append(args[1:]) or real(*args))
    X = (np.random.default_rng(5).standard_normal((12_000, 8)) * np.linspace(0.5, 2.0, 8)).astype(np.float32)
    cloud = PointCloud(X)
    default = q.fit_quantizer(cloud, "pq", **SMALL)
    assert calls == [(2, 4, 0, 12_000, 25)]  # (M, nbits, seed, training rows, iterations)
    published = q.fit_quantizer(PointCloud(X), "pq", train_size=12_000, train_iters=25, **SMALL)
    np.testing.assert_array_equal(default.codes, published.codes)
    assert la.compute("pq_pp", cloud, **SMALL) == la.compute("pq_pp", cloud, train_size=None, **SMALL)
    # an explicit cap still subsamples
    capped = q.fit_quantizer(cloud, "pq", train_size=10_000, train_iters=10, **SMALL)
    assert not np.array_equal(default.codes, capped.codes)


@pytest.mark.parametrize("kind", KINDS)
def test_seeded(kind: str, cloud_x: np.ndarray) -> None:
    X = cloud_x[:1000]
    names = [f"{kind}_{s}" for s in STATS]
    fast = {**SMALL, "train_iters": 5}  # trains on all 1000 rows: only faiss's own seeding varies
    ca, cb = PointCloud(X), PointCloud(X)
    a = la.run_battery(ca, names, seed=1, params={n: fast for n in names})
    b = la.run_battery(cb, names, seed=1, params={n: fast for n in names})
    assert a == b  # same seed, fresh clouds (no shared memo): identical values
    fa, fb = (q.fit_quantizer(c, kind, seed=1, **fast) for c in (ca, cb))
    np.testing.assert_array_equal(fa.codes, fb.codes)
    fc = q.fit_quantizer(X, kind, seed=2, **fast)
    assert not np.array_equal(fa.codes, fc.codes)


@pytest.mark.parametrize("kind", KINDS)
def test_codes_do_not_depend_on_thread_count(kind: str, cloud_x: np.ndarray) -> None:
    before = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(1)
        one = q.fit_quantizer(cloud_x[:1000], kind, seed=3, train_iters=5, **SMALL)
        faiss.omp_set_num_threads(2)
        two = q.fit_quantizer(cloud_x[:1000], kind, seed=3, train_iters=5, **SMALL)
    finally:
        faiss.omp_set_num_threads(before)
    np.testing.assert_array_equal(one.codes, two.codes)


@pytest.mark.parametrize("kind", KINDS)
def test_too_few_points(kind: str) -> None:
    X = np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)
    with pytest.raises(TooFewPointsError, match="needs at least 256 points"):
        la.compute(f"{kind}_pp", X)
    with pytest.raises(TooFewPointsError, match="needs at least 16 points"):
        la.compute(f"{kind}_pp", X[:15], **SMALL)
    with pytest.raises(TooFewPointsError):
        q.fit_quantizer(X[:15], kind, **SMALL)
    assert np.isfinite(la.compute(f"{kind}_pp", X[:16], **SMALL))


def test_bad_parameters() -> None:
    X = np.random.default_rng(0).standard_normal((300, 15)).astype(np.float32)
    with pytest.raises(BadInputError, match="divisible"):
        la.compute("pq_pp", X, M=4, nbits=4)
    with pytest.raises(BadInputError, match="train_size"):
        la.compute("aq_pp", X, nbits=4, train_size=8)
    with pytest.raises(BadInputError, match="nbits"):
        q.fit_quantizer(X, "aq", nbits=20)
    with pytest.raises(BadInputError, match="seed"):
        la.compute("aq_pp", X, nbits=4, seed=-1)
    with pytest.raises(BadInputError, match="kind"):
        q.fit_quantizer(X, "opq")
