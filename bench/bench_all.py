"""Every stage on one fixed workload, one table: our figure, a baseline measured in the same run, ratio.

Workload: the bundled MiniLM on ``--n-sentences`` bundled sentences (seed 0), float16 store of every
layer; clouds are the last layer's tokens (seeded subsample of ``--max-points``). Baselines:

* extraction — a bare batched, length-sorted forward pass with all hidden states, nothing stored;
* IsoScore — the ``IsoScore`` package on the same cloud;
* TwoNN / MLE — scikit-dimension (``skdim.id.TwoNN``, ``skdim.id.MLE`` on distinct rows, k = 20);
* TwoNN — DADApy (``compute_id_2NN``), in the numpy<2 interpreter ``--dadapy-python`` when it exists;
* linear CKA (last vs previous layer) — the textbook float64 feature-space formula in numpy;
* streamed spectrum measures over the store's memmap — the same measures on the in-memory cloud;
* Ward (exact, ``--ward-points`` word vectors) — scikit-learn ``AgglomerativeClustering(linkage="ward")``,
  when the concepts module exists; agreement = ARI of the cuts at K = 50.

Then extraction of ``--n-ray`` sentences on the local engine (torch with ``--threads`` threads) vs the
Ray engine with 2 workers on this machine (each task one torch thread). Ratio = baseline / ours for
times (> 1: we are faster), with agreement of the values alongside.

    nice python bench/bench_all.py [--n-sentences 2000] [--max-points 20000] [--n-ray 20000]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def timed(fn: Callable[[], Any], repeats: int = 1) -> tuple[Any, float]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-sentences", type=int, default=2000)
    ap.add_argument("--max-points", type=int, default=20000)
    ap.add_argument("--ward-points", type=int, default=3000)
    ap.add_argument("--n-ray", type=int, default=20000, help="sentences for local vs Ray extraction (0: skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dadapy-python", default="/tmp/dadapy-venv/bin/python",
                    help="interpreter of a numpy<2 environment with dadapy (see bench_dimension.py)")
    args = ap.parse_args()

    import torch

    import latentatlas as la
    from latentatlas.corpus import bundled_corpus
    from latentatlas.settings import ExtractionSettings
    from latentatlas.store import ActivationStore
    from latentatlas.store.extractor import forward_batch, length_sorted_batches, tokenize
    from latentatlas.models import load_model

    torch.set_num_threads(args.threads)
    la.names()
    scratch = Path(tempfile.mkdtemp(prefix="bench_all_"))
    rows: list[tuple[str, str, float, str, float | None, str]] = []

    def add(stage: str, ours_what: str, ours_s: float, base_what: str, base_s: float | None, agree: str) -> None:
        rows.append((stage, ours_what, ours_s, base_what, base_s, agree))

    sentences = list(bundled_corpus(args.n_sentences, seed=0).sentences)
    lm = load_model("minilm")
    model, tok = lm.model, lm.tokenizer
    layers = list(range(lm.num_layers + 1))

    def bare() -> None:
        t = tokenize(tok, sentences, 128)
        for batch in length_sorted_batches(t.lengths(), 32):
            forward_batch(model, [t.input_ids[i] for i in batch], tok.pad_token_id, layers)

    def build(root: Path, sents: list[str], engine: Any = None) -> ActivationStore:
        return ActivationStore.build_or_open(root, model, tok, sents, model_key=lm.fingerprint,
                                             options=ExtractionSettings(), progress=False, engine=engine)

    store, t_ours = timed(lambda: build(Path(tempfile.mkdtemp(dir=scratch)), sentences))
    _, t_bare = timed(bare)
    add("extraction", f"store, {len(sentences)} sent., {store.n_tokens} tok.", t_ours, "bare forward pass", t_bare,
        "")

    last = layers[-1]
    X = store.cloud(last, max_points=args.max_points, seed=0)
    Xp = store.cloud(last - 1, max_points=args.max_points, seed=0)
    label = f"{X.shape[0]}x{X.shape[1]}"

    ours_iso, t_iso = timed(lambda: la.compute("isoscore", X))
    try:
        from IsoScore import IsoScore

        theirs_iso, t_iso_b = timed(lambda: float(IsoScore.IsoScore(X)))
        add("isoscore", label, t_iso, "IsoScore package", t_iso_b, f"|diff| {abs(ours_iso - theirs_iso):.1e}")
    except ImportError:
        add("isoscore", label, t_iso, "IsoScore package (not installed)", None, "")

    ours_tw, t_tw = timed(lambda: la.compute("twonn", X))
    ours_mle, t_mle = timed(lambda: la.compute("mle", X, k=20))
    try:
        import skdim

        from latentatlas.measures.cloud import distinct_rows

        sk_tw, t_sk_tw = timed(lambda: float(skdim.id.TwoNN(discard_fraction=0.1).fit(X).dimension_))
        sk_mle, t_sk_mle = timed(
            lambda: float(skdim.id.MLE().fit(distinct_rows(X), n_neighbors=20, comb="mle").dimension_))
        add("twonn", label, t_tw, "scikit-dimension TwoNN", t_sk_tw, f"{ours_tw:.3f} vs {sk_tw:.3f}")
        add("mle (k=20)", label, t_mle, "scikit-dimension MLE", t_sk_mle, f"{ours_mle:.3f} vs {sk_mle:.3f}")
    except ImportError:
        add("twonn", label, t_tw, "scikit-dimension (not installed)", None, "")
    # DADApy needs numpy < 2: it runs in its own interpreter (bench_dimension.py's docstring says how to
    # make that environment) on the same cloud saved to disk, timed inside the child
    if Path(args.dadapy_python).is_file():
        from bench_dimension import spawn

        cloud_file = Path(tempfile.mkdtemp()) / "cloud.npy"
        np.save(cloud_file, X)
        res = spawn("dadapy_twonn", cloud_file, args.threads, args.dadapy_python)
        shutil.rmtree(cloud_file.parent, ignore_errors=True)
        if "error" in res:
            add("twonn", label, t_tw, f"DADApy failed: {res['error'][:60]}", None, "")
        else:
            add("twonn", label, t_tw, "DADApy compute_id_2NN", res["seconds"], f"{ours_tw:.3f} vs {res['value']:.3f}")
    else:
        add("twonn", label, t_tw, f"DADApy ({args.dadapy_python} not found)", None, "")

    from latentatlas.measures.similarity import cka

    def textbook_cka() -> float:
        A = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
        B = Xp.astype(np.float64) - Xp.mean(axis=0, dtype=np.float64)
        return float(np.sum((B.T @ A) ** 2) / (np.linalg.norm(A.T @ A) * np.linalg.norm(B.T @ B)))

    ours_cka, t_cka = timed(lambda: cka(X, Xp), 3)
    np_cka, t_np_cka = timed(textbook_cka, 3)
    add("linear CKA", f"layers {last - 1},{last}", t_cka, "numpy float64 textbook", t_np_cka,
        f"|diff| {abs(ours_cka - np_cka):.1e}")

    from latentatlas.measures.stream import streamable, stream_battery

    full = store.layer(last)
    streamed, t_stream = timed(lambda: stream_battery(full))
    in_mem, t_mem = timed(lambda: la.run_battery(np.asarray(full, dtype=np.float32), streamable()))
    same = all(streamed[k] == in_mem[k] for k in streamable())
    add("streamed spectrum+acs", f"memmap {full.shape[0]}x{full.shape[1]}", t_stream, "in-memory float32 copy",
        t_mem, "bit-identical" if same else "DIFFERENT")

    if importlib.util.find_spec("latentatlas.analyses.concepts.cluster") is not None:
        from sklearn.cluster import AgglomerativeClustering
        from sklearn.metrics import adjusted_rand_score

        from latentatlas.analyses.concepts.cluster import ward_tree

        W = X[: args.ward_points].astype(np.float64)
        tree, t_ward = timed(lambda: ward_tree(W))
        sk, t_sk = timed(lambda: AgglomerativeClustering(n_clusters=50, linkage="ward").fit(W).labels_)
        add("exact Ward", f"{W.shape[0]} vectors", t_ward, "scikit-learn Ward", t_sk,
            f"ARI@50 {adjusted_rand_score(sk, tree.labels(50)):.4f}")

    if args.n_ray:
        from latentatlas.engine import get_engine

        big = list(bundled_corpus(args.n_ray, seed=0).sentences)
        _, t_local = timed(lambda: build(Path(tempfile.mkdtemp(dir=scratch)), big))
        torch.set_num_threads(1)  # Ray tasks take the driver's thread count: one each, two workers
        eng = get_engine("ray", num_cpus=2)
        try:
            _, t_ray = timed(lambda: build(Path(tempfile.mkdtemp(dir=scratch)), big, eng))
        finally:
            eng.close()
            torch.set_num_threads(args.threads)
        add("extraction (engines)", f"local engine, {len(big)} sent., {args.threads} torch threads", t_local,
            "ray engine, 2 workers x 1 thread", t_ray, "same store key")

    shutil.rmtree(scratch, ignore_errors=True)
    print(f"\nmachine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB\n")
    print("| stage | ours | ours (s) | baseline | baseline (s) | ratio (baseline/ours) | agreement |")
    print("|---|---|---|---|---|---|---|")
    for stage, what, t, base, tb, agree in rows:
        ratio = f"{tb / t:.2f}" if tb is not None and t > 0 else "–"
        tbs = f"{tb:.2f}" if tb is not None else "–"
        print(f"| {stage} | {what} | {t:.2f} | {base} | {tbs} | {ratio} | {agree} |")


if __name__ == "__main__":
    main()
