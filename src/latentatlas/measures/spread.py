"""Spread / isotropy measures of a point cloud (the ``spread`` family).

Sources: Marbut, McKinney-Bock & Wheeler, "Reliable Measures of Spread in High Dimensional Latent
Spaces" (ICML 2023) and its code ``amarbut/isotropy`` (``alternate_isotropy_measures.py``); Marbut,
Chandler & Wheeler (2024, arXiv 2406.12159); Rudman, Gillman, Rayne & Eickhoff (2022, IsoScore); Mu &
Viswanath (2018, I(V)); Ethayarajh (2019, average cosine similarity); Kozachenko & Leonenko (1987); Wang,
Kulkarni & Verdú (2009); Vasicek (1976).

**Variance matching.** Several measures compare the cloud with N(0, I_d) after rescaling it so that its
total variance Σλ = tr Σ equals a reference v_ref. The textbook value is v_ref = E[tr of the sample
covariance of N(0, I_d)] = d (``v_ref="analytic"``, the default). The published code used the total PCA
variance of a fresh N×d Gaussian sample; ``v_ref="sampled"`` draws that number from its exact sampling
distribution, χ²_{d(N−1)}/(N−1), without generating the sample. The spectrum-based measures (VRM, DKLS,
Gaussian KL) work on the principal-component scores Z = (X − μ)·C·√(d/Σλ), computed once per cloud
(:func:`variance_matched`, stored per component so each component is contiguous). The distance-based
measures (KoLeo, k-NN KL) only need the centering and the scale: N(0, I) is rotation invariant, so the
principal-axis rotation changes nothing there and is skipped.

**Published vs textbook.** Where the published code differs from the textbook definition, the textbook
form is the default and the published one is a named option (see each docstring). One exception:
KoLeo's default denominator is the estimator on a sampled Gaussian (as published), because the
textbook analytic entropy leaves a width-dependent estimator bias in the ratio.

**Cost.** Nothing builds an n×n matrix. Spectrum measures share the cloud's PCA. The k-NN measures work
on a seeded subsample of at most ``max_points`` rows (exact k-NN is O(n²·d)); with equal ``max_points``,
``seed`` and ``distinct`` they share one subsample and one k-NN graph. k-NN overlap is registered before
KoLeo and k-NN KL so that, in a full battery, its k-NN graph (k ≤ 100) also serves their 1-NN.

**Duplicates.** Exact duplicate rows have zero nearest-neighbour distance; a point mass has entropy −∞,
so KoLeo and k-NN KL are then dominated by the duplicates (distances are floored at 1e-12 in
variance-matched units to stay finite). ``distinct=True`` measures the distinct rows instead; this
matters for embedding-layer clouds, where the same token at the same position repeats exactly.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator

import numpy as np
from scipy.special import gammaln
from scipy.stats import norm

from ..errors import BadInputError
from .cloud import PointCloud, as_cloud
from .registry import Choice, Int, Real, measure

log = logging.getLogger(__name__)

EULER_GAMMA = 0.5772156649015329
_TINY = 1e-12
_ROWS = 16_384  # row chunk for passes over the cloud
_BLOCK = 16  # components handled at once by the per-component measures
_GAUSS_BLOCK = 8  # reference-sample columns drawn per seeded block (fixed: part of the stream definition)

# independent random streams derived from one user seed
_STREAM_SUBSAMPLE = 1
_STREAM_REFERENCE = 2
_STREAM_VREF = 3
_STREAM_DIRECTIONS = 4
_STREAM_DKLS = 5


def _rng(seed: int, stream: int) -> np.random.Generator:
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BadInputError(f"seed must be a non-negative integer, got {seed!r}.")
    return np.random.default_rng([int(seed), stream])


def _choice(measure_name: str, param: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadInputError(
            f"{measure_name} {param}={value!r} is not one of {', '.join(repr(a) for a in allowed)}."
        )
    return value


def _at_least(measure_name: str, param: str, value: int | None, lowest: int) -> None:
    if value is not None and (not isinstance(value, (int, np.integer)) or value < lowest):
        raise BadInputError(f"{measure_name} {param} must be an integer ≥ {lowest}, got {value!r}.")


# -- EEE core (also used by the quantization family) --------------------------------------------------


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


# -- shared work ----------------------------------------------------------------------------------------


def _zero_variance(cloud: PointCloud) -> BadInputError:
    return BadInputError(f"{cloud.name} has zero variance (all points identical); spread is undefined.")


def _total_variance(cloud: PointCloud) -> float:
    """Σλ of the PCA spectrum, or a BadInputError when every point is identical."""
    total = float(cloud.eigenvalues().sum())
    if total <= 0:
        raise _zero_variance(cloud)
    return total


def _trace_variance(cloud: PointCloud) -> float:
    """tr Σ = Σᵢ‖xᵢ − μ‖²/(n − 1) by one O(n·d) pass (no PCA needed), shared per cloud."""

    def compute() -> float:
        mu = cloud.mean().astype(np.float32)
        total = 0.0
        for s in range(0, cloud.n, _ROWS):
            C = cloud.X[s : s + _ROWS] - mu
            total += float(np.einsum("ij,ij->", C, C, dtype=np.float64))
        return total / max(cloud.n - 1, 1)

    total = cloud.cached("spread.trace_variance", compute)
    if total <= 0:
        raise _zero_variance(cloud)
    return total


def _padded_spectrum(cloud: PointCloud) -> np.ndarray:
    """PCA eigenvalues padded with zeros to length d (n ≤ d clouds have flat directions)."""
    out = np.zeros(cloud.d)
    ev = cloud.eigenvalues()
    out[: ev.size] = ev
    return out


def sampled_v_ref(n: int, d: int, seed: int) -> float:
    """Total sample variance of an n×d N(0, I) sample, drawn exactly: χ²_{d(n−1)}/(n − 1).

    The ``v_ref="sampled"`` reference of ``gauss_kl`` and ``vrm`` (mean d, sd d·√(2/(d(n−1)))).
    """
    return float(_rng(seed, _STREAM_VREF).chisquare(d * (n - 1)) / (n - 1))


def _v_ref(measure_name: str, v_ref: str, n: int, d: int, seed: int) -> float:
    if _choice(measure_name, "v_ref", v_ref, ("analytic", "sampled")) == "analytic":
        return float(d)
    return sampled_v_ref(n, d, seed)


def _matched_components(cloud: PointCloud) -> np.ndarray:
    """Variance-matched PC scores stored per component: Zᵀ, float32 of shape (min(n, d), n).

    Row j is the j-th principal component √(d/Σλ)·(X − μ)·cⱼ, so Σⱼ var(row j) = d. Shared per cloud.
    """

    def compute() -> np.ndarray:
        scale = math.sqrt(cloud.d / _total_variance(cloud))
        CT = np.ascontiguousarray(cloud.components().T * scale, dtype=np.float32)
        mu = cloud.mean().astype(np.float32)
        out = np.empty((CT.shape[0], cloud.n), dtype=np.float32)
        for s in range(0, cloud.n, _ROWS):
            out[:, s : s + _ROWS] = CT @ (cloud.X[s : s + _ROWS] - mu).T
        log.debug("variance-matched PC scores of %s: %s", cloud.name, out.shape)
        return out

    return cloud.cached("spread.matched_components", compute)


def variance_matched(X: np.ndarray | PointCloud) -> np.ndarray:
    """Variance-matched PCA scores Z = (X − μ)·C·√(d/Σλ), shape (n, min(n, d)), total variance d.

    A read-only view of the per-cloud cache (Fortran-ordered; ``.T`` is contiguous per component).
    """
    Z = _matched_components(as_cloud(X)).T
    Z.flags.writeable = False
    return Z


def subsample(cloud: PointCloud, max_points: int | None, seed: int) -> PointCloud:
    """A seeded row subsample of at most ``max_points`` (the cloud itself if smaller), shared per cloud."""
    if max_points is None or cloud.n <= max_points:
        return cloud

    def compute() -> PointCloud:
        idx = np.sort(_rng(seed, _STREAM_SUBSAMPLE).choice(cloud.n, size=max_points, replace=False))
        log.debug("k-NN subsample of %s: %d of %d rows (seed %d)", cloud.name, max_points, cloud.n, seed)
        return PointCloud(cloud.X[idx], name=f"{cloud.name} (subsample {max_points})", validate=False)

    return cloud.cached(("spread.subsample", max_points, seed), compute)


def _knn_sample(
    cloud: PointCloud, measure_name: str, max_points: int | None, seed: int, distinct: bool
) -> tuple[PointCloud, PointCloud]:
    """(base cloud, its k-NN subsample): base is the distinct rows when ``distinct``."""
    _at_least(measure_name, "max_points", max_points, 3)
    base = cloud.distinct() if distinct else cloud
    base.require(f"measure {measure_name!r} on distinct points", 3)
    return base, subsample(base, max_points, seed)


@functools.lru_cache(maxsize=4)
def gaussian_reference(n: int, d: int, seed: int) -> PointCloud:
    """A seeded N(0, I_d) sample of n rows (float32) as a PointCloud, so its k-NN graph is reusable.

    The reference sample of ``koleo`` and ``knn_kl``. It depends only on ``(n, d, seed)``, so the process
    keeps the last few: every cloud of one width measured at one ``max_points`` shares one sample and
    one 1-NN search (half of KoLeo's cost; the default study measures about 250 such clouds).
    """
    G = _rng(seed, _STREAM_REFERENCE).standard_normal((n, d), dtype=np.float32)
    return PointCloud(G, name=f"N(0, I_{d}) reference sample", validate=False)


def _shared_reference(sub: PointCloud, seed: int) -> PointCloud:
    """The reference sample for a k-NN subsample, shared by KoLeo and k-NN KL."""
    return gaussian_reference(sub.n, sub.d, seed)


# -- cosine / partition-function measures ------------------------------------------------------------


@measure(
    "acs",
    family="spread",
    reference="Ethayarajh 2019 (EMNLP), average cosine similarity; critiqued in Marbut et al. 2023 §3",
    higher_means_spread=False,
    min_points=2,
    streamable=True,
)
def acs(X: np.ndarray | PointCloud) -> float:
    """Average cosine similarity over all distinct pairs, exact in O(n·d).

    With unit vectors uᵢ = xᵢ/‖xᵢ‖ and s = Σᵢuᵢ: ACS = (‖s‖² − n)/(n(n − 1)), because
    Σ_{i≠j} uᵢ·uⱼ = ‖s‖² − Σᵢ‖uᵢ‖². Zero vectors have no direction, so their cosines are undefined:
    they are left out and n counts the non-zero rows (the published code instead counted them with
    cosine 0 and averaged a random subsample of ≤ 2,500 points). 1 = all vectors point the same way.
    """
    cloud = as_cloud(X)
    s = np.zeros(cloud.d)
    n = 0
    for start in range(0, cloud.n, _ROWS):
        B = cloud.X[start : start + _ROWS]
        norms = np.sqrt(np.einsum("ij,ij->i", B, B, dtype=np.float64))
        keep = norms > 0
        n += int(keep.sum())
        s += (B[keep] / norms[keep, None].astype(np.float32)).sum(axis=0, dtype=np.float64)
    if n < 2:
        raise BadInputError(f"{cloud.name} has fewer than 2 non-zero vectors; cosine similarity is undefined.")
    return float((s @ s - n) / (n * (n - 1)))


def _log_partition(V: np.ndarray, C: np.ndarray, normalize: bool) -> np.ndarray:
    """log Z(c) = log Σᵢ exp(cᵀvᵢ) for every column c of C and for −c; length 2·C.shape[1].

    Row chunks; each chunk is reduced with its own per-direction maximum (float32 exp, float64 sums) and
    the chunks are merged with logaddexp, so neither overflow nor an n×k float64 array occurs.
    """
    C32 = np.ascontiguousarray(C, dtype=np.float32)
    total: np.ndarray | None = None
    for start in range(0, V.shape[0], _ROWS):
        B = V[start : start + _ROWS]
        if normalize:
            norms = np.sqrt(np.einsum("ij,ij->i", B, B, dtype=np.float64)).astype(np.float32)
            B = B / np.where(norms > 0, norms, 1.0)[:, None]
        S = B @ C32
        parts = []
        for sign in (1.0, -1.0):
            if sign < 0:
                np.negative(S, out=S)
            m = S.max(axis=0)
            T = np.exp(S - m)
            parts.append(m.astype(np.float64) + np.log(T.sum(axis=0, dtype=np.float64)))
        part = np.concatenate(parts)
        total = part if total is None else np.logaddexp(total, part)
    assert total is not None
    return total


@measure(
    "iv",
    family="spread",
    reference="Mu & Viswanath 2018 (ICLR, All-but-the-top), I(V) = min_c Z(c) / max_c Z(c), §2.1",
    higher_means_spread=True,
    min_points=2,
    params={"directions": Choice("principal", "random"), "n_directions": Int(1)},
)
def iv(
    X: np.ndarray | PointCloud,
    *,
    seed: int = 0,
    directions: str = "principal",
    n_directions: int = 1000,
    normalize: bool = False,
) -> float:
    """Partition-function isotropy I(V) = min_c Z(c) / max_c Z(c), with Z(c) = Σᵢ exp(cᵀvᵢ).

    ``directions="principal"`` (default; Mu & Viswanath's approximation of the min/max over the unit
    sphere): c ranges over the eigenvectors of VᵀV, the uncentered second-moment matrix. ``"random"``
    (the refactored published code): ``n_directions`` seeded uniformly random unit vectors. Each
    direction is used with both signs, ±c, so the value does not depend on the arbitrary sign an
    eigensolver gives an eigenvector. ``normalize=True`` uses unit vectors vᵢ/‖vᵢ‖ (as some published
    scripts did). Computed in log space, so large norms do not overflow. 1 = isotropic. Not scale
    invariant: Z depends on the norms of the vᵢ.
    """
    cloud = as_cloud(X)
    _choice("iv", "directions", directions, ("principal", "random"))
    if directions == "principal":
        if normalize:
            M = np.zeros((cloud.d, cloud.d))
            for start in range(0, cloud.n, _ROWS):
                B = cloud.X[start : start + _ROWS]
                norms = np.sqrt(np.einsum("ij,ij->i", B, B, dtype=np.float64)).astype(np.float32)
                U = B / np.where(norms > 0, norms, 1.0)[:, None]
                M += (U.T @ U).astype(np.float64)
        else:
            M = cloud.second_moment()
        _, C = np.linalg.eigh(M)
    else:
        _at_least("iv", "n_directions", n_directions, 1)
        C = _rng(seed, _STREAM_DIRECTIONS).standard_normal((cloud.d, n_directions))
        C /= np.linalg.norm(C, axis=0, keepdims=True)
    log_z = _log_partition(cloud.X, C, normalize)
    return float(np.exp(log_z.min() - log_z.max()))


# -- spectrum measures ---------------------------------------------------------------------------------


@measure(
    "isoscore",
    family="spread",
    reference="Rudman, Gillman, Rayne & Eickhoff 2022 (ACL Findings), IsoScore, Algorithm 1",
    higher_means_spread=True,
    min_points=3,
    streamable=True,
)
def isoscore(X: np.ndarray | PointCloud) -> float:
    """IsoScore: how uniformly variance is spread over all d dimensions (1 isotropic, 0 one direction).

    λ = the d PCA variances (sample covariance, ddof = 1; zeros when n ≤ d), λ̂ = √d·λ/‖λ‖₂,
    δ = ‖λ̂ − 1‖₂/√(2(d − √d)), IsoScore = ((d − δ²(d − √d))² − d)/(d(d − 1)). Invariant to rotation,
    translation and scale.
    """
    cloud = as_cloud(X)
    d = cloud.d
    if d < 2:
        raise BadInputError(f"IsoScore needs at least 2 dimensions; {cloud.name} has {d}.")
    _total_variance(cloud)
    lam = _padded_spectrum(cloud)
    sd = math.sqrt(d)
    lam_hat = sd * lam / np.linalg.norm(lam)
    delta = np.linalg.norm(lam_hat - 1.0) / math.sqrt(2 * (d - sd))
    return float(((d - delta**2 * (d - sd)) ** 2 - d) / (d * (d - 1)))


@measure(
    "eee",
    family="spread",
    reference="Marbut, McKinney-Bock & Wheeler 2023 (ICML), eigenspectrum early enrichment (AUC_eigensum)",
    higher_means_spread=False,
    min_points=3,
    streamable=True,
)
def eee(X: np.ndarray | PointCloud) -> float:
    """Eigenspectrum early enrichment (EEE) of the PCA spectrum; 0 = isotropic, → 1 = one direction.

    With λ₁ ≥ … ≥ λ_D the PCA variances (D = min(n, d)), Sᵢ = Σ_{j≤i}λⱼ and Rᵢ = i·S_D/D:
    EEE = trapz_{x=0…D−1}(S − R)/(S_D·D/2). A single spike gives ((D − 1)/D)². Needs 3 points: n points
    span at most n − 1 directions, so 2 points always look one-dimensional.
    """
    cloud = as_cloud(X)
    _total_variance(cloud)
    return eee_from_eigenvalues(cloud.eigenvalues())


@measure(
    "pc_ratio",
    family="spread",
    reference="Marbut et al. 2023 (ICML), PC ratio λ_min/λ_max (PC_ratio)",
    higher_means_spread=True,
    min_points=3,
    streamable=True,
)
def pc_ratio(X: np.ndarray | PointCloud) -> float:
    """Ratio of the smallest to the largest PCA variance, λ_min/λ_max over all d axes.

    0 when n ≤ d (the cloud spans at most n − 1 < d directions); for an isotropic Gaussian it tends
    to 1 only as n/d grows (Marchenko–Pastur: ≈ ((1 − √(d/n))/(1 + √(d/n)))²).
    """
    cloud = as_cloud(X)
    _total_variance(cloud)
    lam = _padded_spectrum(cloud)
    return float(lam[-1] / lam[0])


@measure(
    "gauss_kl",
    family="spread",
    reference="Marbut et al. 2023 (ICML), Gaussian KL to N(0, I) after PCA and variance matching (KL_divergence)",
    higher_means_spread=False,
    min_points=3,
    params={"v_ref": Choice("analytic", "sampled")},
)
def gauss_kl(X: np.ndarray | PointCloud, *, seed: int = 0, v_ref: str = "analytic") -> float:
    """KL divergence of the variance-matched cloud's Gaussian fit from N(0, I_d).

    KL = ½(μᵀμ + tr Σ − d − ln det Σ). In the centered principal basis μ = 0 and Σ = diag(λ′) with
    λ′ = λ·v_ref/Σλ, so KL = ½(v_ref − d − Σⱼ ln λ′ⱼ); with the default ``v_ref="analytic"`` (v_ref = d)
    KL = −½Σⱼ ln λ′ⱼ. ``v_ref="sampled"``: the published code's sampled reference variance (seeded).
    ln det is summed from the eigenvalues (the published code took ln(det Σ + 1e-16), which underflows
    to ln 1e-16 for most real spectra); zero eigenvalues (n ≤ d, flat directions) are floored at 1e-12
    so the value stays finite (and very large). 0 = isotropic Gaussian.
    """
    cloud = as_cloud(X)
    ref = _v_ref("gauss_kl", v_ref, cloud.n, cloud.d, seed)
    lam = _padded_spectrum(cloud) * (ref / _total_variance(cloud))
    return float(0.5 * (ref - cloud.d - np.log(np.maximum(lam, _TINY)).sum()))


# -- per-component measures on the variance-matched scores -------------------------------------------


def _vasicek_rows(A: np.ndarray, window: int | None = None) -> np.ndarray:
    """Vasicek entropy of each row of A (see :func:`vasicek_entropy`)."""
    D, n = A.shape
    m = int(math.floor(math.sqrt(n) + 0.5)) if window is None else int(window)
    if not 1 <= m < n:
        raise BadInputError(f"Vasicek window {m} must be between 1 and n − 1 = {n - 1}.")
    dtype = A.dtype if A.dtype in (np.float32, np.float64) else np.float64
    out = np.empty(D)
    gap = np.empty((min(_BLOCK, D), n), dtype=dtype)
    for r in range(0, D, _BLOCK):
        S = np.sort(np.asarray(A[r : r + _BLOCK], dtype=dtype), axis=1)
        b = S.shape[0]
        g = gap[:b]
        # spacing X(i+m) − X(i−m) with order statistics clamped at the first and last
        if n > 2 * m:
            np.subtract(S[:, 2 * m :], S[:, : n - 2 * m], out=g[:, m : n - m])
        lo_end = min(m, n)
        g[:, :lo_end] = S[:, np.minimum(np.arange(lo_end) + m, n - 1)] - S[:, :1]
        hi_start = max(n - m, lo_end)
        g[:, hi_start:] = S[:, -1:] - S[:, np.arange(hi_start, n) - m]
        floor = (_TINY * np.maximum(S.std(axis=1, dtype=np.float64), _TINY)).astype(dtype)
        np.maximum(g, floor[:, None], out=g)
        out[r : r + b] = np.log(g).mean(axis=1, dtype=np.float64) + math.log(n / (2 * m))
    return out


def vasicek_entropy(Z: np.ndarray, window: int | None = None) -> np.ndarray:
    """Vasicek m-spacing differential entropy of each column of Z (nats).

    H = (1/n)·Σᵢ ln(n/(2m)·(z₍ᵢ₊ₘ₎ − z₍ᵢ₋ₘ₎)), order statistics clamped at 1 and n, window
    m = ⌊√n + ½⌋ by default (scipy's). Zero spacings (point masses) are floored at 1e-12·(column std).
    Computed in the input's float precision (float32 stays float32 for the sort), averaged in float64.
    """
    return _vasicek_rows(np.asarray(Z).T, window)


@measure(
    "vrm",
    family="spread",
    reference="Marbut et al. 2023 (ICML), Vasicek ratio MSE (vasicek_entropy); Vasicek 1976, eq. 1.3",
    higher_means_spread=False,
    min_points=5,
    params={"v_ref": Choice("analytic", "sampled"), "method": Choice("vasicek", "auto")},
)
def vrm(X: np.ndarray | PointCloud, *, seed: int = 0, v_ref: str = "analytic", method: str = "vasicek") -> float:
    """Vasicek ratio MSE: how far each variance-matched principal component is from N(0, 1) in entropy.

    Per component j of the cloud rescaled to total variance v_ref: rⱼ = exp(Hⱼ)/√(2πe), Hⱼ its
    differential entropy (rⱼ = 1 for a standard normal); VRM = (1/d)·Σⱼ(1 − rⱼ)², the d − min(n, d)
    flat directions of an n ≤ d cloud counting as rⱼ = 0. 0 = looks like an isotropic Gaussian; can
    exceed 1 for very uneven spectra (rⱼ > 2).

    ``v_ref``: ``"analytic"`` (default, v_ref = d) or ``"sampled"`` (published code: the total PCA
    variance of an N×d Gaussian sample, drawn exactly and seeded). Rescaling by c shifts every Hⱼ by
    ln c, so both share one set of entropies. ``method``: ``"vasicek"`` (default, every n) or
    ``"auto"``, scipy's default used by the published code (Vasicek for n > 1000, Ebrahimi for
    n ≤ 1000, van Es for n ≤ 10). Needs 5 points: the window m = ⌊√n + ½⌋ must be below n/2.
    """
    cloud = as_cloud(X)
    _choice("vrm", "method", method, ("vasicek", "auto"))
    ZT = _matched_components(cloud)
    if method == "vasicek" or cloud.n > 1000:
        H = _vasicek_rows(ZT)
    else:
        from scipy.stats import differential_entropy

        H = np.asarray(differential_entropy(ZT.astype(np.float64), axis=1), dtype=np.float64)
    ref = _v_ref("vrm", v_ref, cloud.n, cloud.d, seed)
    H = H + 0.5 * math.log(ref / cloud.d)
    r = np.exp(H) / math.sqrt(2 * math.pi * math.e)
    missing = cloud.d - r.size
    return float((((1.0 - r) ** 2).sum() + missing) / cloud.d)


def _bin_counts(Z: np.ndarray, lo: float, hi: float, bins: int, *, clip: bool) -> np.ndarray:
    """Per-row histograms of Z (rows × n) in ``bins`` equal bins on [lo, hi], shape (rows, bins).

    ``clip=True`` puts values outside the range in the end bins; ``clip=False`` drops them (numpy's
    ``histogram(range=...)`` semantics, right edge inclusive).
    """
    rows = Z.shape[0]
    idx = np.floor((Z.astype(np.float64) - lo) * (bins / (hi - lo)))
    if clip:
        np.clip(idx, 0, bins - 1, out=idx)
        flat = (idx.astype(np.int64) + (np.arange(rows) * bins)[:, None]).ravel()
    else:
        idx[Z == hi] = bins - 1
        inside = (idx >= 0) & (idx < bins)
        flat = (idx.astype(np.int64) + (np.arange(rows) * bins)[:, None])[inside]
    return np.bincount(flat, minlength=rows * bins).reshape(rows, bins).astype(np.float64)


def gaussian_columns(n: int, d: int, seed: int) -> Iterator[tuple[int, np.ndarray]]:
    """The columns of a seeded n×d N(0, 1) sample, as (first column, block of ≤ 8 columns as rows).

    The reference sample of ``dkls`` with ``reference="sampled"`` (the published form).

    Each block has its own child seed, so the sample can be regenerated block by block without being
    held in memory.
    """
    children = np.random.SeedSequence([int(seed), _STREAM_DKLS]).spawn(-(-d // _GAUSS_BLOCK))
    for b, child in enumerate(children):
        j = b * _GAUSS_BLOCK
        yield j, np.random.default_rng(child).standard_normal((min(_GAUSS_BLOCK, d - j), n), dtype=np.float32)


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Σ_b p ln(p/q) per row, with 0·ln 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    return terms.sum(axis=1)


@measure(
    "dkls",
    family="spread",
    reference="Marbut et al. 2023 (ICML), discretised KL per component, mean of squares (kl_divergence_discrete)",
    higher_means_spread=False,
    min_points=3,
    params={"bins": Int(2), "reference": Choice("exact", "sampled"), "limit": Real(1e-9)},
)
def dkls(
    X: np.ndarray | PointCloud, *, seed: int = 0, bins: int = 30, reference: str = "exact", limit: float = 4.0
) -> float:
    """Mean squared per-component discretised KL of the variance-matched cloud from N(0, 1).

    Each variance-matched principal component zⱼ is binned into ``bins`` equal bins; with pⱼ its bin
    frequencies and qⱼ the reference's, KLⱼ = Σ_b pⱼ_b ln(pⱼ_b/qⱼ_b) and DKLS = (1/d)·Σⱼ KLⱼ². The
    d − min(n, d) flat directions of an n ≤ d cloud are point masses at 0.

    ``reference="exact"`` (default): bins on [−limit, limit], values outside go to the end bins, and q
    is the exact N(0, 1) probability of each bin (end bins take the tails), total variance matched to d.
    ``reference="sampled"`` (the published code): a seeded N×d N(0, 1) sample; its total variance is
    v_ref, the bins span its global [min, max], each component is compared with the histogram of its
    own sample column, values outside the range are dropped and 1e-16 is added to every bin before
    normalising.
    """
    cloud = as_cloud(X)
    _choice("dkls", "reference", reference, ("exact", "sampled"))
    _at_least("dkls", "bins", bins, 2)
    ZT = _matched_components(cloud)
    D, n, d = ZT.shape[0], cloud.n, cloud.d
    kls = np.empty(d)
    if reference == "exact":
        if not limit > 0:
            raise BadInputError(f"dkls limit must be positive, got {limit!r}.")
        lo, hi = -float(limit), float(limit)
        cdf = norm.cdf(np.linspace(lo, hi, bins + 1))
        cdf[0], cdf[-1] = 0.0, 1.0
        q = np.maximum(np.diff(cdf), _TINY)[None, :]
        for r in range(0, D, _BLOCK):
            p = _bin_counts(ZT[r : r + _BLOCK], lo, hi, bins, clip=True) / n
            kls[r : r + p.shape[0]] = _kl_rows(p, q)
        if D < d:
            p0 = _bin_counts(np.zeros((1, 1)), lo, hi, bins, clip=True)
            kls[D:] = _kl_rows(p0, q)[0]
        return float((kls**2).mean())
    # published: one pass for the sample's range and total variance, one for its column histograms
    lo, hi, total = math.inf, -math.inf, 0.0
    for _, G in gaussian_columns(n, d, seed):
        lo, hi = min(lo, float(G.min())), max(hi, float(G.max()))
        total += float(G.var(axis=1, ddof=1, dtype=np.float64).sum())
    c = math.sqrt(total / d)
    for j, G in gaussian_columns(n, d, seed):
        q = _bin_counts(G, lo, hi, bins, clip=False) + 1e-16
        q /= q.sum(axis=1, keepdims=True)
        b = G.shape[0]
        if j < D:
            Zb = ZT[j : min(j + b, D)] * np.float32(c)
            if Zb.shape[0] < b:  # the block straddles the flat directions
                Zb = np.vstack([Zb, np.zeros((b - Zb.shape[0], n), dtype=np.float32)])
        else:
            Zb = np.zeros((b, 1), dtype=np.float32)
        p = _bin_counts(Zb, lo, hi, bins, clip=False) + 1e-16
        p /= p.sum(axis=1, keepdims=True)
        kls[j : j + b] = _kl_rows(p, q)
    return float((kls**2).mean())


# -- neighbourhood measures ----------------------------------------------------------------------------


@measure(
    "knn_overlap",
    family="spread",
    reference="Marbut et al. 2023 (ICML), overlap of 1st- and k-th-NN distance histograms (knn_overlap)",
    higher_means_spread=False,
    min_points=3,
    params={"max_points": Int(3, none_ok=True), "k": Int(1, none_ok=True), "bins": Int(1)},
)
def knn_overlap(
    X: np.ndarray | PointCloud,
    *,
    seed: int = 0,
    max_points: int | None = 10_000,
    k: int | None = None,
    bins: int = 30,
    distinct: bool = False,
) -> float:
    """Overlap of the 1st-NN and k-th-NN distance histograms, k = min(5d, 100) by default.

    Both distance sets (ρ₁ᵢ, ρₖᵢ) are binned into ``bins`` equal bins over their joint range; the
    overlap is Σ_b min(h¹_b, hᵏ_b)/N ∈ [0, 1] (the published code's Σ(hᵏ − max(hᵏ − h¹, 0))/Σhᵏ).
    Near 0 for an evenly spread cloud, whose 1st and k-th neighbour distances form two narrow,
    separate peaks (the authors' 100-d sphere scores 0.0001); high when local density varies, as in
    clusters of uneven size or width (their uneven clusters: 0.85), because both distance sets then
    spread over orders of magnitude. (The published docstring reads it the other way round; their
    numbers, and ours, go this way.) It tracks density heterogeneity, not the spectrum: an anisotropic
    Gaussian scores lower than an isotropic one. On a seeded subsample of ≤ ``max_points`` rows
    (``None``: all; the published code used all points); k-NN distances shrink as N grows, so compare
    clouds at equal ``max_points``. k is capped at N − 1. Scale, rotation and translation invariant.
    """
    cloud = as_cloud(X)
    _at_least("knn_overlap", "bins", bins, 1)
    _at_least("knn_overlap", "k", k, 1)
    base, sub = _knn_sample(cloud, "knn_overlap", max_points, seed, distinct)
    _trace_variance(base)  # identical points: undefined, not "perfect overlap"
    kk = min(5 * cloud.d, 100, sub.n - 1) if k is None else min(k, sub.n - 1)
    D, _ = sub.knn(kk)
    d1, dk = D[:, 0], D[:, kk - 1]
    lo, hi = float(min(d1.min(), dk.min())), float(max(d1.max(), dk.max()))
    if hi <= lo:
        return 1.0
    edges = np.linspace(lo, hi, bins + 1)
    h1 = np.histogram(d1, edges)[0]
    hk = np.histogram(dk, edges)[0]
    return float(np.minimum(h1, hk).sum() / dk.size)


def _kl_entropy(log_rho: np.ndarray, d: int) -> float:
    """Kozachenko–Leonenko 1-NN entropy (nats) from the log 1-NN distances of N points in d dims.

    H = (d/N)·Σᵢ ln ρᵢ + ln V_d + γ + ln(N − 1), V_d = π^{d/2}/Γ(d/2 + 1) the unit-ball volume.
    """
    N = log_rho.size
    log_vd = (d / 2) * math.log(math.pi) - gammaln(d / 2 + 1)
    return float(d * log_rho.mean() + log_vd + EULER_GAMMA + math.log(N - 1))


def _published_koleo_entropy(rho: np.ndarray) -> float:
    """The published code's 'Beirlant' form: (1/N)·Σᵢ ln(N·ρᵢ + 1e-16) + ln 2 + γ (the 1-D estimator)."""
    N = rho.size
    return float(np.log(N * rho + 1e-16).mean() + math.log(2) + EULER_GAMMA)


def _first_nn(cloud: PointCloud) -> np.ndarray:
    D, _ = cloud.knn(1)
    return D[:, 0]


@measure(
    "koleo",
    family="spread",
    reference="Marbut et al. 2023 (ICML), KoLeo entropy ratio (koleo_entropy); Kozachenko & Leonenko 1987",
    higher_means_spread=True,
    min_points=3,
    params={"max_points": Int(3, none_ok=True), "reference": Choice("analytic", "sampled", "published")},
)
def koleo(
    X: np.ndarray | PointCloud,
    *,
    seed: int = 0,
    max_points: int | None = 10_000,
    reference: str = "sampled",
    distinct: bool = False,
) -> float:
    """Kozachenko–Leonenko 1-NN entropy of the variance-matched cloud ÷ the same estimate on N(0, I_d) draws.

    The cloud is centered and scaled to total variance d; on a seeded subsample of N ≤ ``max_points``
    rows (``None``: all), with ρᵢ the 1-NN distance, H = (d/N)·Σᵢ ln ρᵢ + ln V_d + γ + ln(N − 1),
    V_d = π^{d/2}/Γ(d/2 + 1). The ratio's denominator:

    - ``"sampled"`` (default): the same estimator on a seeded N(0, I_d) sample of N rows (the published
      code's reference), so the estimator's finite-sample bias, which grows with d, cancels.
    - ``"analytic"``: the exact entropy of N(0, I_d), (d/2)·ln(2πe). Biased by width: isotropic
      Gaussians (N = 10,000) score 1.011 / 1.081 / 1.119 at d = 16 / 64 / 128 and ≈ 1.17 at d = 384,
      against 1.004 / 1.002 / 1.002 and ≈ 1.00 with ``"sampled"``, so models of different width
      would differ by construction. Kept as a named option (the textbook ratio).
    - ``"published"``: the published code's formula on both, (1/N)·Σ ln(N·ρᵢ + 1e-16) + ln 2 + γ
      (the one-dimensional estimator applied to d-dimensional distances), sampled reference.

    The sampled reference costs a second exact 1-NN search (on the N reference rows); the reference
    sample is shared with ``knn_kl`` at equal ``max_points``, ``seed`` and ``distinct``.

    Near 1 = as spread as an isotropic Gaussian of the same total variance; lower = more concentrated.
    """
    cloud = as_cloud(X)
    _choice("koleo", "reference", reference, ("sampled", "analytic", "published"))
    base, sub = _knn_sample(cloud, "koleo", max_points, seed, distinct)
    d = cloud.d
    scale = math.sqrt(d / _trace_variance(base))
    rho = _first_nn(sub) * scale
    if reference == "published":
        rho_ref = _first_nn(_shared_reference(sub, seed))
        return _published_koleo_entropy(rho) / _published_koleo_entropy(rho_ref)
    h = _kl_entropy(np.log(np.maximum(rho, _TINY)), d)
    if reference == "analytic":
        return h / (0.5 * d * math.log(2 * math.pi * math.e))
    rho_ref = np.maximum(_first_nn(_shared_reference(sub, seed)), _TINY)
    return h / _kl_entropy(np.log(rho_ref), d)


@measure(
    "knn_kl",
    family="spread",
    reference="Wang, Kulkarni & Verdú 2009 (IEEE Trans. Inf. Theory), eq. 5, k = 1; as used by Marbut et al. 2023",
    higher_means_spread=False,
    min_points=3,
    params={"max_points": Int(3, none_ok=True), "v_ref": Choice("analytic", "sampled")},
)
def knn_kl(
    X: np.ndarray | PointCloud,
    *,
    seed: int = 0,
    max_points: int | None = 10_000,
    v_ref: str = "analytic",
    clip: bool = False,
    distinct: bool = False,
) -> float:
    """Empirical 1-NN KL divergence of the variance-matched cloud from a seeded N(0, I_d) sample.

    On a seeded subsample of N ≤ ``max_points`` rows (``None``: all), centered and scaled to total
    variance v_ref, D̂ = (d/N)·Σᵢ ln(νᵢ/ρᵢ) + ln(M/(N − 1)), with ρᵢ the distance to the nearest other
    sample point and νᵢ to the nearest of M = N reference points. ``clip=True`` is the published
    formula, (d/N)·Σᵢ max(0, ln(νᵢ/ρᵢ)) without the size term; ``v_ref="sampled"`` the published
    sampled reference variance. 0 = indistinguishable from the Gaussian (the estimator can go slightly
    negative).
    """
    import faiss

    cloud = as_cloud(X)
    base, sub = _knn_sample(cloud, "knn_kl", max_points, seed, distinct)
    d = cloud.d
    scale = math.sqrt(_v_ref("knn_kl", v_ref, base.n, d, seed) / _trace_variance(base))
    log_rho = np.log(np.maximum(_first_nn(sub) * scale, _TINY))
    Z = (sub.X - base.mean().astype(np.float32)) * np.float32(scale)
    G = _shared_reference(sub, seed)
    index = faiss.IndexFlatL2(d)
    index.add(G.X)
    _, nearest = index.search(Z, 1)
    diff = Z.astype(np.float64) - G.X[nearest[:, 0]].astype(np.float64)  # exact distance to that point
    log_nu = 0.5 * np.log(np.maximum(np.einsum("ij,ij->i", diff, diff), _TINY**2))
    terms = log_nu - log_rho
    if clip:
        return float(d * np.maximum(terms, 0.0).mean())
    return float(d * terms.mean() + math.log(G.n / (sub.n - 1)))
