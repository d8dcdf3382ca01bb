"""Quantized cell-density measures (Marbut, Chandler & Wheeler 2024, arXiv 2406.12159; code ``amarbut/manifolds``).

A quantizer with M codebooks of k = 2^nbits codewords is trained on the cloud:

* ``pq_*``: a faiss ``ProductQuantizer``. The d dimensions are split into M contiguous blocks of d/M
  and each block gets its own k-means codebook; a point's m-th code is its nearest centroid in block m.
* ``aq_*``: a faiss ``LocalSearchQuantizer`` (LSQ++), an additive quantizer with M codebooks that each
  span all d dimensions, x ≈ Σₘ Cₘ[iₘ].

Every point gets M codes. A *cell* is one codeword of one codebook, so there are M·k marginal cells (not
k^M joint cells). The nine measures per quantizer describe how unevenly the points fill the cells
(``pp``, ``pp_published``, ``pc_var``, ``pc_kl``), how evenly the codewords are spaced (``cd_var``), how
spread the points inside a cell are (``pd_eee``) and how well the quantizer reconstructs the cloud
(``re``, ``ri``, ``rs``).

**Shared work.** The quantizer is trained and applied once per (cloud, kind, M, nbits, seed,
training-set size, training iterations) through :meth:`PointCloud.cached`; all nine measures of a kind
read the same :class:`QuantizerFit` (codes, codewords and per-point reconstruction errors).

**Training.** As published, faiss trains on every point of the cloud for ``train_iters`` = 25
iterations (faiss's default and the published setting); ``train_size`` caps the training set at a
seeded subsample (default ``None``: no cap). faiss's k-means inside the PQ still subsamples to 256
points per centroid (65,536 for k = 256), as it did in the published code. Every point is then
encoded, in chunks of 16,384 rows, so memory stays O(n·M) for the codes plus one chunk.

The defaults were 10 iterations on at most 10,000 points until measured on a real cloud: MiniLM
layer 6 on 5,000 bundled sentences (138,417 tokens × 384), seeds 0, 1, 2, mean ± seed SD
(``nice -n 10 python bench/bench_quantizer_training.py --n-sentences 5000 --seeds 0 1 2``)::

    training                       pq_pp          pq_re             aq_pp          aq_re
    10 iterations, 10,000 points   4.565 ± 0.245  0.7018 ± 0.0004   3.823 ± 0.060  0.5777 ± 0.0012
    25 iterations, 10,000 points   4.645 ± 0.267  0.7001 ± 0.0007   4.281 ± 0.118  0.5722 ± 0.0005
    25 iterations, every point     3.154 ± 0.048  0.6574 ± 0.0003   2.039 ± 0.022  0.4604 ± 0.0005

The reduced training moved PP by 5.8 (PQ) and 30 (AQ) seed SDs (``pp_published`` likewise:
1.222 → 1.134 and 1.176 → 1.065), mostly through the training-set size: a quantizer fitted to a
10,000-point subsample fills its cells more unevenly on the whole cloud. So the default is the
published setting. Its training work is n·25 point-iterations, (n/10,000)·2.5 times the old
default's for n > 10,000 (≈ 35 times on this cloud; LSQ training dominates); a cap (``train_size``)
buys speed at the price of a higher, n-dependent PP. Clouds of at most 10,000 points (e.g. a
study's ``max_points`` sample) only see the iteration change, which matters for AQ alone: on the
8,140 tokens of 300 sentences (same layer, trained on all, seeds 0 and 1; ``--n-sentences 300 --seeds
0 1``) aq_pp went from 3.56 to 4.56 (seed SD 0.05) and pq_pp from 3.79 to 3.88 (seed SD 0.41).

**Cost.** With the earlier training defaults (10 iterations on 10,000 points), the whole family (18
measures) on a 150,000 × 384 synthetic clustered cloud (2,000 anisotropic Gaussian clusters of
Zipf-distributed sizes), on 2 cores shared with other jobs (load average about 4.5): 37 s with faiss on one OpenMP thread (LSQ training on 10,000 points plus encoding
of all 150,000: 21 s; PQ: 1 s; ``pd_eee``: 8 s + 7 s for the 2 × 1,024 per-cell spectra; the other 14
measures: < 0.1 s together), 69 s with faiss's default two threads (LSQ 50 s; see Threads). The values
were identical in both runs.

**Seeding.** ``seed`` drives (i) the training subsample (its own numpy stream), (ii) faiss's k-means
(``ProductQuantizer.cp.seed``: initial centroids and faiss's own subsampling), (iii) LSQ
(``LocalSearchQuantizer.random_seed``: the Mersenne-Twister stream for the random initial codes, the
codebook perturbations during training and the random restarts of the ICM encoder; encoding re-seeds
that stream for every call, so codes depend on the seed and the fixed chunking, never on call order)
and (iv) the sampled uniform reference of ``pc_kl(reference="sampled")`` (its own numpy stream). The
same seed gives identical codes. faiss's parallel loops in these paths are per point or per centroid,
and the tests check that one and two OpenMP threads give identical codes.

**Threads.** faiss uses OpenMP (``OMP_NUM_THREADS`` / ``faiss.omp_set_num_threads``); this module leaves
the setting alone. LSQ runs many short parallel regions, and on a machine oversubscribed by other
processes two threads were 2.4 times slower than one (above); set one thread there. The per-cell spectra of ``pd_eee`` are small
eigenproblems, solved with single-threaded BLAS by a pool of worker threads (one per available core).

**Published vs textbook.** ``pp`` is Lloyd's index on the true mean μ = N/k; ``pp_published`` keeps the
published code's m = M·N/k scaling (see its docstring). ``pc_kl`` compares with the exact uniform
distribution; ``reference="sampled"`` reproduces the published sampled reference. The published code's
``np.histogram(codes, bins=k)`` bins over the *observed* code range; for integer codes in [0, k) each
distinct code still falls in its own bin, so the multiset of counts, and therefore ``pp_published`` and
``pc_var``, is the same as with exact per-code counts. Only the pairing of code bins with the sampled
uniform histogram in ``pc_kl(reference="sampled")`` changes, and that option reproduces it.

**Degenerate cases.** ``pc_var`` is +inf when one cell of a codebook holds every point (odds p/(1−p)
with p = 1). ``cd_var`` is 0 when all codewords of every codebook coincide, ``ri`` and ``rs`` are 0 when
every reconstruction error is equal (e.g. a perfect reconstruction) and ``re`` is 0 for an all-zero
cloud; the published code returned NaN (0/0) in these cases. ``pd_eee`` raises a
:class:`~latentatlas.errors.BadInputError` when no cell holds two distinct points.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import kl_div, xlogy
from scipy.stats import skew

from ..errors import BadInputError
from ..provenance import single_thread_pool
from .cloud import PointCloud, as_cloud, distinct_rows
from .registry import Choice, Int, measure
from .spread import eee_from_eigenvalues

log = logging.getLogger(__name__)

_CHUNK = 16_384  # rows encoded / reconstructed at once (part of the LSQ code definition, see Seeding)
_MAX_NBITS = 12  # LSQ keeps M²·k² binary terms in memory: 4096 codewords per codebook is already 1 GiB
_KINDS = ("pq", "aq")
_REFERENCE = (
    "Marbut, Chandler & Wheeler 2024 (arXiv 2406.12159), quantized cell density; code amarbut/manifolds "
    "(sample_build_and_metrics.py, class quantization)"
)
DEFAULT_M = 4
DEFAULT_NBITS = 8
DEFAULT_TRAIN_SIZE: int | None = None  # every point, as published (see Training)
DEFAULT_TRAIN_ITERS = 25  # faiss's default and the published setting (see Training)

# independent numpy streams derived from one user seed
_STREAM_TRAIN = 1
_STREAM_UNIFORM = 2


@dataclass(frozen=True)
class QuantizerFit:
    """A trained quantizer's view of one cloud.

    Attributes:
        kind: ``"pq"`` or ``"aq"``.
        M: number of codebooks.
        k: codewords per codebook (2^nbits).
        codes: (n, M) codeword index of every point in every codebook.
        codebooks: M arrays of codewords, (k, d/M) for PQ (each in its own sub-space), (k, d) for AQ.
        errors: (n,) float64 per-point reconstruction error ‖x − x̂‖₂.
        sq_norm_sum: Σ‖x‖² over the cloud (float64).
    """

    kind: str
    M: int
    k: int
    codes: np.ndarray
    codebooks: list[np.ndarray]
    errors: np.ndarray
    sq_norm_sum: float

    def counts(self) -> np.ndarray:
        """(M, k) number of points in each cell."""
        return np.stack([np.bincount(self.codes[:, m], minlength=self.k) for m in range(self.M)])


# -- training and encoding -------------------------------------------------------------------------------


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def _check_params(
    kind: str, d: int, M: int, nbits: int, seed: int, train_size: int | None, train_iters: int
) -> None:
    if kind not in _KINDS:
        raise BadInputError(f"quantizer kind {kind!r} must be one of {', '.join(map(repr, _KINDS))}.")
    for name, value, lowest in (("M", M, 1), ("nbits", nbits, 1), ("train_iters", train_iters, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lowest:
            raise BadInputError(f"quantizer {name} must be an integer ≥ {lowest}, got {value!r}.")
    if nbits > _MAX_NBITS:
        raise BadInputError(
            f"quantizer nbits={nbits} is too large (at most {_MAX_NBITS}: 2^nbits codewords per codebook)."
        )
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**31:
        raise BadInputError(f"seed must be an integer in [0, 2^31), got {seed!r} (faiss seeds are C ints).")
    if train_size is not None and (
        not isinstance(train_size, (int, np.integer)) or isinstance(train_size, bool) or train_size < (1 << nbits)
    ):
        raise BadInputError(
            f"train_size={train_size!r} must be an integer ≥ 2^nbits = {1 << nbits} (or None for every point): "
            "faiss needs at least one training point per codeword."
        )
    if kind == "pq" and d % M:
        raise BadInputError(
            f"a product quantizer splits the {d} dimensions into M={M} equal blocks, so d must be "
            f"divisible by M; choose M among the divisors of {d}."
        )


def _training_rows(cloud: PointCloud, train_size: int, seed: int) -> np.ndarray:
    """The whole cloud if it is small enough, else a seeded subsample of ``train_size`` rows (in order)."""
    if cloud.n <= train_size:
        return cloud.X
    idx = np.sort(_rng(seed, _STREAM_TRAIN).choice(cloud.n, size=train_size, replace=False))
    return cloud.X[idx]


def _chunks(n: int) -> Iterator[slice]:
    for s in range(0, n, _CHUNK):
        yield slice(s, min(s + _CHUNK, n))


def _sq_norm_sum(X: np.ndarray) -> float:
    return float(sum(np.einsum("ij,ij->", X[sl], X[sl], dtype=np.float64) for sl in _chunks(X.shape[0])))


def _fit_pq(cloud: PointCloud, M: int, nbits: int, seed: int, train_size: int, train_iters: int) -> QuantizerFit:
    import faiss

    k = 1 << nbits
    pq = faiss.ProductQuantizer(cloud.d, M, nbits)
    pq.cp.seed = int(seed)
    pq.cp.niter = int(train_iters)
    # faiss warns on stderr below 39 training points per centroid; that trade-off is train_size's job
    pq.cp.min_points_per_centroid = 1
    pq.train(_training_rows(cloud, train_size, seed))
    dsub = pq.dsub
    centroids = faiss.vector_to_array(pq.centroids).reshape(M, k, dsub)
    codes = np.empty((cloud.n, M), dtype=np.int64)
    sq_err = np.zeros(cloud.n, dtype=np.float64)
    for m in range(M):
        C = np.ascontiguousarray(centroids[m])
        index = faiss.IndexFlatL2(dsub)
        index.add(C)
        for sl in _chunks(cloud.n):
            block = np.ascontiguousarray(cloud.X[sl, m * dsub : (m + 1) * dsub])
            _, nearest = index.search(block, 1)
            codes[sl, m] = nearest[:, 0]
            # x̂ restricted to block m is its centroid; the residual is taken exactly (not from faiss's
            # ‖x‖² + ‖c‖² − 2xᵀc, which loses precision near zero)
            diff = block.astype(np.float64) - C[nearest[:, 0]]
            sq_err[sl] += np.einsum("ij,ij->i", diff, diff)
    return QuantizerFit(
        kind="pq",
        M=M,
        k=k,
        codes=codes,
        codebooks=[centroids[m].copy() for m in range(M)],
        errors=np.sqrt(sq_err),
        sq_norm_sum=_sq_norm_sum(cloud.X),
    )


def unpack_codes(packed: np.ndarray, M: int, nbits: int) -> np.ndarray:
    """Unpack faiss bit-packed codes into an (n, M) int64 array of codeword indices.

    faiss writes the M codes of ``nbits`` bits each as one little-endian bit stream (least significant
    bit first, code 0 first), padded to whole bytes.
    """
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    bits = np.unpackbits(packed, axis=1, bitorder="little")[:, : M * nbits]
    weights = np.left_shift(1, np.arange(nbits, dtype=np.int64))
    return bits.reshape(packed.shape[0], M, nbits).astype(np.int64) @ weights


def _fit_aq(cloud: PointCloud, M: int, nbits: int, seed: int, train_size: int, train_iters: int) -> QuantizerFit:
    import faiss

    k = 1 << nbits
    lsq = faiss.LocalSearchQuantizer(cloud.d, M, nbits)
    lsq.random_seed = int(seed)
    lsq.train_iters = int(train_iters)
    lsq.train(_training_rows(cloud, train_size, seed))
    books = faiss.vector_to_array(lsq.codebooks).reshape(M, k, cloud.d)
    codes = np.empty((cloud.n, M), dtype=np.int64)
    errors = np.empty(cloud.n, dtype=np.float64)
    for sl in _chunks(cloud.n):
        block = np.ascontiguousarray(cloud.X[sl])
        packed = lsq.compute_codes(block)
        codes[sl] = unpack_codes(packed, M, nbits)
        diff = block.astype(np.float64) - lsq.decode(packed)
        errors[sl] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return QuantizerFit(
        kind="aq",
        M=M,
        k=k,
        codes=codes,
        codebooks=[books[m].copy() for m in range(M)],
        errors=errors,
        sq_norm_sum=_sq_norm_sum(cloud.X),
    )


FITTERS: dict[str, Callable[[PointCloud, int, int, int, int, int], QuantizerFit]] = {
    "pq": _fit_pq,
    "aq": _fit_aq,
}


def fit_quantizer(
    X: np.ndarray | PointCloud,
    kind: str,
    *,
    M: int = DEFAULT_M,
    nbits: int = DEFAULT_NBITS,
    seed: int = 0,
    train_size: int | None = DEFAULT_TRAIN_SIZE,
    train_iters: int = DEFAULT_TRAIN_ITERS,
) -> QuantizerFit:
    """Train a ``"pq"`` or ``"aq"`` quantizer on the cloud and encode every point, once per cloud.

    The result is memoised on the :class:`PointCloud` under
    ``("quantizer", kind, M, nbits, seed, min(train_size, n), train_iters)`` (``train_size=None``: all n
    points), so every measure of the family on the same cloud and parameters shares one training run.
    """
    cloud = as_cloud(X)
    _check_params(kind, cloud.d, M, nbits, seed, train_size, train_iters)
    cloud.require(f"a {kind} quantizer with 2^{nbits} codewords per codebook", 1 << nbits)
    n_train = cloud.n if train_size is None else min(int(train_size), cloud.n)
    key = ("quantizer", kind, int(M), int(nbits), int(seed), n_train, int(train_iters))

    def fit() -> QuantizerFit:
        t0 = time.perf_counter()
        result = FITTERS[kind](cloud, int(M), int(nbits), int(seed), n_train, int(train_iters))
        log.debug(
            "%s quantizer M=%d nbits=%d trained on %d of %d points (%d iterations) and applied in %.2fs",
            kind, M, nbits, n_train, cloud.n, train_iters, time.perf_counter() - t0,
        )
        return result

    return cloud.cached(key, fit)


# -- count statistics (pure functions, usable on any histogram) --------------------------------------------


def lloyd_patchiness(counts: np.ndarray) -> float:
    """Lloyd's index of patchiness of cell counts: m*/μ = 1 + V/μ² − 1/μ.

    μ = mean count per cell, V = population variance of the counts and m* = μ + (V/μ − 1) Lloyd's mean
    crowding. 1 for Poisson (random) occupancy, above 1 when points clump into few cells, and 1 − 1/μ,
    its minimum, when every cell holds exactly μ points.
    """
    c = np.asarray(counts, dtype=np.float64).ravel()
    mu = c.mean()
    if mu <= 0:
        raise BadInputError("patchiness needs at least one counted point.")
    return float(1.0 + c.var() / mu**2 - 1.0 / mu)


def published_patchiness(codes: np.ndarray, k: int) -> float:
    """Point patchiness exactly as the published code computes it.

    counts = ``np.histogram(codes[:, m], bins=k)[0]`` for each codebook m (bins over the observed code
    range), concatenated (M·k values, total M·N); m = Σcounts / k = M·N/k (M times the true mean count
    μ = N/k); V = var(counts); PP = (m + V/m − 1)/m = 1 + V/(M²μ²) − 1/(Mμ).
    """
    codes = np.asarray(codes)
    counts = np.concatenate([np.histogram(codes[:, m], bins=k)[0] for m in range(codes.shape[1])])
    m_ = counts.sum() / k
    return float((m_ + counts.var() / m_ - 1.0) / m_)


# -- the nine statistics of a fit --------------------------------------------------------------------------


def point_patchiness(fit: QuantizerFit, cloud: PointCloud) -> float:
    """Point patchiness, textbook Lloyd's index over the M·k marginal cell counts cⱼ:
    PP = 1 + V/μ² − 1/μ with μ = N/k (the mean of the cⱼ) and V their population variance."""
    return lloyd_patchiness(fit.counts())


def point_patchiness_published(fit: QuantizerFit, cloud: PointCloud) -> float:
    """Point patchiness as published: PP = (m + V/m − 1)/m with m = M·N/k (M times the mean cell count),
    V the population variance of the M·k per-codebook ``np.histogram(codes, bins=k)`` counts."""
    return published_patchiness(fit.codes, fit.k)


def point_count_variance(fit: QuantizerFit, cloud: PointCloud) -> float:
    """Point-count variance: per codebook, oddsⱼ = pⱼ/(1 − pⱼ)·(k − 1) with pⱼ = cⱼ/N; the population
    variance of the k odds, averaged over the M codebooks (0 for perfectly even counts, +inf when one
    cell holds every point)."""
    p = fit.counts() / cloud.n
    if (p >= 1.0).any():
        return math.inf
    odds = p / (1.0 - p) * (fit.k - 1)
    return float(odds.var(axis=1).mean())


def point_count_kl(fit: QuantizerFit, cloud: PointCloud, *, seed: int = 0, reference: str = "exact") -> float:
    """Point-count KL divergence from uniform occupancy, averaged over the M codebooks.

    ``reference="exact"`` (default): KL(p ‖ U) = Σⱼ pⱼ ln(k·pⱼ) with pⱼ = cⱼ/N (0 iff every cell holds
    N/k points). ``reference="sampled"`` reproduces the published code: Σⱼ kl_div(hⱼ, uⱼ) where h is
    ``np.histogram(codes[:, m], bins=k)`` / N and u the normalised ``np.histogram`` (k bins over the
    observed range) of N seeded Uniform(0, k) draws, one draw shared by all codebooks; it is +inf
    when a uniform bin is empty but the matching code bin is not.
    """
    if reference == "exact":
        p = fit.counts() / cloud.n
        return float(xlogy(p, p * fit.k).sum(axis=1).mean())  # xlogy: 0·ln 0 = 0 for empty cells
    if reference == "sampled":
        draws = _rng(seed, _STREAM_UNIFORM).uniform(0.0, fit.k, cloud.n)
        u = np.histogram(draws, bins=fit.k)[0] / cloud.n
        h = [np.histogram(fit.codes[:, m], bins=fit.k)[0] / cloud.n for m in range(fit.M)]
        return float(np.mean([kl_div(hm, u).sum() for hm in h]))
    raise BadInputError(f"pc_kl reference={reference!r} must be 'exact' or 'sampled'.")


def centroid_distance_variance(fit: QuantizerFit, cloud: PointCloud) -> float:
    """Centroid-distance variance: for every codeword, its squared Euclidean distance to the nearest other
    codeword of the same codebook (for PQ inside that codebook's sub-space, for AQ in the full space);
    the M·k values are divided by their maximum and their population variance is reported."""
    nearest = []
    for C in fit.codebooks:
        C = C.astype(np.float64)
        sq = np.einsum("ij,ij->i", C, C)
        D = sq[:, None] + sq[None, :] - 2.0 * (C @ C.T)
        np.fill_diagonal(D, np.inf)
        nearest.append(np.maximum(D.min(axis=1), 0.0))
    values = np.concatenate(nearest)
    top = values.max()
    if top <= 0:  # every codebook collapsed to one point: all spacings are equal (zero)
        return 0.0
    return float((values / top).var())


def _cell_eee(X: np.ndarray, rows: np.ndarray) -> float | None:
    """EEE of the distinct rows ``X[rows]``, or None when fewer than two distinct rows remain."""
    pts = distinct_rows(X[np.sort(rows)])
    n_c, d = pts.shape
    if n_c < 2:
        return None
    centered = pts.astype(np.float64)
    centered -= centered.mean(axis=0)
    # the non-zero PCA variances come from the smaller of the Gram (n_c²) and scatter (d²) matrices;
    # PCA reports min(n_c, d) components, padded with zeros where the Gram side is larger than the rank
    small = centered @ centered.T if n_c < d else centered.T @ centered
    lam = np.clip(np.linalg.eigvalsh(small), 0.0, None)[::-1][: min(n_c, d)]
    return eee_from_eigenvalues(lam / (n_c - 1))


def point_distribution_eee(fit: QuantizerFit, cloud: PointCloud) -> float:
    """Point-distribution EEE: the mean, over every cell (m, j) holding more than one distinct point, of the
    EEE (eigenspectrum early enrichment, see ``spread.eee_from_eigenvalues``) of the PCA spectrum of the
    cell's de-duplicated original d-dimensional vectors (min(n_cell, d) components).

    Rows are grouped per codebook by one argsort of the codes; a cell's rows are gathered only while
    its spectrum is computed (never all cells at once).
    """
    cells: list[np.ndarray] = []
    for m in range(fit.M):
        order = np.argsort(fit.codes[:, m], kind="stable")
        bounds = np.flatnonzero(np.diff(fit.codes[order, m])) + 1
        cells.extend(rows for rows in np.split(order, bounds) if rows.size > 1)
    # many small eigenproblems: one BLAS thread each, several cells at once (LAPACK releases the GIL)
    with single_thread_pool() as pool:
        values = [v for v in pool.map(lambda rows: _cell_eee(cloud.X, rows), cells) if v is not None]
    if not values:
        raise BadInputError(
            f"no {fit.kind} quantizer cell of {cloud.name} holds two distinct points, so per-cell EEE is "
            "undefined; use a cloud with more distinct points."
        )
    return float(np.mean(values))


def reconstruction_error(fit: QuantizerFit, cloud: PointCloud) -> float:
    """Relative reconstruction error RE = Σᵢ‖xᵢ − x̂ᵢ‖² / Σᵢ‖xᵢ‖² (x̂ the quantizer's reconstruction)."""
    return float(np.dot(fit.errors, fit.errors) / fit.sq_norm_sum) if fit.sq_norm_sum > 0 else 0.0


def reconstruction_iqr(fit: QuantizerFit, cloud: PointCloud) -> float:
    """Reconstruction IQR: with eᵢ = ‖xᵢ − x̂ᵢ‖₂ and ẽ = e / max(e), RI = q75(ẽ) − q25(ẽ)
    (``np.percentile``, linear interpolation)."""
    top = fit.errors.max()
    if top <= 0:
        return 0.0
    q75, q25 = np.percentile(fit.errors / top, [75, 25])
    return float(q75 - q25)


def reconstruction_skew(fit: QuantizerFit, cloud: PointCloud) -> float:
    """Reconstruction skew: the (biased, Fisher-Pearson) sample skewness of eᵢ = ‖xᵢ − x̂ᵢ‖₂,
    E[(e − ē)³]/E[(e − ē)²]^{3/2} (``scipy.stats.skew``)."""
    e = fit.errors
    # all errors equal (to scipy's own tolerance, below which it returns NaN): no asymmetry
    if e.var() <= (10 * np.finfo(np.float64).resolution * e.mean()) ** 2:
        return 0.0
    return float(skew(e))


# -- registration -----------------------------------------------------------------------------------------

#: name suffix → (statistic, higher_means_spread)
STATISTICS: dict[str, tuple[Callable[..., float], bool | None]] = {
    "pp": (point_patchiness, False),
    "pp_published": (point_patchiness_published, False),
    "pc_var": (point_count_variance, False),
    "pc_kl": (point_count_kl, False),
    "cd_var": (centroid_distance_variance, False),
    "pd_eee": (point_distribution_eee, False),
    "re": (reconstruction_error, None),
    "ri": (reconstruction_iqr, None),
    "rs": (reconstruction_skew, None),
}
_KIND_TEXT = {
    "pq": "faiss ProductQuantizer: the d dimensions split into M blocks, one k-means codebook per block",
    "aq": "faiss LocalSearchQuantizer (LSQ++): M additive codebooks spanning all d dimensions",
}


def _min_points(params: Any) -> int:
    return max(2, 1 << int(params.get("nbits", DEFAULT_NBITS)))


class QuantizerMeasure:
    """A registered quantizer measure: fit (or reuse) the cloud's quantizer, then apply one statistic.

    The quantizer settings are the keyword parameters of :meth:`__call__`, which the registry reads;
    the statistic's own options (``reference`` of ``pc_kl``) are those of :class:`QuantizerMeasureWithReference`.
    """

    def __init__(self, kind: str, suffix: str) -> None:
        self.kind, self.statistic = kind, STATISTICS[suffix][0]
        self.__name__ = f"{kind}_{suffix}"
        self.__doc__ = (
            f"{inspect.getdoc(self.statistic)}\n\n"
            f"Quantizer ({kind}): {_KIND_TEXT[kind]}; M codebooks of k = 2^nbits codewords (default 4 × 256), "
            f"trained for ``train_iters`` iterations (default 25) on every point, or on a seeded subsample of "
            f"at most ``train_size`` points, then applied to every point. Shared with the other {kind}_* "
            f"measures of the same cloud."
        )

    def fit(self, X: Any, seed: int, M: int, nbits: int, train_size: int | None, train_iters: int) -> tuple[QuantizerFit, PointCloud]:
        cloud = as_cloud(X)
        return fit_quantizer(cloud, self.kind, M=M, nbits=nbits, seed=seed, train_size=train_size,
                             train_iters=train_iters), cloud

    def __call__(self, X: Any, *, seed: int = 0, M: int = DEFAULT_M, nbits: int = DEFAULT_NBITS,
                 train_size: int | None = DEFAULT_TRAIN_SIZE, train_iters: int = DEFAULT_TRAIN_ITERS) -> float:
        return self.statistic(*self.fit(X, seed, M, nbits, train_size, train_iters))


class QuantizerMeasureWithReference(QuantizerMeasure):
    """A quantizer measure whose statistic compares with a uniform ``reference`` (``pc_kl``)."""

    def __call__(self, X: Any, *, seed: int = 0, M: int = DEFAULT_M, nbits: int = DEFAULT_NBITS,  # type: ignore[override]
                 train_size: int | None = DEFAULT_TRAIN_SIZE, train_iters: int = DEFAULT_TRAIN_ITERS,
                 reference: str = "exact") -> float:
        return self.statistic(*self.fit(X, seed, M, nbits, train_size, train_iters), seed=seed, reference=reference)


#: Constraints of the quantizer parameters (``nbits`` ≤ 12: LSQ keeps M²·k² terms in memory).
QUANTIZER_PARAMS = {"M": Int(1), "nbits": Int(1, _MAX_NBITS), "train_size": Int(2, none_ok=True),
                    "train_iters": Int(1)}

for _kind in _KINDS:
    for _suffix, (_, _direction) in STATISTICS.items():
        _with_reference = _suffix == "pc_kl"
        measure(
            f"{_kind}_{_suffix}", family="quantization", reference=_REFERENCE, higher_means_spread=_direction,
            min_points=_min_points,
            params={**QUANTIZER_PARAMS, **({"reference": Choice("exact", "sampled")} if _with_reference else {})},
        )((QuantizerMeasureWithReference if _with_reference else QuantizerMeasure)(_kind, _suffix))
