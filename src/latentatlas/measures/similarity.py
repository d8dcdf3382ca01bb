"""Similarity between two representations of the same tokens: CKA, mutual k-NN, SVCCA, PWCCA, RSA,
orthogonal Procrustes distance.

Each measure is a pure function ``f(X, Y, **params) -> float`` of two clouds with the same rows (row i of
both is the same token). They are listed in the registry under family ``similarity``; run them with
:func:`similarity` or :func:`compare_layers` (the single-cloud battery skips them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from ..errors import BadInputError
from .cloud import PointCloud, as_cloud
from .registry import SIMILARITY, Choice, Int, Param, Real, measure

SimilarityFn = Callable[..., float]


def _similarity(name: str, reference: str, **params: Param) -> Callable[[SimilarityFn], SimilarityFn]:
    """Register a two-cloud measure in :data:`~latentatlas.measures.registry.SIMILARITY`."""
    return measure(name, family="similarity", reference=reference, higher_means_spread=None, min_points=2,
                   params=params, registry=SIMILARITY)


def _pair(X: Any, Y: Any) -> tuple[PointCloud, PointCloud]:
    a, b = as_cloud(X, name="first cloud"), as_cloud(Y, name="second cloud")
    if a.n != b.n:
        raise BadInputError(
            f"the two clouds must hold the same tokens (rows) but have shapes {a.X.shape} and {b.X.shape}; "
            "extract both models on the same sentences with the same tokenizer."
        )
    return a, b


def _centered(c: PointCloud) -> np.ndarray:
    return c.cached("centered64", lambda: c.X.astype(np.float64) - c.mean())


def _hsic_unbiased(X: np.ndarray, Y: np.ndarray) -> float:
    """Song et al. (2012) unbiased HSIC with linear kernels, in O(n·d₁·d₂) without n × n matrices.

    With K̃ = XXᵀ and L̃ = YYᵀ with zeroed diagonals: HSIC = [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2))
    − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)).
    """
    n = X.shape[0]
    a = np.einsum("ij,ij->i", X, X)
    b = np.einsum("ij,ij->i", Y, Y)
    tr = float(np.sum((X.T @ Y) ** 2) - a @ b)
    sx, sy = X.sum(0), Y.sum(0)
    k1 = X @ sx - a  # K̃1
    l1 = Y @ sy - b  # L̃1
    return (tr + k1.sum() * l1.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * float(k1 @ l1)) / (n * (n - 3))


@_similarity("cka", "Kornblith, Norouzi, Lee & Hinton 2019 (linear CKA); Song et al. 2012 (unbiased HSIC)")
def cka(X: Any, Y: Any, *, unbiased: bool = False) -> float:
    """Linear centered kernel alignment, computed in feature space (memory O(d₁·d₂), no n × n Gram).

    Biased: CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F·‖YᵀY‖_F) on centered X, Y. ``unbiased=True`` uses the unbiased
    HSIC estimator in place of ‖·‖² (less inflated for small n; can be slightly negative).
    1 for identical spaces up to rotation and isotropic scaling.
    """
    a, b = _pair(X, Y)
    Xc, Yc = _centered(a), _centered(b)
    if unbiased:
        if a.n < 4:
            raise BadInputError("unbiased CKA needs at least 4 points.")
        hxy, hxx, hyy = _hsic_unbiased(Xc, Yc), _hsic_unbiased(Xc, Xc), _hsic_unbiased(Yc, Yc)
        return float(hxy / math.sqrt(hxx * hyy)) if hxx > 0 and hyy > 0 else 0.0
    num = np.sum((Yc.T @ Xc) ** 2)
    den = np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)
    return float(num / den) if den > 0 else 0.0


@_similarity("mutual_knn", "Huh, Cheung, Wang & Isola 2024 (mutual k-NN alignment)", k=Int(1))
def mutual_knn(X: Any, Y: Any, *, k: int = 10) -> float:
    """Mean fraction of shared k nearest neighbours: (1/n)·Σᵢ |N_k^X(i) ∩ N_k^Y(i)| / k (exact, faiss)."""
    a, b = _pair(X, Y)
    _, Ia = a.knn(k)
    _, Ib = b.knn(k)
    shared = [np.intersect1d(Ia[i], Ib[i], assume_unique=True).size for i in range(a.n)]
    return float(np.mean(shared) / k)


def _basis(Z: np.ndarray, keep: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal basis of the column space of centered Z (optionally its top-variance SVD directions)
    and the coordinates mapping Z's columns onto it."""
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    tol = s.max() * max(Z.shape) * np.finfo(float).eps if s.size else 0.0
    r = int((s > tol).sum())
    if keep is not None:
        frac = np.cumsum(s[:r] ** 2) / np.sum(s[:r] ** 2)
        r = int(np.searchsorted(frac, keep - 1e-12) + 1)
    return U[:, :r], s[:r, None] * Vt[:r]


def _cca(X: np.ndarray, Y: np.ndarray, keep: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Qx, _ = _basis(X, keep)
    Qy, _ = _basis(Y, keep)
    U, rho, _ = np.linalg.svd(Qx.T @ Qy, full_matrices=False)
    return np.clip(rho, 0.0, 1.0), Qx @ U, Qx


@_similarity("svcca", "Raghu, Gilmer, Yosinski & Sohl-Dickstein 2017 (SVCCA)", keep=Real(1e-9, 1))
def svcca(X: Any, Y: Any, *, keep: float = 0.99) -> float:
    """SVCCA: keep each space's top SVD directions explaining ``keep`` of the variance, then the mean
    canonical correlation between them (singular values of Q_Xᵀ Q_Y for orthonormal bases Q)."""
    a, b = _pair(X, Y)
    rho, _, _ = _cca(_centered(a), _centered(b), keep)
    return float(rho.mean())


def _pwcca_side(a: PointCloud, b: PointCloud) -> tuple[PointCloud, PointCloud]:
    """(weighting side, other side): the cloud with fewer neurons (columns), the first on a tie.

    The rule of the reference code (google/svcca ``pwcca.compute_pwcca``: X's variates when X has at
    most as many kept neurons as Y, else Y's), which makes the value independent of argument order
    whenever the widths differ.
    """
    return (b, a) if b.d < a.d else (a, b)


@_similarity("pwcca", "Morcos, Raghu & Bengio 2018 (projection-weighted CCA)")
def pwcca(X: Any, Y: Any) -> float:
    """Projection-weighted CCA: Σᵢ αᵢρᵢ with αᵢ ∝ Σⱼ |⟨hᵢ, zⱼ⟩|, weights normalised to sum to 1.

    ρᵢ are the canonical correlations, hᵢ the i-th (unit-norm) canonical variate of the weighting side Z
    and zⱼ Z's centered columns (neurons). Z is the cloud with fewer neurons, as in the reference code
    (Morcos et al.'s ``pwcca.py``), so pwcca(X, Y) = pwcca(Y, X) when the widths differ; with equal
    widths the first argument weighs (the reference's tie rule) and the order can matter. (Before this
    rule the first argument always weighed: a d = 384 layer against a d = 768 one gave a different
    value from the reverse.) The canonical variates are those of the paper, Z·Σ_ZZ^{−1/2}·uᵢ, on
    centered data; the reference code's projection uses uᵢᵀ(Z − μ) + μ without the Σ_ZZ^{−1/2}
    whitening and projects uncentered activations (on three random 6- vs 10-neuron pairs with 800
    rows, its weighting gave 0.789 / 0.664 / 0.722 where this one gives 0.776 / 0.726 / 0.777).
    """
    a, b = _pwcca_side(*_pair(X, Y))
    Zc = _centered(a)
    rho, H, _ = _cca(Zc, _centered(b), None)
    alpha = np.abs(H.T @ Zc).sum(axis=1)
    return float(alpha @ rho / alpha.sum()) if alpha.sum() > 0 else 0.0


@_similarity("rsa", "Kriegeskorte, Mur & Bandettini 2008 (representational similarity analysis)",
             max_points=Int(3), metric=Choice("euclidean", "cosine"))
def rsa(X: Any, Y: Any, *, seed: int = 0, max_points: int = 1000, metric: str = "euclidean") -> float:
    """Spearman correlation of the two representational dissimilarity matrices' upper triangles.

    RDMs are n × n, so they are built on a seeded subsample of at most ``max_points`` shared rows;
    ``metric`` is ``euclidean`` or ``cosine`` (1 − cosine similarity).
    """
    a, b = _pair(X, Y)
    idx = np.arange(a.n)
    if a.n > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(a.n, max_points, replace=False))
    iu = np.triu_indices(idx.size, 1)
    rdms = []
    for c in (a, b):
        Z = c.X[idx].astype(np.float64)
        if metric == "cosine":
            Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-300)
            D = 1.0 - Z @ Z.T
        elif metric == "euclidean":
            sq = (Z**2).sum(1)
            D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * Z @ Z.T, 0.0))
        else:
            raise BadInputError(f"rsa metric={metric!r} must be 'euclidean' or 'cosine'.")
        rdms.append(D[iu])
    return float(spearmanr(rdms[0], rdms[1]).statistic)


@_similarity("procrustes", "Ding, Denain & Steinhardt 2021 (orthogonal Procrustes distance)")
def procrustes(X: Any, Y: Any) -> float:
    """Orthogonal Procrustes distance (a distance: 0 for spaces equal up to rotation and scale).

    With centered X, Y scaled to unit Frobenius norm: d = ‖X‖² + ‖Y‖² − 2‖XᵀY‖_* = 2 − 2‖XᵀY‖_*,
    where ‖·‖_* is the nuclear norm (the best rotation's fit).
    """
    a, b = _pair(X, Y)
    Xc, Yc = _centered(a), _centered(b)
    nx, ny = np.linalg.norm(Xc), np.linalg.norm(Yc)
    if nx == 0 or ny == 0:
        raise BadInputError("a cloud with zero variance has no Procrustes distance.")
    nuc = np.linalg.svd((Xc / nx).T @ (Yc / ny), compute_uv=False).sum()
    return float(max(2.0 - 2.0 * nuc, 0.0))


def similarity(name: str, X: Any, Y: Any, **params: Any) -> float:
    """Run similarity measure ``name`` on two clouds over the same rows."""
    spec = SIMILARITY[name]
    return float(spec.func(X, Y, **spec.check_params(params)))


def compare_layers(
    clouds_a: Sequence[Any],
    clouds_b: Sequence[Any],
    measures: Sequence[str] = ("cka",),
    *,
    params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, np.ndarray]:
    """Layer × layer matrices: entry (i, j) compares layer i of model A with layer j of model B."""
    A = [as_cloud(c, name=f"model A layer {i}") for i, c in enumerate(clouds_a)]
    B = [as_cloud(c, name=f"model B layer {j}") for j, c in enumerate(clouds_b)]
    out = {}
    for name in measures:
        M = np.empty((len(A), len(B)))
        for i, a in enumerate(A):
            for j, b in enumerate(B):
                M[i, j] = similarity(name, a, b, **(params or {}).get(name, {}))
        out[name] = M
    return out
