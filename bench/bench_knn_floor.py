"""Benchmark: the lower bound on exact 2-NN search time (TwoNN) for a token cloud on this machine.

It shows how fast an exact TwoNN can be here, and measures each way of beating all-pairs search:

* **GEMM floor.** All-pairs squared distances ‖x‖² + ‖y‖² − 2xᵀy need n²·d multiply-adds. The line
  gives the measured float32 GEMM throughput (numpy's BLAS) and the time that the full product (and the
  half product, if symmetry is used) takes at that rate. It also gives faiss's exact search at k = 3.
* **Pruning.** Exact metric pruning (k-means clusters with the triangle inequality, as in ball trees
  and exact IVF) skips a point y for a query q only when a lower bound on ‖q − y‖ exceeds q's true
  second-neighbour distance r₂. For a seeded sample of queries the script computes the exact r₂ and
  reports the fraction of all points that could *not* be skipped, under the best case where r₂ is
  known in advance:
  * with the cluster-radius bound ‖q − c‖ − R_c;
  * with the per-point annulus bound |‖q − c‖ − ‖y − c‖|.
* **Lower precision.** It also gives the throughput of int8 (``torch._int_mm``), bfloat16 and float16
  matrix products, which a filter-then-verify search would need.

    python bench/bench_knn_floor.py [--cloud a.npy | --n-tokens 100000] [--queries 2000] [--threads 2]

Without ``--cloud``, the cloud is layer 6 of the bundled MiniLM over the bundled sentences, as in
``bench_dimension.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np


def gemm_gflops(X: np.ndarray, rows: int = 4096, cols: int = 16384, repeats: int = 3) -> float:
    A, B = X[:rows], X[:cols]
    A @ B.T
    t0 = time.perf_counter()
    for _ in range(repeats):
        A @ B.T
    return 2 * rows * cols * X.shape[1] * repeats / (time.perf_counter() - t0) / 1e9


def low_precision_gops(d: int, threads: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(threads)
    a = torch.randint(-127, 127, (1024, d), dtype=torch.int8)
    b = torch.randint(-127, 127, (d, 4096), dtype=torch.int8)
    flops = 2 * 1024 * 4096 * d
    out: dict[str, float] = {}
    for name, (x, y, mm) in {
        "int8 (torch._int_mm)": (a, b, torch._int_mm),
        "bfloat16": (a.to(torch.bfloat16), b.to(torch.bfloat16), torch.matmul),
        "float16": (a.to(torch.float16), b.to(torch.float16), torch.matmul),
    }.items():
        try:
            mm(x, y)
            t0 = time.perf_counter()
            mm(x, y)
            out[name] = flops / (time.perf_counter() - t0) / 1e9
        except RuntimeError as exc:  # an op this build lacks on CPU
            out[name] = float("nan")
            print(f"{name}: {exc}", file=sys.stderr)
    return out


def pruning(X: np.ndarray, n_queries: int, nlist: int, seed: int) -> dict[str, float]:
    """Fractions of points a query cannot skip, given its exact r₂ (the best case for any pruning)."""
    import faiss

    n, d = X.shape
    rng = np.random.default_rng(seed)
    q = rng.choice(n, min(n_queries, n), replace=False)
    X64 = X.astype(np.float64)
    sq = np.einsum("ij,ij->i", X64, X64)
    D2 = np.maximum(sq[q, None] + sq[None] - 2 * X64[q] @ X64.T, 0.0)
    D2[np.arange(q.size), q] = np.inf
    r2 = np.sqrt(np.sort(np.partition(D2, 1, axis=1)[:, :2], axis=1)[:, 1])
    block = D2[:, :5000]
    median_distance = float(np.median(np.sqrt(block[np.isfinite(block)])))
    del D2
    km = faiss.Kmeans(d, nlist, niter=10, seed=seed, max_points_per_centroid=256)
    km.train(X)
    _, assign = km.index.search(X, 1)
    assign = assign[:, 0]
    C = km.centroids.astype(np.float64)
    to_own = np.sqrt(np.einsum("ij,ij->i", X64 - C[assign], X64 - C[assign]))
    radius = np.zeros(nlist)
    np.maximum.at(radius, assign, to_own)
    size = np.bincount(assign, minlength=nlist)
    qc = np.sqrt(np.maximum(sq[q, None] + np.einsum("ij,ij->i", C, C)[None] - 2 * X64[q] @ C.T, 0.0))
    needed = (qc - radius[None]) < r2[:, None]
    annulus = np.abs(qc[:, assign] - to_own[None]) < r2[:, None]
    return {
        "median r2": float(np.median(r2)),
        "median distance": median_distance,
        "radius bound": float((needed * size[None]).sum(1).mean() / n),
        "annulus bound": float(annulus.sum(1).mean() / n),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cloud", help="a saved (n, d) .npy cloud; default: MiniLM layer 6 tokens")
    ap.add_argument("--n-tokens", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--nlist", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=".latentatlas-cache")
    args = ap.parse_args()
    import faiss
    from threadpoolctl import threadpool_limits

    from latentatlas.measures.cloud import distinct_rows

    faiss.omp_set_num_threads(args.threads)
    threadpool_limits(limits=args.threads)  # numpy's BLAS and torch's OpenMP are already loaded
    if args.cloud:
        X = np.load(args.cloud)
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_dimension import minilm_tokens

        (X,) = minilm_tokens(args.n_tokens, [6], cache=args.cache, threads=args.threads)
    X = distinct_rows(np.ascontiguousarray(X, dtype=np.float32))
    n, d = X.shape
    print(f"cloud: {n:,} distinct points × {d}; {args.threads} threads; load average {os.getloadavg()[0]:.2f}\n")

    rate = gemm_gflops(X)
    full = 2 * n * n * d / rate / 1e9
    index = faiss.IndexFlatL2(d)
    index.add(X)
    t0 = time.perf_counter()
    index.search(X, 3)
    faiss_s = time.perf_counter() - t0
    print(f"{'float32 GEMM':<34}{rate:>9.1f} GFLOPS")
    print(f"{'all pairs at that rate':<34}{full:>9.1f} s (half, using symmetry: {full / 2:.1f} s)")
    print(f"{'faiss exact search, k = 3':<34}{faiss_s:>9.1f} s")
    for name, gops in low_precision_gops(d, args.threads).items():
        print(f"{name:<34}{gops:>9.2f} GOPS")
    p = pruning(X, args.queries, args.nlist, args.seed)
    print(f"\npruning, {args.queries} seeded queries, {args.nlist} k-means clusters, exact r2 given in advance:")
    print(f"  median r2 {p['median r2']:.3f} vs median pairwise distance {p['median distance']:.3f}")
    print(f"  points a query cannot skip: radius bound {p['radius bound']:.1%}, "
          f"per-point annulus bound {p['annulus bound']:.1%}")


if __name__ == "__main__":
    main()
