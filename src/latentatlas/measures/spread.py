"""Spread / isotropy measures of a point cloud.

Sources: Marbut, McKinney-Bock & Wheeler, "Reliable Measures of Spread in High Dimensional Latent
Spaces" (ICML 2023) and its code ``amarbut/isotropy``; Marbut, Chandler & Wheeler (2024); Rudman et al.
(2022, IsoScore); Mu & Viswanath (2018, I(V)); Ethayarajh (2019, average cosine similarity).

Several measures compare the cloud with an isotropic Gaussian after *variance matching*: the cloud is
projected on its principal axes and rescaled so that its total variance equals that of N(0, I_d),
namely d (:func:`variance_matched`). The published code estimated that reference variance from a sampled
Gaussian; its expectation is exactly d, which is used here.

Where the published code differs from the textbook definition, the textbook form is the default and the
published one is a named option. k-NN based measures work on a seeded subsample of at most
``max_points`` rows (exact k-NN is O(n²·d)); the subsample is shared between them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, logsumexp
from scipy.stats import norm

from ..errors import BadInputError
from .cloud import PointCloud, as_cloud
from .registry import measure

EULER_GAMMA = 0.5772156649015329
_TINY = 1e-12


def eee_from_eigenvalues(eigenvalues: np.ndarray) -> float:
    """Eigenspectrum early enrichment of a spectrum λ₁ ≥ … ≥ λ_D (Marbut et al. 2023).

    Sᵢ = Σ_{j≤i} λⱼ, Rᵢ = i·S_D/D (uniform reference), EEE = ∫₀^{D−1}(S − R) dx / (S_D·D/2), with the
    integral taken by the trapezoid rule over x = 0…D−1. 0 means isotropic (all λ equal); a single
    spike (all variance on PC1) gives the maximum ((D − 1)/D)², which tends to 1 as D grows.
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1]
    D = lam.size
    total = lam.sum()
    if D < 2 or total <= 0:
        return 0.0
    S = np.cumsum(lam)
    R = np.arange(1, D + 1) * total / D
    return float(np.trapezoid(S - R) / (total * D / 2.0))


def _total_variance(cloud: PointCloud) -> float:
    """Σλ, or a BadInputError when every point is identical (spread is then undefined)."""
    total = float(cloud.eigenvalues().sum())
    if total <= 0:
        raise BadInputError(f"{cloud.name} has zero variance (all points identical); spread is undefined.")
    return total


def variance_matched(cloud: PointCloud) -> np.ndarray:
    """PCA scores rescaled to total variance d: Z = P·√(d/Σλ), shape (n, min(n, d)), shared per cloud."""

    def compute() -> np.ndarray:
        return cloud.pca_scores() * np.float32(math.sqrt(cloud.d / _total_variance(cloud)))

    return cloud.cached("variance_matched", compute)


def _matched_spectrum(cloud: PointCloud) -> np.ndarray:
    """Eigenvalues rescaled to sum d, padded with zeros to length d."""
    lam = cloud.eigenvalues()
    out = np.zeros(cloud.d)
    out[: lam.size] = lam * cloud.d / _total_variance(cloud)
    return out


def subsample(cloud: PointCloud, max_points: int | None, seed: int) -> PointCloud:
    """A seeded row subsample of at most ``max_points`` (the cloud itself if smaller), shared per cloud."""
    if max_points is None or cloud.n <= max_points:
        return cloud

    def compute() -> PointCloud:
        idx = np.sort(np.random.default_rng(seed).choice(cloud.n, size=max_points, replace=False))
        return PointCloud(cloud.X[idx], name=f"{cloud.name} (subsample {max_points})", validate=False)

    return cloud.cached(("subsample", max_points, seed), compute)


def _gaussian_reference(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _knn_log_dist(cloud: PointCloud, k: int) -> np.ndarray:
    """log of the k-th neighbour distance per point, zero distances (duplicates) floored."""
    D, _ = cloud.knn(k)
    return np.log(np.maximum(D[:, k - 1], _TINY))


# -- cosine / partition-function measures -----------------------------------------------------------


@measure(
    "acs",
    family="spread",
    reference="Ethayarajh 2019 (average cosine similarity); critiqued in Marbut et al. 2023",
    higher_means_spread=False,
)
def acs(X: np.ndarray | PointCloud) -> float:
    """Average cosine similarity over all distinct pairs, exact in O(n·d).

    With unit vectors uᵢ = xᵢ/‖xᵢ‖ and s = Σuᵢ: ACS = (‖s‖² − n)/(n(n−1)), since Σ_{i≠j} uᵢ·uⱼ = ‖s‖² − n.
    Zero vectors (no direction) are left out. The published code averaged a subsample of ≤ 2,500 points.
    """
    cloud = as_cloud(X)
    norms = np.linalg.norm(cloud.X.astype(np.float64), axis=1)
    keep = norms > 0
    n = int(keep.sum())
    if n < 2:
        raise BadInputError(f"{cloud.name} has fewer than 2 non-zero vectors; cosine similarity is undefined.")
    s = (cloud.X[keep].astype(np.float64) / norms[keep, None]).sum(axis=0)
    return float((s @ s - n) / (n * (n - 1)))


@measure(
    "iv",
    family="spread",
    reference="Mu & Viswanath 2018 (All-but-the-top), I(V) = min Z(c) / max Z(c)",
    higher_means_spread=True,
)
def iv(
    X: np.ndarray | PointCloud,
    *,
    seed: int = 0,
    directions: str = "principal",
    n_directions: int = 1000,
    normalize: bool = False,
) -> float:
    """Partition-function isotropy I(V) = min_c Z(c) / max_c Z(c), Z(c) = Σᵢ exp(cᵀvᵢ).

    ``directions="principal"`` (default, Mu & Viswanath): c ranges over the eigenvectors of VᵀV (the
    uncentered second-moment matrix). ``"random"`` (the refactored published code): ``n_directions``
    seeded random unit vectors. ``normalize=True`` uses unit vectors vᵢ (done in some published
    scripts). Computed in log space, so large norms do not overflow. 1 = isotropic.
    """
    cloud = as_cloud(X)
    V = cloud.X
    if normalize:
        norms = np.linalg.norm(V, axis=1, keepdims=True)
        V = V / np.where(norms > 0, norms, 1.0)
    if directions == "principal":
        moment = cloud.second_moment() if not normalize else (V.T @ V).astype(np.float64)
        _, C = np.linalg.eigh(moment)
    elif directions == "random":
        C = np.random.default_rng(seed).standard_normal((cloud.d, n_directions))
        C /= np.linalg.norm(C, axis=0, keepdims=True)
    else:
        raise BadInputError(f"iv directions={directions!r} must be 'principal' or 'random'.")
    C32 = C.astype(np.float32)
    # log Z(c) accumulated over row chunks: logsumexp of the per-chunk logsumexps
    parts = [logsumexp((V[s : s + 16384] @ C32).astype(np.float64), axis=0) for s in range(0, len(V), 16384)]
    log_z = logsumexp(np.stack(parts), axis=0)
    return float(np.exp(log_z.min() - log_z.max()))


# -- spectrum measures ------------------------------------------------------------------------------


@measure(
    "isoscore",
    family="spread",
    reference="Rudman, Gillman, Rayne & Eickhoff 2022 (IsoScore), Algorithm 1",
    higher_means_spread=True,
)
def isoscore(X: np.ndarray | PointCloud) -> float:
    """IsoScore: how uniformly variance is spread over all d dimensions (1 isotropic, 0 one direction).

    λ = PCA variances (length d, zeros when n ≤ d), λ̂ = √d·λ/‖λ‖, δ = ‖λ̂ − 1‖/√(2(d − √d)),
    IsoScore = ((d − δ²(d − √d))² − d)/(d(d − 1)).
    """
    cloud = as_cloud(X)
    d = cloud.d
    if d < 2:
        raise BadInputError("IsoScore needs at least 2 dimensions.")
    _total_variance(cloud)
    lam = np.zeros(d)
    ev = cloud.eigenvalues()
    lam[: ev.size] = ev
    norm_ = np.linalg.norm(lam)
    sd = math.sqrt(d)
    lam_hat = sd * lam / norm_
    delta = np.linalg.norm(lam_hat - 1.0) / math.sqrt(2 * (d - sd))
    return float(((d - delta**2 * (d - sd)) ** 2 - d) / (d * (d - 1)))


@measure(
    "eee",
    family="spread",
    reference="Marbut, McKinney-Bock & Wheeler 2023 (ICML), EEE; Marbut et al. 2024",
    higher_means_spread=False,
    min_points=3,
)
def eee(X: np.ndarray | PointCloud) -> float:
    """Eigenspectrum early enrichment (EEE) of the PCA spectrum; 0 = isotropic, → 1 = one direction.

    EEE = ∫(Sᵢ − Rᵢ)/(S_D·D/2) with Sᵢ the cumulative PCA eigenvalues and Rᵢ = i·S_D/D.
    """
    cloud = as_cloud(X)
    _total_variance(cloud)
    return eee_from_eigenvalues(cloud.eigenvalues())


@measure(
    "pc_ratio",
    family="spread",
    reference="Marbut et al. 2023 (PC ratio)",
    higher_means_spread=True,
)
def pc_ratio(X: np.ndarray | PointCloud) -> float:
    """Ratio of the smallest to the largest PCA eigenvalue, λ_min/λ_max over all d axes (0 when n ≤ d)."""
    cloud = as_cloud(X)
    _total_variance(cloud)
    lam = cloud.eigenvalues()
    smallest = lam[-1] if lam.size == cloud.d else 0.0
    return float(smallest / lam[0])


@measure(
    "gauss_kl",
    family="spread",
    reference="Marbut et al. 2023 (Gaussian KL to N(0, I) after PCA and variance matching)",
    higher_means_spread=False,
)
def gauss_kl(X: np.ndarray | PointCloud) -> float:
    """KL divergence of the cloud's Gaussian fit from N(0, I_d) after variance matching.

    KL = ½(μᵀμ + tr Σ − d − ln det Σ). In the centered principal basis μ = 0 and Σ = diag(λ′) with
    Σλ′ = d, so KL = −½ Σⱼ ln λ′ⱼ. Zero eigenvalues (n ≤ d, or exactly flat directions) are floored at
    1e-12 so the value stays finite (and very large). 0 = isotropic Gaussian.
    """
    lam = _matched_spectrum(as_cloud(X))
    return float(-0.5 * np.log(np.maximum(lam, _TINY)).sum())


# -- entropy measures -------------------------------------------------------------------------------


def vasicek_entropy(Z: np.ndarray, window: int | None = None) -> np.ndarray:
    """Vasicek m-spacing differential entropy of each column of Z (nats).

    H = (1/n) Σᵢ ln( n/(2m) · (z₍ᵢ₊ₘ₎ − z₍ᵢ₋ₘ₎) ), order statistics clamped at 1 and n, m = ⌊√n + ½⌋
    (scipy's default window). Zero spacings (point masses) are floored at 1e-12·(column std).
    """
    n = Z.shape[0]
    m = window or int(math.floor(math.sqrt(n) + 0.5))
    i = np.arange(n)
    up, lo = np.minimum(i + m, n - 1), np.maximum(i - m, 0)
    out = np.empty(Z.shape[1])
    for c in range(0, Z.shape[1], 32):  # a few columns at a time: memory O(n·32)
        S = np.sort(Z[:, c : c + 32].astype(np.float64), axis=0)
        floor = _TINY * np.maximum(S.std(axis=0), _TINY)
        out[c : c + 32] = np.log(n / (2 * m) * np.maximum(S[up] - S[lo], floor)).mean(axis=0)
    return out


@measure(
    "vrm",
    family="spread",
    reference="Marbut et al. 2023 (Vasicek ratio MSE, VRM); Vasicek 1976",
    higher_means_spread=False,
    min_points=4,
)
def vrm(X: np.ndarray | PointCloud) -> float:
    """Vasicek ratio MSE: how far each variance-matched principal component is from N(0, 1) in entropy.

    Per component j of the variance-matched cloud: rⱼ = exp(Hⱼ)/√(2πe), with Hⱼ the Vasicek entropy
    (rⱼ = 1 for a standard normal); VRM = (1/d)·Σⱼ(1 − rⱼ)², components beyond min(n, d) counting as
    rⱼ = 0. 0 = looks like an isotropic Gaussian; can exceed 1 for very uneven spectra.
    """
    cloud = as_cloud(X)
    Z = variance_matched(cloud)
    r = np.exp(vasicek_entropy(Z)) / math.sqrt(2 * math.pi * math.e)
    missing = cloud.d - r.size
    return float((((1.0 - r) ** 2).sum() + missing) / cloud.d)


def _kl_entropy(Z: np.ndarray, cloud: PointCloud) -> float:
    """Kozachenko–Leonenko 1-NN differential entropy estimate of the rows of Z (nats).

    H = (d/N)·Σ ln ρᵢ + ln V_d + γ + ln(N − 1), V_d = π^{d/2}/Γ(d/2 + 1) the unit-ball volume.
    """
    N, d = Z.shape
    log_rho = _knn_log_dist(cloud, 1)
    log_vd = (d / 2) * math.log(math.pi) - gammaln(d / 2 + 1)
    return float(d * log_rho.mean() + log_vd + EULER_GAMMA + math.log(N - 1))


@measure(
    "koleo",
    family="spread",
    reference="Marbut et al. 2023 (KoLeo entropy ratio); Kozachenko & Leonenko 1987",
    higher_means_spread=True,
    min_points=3,
)
def koleo(
    X: np.ndarray | PointCloud, *, seed: int = 0, max_points: int = 10000, reference: str = "analytic"
) -> float:
    """Kozachenko–Leonenko 1-NN entropy of the variance-matched cloud divided by that of N(0, I_d).

    H = (d/N)·Σ ln ρᵢ + ln V_d + γ + ln(N − 1) on a seeded subsample of ≤ ``max_points`` rows; the
    reference is the exact Gaussian entropy (d/2)·ln(2πe) (``reference="analytic"``, default) or, as in
    the published code, the same estimator on a seeded N(0, I) sample of equal size (``"sampled"``).
    1 = as spread as an isotropic Gaussian; lower = more concentrated.
    """
    cloud = as_cloud(X)
    d = cloud.d
    sub = subsample(cloud, max_points, seed)
    Z = variance_matched(sub)
    zc = sub.cached("variance_matched_cloud", lambda: PointCloud(Z.astype(np.float32), validate=False))
    Zfull = np.zeros((Z.shape[0], d))
    Zfull[:, : Z.shape[1]] = Z
    h = _kl_entropy(Zfull, zc)
    if reference == "analytic":
        ref = 0.5 * d * math.log(2 * math.pi * math.e)
    elif reference == "sampled":
        G = _gaussian_reference(Z.shape[0], d, seed + 1)
        ref = _kl_entropy(G, PointCloud(G, validate=False))
    else:
        raise BadInputError(f"koleo reference={reference!r} must be 'analytic' or 'sampled'.")
    return float(h / ref)


# -- neighbourhood measures -------------------------------------------------------------------------


@measure(
    "knn_overlap",
    family="spread",
    reference="Marbut et al. 2023 (k-NN distance-histogram overlap)",
    higher_means_spread=True,
    min_points=3,
)
def knn_overlap(
    X: np.ndarray | PointCloud, *, seed: int = 0, max_points: int = 10000, k: int | None = None, bins: int = 30
) -> float:
    """Overlap of the 1st-NN and k-th-NN distance histograms (k = min(5d, 100) by default).

    Both distance sets are binned into ``bins`` equal bins over their joint range; the overlap is
    Σ_b min(p¹_b, pᵏ_b) ∈ [0, 1]. Near 1 when neighbourhoods are uniform (distances concentrate, as in
    an isotropic cloud); near 0 when points sit in tight clumps far from the rest. Seeded subsample of
    ≤ ``max_points`` rows.
    """
    cloud = subsample(as_cloud(X), max_points, seed)
    kk = min(5 * cloud.d, 100, cloud.n - 1) if k is None else k
    D, _ = cloud.knn(kk)
    d1, dk = D[:, 0], D[:, kk - 1]
    lo, hi = float(min(d1.min(), dk.min())), float(max(d1.max(), dk.max()))
    if hi <= lo:
        return 1.0
    edges = np.linspace(lo, hi, bins + 1)
    p1 = np.histogram(d1, edges)[0] / d1.size
    pk = np.histogram(dk, edges)[0] / dk.size
    return float(np.minimum(p1, pk).sum())


@measure(
    "knn_kl",
    family="spread",
    reference="Wang, Kulkarni & Verdú 2009 (k-NN divergence estimator), as used by Marbut et al. 2023",
    higher_means_spread=False,
    min_points=3,
)
def knn_kl(
    X: np.ndarray | PointCloud, *, seed: int = 0, max_points: int = 10000, clip: bool = False
) -> float:
    """Empirical 1-NN KL divergence of the variance-matched cloud from a seeded N(0, I_d) sample.

    D̂ = (d/N)·Σᵢ ln(νᵢ/ρᵢ) + ln(M/(N − 1)), with ρᵢ the distance to the nearest other sample point and
    νᵢ to the nearest reference point (M = N reference points). ``clip=True`` reproduces the published
    code: (d/N)·Σ max(0, ln(νᵢ/ρᵢ)) without the size term. 0 = indistinguishable from the Gaussian.
    """
    import faiss

    cloud = as_cloud(X)
    d = cloud.d
    sub = subsample(cloud, max_points, seed)
    Z = np.zeros((sub.n, d), dtype=np.float32)
    Zm = variance_matched(sub)
    Z[:, : Zm.shape[1]] = Zm
    zc = PointCloud(Z, validate=False)
    log_rho = _knn_log_dist(zc, 1)
    G = _gaussian_reference(sub.n, d, seed + 1)
    index = faiss.IndexFlatL2(d)
    index.add(G)
    nu2, _ = index.search(Z, 1)
    log_nu = 0.5 * np.log(np.maximum(nu2[:, 0].astype(np.float64), _TINY**2))
    terms = log_nu - log_rho
    if clip:
        return float(d * np.maximum(terms, 0.0).mean())
    return float(d * terms.mean() + math.log(G.shape[0] / (sub.n - 1)))


@measure(
    "dkls",
    family="spread",
    reference="Marbut et al. 2023 (discretised KL, DKLS)",
    higher_means_spread=False,
)
def dkls(
    X: np.ndarray | PointCloud, *, seed: int = 0, bins: int = 30, reference: str = "exact", limit: float = 4.0
) -> float:
    """Mean squared per-component discretised KL of the variance-matched cloud from N(0, 1).

    Each variance-matched principal component is binned into ``bins`` equal bins on [−limit, limit]
    (values outside go to the end bins); qⱼ are the exact N(0, 1) bin probabilities (``"exact"``,
    default) or, as in the published code, the histogram of a seeded N(0, 1) sample over its own range
    (``"sampled"``). KLⱼ = Σ_b p_b ln(p_b/q_b); DKLS = (1/d)·Σⱼ KLⱼ², components beyond min(n, d)
    counting as point masses at 0.
    """
    cloud = as_cloud(X)
    Z = variance_matched(cloud)
    n, D = Z.shape
    if reference == "exact":
        edges = np.linspace(-limit, limit, bins + 1)
        cdf = norm.cdf(edges)
        cdf[0], cdf[-1] = 0.0, 1.0  # the end bins take the tails
        q = np.diff(cdf)
    elif reference == "sampled":
        g = np.random.default_rng(seed).standard_normal(n)
        edges = np.linspace(g.min(), g.max(), bins + 1)
        q = np.histogram(g, edges)[0] / n
    else:
        raise BadInputError(f"dkls reference={reference!r} must be 'exact' or 'sampled'.")
    q = np.maximum(q, _TINY)
    kls = np.empty(cloud.d)
    for j in range(D):
        idx = np.clip(np.searchsorted(edges, Z[:, j], side="right") - 1, 0, bins - 1)
        p = np.bincount(idx, minlength=bins) / n
        nz = p > 0
        kls[j] = float((p[nz] * np.log(p[nz] / q[nz])).sum())
    if D < cloud.d:  # flat directions: all mass in the bin holding 0
        zero_bin = int(np.clip(np.searchsorted(edges, 0.0, side="right") - 1, 0, bins - 1))
        kls[D:] = -math.log(q[zero_bin])
    return float((kls**2).mean())
