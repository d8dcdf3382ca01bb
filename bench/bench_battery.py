"""Benchmark: the full measure battery on the MiniLM last-layer token cloud of bundled sentences.

Prints time per measure and in total, the peak memory of the battery (a child process that loads only
the cloud), and IsoScore against the `IsoScore` package on the same cloud (value and speed ratio).

    python bench/bench_battery.py [--n-sentences 5000] [--threads 2] [--max-points N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(cloud_path: str, what: str, seed: int) -> None:
    """Run in a fresh process so ru_maxrss is the battery's own peak (cloud + work)."""
    import numpy as np

    X = np.load(cloud_path)
    if what == "battery":
        import latentatlas as la

        la.names()  # import the measure modules before timing, as the package is imported before its timer
        t0 = time.perf_counter()
        iso_alone = la.compute("isoscore", X)  # fresh cloud: includes its own PCA, like the package
        iso_time = time.perf_counter() - t0
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        values = la.run_battery(X, seed=seed, timings=timings)
        total = time.perf_counter() - t0
        out = {"values": la.flatten(values), "timings": timings, "total": total,
               "isoscore_alone": [iso_alone, iso_time]}
    else:  # the IsoScore package, as published
        from IsoScore import IsoScore

        t0 = time.perf_counter()
        value = float(IsoScore.IsoScore(X))
        out = {"value": value, "total": time.perf_counter() - t0}
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def spawn(cloud_path: Path, what: str, seed: int, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(cloud_path), "--what", what, "--seed", str(seed)],
        capture_output=True, text=True, env=env, check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-sentences", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-points", type=int, default=None, help="subsample the cloud (default: all tokens)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=".latentatlas-cache")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--what", default="battery", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.what, args.seed)
        return

    import numpy as np
    import torch

    from latentatlas.corpus import bundled_corpus
    from latentatlas.settings import ExtractionSettings
    from latentatlas.store import ActivationStore
    from latentatlas.models import load_model

    torch.set_num_threads(args.threads)
    corpus = bundled_corpus(args.n_sentences, seed=args.seed)
    lm = load_model("minilm", cache_dir=Path(args.cache))
    last = lm.num_layers
    store = ActivationStore.build_or_open(
        Path(args.cache), lm.model, lm.tokenizer, list(corpus.sentences), model_key=lm.fingerprint,
        options=ExtractionSettings(), layers=[last], progress=False,
    )
    X = store.cloud(last, max_points=args.max_points, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cloud.npy"
        np.save(path, X)
        ours = spawn(path, "battery", args.seed, args.threads)
        theirs = spawn(path, "isoscore_pkg", args.seed, args.threads)

    print(f"\nMiniLM layer {last} token cloud: {X.shape[0]:,} tokens × {X.shape[1]} dims "
          f"({len(corpus):,} bundled sentences), {args.threads} threads\n")
    print(f"{'measure':<22}{'seconds':>10}{'value':>14}")
    for name, seconds in ours["timings"].items():
        value = ours["values"].get(name, float("nan"))
        print(f"{name:<22}{seconds:>10.3f}{value:>14.6g}")
    print(f"{'TOTAL':<22}{ours['total']:>10.3f}")
    print(f"\npeak RSS of the battery process: {ours['peak_rss_mb']:.0f} MB "
          f"(the cloud alone is {X.nbytes / 2**20:.0f} MB)")
    ours_iso, t_ours = ours["isoscore_alone"]
    print("\nIsoScore vs the IsoScore package (baseline)")
    print(f"{'':<14}{'value':>14}{'seconds':>10}{'peak MB':>10}")
    print(f"{'latentatlas':<14}{ours_iso:>14.8f}{t_ours:>10.3f}{'':>10}")
    print(f"{'IsoScore pkg':<14}{theirs['value']:>14.8f}{theirs['total']:>10.3f}{theirs['peak_rss_mb']:>10.0f}")
    print(f"abs difference {abs(ours_iso - theirs['value']):.2e}; "
          f"speed ratio (package / ours) {theirs['total'] / max(t_ours, 1e-9):.1f}x")


if __name__ == "__main__":
    main()
