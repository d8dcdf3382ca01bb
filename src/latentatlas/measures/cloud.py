"""Validated point clouds and the work that several measures share.

A point cloud is a float32 array of shape ``(n_points, n_dims)``; rows are tokens. :func:`as_cloud`
validates once at the edge; measures then trust their input. :class:`PointCloud` computes the
expensive shared pieces (PCA spectrum, second moment, exact k-NN graph, quantizer codes)
once, on first use, and hands the same result to every measure that asks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

from ..errors import BadInputError, TooFewPointsError

log = logging.getLogger(__name__)
T = TypeVar("T")

_CHUNK_ROWS = 65_536
_MIN_K = 32


def validate_cloud(X: Any, *, name: str = "point cloud", min_points: int = 2) -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 2-D array, or raise a :class:`BadInputError`.

    Checks: real numbers (complex values are refused, not cast), exactly 2-D, at least one dimension, at least ``min_points`` rows, all finite.
    """
    try:
        arr = np.asarray(X)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise BadInputError(f"{name} could not be read as an array: {exc}") from exc
    if np.iscomplexobj(arr):
        raise BadInputError(
            f"{name} holds complex numbers (dtype {arr.dtype}); measures need real coordinates: pass X.real, "
            "or np.hstack([X.real, X.imag]) to keep both parts."
        )
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise BadInputError(f"{name} must hold numbers, got dtype {arr.dtype}; save a numeric array.")
    if arr.ndim != 2:
        raise BadInputError(
            f"{name} must be 2-D (n_points, n_dims), got shape {arr.shape}; "
            "reshape it, e.g. X.reshape(-1, X.shape[-1]) for (batch, tokens, dims) activations."
        )
    if arr.shape[1] < 1:
        raise BadInputError(f"{name} has no dimensions (shape {arr.shape}).")
    if arr.shape[0] < min_points:
        raise TooFewPointsError(name, min_points, arr.shape[0])
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        raise BadInputError(
            f"{name} has non-finite values (NaN or inf) in {bad_rows.size} of {arr.shape[0]} rows "
            f"(first: row {int(bad_rows[0])}); remove or repair those rows."
        )
    return arr


class PointCloud:
    """A validated cloud plus a memo of derived quantities shared across measures.

    Use :meth:`cached` for module-specific shared work (e.g. a trained quantizer), keyed by a hashable
    tuple that includes every parameter and seed the result depends on.
    """

    def __init__(self, X: Any, *, name: str = "point cloud", validate: bool = True) -> None:
        self.X: np.ndarray = validate_cloud(X, name=name) if validate else X
        self.name = name
        self._memo: dict[Hashable, Any] = {}

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def d(self) -> int:
        return int(self.X.shape[1])

    def __repr__(self) -> str:
        return f"PointCloud(n={self.n}, d={self.d}, cached={sorted(map(str, self._memo))})"

    def cached(self, key: Hashable, factory: Callable[[], T]) -> T:
        """Return the memoised value for ``key``, computing it with ``factory()`` on first use."""
        if key not in self._memo:
            self._memo[key] = factory()
        return self._memo[key]

    def distinct(self) -> PointCloud:
        """The cloud without duplicate rows (itself when there are none), shared per cloud."""

        def compute() -> PointCloud:
            rows = distinct_rows(self.X)
            if rows.shape[0] == self.n:
                return self
            return PointCloud(rows, name=f"{self.name} (distinct points)", validate=False)

        return self.cached("distinct", compute)

    def require(self, what: str, min_points: int) -> None:
        if self.n < min_points:
            raise TooFewPointsError(what, min_points, self.n)

    # -- PCA ---------------------------------------------------------------------------------------
    def mean(self) -> np.ndarray:
        """Column mean in float64."""
        return self.cached("mean", lambda: _chunked_mean(self.X))

    def _eig(self) -> tuple[np.ndarray, np.ndarray]:
        def compute() -> tuple[np.ndarray, np.ndarray]:
            cov = _chunked_scatter(self.X, self.mean()) / max(self.n - 1, 1)
            w, V = np.linalg.eigh(cov)
            order = np.argsort(w)[::-1]
            w = np.clip(w[order], 0.0, None)
            return w, V[:, order]

        return self.cached("eig", compute)

    def eigenvalues(self) -> np.ndarray:
        """Sample-covariance eigenvalues (ddof=1), descending, float64, length ``min(n, d)``.

        These are the explained variances of a full PCA (``sklearn.decomposition.PCA``) of the cloud.
        """
        w, _ = self._eig()
        return w[: min(self.n, self.d)]

    def components(self) -> np.ndarray:
        """Principal axes as columns, shape ``(d, min(n, d))``, matching :meth:`eigenvalues`."""
        _, V = self._eig()
        return V[:, : min(self.n, self.d)]

    def second_moment(self) -> np.ndarray:
        """Uncentered second-moment matrix XᵀX = (n − 1)·Σ + n·μμᵀ (d × d, float64).

        Rebuilt from the shared eigendecomposition in O(d³), so it costs no further pass over X.
        """

        def compute() -> np.ndarray:
            C, lam, mu = self.components(), self.eigenvalues(), self.mean()
            return (self.n - 1) * (C * lam) @ C.T + self.n * np.outer(mu, mu)

        return self.cached("second_moment", compute)

    # -- exact k-NN --------------------------------------------------------------------------------
    def knn(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact Euclidean k nearest neighbours of every point, excluding the point itself.

        Returns ``(distances, indices)``, each ``(n, k)``, distances ascending (float64, not squared).
        Computed with faiss (memory O(n·k)); larger k computed once serves every smaller k.
        """
        if k < 1:
            raise BadInputError(f"k must be at least 1, got {k}.")
        if k > self.n - 1:
            raise BadInputError(
                f"k={k} nearest neighbours need at least {k + 1} points but the cloud has {self.n}; "
                "lower k or use more points."
            )
        best = self._memo.get("knn")
        if best is None or best[0].shape[1] < k:
            # A brute-force search costs the same for k = 2 or 32 (the distance computations dominate),
            # so fetch at least _MIN_K neighbours once and serve every smaller k from that graph.
            best = _exact_knn(self.X, max(k, min(_MIN_K, self.n - 1)))
            self._memo["knn"] = best
        D, I = best
        return D[:, :k], I[:, :k]


def distinct_rows(A: np.ndarray) -> np.ndarray:
    """Unique rows of A (byte-wise, first occurrences in order); much faster than np.unique(axis=0)."""
    A = np.ascontiguousarray(A)
    keys = A.view(np.dtype((np.void, A.dtype.itemsize * A.shape[1]))).ravel()
    _, first = np.unique(keys, return_index=True)
    return A[np.sort(first)]


def as_cloud(X: Any, *, name: str = "point cloud") -> PointCloud:
    """Wrap an array as a :class:`PointCloud` (validating it), or pass a PointCloud through."""
    return X if isinstance(X, PointCloud) else PointCloud(X, name=name)


def _chunked_mean(X: np.ndarray) -> np.ndarray:
    total = np.zeros(X.shape[1], dtype=np.float64)
    for s in range(0, X.shape[0], _CHUNK_ROWS):
        total += X[s : s + _CHUNK_ROWS].sum(axis=0, dtype=np.float64)
    return total / X.shape[0]


def _chunked_scatter(X: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Σ (x−μ)(x−μ)ᵀ, reading X in row chunks.

    Each chunk's product is a float32 GEMM (twice the speed of float64), accumulated in float64, so the
    rounding error is that of one chunk's sum; memory stays O(chunk·d + d²).
    """
    S = np.zeros((X.shape[1], X.shape[1]), dtype=np.float64)
    shift = mu.astype(np.float32)
    for s in range(0, X.shape[0], _CHUNK_ROWS):
        C = X[s : s + _CHUNK_ROWS] - shift
        S += (C.T @ C).astype(np.float64)
    return S


def _exact_knn(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    n, d = X.shape
    index = faiss.IndexFlatL2(d)
    index.add(X)
    kk = min(k + 1, n)
    _, I = index.search(X, kk)
    # Drop each point itself. With duplicated points faiss may rank a twin before the point, so remove
    # the column holding the point's own index where present, otherwise the last column.
    rows = np.arange(n)
    self_col = np.argmax(I == rows[:, None], axis=1)
    has_self = (I == rows[:, None]).any(axis=1)
    self_col[~has_self] = kk - 1
    keep = np.ones_like(I, dtype=bool)
    keep[rows, self_col] = False
    I = I[keep].reshape(n, kk - 1)[:, :k]
    I = I.astype(np.int64)
    # faiss ranks by ‖x‖²+‖y‖²−2xᵀy in float32, which loses precision for close pairs (zero distances
    # come out slightly positive and vice versa). Recompute the kept distances exactly, in chunks, and
    # re-sort: ratio-based estimators (TwoNN, MLE) are sensitive to this.
    D = np.empty(I.shape, dtype=np.float64)
    step = max(1, _CHUNK_ROWS // max(1, k * max(1, d // 64)))
    for s in range(0, n, step):
        diff = X[I[s : s + step]].astype(np.float64) - X[s : s + step, None, :].astype(np.float64)
        D[s : s + step] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    order = np.argsort(D, axis=1, kind="stable")
    return np.take_along_axis(D, order, axis=1), np.take_along_axis(I, order, axis=1)
