"""Benchmark: local topology features per second on MiniLM token vectors.

Ours: :func:`latentatlas.measures.topology.local_topology_features` on N tokens (exact k-NN, batched
neighbourhood distances, local TwoNN / PCA, Rips H0+H1 in ``--jobs`` worker processes, images and
Wasserstein norms), with 1 and with ``--jobs`` processes. Baseline: the straightforward per-token loop
with the packages' public APIs on a subsample: ``ripser.ripser`` on each neighbourhood's points,
``persim.wasserstein`` to the empty diagram, ``persim.PersistenceImager.transform`` on the same grid, and
``skdim.id.TwoNN`` on the neighbourhood; values are checked against ours on that subsample.

    python bench/bench_topology.py [--n-tokens 20000] [--k 32] [--jobs 2] [--baseline-tokens 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def baseline_loop(X: np.ndarray, I: np.ndarray, rows: np.ndarray, spec) -> np.ndarray:  # noqa: ANN001
    """Per-token features with the public package APIs (H1 W1 norm, H1 image, local TwoNN)."""
    import persim
    import skdim
    from persim.images_weights import linear_ramp
    from ripser import ripser

    g = spec.image.grid(1)
    imager = persim.PersistenceImager(
        birth_range=g.birth_range, pers_range=g.pers_range, pixel_size=g.pixel_size[1], weight=linear_ramp,
        weight_params={"low": 0.0, "high": 1.0, "start": 0.0, "end": g.pers_range[1]},
        kernel_params={"sigma": np.array([[g.sigma**2, 0.0], [0.0, g.sigma**2]])},
    )
    out = []
    for i in rows:
        P = X[np.concatenate([[i], I[i]])].astype(np.float64)
        h1 = ripser(P, maxdim=1)["dgms"][1]
        w1 = persim.wasserstein(h1, np.array([[0.0, 0.0]])) if len(h1) else 0.0
        img = imager.transform(h1, skew=True) if len(h1) else np.zeros(g.size)
        d = skdim.id.TwoNN(discard_fraction=0.0, method="mle").fit(P).dimension_
        out.append(np.concatenate([[w1, d], np.ravel(img)]))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-tokens", type=int, default=20_000)
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--baseline-tokens", type=int, default=300)
    ap.add_argument("--cache", default=".latentatlas-cache")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_dimension import minilm_tokens

    from latentatlas.measures.cloud import PointCloud
    from latentatlas.measures.topology import ImageGrid, ImageSpec, local_topology_features

    (X,) = minilm_tokens(args.n_tokens, [args.layer], cache=args.cache, threads=args.jobs)
    # persim's imager has square pixels: give H1 a birth range of 5 persistence pixels so both grids agree
    h1 = local_topology_features(X[:2000], k=args.k, n_jobs=1)[2].image.grid(1)
    px = h1.pixel_size[1]
    b0 = round(h1.birth_range[0] / px) * px
    image = ImageSpec((
        ImageGrid(0, (0.0, 0.0), h1.pers_range, 1, h1.n_pers, h1.sigma),
        ImageGrid(1, (b0, b0 + 5 * px), h1.pers_range, 5, h1.n_pers, h1.sigma),
    ))
    results = {}
    for jobs in (1, args.jobs) if args.jobs > 1 else (1,):
        cloud = PointCloud(X)
        t0 = time.perf_counter()
        cloud.knn(args.k)
        t_knn = time.perf_counter() - t0
        t0 = time.perf_counter()
        F, names, spec = local_topology_features(cloud, k=args.k, n_jobs=jobs, image=image)
        results[jobs] = (t_knn, time.perf_counter() - t0, F)

    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(X.shape[0], min(args.baseline_tokens, X.shape[0]), replace=False))
    _, I = PointCloud(X).knn(args.k)
    t0 = time.perf_counter()
    base = baseline_loop(X, I, rows, spec)
    t_base = time.perf_counter() - t0
    F = results[1][2]
    ours = np.column_stack([F[rows, names.index("wasserstein_p1_h1")], F[rows, names.index("twonn_local")],
                            F[rows][:, [i for i, n in enumerate(names) if n.startswith("pi_h1_")]]])
    ok = np.isfinite(ours[:, 1]) & np.isfinite(base[:, 1])
    diff_w = np.max(np.abs(ours[:, 0] - base[:, 0]) / np.maximum(np.abs(base[:, 0]), 1e-12))
    diff_d = np.max(np.abs(ours[ok, 1] - base[ok, 1]) / np.abs(base[ok, 1]))
    diff_i = np.max(np.abs(ours[:, 2:] - base[:, 2:])) / max(np.abs(base[:, 2:]).max(), 1e-12)

    n = X.shape[0]
    print(f"\nMiniLM layer {args.layer}: {n:,} tokens × {X.shape[1]} dims, k={args.k}, {F.shape[1]} features per token\n")
    print(f"{'figure':<40}{'seconds':>10}{'tokens/s':>12}")
    for jobs, (t_knn, t_feat, _) in results.items():
        print(f"{'exact k-NN graph (faiss, shared)':<40}{t_knn:>10.2f}{n / t_knn:>12,.0f}")
        print(f"{f'features after k-NN, {jobs} process(es)':<40}{t_feat:>10.2f}{n / t_feat:>12,.0f}")
        print(f"{f'total, {jobs} process(es)':<40}{t_knn + t_feat:>10.2f}{n / (t_knn + t_feat):>12,.0f}")
    per_tok_base = t_base / rows.size
    t1 = results[1][1] / n
    print(f"{'baseline: public-API loop (H1 only)':<40}{t_base:>10.2f}{rows.size / t_base:>12,.0f}"
          f"   ({rows.size} tokens; ours, 1 process, all features: {per_tok_base / t1:.1f}x faster per token)")
    print(f"\nagreement on the {rows.size} baseline tokens (max relative difference): H1 W1 norm {diff_w:.1e}, "
          f"local TwoNN {diff_d:.1e}, H1 image {diff_i:.1e}")


if __name__ == "__main__":
    main()
