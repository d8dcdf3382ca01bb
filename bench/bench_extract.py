"""Benchmark: extraction throughput of the activation store against two baselines.

(a) bare: a batched, length-sorted forward pass with all hidden states, nothing stored (the limit);
(b) latentatlas: the same passes plus writing every layer to the store (memmaps, token index, checksums);
(c) naive: sentence by sentence, unbatched, hidden states copied to numpy (the published scripts' way).

    python bench/bench_extract.py [--n-sentences 1000] [--threads 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-sentences", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3, help="best of N interleaved runs of (a) and (b)")
    args = ap.parse_args()

    import torch

    from latentatlas.corpus import bundled_corpus
    from latentatlas.settings import ExtractionSettings
    from latentatlas.store import ActivationStore
    from latentatlas.store.extractor import forward_batch, length_sorted_batches, tokenize
    from latentatlas.models import load_model

    torch.set_num_threads(args.threads)
    sentences = list(bundled_corpus(args.n_sentences, seed=0).sentences)
    lm = load_model("minilm")
    model, tok = lm.model, lm.tokenizer
    layers = list(range(lm.num_layers + 1))
    n_tokens = sum(len(ids) for ids in tokenize(tok, sentences, 128).input_ids)

    def bare() -> None:
        t = tokenize(tok, sentences, 128)
        for batch in length_sorted_batches(t.lengths(), args.batch_size):
            forward_batch(model, [t.input_ids[i] for i in batch], tok.pad_token_id, layers)

    scratch = Path(tempfile.mkdtemp(prefix="bench_extract_"))

    def ours() -> None:
        target = Path(tempfile.mkdtemp(dir=scratch))  # a fresh cache each time: nothing is reused
        ActivationStore.build_or_open(
            target, model, tok, sentences, model_key=lm.fingerprint,
            options=ExtractionSettings(batch_size=args.batch_size), progress=False,
        )

    def naive() -> None:
        for s in sentences:
            enc = tok(s, return_tensors="pt", truncation=True, max_length=128)
            with torch.inference_mode():
                hs = model(**enc, output_hidden_states=True).hidden_states
            [h[0].numpy().copy() for h in hs]

    bare()  # warm-up
    # Interleave repeats of (a) and (b) and keep each one's best, so drifting machine load hits both alike.
    t_bare, t_ours = float("inf"), float("inf")
    for _ in range(args.repeats):
        for fn, which in ((bare, "a"), (ours, "b")):
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            shutil.rmtree(scratch, ignore_errors=True)  # cleanup is not part of extraction
            scratch.mkdir()
            if which == "a":
                t_bare = min(t_bare, dt)
            else:
                t_ours = min(t_ours, dt)
    shutil.rmtree(scratch, ignore_errors=True)
    t0 = time.perf_counter()
    naive()
    t_naive = time.perf_counter() - t0
    rate = lambda t: n_tokens / t  # noqa: E731
    print(f"\nMiniLM (6 layers, 384 dims), {len(sentences):,} bundled sentences, {n_tokens:,} tokens, "
          f"{args.threads} threads, batch {args.batch_size}, all 7 hidden states\n")
    print(f"{'method':<44}{'seconds':>9}{'tokens/s':>11}{'vs bare':>9}")
    for name, t in [("(a) bare batched length-sorted forward", t_bare),
                    ("(b) latentatlas extraction into the store", t_ours),
                    ("(c) sentence by sentence, unbatched", t_naive)]:
        print(f"{name:<44}{t:>9.2f}{rate(t):>11,.0f}{t_bare / t:>9.2f}")
    print(f"\nstore / bare = {t_bare / t_ours:.2f} (target ≥ 0.85); store vs unbatched = {t_naive / t_ours:.1f}x faster")


if __name__ == "__main__":
    main()
