"""Local topology features per token (Ruppik et al. 2024, "Local Topology Measures of Contextual
Language Model Latent Spaces", SIGDIAL 2024, arXiv:2408.03706).

Every row (token) ``x`` of a cloud gets a feature vector computed from its neighbourhood
N_k(x) = {x} ∪ kNN(x) (``k + 1`` points, exact Euclidean k-NN from the cloud's shared graph, so memory
stays O(n·k); no n × n matrix is ever formed):

* ``codensity``: δ_k(x) = ‖x − (k-th nearest neighbour of x)‖ (Carlsson et al.; Ruppik et al.).
* Vietoris–Rips persistent homology of N_k(x) (ripser, H0 and H1, Euclidean distances), summarised as

  - Wasserstein norms, the p-Wasserstein distance to the empty diagram,
    ‖Dgm‖_{W_p} = (Σᵢ δᵢᵖ)^{1/p} with δᵢ = (dᵢ − bᵢ)/√2 the L2 distance of a bar to the diagonal
    (the ground metric of ``persim.wasserstein``), p = 1 and p = 2, per homology dimension; the
    infinite H0 bar is dropped;
  - persistence images (Adams et al. 2017, JMLR 18): each bar (b, d) maps to (b, p = d − b);
    ρ(z) = Σᵢ w(pᵢ)·N(z; (bᵢ, pᵢ), σ²I) with the linear weight w(p) = min(p / p_max, 1), integrated
    exactly over every pixel of a fixed grid. The grid (birth range, persistence range, pixel counts
    and sizes, σ) is explicit and stored in the returned :class:`TopologySpec`: pass it back as
    ``image=`` and features of another run or model are computed on the same pixels. When not given,
    ranges are fitted on the diagrams of a seeded sample of neighbourhoods (birth and persistence from
    their minimum to their maximum). Bars outside the ranges are not clipped: each contributes only the
    part of its Gaussian that falls on the grid (nothing when it lies several σ away), with weight
    capped at 1; the Wasserstein norms still count every bar. VR births in H0 are all 0, so the H0
    image has a single birth pixel (a 1-D profile over persistence).
* Local intrinsic dimension of N_k(x):

  - ``twonn_local``: pointwise TwoNN. For each of the k + 1 points of the neighbourhood,
    μ = r₂/r₁ from its first two neighbours *within* the neighbourhood (as
    ``skdim.id.TwoNN().fit_pw``); the estimate is the unbiased maximum likelihood form of
    1/mean(ln μ), d = (m − 1)/Σ ln μ over the m points with r₁ > 0 (Facco et al. 2017; Denti et al.
    2022). It is 0 when no neighbour is distinct from the point's twins and NaN when undefined
    (fewer than 2 usable ratios, or all ratios equal to 1).
  - ``lpca90``: local PCA, the number of principal components that explain 90 % (``lpca_fraction``)
    of the neighbourhood variance, from the eigenvalues of the double-centred Gram matrix
    −½·J·D²·J (classical MDS; they equal the covariance eigenvalues up to the factor k). 0 for a
    neighbourhood of identical points.

With a *datastore* (``datastore=`` row indices, Ruppik et al.'s setting: the datastore is the training
data) the neighbours of every row are taken among the datastore rows only: a datastore row excludes
itself, any other row (e.g. a validation token) queries the datastore as an outside point, so no
feature of any row depends on the non-datastore rows but its own vector. The persistence-image ranges
are then fitted on the diagrams of datastore rows only.

Pairwise distances of each neighbourhood are computed once, in float64, in the main process, chunk by
chunk as the workers need them; the persistent homology runs over chunks of neighbourhoods in parallel
(joblib, ``n_jobs`` processes). Memory is O(n·k) (the k-NN graph, the diagrams and the features) plus a
few chunks of (k+1)² distances; no n × n matrix.
:func:`store_topology_features` computes the features of a whole activation-store layer and caches them
on disk, keyed by store, layer and every parameter.

These are per-token features, not single-number cloud measures, so nothing here is in the measure
registry (the default study runs every registered measure and must stay fast).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtr

from ..errors import BadInputError, CacheCorruptError
from ..io import content_key, entry_intact, write_sealed
from .cloud import PointCloud, as_cloud

log = logging.getLogger(__name__)

FEATURE_VERSION = 1
_DIST_CHUNK = 512  # neighbourhoods per distance batch (memory ≈ chunk·(k+1)·d·8 bytes)
_PH_CHUNK = 1024  # neighbourhoods per parallel task


# -- persistence images ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageGrid:
    """The pixel grid of the persistence image of one homology dimension.

    Pixels are ``n_birth × n_pers`` rectangles covering ``birth_range × pers_range``; ``sigma`` is the
    standard deviation of the Gaussian placed on each bar (b, d − b). With ``n_birth == 1`` and an empty
    birth range (lo == hi, as for H0 of a Rips filtration) the birth axis is integrated out.
    """

    dim: int
    birth_range: tuple[float, float]
    pers_range: tuple[float, float]
    n_birth: int
    n_pers: int
    sigma: float

    def __post_init__(self) -> None:
        b0, b1 = self.birth_range
        p0, p1 = self.pers_range
        if not (math.isfinite(b0) and math.isfinite(b1) and math.isfinite(p0) and math.isfinite(p1)):
            raise BadInputError(f"persistence image ranges of H{self.dim} must be finite; got {self}.")
        if b1 < b0 or p1 <= p0 or self.n_birth < 1 or self.n_pers < 1 or self.sigma <= 0:
            raise BadInputError(
                f"invalid persistence image grid for H{self.dim}: need birth_range lo ≤ hi, pers_range "
                f"lo < hi, at least one pixel per axis and sigma > 0; got {self}."
            )
        if b1 == b0 and self.n_birth != 1:
            raise BadInputError(f"H{self.dim} has an empty birth range, so it takes n_birth=1, got {self.n_birth}.")

    @property
    def pixel_size(self) -> tuple[float, float]:
        """(birth, persistence) size of one pixel in data units (birth 0 when integrated out)."""
        return (
            (self.birth_range[1] - self.birth_range[0]) / self.n_birth,
            (self.pers_range[1] - self.pers_range[0]) / self.n_pers,
        )

    @property
    def size(self) -> int:
        return self.n_birth * self.n_pers

    def names(self) -> list[str]:
        if self.n_birth == 1:
            return [f"pi_h{self.dim}_p{j}" for j in range(self.n_pers)]
        return [f"pi_h{self.dim}_b{i}_p{j}" for i in range(self.n_birth) for j in range(self.n_pers)]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "pixel_size": list(self.pixel_size)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageGrid:
        return cls(
            dim=int(data["dim"]),
            birth_range=(float(data["birth_range"][0]), float(data["birth_range"][1])),
            pers_range=(float(data["pers_range"][0]), float(data["pers_range"][1])),
            n_birth=int(data["n_birth"]),
            n_pers=int(data["n_pers"]),
            sigma=float(data["sigma"]),
        )

    def transform(self, diagrams: Sequence[np.ndarray]) -> np.ndarray:
        """Persistence images of many diagrams ((b, d) rows, finite), shape (len(diagrams), size)."""
        from scipy import sparse

        counts = np.array([len(g) for g in diagrams], dtype=np.int64)
        out = np.zeros((len(diagrams), self.size), dtype=np.float64)
        if counts.sum() == 0:
            return out
        pts = np.concatenate([np.asarray(g, dtype=np.float64).reshape(-1, 2) for g in diagrams])
        b, p = pts[:, 0], pts[:, 1] - pts[:, 0]
        weight = np.clip(p / self.pers_range[1], 0.0, 1.0) if self.pers_range[1] > 0 else np.ones_like(p)
        pers_edges = np.linspace(self.pers_range[0], self.pers_range[1], self.n_pers + 1)
        pf = np.diff(ndtr((pers_edges[None, :] - p[:, None]) / self.sigma), axis=1)
        if self.birth_range[1] > self.birth_range[0]:
            birth_edges = np.linspace(self.birth_range[0], self.birth_range[1], self.n_birth + 1)
            bf = np.diff(ndtr((birth_edges[None, :] - b[:, None]) / self.sigma), axis=1)
        else:
            bf = np.ones((b.size, 1))
        vals = (weight[:, None, None] * bf[:, :, None] * pf[:, None, :]).reshape(b.size, -1)
        owner = np.repeat(np.arange(len(diagrams)), counts)
        S = sparse.csr_matrix((np.ones(b.size), (owner, np.arange(b.size))), shape=(len(diagrams), b.size))
        return np.asarray(S @ vals)


@dataclass(frozen=True)
class ImageSpec:
    """Persistence-image grids, one per homology dimension (keyed by ``dim``)."""

    grids: tuple[ImageGrid, ...]

    def grid(self, dim: int) -> ImageGrid:
        for g in self.grids:
            if g.dim == dim:
                return g
        raise BadInputError(
            f"the persistence image spec has no grid for H{dim} (it covers {[g.dim for g in self.grids]}); "
            "pass a spec fitted with the same homology dimensions, or image=None to fit one."
        )

    def to_json(self) -> list[dict[str, Any]]:
        return [g.to_json() for g in self.grids]

    @classmethod
    def from_json(cls, data: Sequence[dict[str, Any]]) -> ImageSpec:
        return cls(tuple(ImageGrid.from_json(g) for g in data))

    @classmethod
    def fit(
        cls,
        diagrams: dict[int, Sequence[np.ndarray]],
        *,
        resolution: int = 5,
        sample: int = 2000,
        seed: int = 0,
    ) -> ImageSpec:
        """Fit ranges on the diagrams of a seeded sample of ``sample`` neighbourhoods.

        Birth range: [min, max] of the sampled births (collapsed to [0, 0] with one pixel when every
        birth is 0, as in H0); persistence range: [0, max sampled persistence]; ``resolution`` pixels per
        axis; σ = one persistence pixel.
        """
        grids = []
        for dim, dgms in sorted(diagrams.items()):
            n = len(dgms)
            rows = np.sort(np.random.default_rng(seed).choice(n, min(sample, n), replace=False)) if n else []
            picked = [np.asarray(dgms[i]).reshape(-1, 2) for i in rows]
            pts = np.concatenate(picked) if picked else np.zeros((0, 2))
            if pts.shape[0] == 0:
                b0 = b1 = 0.0
                pmax = 1.0
                log.warning("no H%d bars in the sampled neighbourhoods; using a unit image range", dim)
            else:
                b0, b1 = float(pts[:, 0].min()), float(pts[:, 0].max())
                pmax = float((pts[:, 1] - pts[:, 0]).max())
                if pmax <= 0:
                    pmax = 1.0
            n_birth = 1 if b1 <= b0 else resolution
            if b1 <= b0:
                b1 = b0
            grids.append(ImageGrid(dim, (b0, b1), (0.0, pmax), n_birth, resolution, pmax / resolution))
        return cls(tuple(grids))


# -- the spec of a feature computation -------------------------------------------------------------


@dataclass(frozen=True)
class TopologySpec:
    """Everything that determines the features: pass ``image`` back to reproduce the same pixels."""

    k: int
    dims: tuple[int, ...]
    image: ImageSpec
    lpca_fraction: float = 0.9
    version: int = FEATURE_VERSION
    names: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "dims": list(self.dims),
            "image": self.image.to_json(),
            "lpca_fraction": self.lpca_fraction,
            "version": self.version,
            "names": list(self.names),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TopologySpec:
        return cls(
            k=int(data["k"]),
            dims=tuple(int(d) for d in data["dims"]),
            image=ImageSpec.from_json(data["image"]),
            lpca_fraction=float(data["lpca_fraction"]),
            version=int(data["version"]),
            names=tuple(data["names"]),
        )


# -- pure per-diagram / per-neighbourhood summaries ------------------------------------------------


def wasserstein_norm(diagram: np.ndarray, p: float = 1.0) -> float:
    """‖Dgm‖_{W_p} = (Σᵢ ((dᵢ − bᵢ)/√2)ᵖ)^{1/p}: the p-Wasserstein distance to the empty diagram.

    Ground metric L2 (as ``persim.wasserstein``); infinite bars are ignored.
    """
    dg = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    dg = dg[np.isfinite(dg[:, 1])]
    delta = (dg[:, 1] - dg[:, 0]) / math.sqrt(2.0)
    return float((delta**p).sum() ** (1.0 / p))


def local_twonn(D: np.ndarray) -> np.ndarray:
    """Pointwise TwoNN of neighbourhoods given their distance matrices, shape (c, m, m) → (c,).

    μⱼ = r₂(j)/r₁(j) within the neighbourhood; d = (M − 1)/Σ ln μⱼ over the M points with r₁ > 0
    (unbiased ML form of 1/mean(ln μ)); 0 when M = 0 (all points identical), NaN when M < 2 otherwise
    or Σ ln μ = 0.
    """
    D = np.array(D, dtype=np.float64, copy=True)
    c, m, _ = D.shape
    idx = np.arange(m)
    D[:, idx, idx] = np.inf
    r12 = np.sort(np.partition(D, 1, axis=2)[:, :, :2], axis=2)
    r1, r2 = r12[..., 0], r12[..., 1]
    ok = r1 > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        log_mu = np.where(ok, np.log(np.where(ok, r2 / np.where(ok, r1, 1.0), 1.0)), 0.0)
    M = ok.sum(axis=1)
    s = log_mu.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (M - 1) / s
    d = np.where((M >= 2) & (s > 0), d, np.nan)
    return np.where(M == 0, 0.0, d)


def local_pca_dim(D: np.ndarray, fraction: float = 0.9) -> np.ndarray:
    """Local PCA dimension of neighbourhoods from distance matrices (c, m, m) → (c,).

    Eigenvalues λ of the double-centred Gram matrix −½·J·D²·J (classical MDS; λ/(m−1) are the PCA
    variances); the result is min{q : Σ_{i≤q} λᵢ ≥ fraction·Σλ}, 0 when Σλ = 0.
    """
    D2 = np.asarray(D, dtype=np.float64) ** 2
    G = -0.5 * (
        D2 - D2.mean(axis=1, keepdims=True) - D2.mean(axis=2, keepdims=True) + D2.mean(axis=(1, 2), keepdims=True)
    )
    lam = np.clip(np.linalg.eigvalsh(G)[:, ::-1], 0.0, None)
    total = lam.sum(axis=1)
    cum = np.cumsum(lam, axis=1)
    q = (cum < (fraction - 1e-12) * total[:, None]).sum(axis=1) + 1
    return np.where(total > 0, q, 0).astype(np.float64)


# -- neighbourhood distances and persistent homology -----------------------------------------------


def neighbourhood_distances(X: np.ndarray, I: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Distance matrices of the neighbourhoods {i} ∪ I[i] for ``rows``, shape (len(rows), k+1, k+1).

    float64, each neighbourhood centred on its point before the Gram product for accuracy.
    """
    idx = np.concatenate([rows[:, None], I[rows]], axis=1)
    P = X[idx].astype(np.float64)
    P -= P[:, :1, :]
    G = np.matmul(P, P.transpose(0, 2, 1))
    sq = np.einsum("cii->ci", G)
    D2 = sq[:, :, None] + sq[:, None, :] - 2.0 * G
    np.maximum(D2, 0.0, out=D2)
    D = np.sqrt(D2)
    ii = np.arange(D.shape[1])
    D[:, ii, ii] = 0.0
    return D


def _rips_backend() -> Any:
    """ripser's compiled Rips routine for a condensed float32 distance list (skips per-call checks)."""
    try:
        from pyRipser import doRipsFiltrationDM

        return doRipsFiltrationDM
    except ImportError:  # pragma: no cover - layout of other ripser versions
        return None


def rips_diagrams(condensed: np.ndarray, m: int, maxdim: int) -> list[np.ndarray]:
    """Vietoris–Rips diagrams H0..H``maxdim`` of one neighbourhood given its upper-triangle distances
    (row-major, as ``D[np.triu_indices(m, 1)]``). Each diagram is an (n_bars, 2) float64 array."""
    fast = _rips_backend()
    if fast is not None:
        res = fast(np.ascontiguousarray(condensed, dtype=np.float32), maxdim, np.inf, 2, False)
        return [np.asarray(d, dtype=np.float64).reshape(-1, 2) for d in res["births_and_deaths_by_dim"]]
    from ripser import ripser

    D = np.zeros((m, m))
    D[np.triu_indices(m, 1)] = condensed
    D = D + D.T
    return [np.asarray(d, dtype=np.float64) for d in ripser(D, distance_matrix=True, maxdim=maxdim)["dgms"]]


def _ph_chunk(condensed: np.ndarray, m: int, maxdim: int) -> list[list[np.ndarray]]:
    """Diagrams of a chunk of neighbourhoods (a joblib task); infinite bars removed."""
    out = []
    for row in condensed:
        dgms = rips_diagrams(row, m, maxdim)
        out.append([d[np.isfinite(d[:, 1])] for d in dgms])
    return out


def require_tda() -> None:
    """Fail at once, with the install line of the ``[tda]`` extra, when ripser (the persistent homology
    backend) is missing; callers run it before any heavy work."""
    from ..errors import require

    require("ripser", "tda")


_require_ripser = require_tda


# -- neighbours in a datastore -----------------------------------------------------------------------


def as_datastore(datastore: np.ndarray | Sequence[int], n: int) -> np.ndarray:
    """Sorted unique row indices of a datastore given as indices or a boolean mask over n rows."""
    ds = np.asarray(datastore)
    if ds.dtype == bool:
        if ds.shape != (n,):
            raise BadInputError(f"a boolean datastore mask must have one entry per row ({n}), got shape {ds.shape}.")
        return np.flatnonzero(ds)
    if ds.ndim != 1 or (ds.size and (not np.issubdtype(ds.dtype, np.integer) or ds.min() < 0 or ds.max() >= n)):
        raise BadInputError(f"datastore must be row indices in [0, {n}) or a boolean mask, got {ds.dtype} {ds.shape}.")
    return np.unique(ds.astype(np.int64))


def datastore_knn(X: np.ndarray, datastore: np.ndarray | Sequence[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean k nearest neighbours of every row of X among the datastore rows of X.

    Returns ``(distances, indices)``, each (n, k), distances ascending (float64, recomputed exactly),
    indices into the rows of X (all of them datastore rows). A datastore row does not count itself (its
    own column is removed even when a twin ties with it); any other row is a query from outside.
    """
    import faiss

    X = np.ascontiguousarray(X, dtype=np.float32)
    n, d = X.shape
    ds = as_datastore(datastore, n)
    if k < 1 or k > ds.size - 1:
        raise BadInputError(
            f"k={k} neighbours in the datastore need at least {k + 1} datastore points, got {ds.size}; "
            "lower --k or use more sentences."
        )
    index = faiss.IndexFlatL2(d)
    index.add(X[ds])
    _, J = index.search(X, k + 1)
    pos = np.full(n, -1, dtype=np.int64)
    pos[ds] = np.arange(ds.size)
    own = J == pos[:, None]
    col = np.where(own.any(axis=1), np.argmax(own, axis=1), k)  # own column, else the (k+1)-th neighbour
    keep = np.ones_like(J, dtype=bool)
    keep[np.arange(n), col] = False
    I = ds[J[keep].reshape(n, k)]
    D = np.empty((n, k), dtype=np.float64)
    step = max(1, 65536 // max(1, k * max(1, d // 64)))
    for s in range(0, n, step):
        diff = X[I[s : s + step]].astype(np.float64) - X[s : s + step, None, :].astype(np.float64)
        D[s : s + step] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    order = np.argsort(D, axis=1, kind="stable")
    return np.take_along_axis(D, order, axis=1), np.take_along_axis(I, order, axis=1)


# -- the feature computation -----------------------------------------------------------------------


def _check_params(cloud: PointCloud, k: int, dims: Sequence[int], lpca_fraction: float) -> None:
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise BadInputError(f"local topology needs k ≥ 2 neighbours (TwoNN uses two), got k={k!r}.")
    if k >= cloud.n:
        raise BadInputError(
            f"k={k} neighbours need at least {k + 1} points but {cloud.name} has {cloud.n}; "
            "lower --k or use more sentences."
        )
    if not dims or any(d not in (0, 1) for d in dims) or len(set(dims)) != len(dims):
        raise BadInputError(f"homology dimensions must be a non-empty subset of (0, 1), got {tuple(dims)}.")
    if not 0 < lpca_fraction <= 1:
        raise BadInputError(f"lpca_fraction must be in (0, 1], got {lpca_fraction}.")
    if cloud.distinct().n < 2:
        raise BadInputError(
            f"all {cloud.n} points of {cloud.name} are identical, so every neighbourhood is a single "
            "point and its topology is empty; use a layer or corpus with distinct token vectors."
        )


def local_topology_features(
    X: np.ndarray | PointCloud,
    *,
    k: int = 32,
    seed: int = 0,
    dims: Sequence[int] = (0, 1),
    image: ImageSpec | None = None,
    resolution: int = 5,
    lpca_fraction: float = 0.9,
    n_jobs: int | None = None,
    datastore: np.ndarray | Sequence[int] | None = None,
) -> tuple[np.ndarray, list[str], TopologySpec]:
    """Local topology features of every row of ``X`` (see the module docstring for the formulas).

    Args:
        X: (n, d) cloud or a :class:`PointCloud` (its shared k-NN graph is reused).
        k: neighbours per neighbourhood (the neighbourhood has k + 1 points).
        seed: seed of the neighbourhood sample on which image ranges are fitted (when ``image`` is None).
        dims: homology dimensions, a subset of (0, 1).
        image: persistence-image grids to use (e.g. ``spec.image`` of an earlier run); None fits them.
        resolution: pixels per axis when fitting the grids.
        lpca_fraction: variance fraction of the local PCA dimension.
        n_jobs: worker processes for the persistent homology (None: all cores; 1: in this process).
        datastore: row indices (or a boolean mask) of the rows that neighbours are drawn from, e.g. the
            training tokens; image ranges are then fitted on those rows only. None: every row.

    Returns:
        ``(features, names, spec)``: features (n, f) float32 in the order of ``names``; ``spec`` holds
        every parameter including the image grids.
    """
    cloud = as_cloud(X)
    dims = tuple(int(d) for d in dims)
    _check_params(cloud, k, dims, lpca_fraction)
    _require_ripser()
    if image is not None:
        for d in dims:
            image.grid(d)
    if datastore is None:
        Dk, I = cloud.knn(k)
        fit_rows = np.arange(cloud.n)
    else:
        fit_rows = as_datastore(datastore, cloud.n)
        Dk, I = datastore_knn(cloud.X, fit_rows, k)
    n, m, maxdim = cloud.n, k + 1, max(dims)
    iu = np.triu_indices(m, 1)
    codensity = Dk[:, k - 1]
    twonn = np.empty(n)
    lpca = np.empty(n)

    def condensed_chunks() -> Any:
        # Distances are computed chunk by chunk as the workers ask for them (joblib consumes this
        # generator lazily), so memory holds a few chunks of (k+1)² distances, never all n of them.
        for s in range(0, n, _PH_CHUNK):
            part = []
            for t in range(s, min(n, s + _PH_CHUNK), _DIST_CHUNK):
                rows = np.arange(t, min(n, s + _PH_CHUNK, t + _DIST_CHUNK))
                D = neighbourhood_distances(cloud.X, I, rows)
                twonn[rows] = local_twonn(D)
                lpca[rows] = local_pca_dim(D, lpca_fraction)
                part.append(np.ascontiguousarray(D[:, iu[0], iu[1]], dtype=np.float32))
            yield np.concatenate(part)

    n_jobs = (os.cpu_count() or 1) if n_jobs is None else max(1, int(n_jobs))
    if n_jobs == 1 or n <= _PH_CHUNK:
        parts = [_ph_chunk(c, m, maxdim) for c in condensed_chunks()]
    else:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=n_jobs, backend="loky", pre_dispatch="2*n_jobs")(
            delayed(_ph_chunk)(c, m, maxdim) for c in condensed_chunks()
        )
    diagrams = {d: [dg[d] for part in parts for dg in part] for d in dims}
    del parts
    if image is None:
        image = ImageSpec.fit({d: [diagrams[d][i] for i in fit_rows] for d in dims}, resolution=resolution, seed=seed)

    columns: list[np.ndarray] = [codensity[:, None]]
    names = ["codensity"]
    for d in dims:
        columns.append(np.array([[wasserstein_norm(g, 1.0), wasserstein_norm(g, 2.0)] for g in diagrams[d]]))
        names += [f"wasserstein_p1_h{d}", f"wasserstein_p2_h{d}"]
    columns.append(np.stack([twonn, lpca], axis=1))
    names += ["twonn_local", f"lpca{round(lpca_fraction * 100)}"]
    for d in dims:
        grid = image.grid(d)
        columns.append(grid.transform(diagrams[d]))
        names += grid.names()
    features = np.concatenate(columns, axis=1).astype(np.float32)
    spec = TopologySpec(k=int(k), dims=dims, image=image, lpca_fraction=float(lpca_fraction), names=tuple(names))
    log.debug("local topology: %d points, k=%d, %d features", n, k, features.shape[1])
    return features, names, spec


# -- whole store layers, cached --------------------------------------------------------------------


def _cache_key(store_key: str, layer: int, params: dict[str, Any]) -> str:
    return content_key({"store": store_key, "layer": layer, **params})


def store_topology_features(
    store: Any,
    layer: int,
    *,
    cache_dir: str | Path,
    k: int = 32,
    seed: int = 0,
    dims: Sequence[int] = (0, 1),
    image: ImageSpec | None = None,
    resolution: int = 5,
    lpca_fraction: float = 0.9,
    n_jobs: int | None = None,
    datastore: np.ndarray | Sequence[int] | None = None,
) -> tuple[np.ndarray, list[str], TopologySpec]:
    """:func:`local_topology_features` of every token of one layer of an
    :class:`~latentatlas.store.ActivationStore`, cached under ``<cache_dir>/topology/``.

    ``datastore``: the store rows neighbours come from (e.g. the training articles' tokens); None: all.
    The cache file is keyed by the store key, the layer and every parameter (including the image
    grids when given and a digest of the datastore rows), written atomically and sealed with its sha256
    (``<name>.npz.sha256``); a damaged or unreadable file is logged and recomputed. In a read-only cache
    folder new files are not kept.
    """
    ds = None if datastore is None else as_datastore(datastore, int(store.n_tokens))
    params = {
        "k": int(k), "seed": int(seed), "dims": [int(d) for d in dims], "resolution": int(resolution),
        "lpca_fraction": float(lpca_fraction), "image": image.to_json() if image else None,
        "version": FEATURE_VERSION,
    }
    if ds is not None:  # only when given, so the keys of existing whole-layer caches stay valid
        params["datastore"] = content_key(ds.tolist())
    path = Path(cache_dir) / "topology" / f"{_cache_key(store.key, int(layer), params)}.npz"
    if entry_intact(path, "topology cache entry"):
        try:
            with np.load(path, allow_pickle=False) as z:
                spec = TopologySpec.from_json(json.loads(str(z["spec"])))
                features = np.array(z["features"])
            if features.shape[0] != store.n_tokens:
                raise CacheCorruptError(f"{path} holds {features.shape[0]} rows, the store {store.n_tokens}")
            log.info("local topology features from cache %s", path)
            return features, list(spec.names), spec
        except (OSError, ValueError, KeyError, json.JSONDecodeError, CacheCorruptError) as exc:
            log.warning("topology cache %s is unreadable (%s); recomputing", path, exc)
    X = np.asarray(store.layer(layer), dtype=np.float32)
    features, names, spec = local_topology_features(
        PointCloud(X, name=f"layer {layer} of store {store.key[:8]}"), k=k, seed=seed, dims=dims, image=image,
        resolution=resolution, lpca_fraction=lpca_fraction, n_jobs=n_jobs, datastore=ds,
    )

    def write(p: Path) -> None:
        with open(p, "wb") as f:
            np.savez(f, features=features, spec=np.array(json.dumps(spec.to_json())))

    write_sealed(path, write, "topology feature")
    return features, names, spec


__all__ = [
    "ImageGrid",
    "ImageSpec",
    "TopologySpec",
    "as_datastore",
    "datastore_knn",
    "local_pca_dim",
    "local_topology_features",
    "local_twonn",
    "neighbourhood_distances",
    "require_tda",
    "rips_diagrams",
    "store_topology_features",
    "wasserstein_norm",
]
