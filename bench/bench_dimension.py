"""Benchmark: TwoNN and Levina–Bickel MLE on MiniLM token vectors, against scikit-dimension and DADApy;
linear CKA between two layers over the same tokens.

Every estimate runs in its own fresh process on the same saved cloud, so each time includes its own
k-NN search and ``ru_maxrss`` is that estimate's own peak memory. DADApy does not build against
numpy 2, so it runs in a separate virtual environment (``--dadapy-python``; create it with
``python -m venv /tmp/dadapy-venv && /tmp/dadapy-venv/bin/pip install "numpy<2" dadapy``) and is
skipped, with the reason printed, when that interpreter is missing.

    python bench/bench_dimension.py [--n-tokens 100000] [--threads 2] [--skip-skdim] [--skip-dadapy]
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

import numpy as np

# -- children (each runs in a fresh process) -------------------------------------------------------


def _peak_mb() -> float:
    """This process's own peak resident memory (VmHWM; ru_maxrss would include the parent's at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _estimator(what: str):  # noqa: ANN202 - returns a zero-argument callable per child kind
    """Import the implementation (outside the timer, as a user has it imported) and return its call."""
    if what == "ours_twonn":
        from latentatlas.measures.dimension import twonn

        return lambda X, Y: twonn(X)
    if what == "ours_mle":
        from latentatlas.measures.dimension import mle

        return lambda X, Y: mle(X, k=20)
    if what in ("skdim_twonn", "skdim_mle"):
        import skdim

        if what == "skdim_twonn":
            return lambda X, Y: float(skdim.id.TwoNN(discard_fraction=0.1).fit(X).dimension_)
        from latentatlas.measures.cloud import distinct_rows

        # skdim's MLE returns 0 when a point has a duplicate (r_j = 0 makes a local estimate 0, and the
        # "mle" combination 1/mean(1/m) collapses); give it the distinct rows, as ours uses (timed).
        return lambda X, Y: float(skdim.id.MLE().fit(distinct_rows(X), n_neighbors=20, comb="mle").dimension_)
    if what == "dadapy_twonn":
        from dadapy import Data

        def run(X: np.ndarray, Y: None) -> float:
            data = Data(coordinates=X.astype(np.float64), maxk=3, n_jobs=int(os.environ.get("OMP_NUM_THREADS", 2)))
            data.remove_identical_points()
            return float(data.compute_id_2NN(algorithm="base", mu_fraction=0.9)[0])

        return run
    if what == "ours_cka":
        from latentatlas.measures.similarity import cka

        return lambda X, Y: cka(X, Y)
    if what == "numpy_cka":  # textbook feature-space formula in float64, no sharing

        def textbook(X: np.ndarray, Y: np.ndarray) -> float:
            Xc = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
            Yc = Y.astype(np.float64) - Y.mean(axis=0, dtype=np.float64)
            return float(np.sum((Yc.T @ Xc) ** 2) / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)))

        return textbook
    raise SystemExit(f"unknown child {what}")


def _child(what: str, path: str, path_b: str | None) -> None:
    run = _estimator(what)
    X = np.load(path)
    Y = np.load(path_b) if path_b else None
    t0 = time.perf_counter()
    value = run(X, Y)
    seconds = time.perf_counter() - t0
    print(json.dumps({"value": value, "seconds": seconds, "peak_rss_mb": _peak_mb()}))


def spawn(what: str, path: Path, threads: int, python: str = sys.executable, path_b: Path | None = None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads)}
    cmd = [python, __file__, "--child", what, str(path)] + ([str(path_b)] if path_b else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- data ------------------------------------------------------------------------------------------


def minilm_tokens(n_tokens: int, layers: list[int], *, cache: str, seed: int = 0, threads: int = 2) -> list[np.ndarray]:
    """``n_tokens`` MiniLM token vectors (the same rows) of each of ``layers``, from bundled sentences
    (extracted once into the activation store under ``cache``; special tokens included)."""
    import torch

    from latentatlas.corpus import bundled_corpus
    from latentatlas.settings import ExtractionSettings
    from latentatlas.store import ActivationStore
    from latentatlas.models import load_model

    torch.set_num_threads(threads)
    n_sentences = max(100, int(n_tokens / 27))  # ≈ 28 tokens per bundled sentence with specials
    lm = load_model("minilm", cache_dir=Path(cache))
    while True:
        corpus = bundled_corpus(n_sentences, seed=seed)
        store = ActivationStore.build_or_open(
            Path(cache), lm.model, lm.tokenizer, list(corpus.sentences), model_key=lm.fingerprint,
            options=ExtractionSettings(), layers="all", progress=False,
        )
        if store.n_tokens >= n_tokens:
            break
        n_sentences = int(n_sentences * 1.2 * n_tokens / store.n_tokens)
    return [np.ascontiguousarray(store.layer(layer)[:n_tokens], dtype=np.float32) for layer in layers]


# -- main ------------------------------------------------------------------------------------------


def _row(figure: str, ours: dict, base: dict, base_name: str) -> str:
    if "error" in base:
        return f"{figure:<14}{ours['seconds']:>9.1f}{ours['peak_rss_mb']:>9.0f}  {base_name:<14}  failed: {base['error']}"
    ratio = base["seconds"] / max(ours["seconds"], 1e-9)
    return (
        f"{figure:<14}{ours['seconds']:>9.1f}{ours['peak_rss_mb']:>9.0f}  {base_name:<14}{base['seconds']:>9.1f}"
        f"{base['peak_rss_mb']:>9.0f}{ratio:>8.1f}x  {ours['value']:.6f} vs {base['value']:.6f} "
        f"(|Δ| {abs(ours['value'] - base['value']):.1e})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-tokens", type=int, default=100_000)
    ap.add_argument("--layer", type=int, default=6, help="layer for TwoNN/MLE (CKA: --cka-layer vs this)")
    ap.add_argument("--cka-layer", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default=".latentatlas-cache")
    ap.add_argument("--dadapy-python", default="/tmp/dadapy-venv/bin/python")
    ap.add_argument("--skip-skdim", action="store_true")
    ap.add_argument("--skip-dadapy", action="store_true")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        what, *paths = args.child
        _child(what, paths[0], paths[1] if len(paths) > 1 else None)
        return

    X, Y = minilm_tokens(args.n_tokens, [args.layer, args.cka_layer], cache=args.cache, threads=args.threads)
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        pa, pb = Path(tmp) / "a.npy", Path(tmp) / "b.npy"
        np.save(pa, X)
        np.save(pb, Y)
        ours = spawn("ours_twonn", pa, args.threads)
        if not args.skip_skdim:
            rows.append(_row("TwoNN", ours, spawn("skdim_twonn", pa, args.threads), "scikit-dim"))
        if args.skip_dadapy:
            pass
        elif not Path(args.dadapy_python).is_file():
            rows.append(f"{'TwoNN':<14}DADApy skipped: {args.dadapy_python} not found (see the docstring)")
        else:
            rows.append(_row("TwoNN", ours, spawn("dadapy_twonn", pa, args.threads, args.dadapy_python), "DADApy"))
        ours = spawn("ours_mle", pa, args.threads)
        if not args.skip_skdim:
            rows.append(_row("MLE k=20", ours, spawn("skdim_mle", pa, args.threads), "scikit-dim"))
        else:
            rows.append(f"{'MLE k=20':<14}{ours['seconds']:>9.1f}{ours['peak_rss_mb']:>9.0f}  value {ours['value']:.6f}")
        rows.append(_row("linear CKA", spawn("ours_cka", pa, args.threads, path_b=pb),
                         spawn("numpy_cka", pa, args.threads, path_b=pb), "numpy float64"))

    print(f"\nMiniLM token vectors: {X.shape[0]:,} × {X.shape[1]} (layer {args.layer}; CKA against layer "
          f"{args.cka_layer}), {args.threads} threads; the cloud alone is {X.nbytes / 2**20:.0f} MB\n")
    print(f"{'figure':<14}{'ours s':>9}{'peak MB':>9}  {'baseline':<14}{'base s':>9}{'peak MB':>9}{'ratio':>9}  values")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
