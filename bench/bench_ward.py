"""Benchmark: exact Ward on MiniLM token vectors against scikit-learn, and the largest n per layer.

Every method runs in its own fresh process on the same saved cloud, so ``VmHWM`` is that method's own
peak resident memory (input array included) and the time excludes imports. The partitions at K are
compared with the adjusted Rand index (ARI = 1: the same partition).

    python bench/bench_ward.py compare [--n 20000] [--k 600] [--layer 6]      # ours vs sklearn
    python bench/bench_ward.py large --n 250000 [--method exact|two_stage] [--cells 20000] [--agreement 10000]

``--agreement N`` (two-stage only) adds the ARI of two-stage against exact Ward at K on a seeded
subsample of N points, with cells scaled to keep the same points-per-cell ratio. Every line carries the
machine's load average (the machine may be shared).

The token cloud is layer ``--layer`` of the bundled all-MiniLM-L6-v2 over the bundled BBC sentences
(special tokens dropped, seeded subsample), extracted once into ``.latentatlas-cache``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CACHE = Path(".latentatlas-cache")


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cloud(n: int, layer: int, seed: int = 0) -> Path:
    """Save n MiniLM token vectors of one layer (float32) and return the .npy path (cached)."""
    out = CACHE / "bench_ward" / f"minilm_l{layer}_n{n}_s{seed}.npy"
    if out.is_file():
        return out
    from latentatlas.corpus import bundled_corpus
    from latentatlas.settings import ExtractionSettings
    from latentatlas.store import ActivationStore
    from latentatlas.models import load_model

    lm = load_model("minilm")
    n_sent = max(500, int(n / 24 * 1.3))  # ~24 word-piece tokens per bundled sentence
    corpus = bundled_corpus(n_sent, seed=seed)
    store = ActivationStore.build_or_open(
        CACHE, lm.model, lm.tokenizer, list(corpus.sentences), model_key=lm.fingerprint,
        options=ExtractionSettings(keep_special_tokens=False), layers=[layer], progress=False,
    )
    if store.n_tokens < n:
        raise SystemExit(f"only {store.n_tokens} tokens in {n_sent} sentences; raise the sentence count")
    X = store.cloud(layer, max_points=n, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, X)
    return out


def _cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(method: str, data: Path, k: int, labels_out: Path, cells: int, seed: int) -> None:
    X = np.load(data)
    c0 = _cpu_s()
    if method == "ours":
        from latentatlas.analyses.concepts.cluster import ward_tree

        t0 = time.perf_counter()
        labels = ward_tree(X).labels(k)
    elif method == "two_stage":
        from latentatlas.analyses.concepts.cluster import two_stage

        t0 = time.perf_counter()
        labels = two_stage(X, cells, seed=seed).labels(k)
    elif method == "sklearn":
        from sklearn.cluster import AgglomerativeClustering

        t0 = time.perf_counter()
        labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit(X).labels_
    else:
        raise SystemExit(f"unknown method {method}")
    seconds = time.perf_counter() - t0
    cpu = _cpu_s() - c0
    np.save(labels_out, labels)
    print(json.dumps({"method": method, "n": int(X.shape[0]), "d": int(X.shape[1]), "k": k,
                      "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "peak_mb": round(_peak_mb(), 1),
                      "loadavg": [round(v, 2) for v in os.getloadavg()]}))


def run_child(method: str, data: Path, k: int, cells: int = 0, seed: int = 0) -> tuple[dict, np.ndarray]:
    labels = data.with_suffix(f".{method}.labels.npy")
    cmd = [sys.executable, __file__, "_child", method, str(data), str(k), str(labels), str(cells), str(seed)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1]), np.load(labels)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        m, data, k, lab, cells, seed = sys.argv[2:8]
        child(m, Path(data), int(k), Path(lab), int(cells), int(seed))
        return
    from sklearn.metrics import adjusted_rand_score

    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["compare", "large"])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--k", type=int, default=600)
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--method", default="exact", choices=["exact", "two_stage"])
    ap.add_argument("--cells", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--agreement", type=int, default=0, help="two-stage: ARI vs exact Ward on this many points")
    a = ap.parse_args()
    data = cloud(a.n, a.layer, a.seed)
    if a.what == "compare":
        ours, la = run_child("ours", data, a.k)
        print(json.dumps(ours))
        ref, lb = run_child("sklearn", data, a.k)
        print(json.dumps(ref))
        print(json.dumps({"ari": adjusted_rand_score(la, lb),
                          "speedup": round(ref["seconds"] / ours["seconds"], 2),
                          "cpu_speedup": round(ref["cpu_seconds"] / ours["cpu_seconds"], 2),
                          "memory_ratio": round(ref["peak_mb"] / ours["peak_mb"], 2)}))
    else:
        res, _ = run_child("ours" if a.method == "exact" else "two_stage", data, a.k, a.cells, a.seed)
        print(json.dumps(res))
        if a.method == "two_stage" and a.agreement:
            from latentatlas.analyses.concepts.cluster import two_stage_agreement

            X = np.load(data, mmap_mode="r")
            cells = max(2 * a.k, int(round(a.cells * a.agreement / a.n)))
            t0 = time.perf_counter()
            ari = two_stage_agreement(X, a.k, cells, n_sub=a.agreement, seed=a.seed)
            print(json.dumps({"agreement_ari": round(ari, 4), "n_sub": a.agreement, "cells": cells, "k": a.k,
                              "seconds": round(time.perf_counter() - t0, 1),
                              "loadavg": [round(v, 2) for v in os.getloadavg()]}))


if __name__ == "__main__":
    main()
