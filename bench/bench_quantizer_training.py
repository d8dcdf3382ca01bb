"""Benchmark: does a reduced quantizer training (10 iterations on ≤ 10,000 points) move PP?

Extracts MiniLM layer 6 on bundled BBC News sentences (the project's activation store, cached under
--cache) and fits the ``pq`` and ``aq`` quantizers with

* ``reduced``: 10 iterations on a seeded 10,000-point subsample (the library's defaults until this
  benchmark; --reduced-train-size / --reduced-iters change them),
* ``iters``: the published 25 iterations on the reduced training-set size (which of the two changes
  matters), and
* ``paper``: the published setting, 25 iterations on every point (the library's defaults now;
  --paper-train-size lowers the training-set size when training on all points is too slow),

each over several seeds. For every (kind, setting) it prints the per-seed ``pp``, ``pp_published`` and
``re`` values, their mean and seed-to-seed SD, and then each setting's difference from ``reduced``
next to the larger of the two seed SDs (the rule: change the default when PP moves by more than its
seed spread).

    nice -n 10 python bench/bench_quantizer_training.py [--n-sentences 5000] [--layer 6] \\
        [--seeds 0 1 2] [--kinds pq aq] [--settings reduced iters paper] [--max-points N] \\
        [--paper-train-size N] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

STATS = ("pp", "pp_published", "re")


def load_cloud(n_sentences: int, layer: int, cache: Path, threads: int, max_points: int | None, seed: int):
    import torch

    import latentatlas as la

    torch.set_num_threads(threads)
    acts = la.extract("minilm", "bundled", layers=[layer], n_sentences=n_sentences, seed=0, cache=cache)
    return acts.cloud(layer, max_points=max_points, seed=seed), len(acts.sentences)


def fit_stats(cloud, kind: str, seed: int, train_size: int, train_iters: int) -> dict[str, float]:
    import latentatlas as la

    params = {"train_size": train_size, "train_iters": train_iters}
    t0 = time.perf_counter()
    out = {s: float(la.compute(f"{kind}_{s}", cloud, seed=seed, **params)) for s in STATS}
    out["seconds"] = time.perf_counter() - t0  # shared fit: the first statistic pays for the training
    return out


def summary(rows: list[dict[str, float]], stat: str) -> tuple[float, float]:
    values = [r[stat] for r in rows]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-sentences", type=int, default=5000)
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--kinds", nargs="+", default=["pq", "aq"], choices=["pq", "aq"])
    ap.add_argument("--settings", nargs="+", default=["reduced", "iters", "paper"],
                    choices=["reduced", "iters", "paper"], help="'reduced' is always run (the baseline)")
    ap.add_argument("--reduced-train-size", type=int, default=10_000)
    ap.add_argument("--reduced-iters", type=int, default=10)
    ap.add_argument("--max-points", type=int, default=None, help="subsample the cloud (default: all tokens)")
    ap.add_argument("--paper-train-size", type=int, default=None, help="default: every point of the cloud")
    ap.add_argument("--paper-iters", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1, help="torch and faiss (OpenMP) threads")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/latentatlas-bench-cache"))
    ap.add_argument("--json", type=Path, default=None, help="also write every fit's values here")
    args = ap.parse_args()

    import faiss

    from latentatlas.measures.cloud import PointCloud

    faiss.omp_set_num_threads(args.threads)
    X, n_sent = load_cloud(args.n_sentences, args.layer, args.cache, args.threads, args.max_points, 0)
    cloud = PointCloud(X, name=f"MiniLM layer {args.layer}")
    paper_size = args.paper_train_size or cloud.n
    every = {
        "reduced": (args.reduced_train_size, args.reduced_iters),
        "iters": (args.reduced_train_size, args.paper_iters),
        "paper": (paper_size, args.paper_iters),
    }
    settings = {k: v for k, v in every.items() if k == "reduced" or k in args.settings}
    print(f"MiniLM layer {args.layer}: {cloud.n:,} tokens × {cloud.d} dims ({n_sent:,} bundled sentences); "
          f"seeds {args.seeds}; faiss threads {args.threads}", flush=True)
    for name, (size, iters) in settings.items():
        print(f"  {name}: {iters} iterations on {min(size, cloud.n):,} points", flush=True)

    results: dict[str, dict[str, list[dict[str, float]]]] = {k: {s: [] for s in settings} for k in args.kinds}
    for kind in args.kinds:
        for name, (size, iters) in settings.items():
            for seed in args.seeds:
                row = fit_stats(cloud, kind, seed, size, iters)
                results[kind][name].append(row)
                print(f"{kind} {name:<8} seed {seed}: " + "  ".join(f"{s} {row[s]:.6f}" for s in STATS)
                      + f"  ({row['seconds']:.0f} s)", flush=True)
                if args.json:
                    args.json.write_text(json.dumps({"settings": settings, "n": cloud.n, "results": results}, indent=1))

    print(f"\n{'kind':<5}{'stat':<14}{'setting':<9}{'mean':>12}{'seed SD':>10}{'Δ vs reduced':>14}"
          f"{'|Δ|/max SD':>12}")
    for kind in args.kinds:
        for stat in STATS:
            m_c, sd_c = summary(results[kind]["reduced"], stat)
            for name in settings:
                m, sd = summary(results[kind][name], stat)
                cells = f"{kind:<5}{stat:<14}{name:<9}{m:>12.6f}{sd:>10.6f}"
                if name != "reduced":
                    spread = max(sd_c, sd)
                    ratio = abs(m - m_c) / spread if spread > 0 else math.inf
                    cells += f"{m - m_c:>+14.6f}{ratio:>12.2f}"
                print(cells)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
