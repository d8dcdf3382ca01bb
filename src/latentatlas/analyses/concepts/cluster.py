"""Ward agglomerative clustering in O(n·d) memory, built once and cut at any number of concepts K.

Ward's criterion (Ward 1963) merges, at every step, the two clusters A, B whose union least increases
the within-cluster sum of squares:

    Δ(A, B) = |A||B| / (|A| + |B|) · ‖c_A − c_B‖²            (c = centroid, |·| = size or total weight)

scikit-learn's ``AgglomerativeClustering(linkage="ward")`` (as the ConceptX code calls it, Durrani et al.
2022) builds the full condensed distance matrix through ``scipy.cluster.hierarchy.ward``: n²/2 floats,
≈250 GB at the standard 250,000 occurrences. Here only the centroids (float64), sizes and one nearest
neighbour per cluster are kept: memory O(n·d) plus a bounded block of distances.

Algorithm (reciprocal nearest neighbours, the batched form of the nearest-neighbour chain; Murtagh 1983,
"A survey of recent advances in hierarchical clustering algorithms", Comput. J. 26; Müllner 2011,
arXiv:1109.2378). Ward's Δ is *reducible*: Δ(A∪B, C) ≥ min(Δ(A, C), Δ(B, C)). Hence (i) every pair of
mutual nearest neighbours is merged in the greedy (closest-pair-first) hierarchy, so all of them can be
merged in one round; (ii) a cluster whose nearest neighbour was not merged keeps it, so after a round
only the new clusters and those that pointed at a merged one search again. Each search is a blocked
``C_q Cᵀ`` product in float64 (‖a−b‖² = ‖a‖² + ‖b‖² − 2a·b); merge heights are recomputed directly from
the two centroids. Without ties the merges, and so every cut, equal scipy's and scikit-learn's.

The merges are sorted into a scipy-style linkage matrix (height = √(2Δ), scipy's Ward distance), so a
:class:`Hierarchy` is cut at any K in O(n) (K-sensitivity curves for free).

For large n, :func:`two_stage` first quantises the points into cells (k-means), then runs the same exact
Ward on the cell centroids weighted by cell size (Ward on weighted centroids equals Ward on the points
with each cell forced together); :func:`two_stage_agreement` reports its ARI against exact Ward on a
subsample.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import BadInputError
from ...registry import Registry

log = logging.getLogger(__name__)

#: number of concepts per layer in ConceptX / Mousi et al. 2023, at their scale (below)
DEFAULT_K = 600
#: occurrences the papers cluster per layer: ≈ 25,000 types × ≤ 10 occurrences (Mousi et al. 2023, §3)
PAPER_OCCURRENCES = 250_000
#: K sweep: multiples of the chosen K (plus the papers' absolute K = 600), all cut from one tree
K_SWEEP_FACTORS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
BLOCK_BYTES = 64 << 20


@dataclass(frozen=True)
class Hierarchy:
    """A Ward merge tree over ``n_leaves`` leaves, and optionally the leaf of each point.

    Attributes:
        linkage: (n_leaves − 1, 4) scipy linkage matrix: merged node ids (leaves 0..n−1, the i-th merge
            creates node n+i), height √(2Δ), size (total weight) of the new cluster; heights ascending.
        point_leaf: for a two-stage hierarchy, the leaf (cell) of every point; None when leaves are points.
    """

    linkage: np.ndarray
    point_leaf: np.ndarray | None = None

    @property
    def n_leaves(self) -> int:
        return int(self.linkage.shape[0] + 1)

    @property
    def n_points(self) -> int:
        return self.n_leaves if self.point_leaf is None else int(self.point_leaf.size)

    def labels(self, k: int) -> np.ndarray:
        """Concept id (0..k−1, numbered by first appearance) of every point when the tree is cut at k."""
        return self.cut([k])[k]

    def cut(self, ks: Sequence[int]) -> dict[int, np.ndarray]:
        """Partitions at several K from the one tree (each O(n))."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        n = self.n_leaves
        bad = [k for k in ks if not 1 <= int(k) <= n]
        if bad:
            raise BadInputError(
                f"cannot cut into K={bad} concepts: the tree has {n} leaves (points or cells); choose "
                f"1 ≤ K ≤ {n} or cluster more occurrences."
            )
        rep = _leaf_representatives(self.linkage)
        out: dict[int, np.ndarray] = {}
        for k in ks:
            m = n - int(k)
            a = rep[self.linkage[:m, 0].astype(np.int64)]
            b = rep[self.linkage[:m, 1].astype(np.int64)]
            graph = coo_matrix((np.ones(m, dtype=np.int8), (a, b)), shape=(n, n))
            _, comp = connected_components(graph, directed=False)
            leaf_labels = _by_first_appearance(comp)
            labels = leaf_labels if self.point_leaf is None else _by_first_appearance(leaf_labels[self.point_leaf])
            out[int(k)] = labels
        return out


def default_k(n_occurrences: int) -> int:
    """K at the papers' ratio of concepts to occurrences: round(n · 600 / 250,000), at least 2.

    That is ≈ 417 occurrences per concept. K = 600 on a few thousand occurrences (≤ 10 per concept)
    makes purity thresholds all-or-nothing: at θ = 0.9 a concept of ≤ 9 occurrences is pure only at
    100 %. Cutting at K = 600 instead stays available in the K sweep (:func:`sweep_ks`).
    """
    if n_occurrences < 2:
        raise BadInputError(f"{n_occurrences} occurrences cannot be clustered; sample at least 2.")
    return int(min(max(2, round(n_occurrences * DEFAULT_K / PAPER_OCCURRENCES)), n_occurrences))


def sweep_ks(k: int, n_points: int, factors: Sequence[float] = K_SWEEP_FACTORS) -> list[int]:
    """K values of the sweep: round(k · f) for each factor and the papers' 600, kept in [2, n_points]."""
    ks = {round(k * f) for f in factors} | {int(k), DEFAULT_K}
    return sorted(x for x in {min(max(2, x), n_points) for x in ks} if 2 <= x <= n_points)


def _leaf_representatives(Z: np.ndarray) -> np.ndarray:
    n = Z.shape[0] + 1
    rep = np.arange(2 * n - 1, dtype=np.int64)
    left = Z[:, 0].astype(np.int64)
    for i in range(n - 1):
        rep[n + i] = rep[left[i]]
    return rep


def _by_first_appearance(labels: np.ndarray) -> np.ndarray:
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.ravel()]


# -- exact Ward -----------------------------------------------------------------------------------------
def _full_search(
    C: np.ndarray, inv_s: np.ndarray, sq: np.ndarray, rows: np.ndarray, cand: np.ndarray, cd: np.ndarray,
    beta: np.ndarray, block_bytes: int,
) -> None:
    """Exact search of the ``L`` Ward-nearest clusters of each row in ``rows`` among all rows of C.

    Writes the candidates and their Δ into ``cand``/``cd`` and into ``beta`` the (L+1)-th smallest Δ, a
    lower bound on Δ to every cluster not listed (in place).
    """
    m, L = C.shape[0], cand.shape[1]
    step = max(1, min(256, block_bytes // (8 * m)))
    # the block D is the only (B, m) array: every other step works in place or on a few rows at a time
    # (a broadcast divisor or a whole-block argpartition would each allocate another block)
    sub = max(1, min(step, (1 << 20) // m))
    for start in range(0, rows.size, step):
        q = rows[start : start + step]
        r = np.arange(q.size)
        D = C[q] @ C.T  # (B, m)
        D *= -2.0
        D += sq[None, :]
        D += sq[q, None]
        np.maximum(D, 0.0, out=D)
        for i in range(q.size):  # Δ = ‖c_q − c‖² / (1/s_q + 1/s)
            np.divide(D[i], inv_s + inv_s[q[i]], out=D[i])
        D[r, q] = np.inf
        if m - 1 <= L:
            order = np.argsort(D, axis=1)[:, : m - 1]
            cand[q] = q[:, None]
            cd[q] = np.inf
            cand[q, : m - 1] = order
            cd[q, : m - 1] = D[r[:, None], order]
            beta[q] = np.inf
        else:
            for lo in range(0, q.size, sub):
                rr, qq = r[lo : lo + sub], q[lo : lo + sub]
                part = np.argpartition(D[rr], L, axis=1)
                cand[qq] = part[:, :L]
                cd[qq] = D[rr[:, None], part[:, :L]]
                beta[qq] = D[rr, part[:, L]]


def _ward_delta(C: np.ndarray, s: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Δ between clusters a[i] and b[i] computed directly from the centroids (float64).

    Pairs go in chunks of ~16 MB of gathered centroids: in the first rounds there are up to n × L of
    them (every candidate list entry that pointed at a merged cluster), which gathered at once would
    cost O(n·L·d) memory, many times the centroids themselves.
    """
    a, b = np.broadcast_arrays(a, b)
    shape = a.shape
    a, b = a.ravel(), b.ravel()
    out = np.empty(a.size)
    chunk = max(1, (16 << 20) // (8 * C.shape[1]))
    for lo in range(0, a.size, chunk):
        aa, bb = a[lo : lo + chunk], b[lo : lo + chunk]
        diff = C[aa] - C[bb]
        out[lo : lo + chunk] = s[aa] * s[bb] / (s[aa] + s[bb]) * np.einsum("ij,ij->i", diff, diff)
    return out.reshape(shape)


def ward_tree(
    X: np.ndarray, weights: np.ndarray | None = None, *, n_candidates: int = 16, block_bytes: int = BLOCK_BYTES
) -> Hierarchy:
    """Exact Ward hierarchy of the rows of ``X`` (optionally weighted), memory O(n·d).

    Every cluster keeps its ``n_candidates`` nearest clusters (exact Δ) and a lower bound β on Δ to all
    others. By reducibility the bound survives merges of unlisted clusters; a listed cluster that merges
    is replaced by the new cluster with its exact Δ; a new cluster A∪B lists the union of A's and B's
    lists with β = (|A|β_A + |B|β_B)/(|A|+|B|) (Lance–Williams for Ward with Δ(A,B) ≤ β_A, β_B). The list
    minimum is the exact nearest neighbour when it does not exceed β; otherwise the cluster searches all
    clusters again (blocked float64 product).

    Args:
        X: (n, d) points (any float dtype; computation in float64).
        weights: positive weight (size) of each row, default 1; with cell sizes this is Ward on
            pre-clustered cells.
        n_candidates: candidates kept per cluster (memory n × n_candidates; speed only, not results).
        block_bytes: memory for one block of distances (the only O(n)-wide temporary).

    Returns:
        The :class:`Hierarchy` (scipy linkage, heights √(2Δ)); its cuts equal those of
        ``AgglomerativeClustering(linkage="ward")`` up to ties.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 2:
        raise BadInputError(f"Ward clustering needs an (n ≥ 2, d) array, got shape {X.shape}; pass more points.")
    if not np.isfinite(X).all():
        raise BadInputError("the points contain NaN or infinite values; remove or fix those rows first.")
    n, L = X.shape[0], max(1, int(n_candidates))
    s = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    if s.shape != (n,) or not (s > 0).all():
        raise BadInputError(f"weights must be {n} positive numbers, one per point; got shape {s.shape}.")
    C = np.array(X, dtype=np.float64, order="C")
    sq = np.einsum("ij,ij->i", C, C)
    node = np.arange(n, dtype=np.int64)
    cand = np.zeros((n, L), dtype=np.int64)
    cd = np.full((n, L), np.inf)
    beta = np.full(n, -np.inf)  # forces a first full search
    rec_a = np.empty(n - 1, dtype=np.int64)
    rec_b = np.empty(n - 1, dtype=np.int64)
    rec_h = np.empty(n - 1)
    rec_s = np.empty(n - 1)
    height = np.zeros(2 * n - 1)  # effective (monotone) Δ of every node
    made = rounds = searched = 0
    while C.shape[0] > 1:
        m = C.shape[0]
        rounds += 1
        idx = np.arange(m)
        best = np.argmin(cd, axis=1)
        nnd = cd[idx, best]
        redo = np.flatnonzero(~(nnd <= beta))
        if redo.size:
            searched += redo.size
            _full_search(C, 1.0 / s, sq, redo, cand, cd, beta, block_bytes)
            best[redo] = np.argmin(cd[redo], axis=1)
            nnd[redo] = cd[redo, best[redo]]
        nn = cand[idx, best]
        I = np.flatnonzero((nn[nn] == idx) & (idx < nn))
        if I.size == 0:  # only possible through exact ties: merge the globally closest pair
            i = int(np.argmin(nnd))
            I = np.array([min(i, int(nn[i]))])
        J = nn[I]
        sI, sJ = s[I], s[J]
        delta = _ward_delta(C, s, I, J)
        new_ids = n + made + np.arange(I.size)
        rec = slice(made, made + I.size)
        rec_a[rec], rec_b[rec], rec_s[rec] = node[I], node[J], sI + sJ
        rec_h[rec] = np.maximum(delta, np.maximum(height[node[I]], height[node[J]]))
        height[new_ids] = rec_h[rec]
        made += I.size
        # new clusters in the slots of I; J's slots disappear
        C[I] = (sI[:, None] * C[I] + sJ[:, None] * C[J]) / (sI + sJ)[:, None]
        s[I] = sI + sJ
        sq[I] = np.einsum("ij,ij->i", C[I], C[I])
        node[I] = new_ids
        to_new = idx.copy()
        to_new[J] = I
        merged = np.zeros(m, dtype=bool)
        merged[I] = True
        merged[J] = True
        # candidate lists of the new clusters: union of both parents' lists, exact Δ, Lance–Williams bound
        union = to_new[np.concatenate([cand[I], cand[J]], axis=1)]
        ud = _ward_delta(C, s, I[:, None], union)
        ud[union == I[:, None]] = np.inf
        new_beta = (sI * beta[I] + sJ * beta[J]) / (sI + sJ)
        part = np.argpartition(ud, L, axis=1)
        r = np.arange(I.size)[:, None]
        new_cand, new_cd = union[r, part[:, :L]], ud[r, part[:, :L]]
        new_beta = np.minimum(new_beta, ud[r[:, 0], part[:, L]])
        # every other list: entries that merged now point at the new cluster, with its exact Δ
        hit = merged[cand]
        hit[I] = False
        rk, ck = np.nonzero(hit)
        cand[rk, ck] = to_new[cand[rk, ck]]
        cd[rk, ck] = _ward_delta(C, s, rk, cand[rk, ck])
        cd[rk[cand[rk, ck] == rk], ck[cand[rk, ck] == rk]] = np.inf
        cand[I], cd[I], beta[I] = new_cand, new_cd, new_beta
        keep = np.ones(m, dtype=bool)
        keep[J] = False
        new_index = np.cumsum(keep) - 1
        C, s, sq, node = C[keep], s[keep], sq[keep], node[keep]
        cand, cd, beta = new_index[cand[keep]], cd[keep], beta[keep]
    log.debug("Ward on %d points: %d rounds, %d full searches", n, rounds, searched)
    return Hierarchy(_to_linkage(rec_a, rec_b, rec_h, rec_s, n))


def _to_linkage(a: np.ndarray, b: np.ndarray, h: np.ndarray, size: np.ndarray, n: int) -> np.ndarray:
    """Merges in creation order -> scipy linkage sorted by height (children always before parents)."""
    order = np.lexsort((np.arange(n - 1), h))
    new_id = np.arange(2 * n - 1, dtype=np.int64)
    new_id[n + order] = n + np.arange(n - 1)
    A, B = new_id[a[order]], new_id[b[order]]
    Z = np.empty((n - 1, 4))
    Z[:, 0] = np.minimum(A, B)
    Z[:, 1] = np.maximum(A, B)
    Z[:, 2] = np.sqrt(2.0 * h[order])
    Z[:, 3] = size[order]
    return Z


# -- two-stage ------------------------------------------------------------------------------------------
def _kmeans_faiss(X: np.ndarray, n_cells: int, seed: int) -> np.ndarray:
    import faiss

    X32 = np.ascontiguousarray(X, dtype=np.float32)
    km = faiss.Kmeans(X32.shape[1], n_cells, niter=20, seed=seed, verbose=False, max_points_per_centroid=256)
    km.train(X32)
    _, assign = km.index.search(X32, 1)
    return assign.ravel().astype(np.int64)


def _kmeans_sklearn(X: np.ndarray, n_cells: int, seed: int) -> np.ndarray:
    from sklearn.cluster import MiniBatchKMeans

    km = MiniBatchKMeans(n_clusters=n_cells, random_state=seed, n_init=1, batch_size=4096)
    return km.fit_predict(np.asarray(X, dtype=np.float32)).astype(np.int64)


#: first-stage quantisers: (X, n_cells, seed) -> cell of every point
QUANTISERS: Registry[Callable[[np.ndarray, int, int], np.ndarray]] = Registry.of("quantiser", {
    "faiss": _kmeans_faiss,
    "sklearn": _kmeans_sklearn,
})


def two_stage(
    X: np.ndarray, n_cells: int, *, seed: int = 0, quantiser: str = "faiss", block_bytes: int = BLOCK_BYTES
) -> Hierarchy:
    """k-means into ``n_cells`` cells, then exact Ward on the cell centroids weighted by cell size.

    Cells are used as given by the final assignment; centroids and sizes are recomputed from it in
    float64, so the second stage is Ward on the points constrained to keep each cell whole.
    """
    quantise = QUANTISERS[quantiser]
    X = np.asarray(X)
    if not 2 <= n_cells <= X.shape[0]:
        raise BadInputError(f"n_cells={n_cells} must lie in [2, {X.shape[0]}] (the number of points); lower it.")
    cell = quantise(X, n_cells, seed)
    used, cell = np.unique(cell, return_inverse=True)
    cell = cell.ravel()
    counts = np.bincount(cell).astype(np.float64)
    sums = np.zeros((used.size, X.shape[1]))
    np.add.at(sums, cell, np.asarray(X, dtype=np.float64))
    tree = ward_tree(sums / counts[:, None], counts, block_bytes=block_bytes)
    return Hierarchy(tree.linkage, point_leaf=cell)


def two_stage_agreement(
    X: np.ndarray, k: int, n_cells: int, *, n_sub: int = 20_000, seed: int = 0, quantiser: str = "faiss"
) -> float:
    """ARI between exact Ward and :func:`two_stage` at K=k on one seeded subsample of ``n_sub`` points."""
    from sklearn.metrics import adjusted_rand_score

    rows = np.random.default_rng(seed).permutation(X.shape[0])[: min(n_sub, X.shape[0])]
    sub = np.asarray(X[np.sort(rows)])
    exact = ward_tree(sub).labels(k)
    approx = two_stage(sub, min(n_cells, sub.shape[0]), seed=seed, quantiser=quantiser).labels(k)
    return float(adjusted_rand_score(exact, approx))

