"""Benchmark: the downstream stage on the real MiniLM and the bundled BBC task suite.

Figures (each with the baseline it is compared with, measured in the same run):
(a) frozen features of a task split: examples/s, against a bare batched forward pass of the same texts
    (the limit: features add only pooling and caching);
(b) a probe (logistic and ridge classifier) on the last layer: seconds per fit;
(c) fine-tuning (Marbut's protocol: lr 2e-5, effective batch 32, max length 128): training examples/s,
    against the forward-only throughput of (a) (fine-tuning does forward + backward + update);
(d) LogME and H-score on the same features: seconds.

    python bench/bench_downstream.py [--task bbc_topic] [--n-train 512] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="bbc_topic")
    ap.add_argument("--n-train", type=int, default=512)
    ap.add_argument("--n-eval", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs for the throughput figure")
    args = ap.parse_args()

    import numpy as np
    import torch

    from latentatlas.downstream.encode import encode_split, features
    from latentatlas.downstream.finetune import FinetuneSettings, finetune
    from latentatlas.downstream.probe import ProbeSettings, probe
    from latentatlas.downstream.tasks import load_task
    from latentatlas.downstream.transferability import transferability
    from latentatlas.store.extractor import forward_batch, length_sorted_batches
    from latentatlas.models import load_model

    torch.set_num_threads(args.threads)
    task = load_task(args.task, max_train=args.n_train, max_eval=args.n_eval, seed=0)
    lm = load_model("minilm")
    last = lm.num_layers
    rows: list[tuple[str, str, str, str]] = []

    enc = encode_split(lm.tokenizer, task.train, task.info, max_length=128)
    t0 = time.perf_counter()
    for batch in length_sorted_batches(enc.lengths(), 32):
        forward_batch(lm.model, [enc.input_ids[i] for i in batch], 0, [last],
                      token_type_ids=[enc.token_type_ids[i] for i in batch])
    bare = len(enc) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    tr = features(lm.model, lm.tokenizer, task.train, task.info, layers=[last])
    feat_rate = len(enc) / (time.perf_counter() - t0)
    va = features(lm.model, lm.tokenizer, task.validation, task.info, layers=[last])
    rows.append(("features, examples/s", f"{feat_rate:.0f}", f"bare forward {bare:.0f}", f"{feat_rate / bare:.2f}"))

    for clf in ("logistic", "ridge"):
        t0 = time.perf_counter()
        (res,) = probe(task, tr, va, layers=[last], seeds=[0], settings=ProbeSettings(classifier=clf))
        rows.append((f"probe ({clf}), s per fit", f"{time.perf_counter() - t0:.2f}", f"score {res['score']:.3f}", "–"))

    reg = task.info.kind == "regression"
    y = np.asarray(task.train.labels) if task.info.kind != "tagging" else np.concatenate(task.train.tags)
    for method in ("logme", "hscore"):
        t0 = time.perf_counter()
        value = transferability(method, tr.by_layer[last][tr.kept], y[tr.kept], regression=reg)
        rows.append((f"{method}, s", f"{time.perf_counter() - t0:.3f}", f"value {value:.4f}", "–"))

    settings = FinetuneSettings(epochs=args.epochs)
    with tempfile.TemporaryDirectory() as cache:
        res = finetune(lm.model, lm.tokenizer, task, model_key=lm.fingerprint, cache_dir=cache, seed=0,
                       settings=settings, progress=True)
    rows.append(("fine-tuning, train examples/s", f"{res.examples_per_s:.1f}", f"forward only {bare:.0f}",
                 f"{res.examples_per_s / bare:.2f}"))
    rows.append((f"fine-tuned {args.task} score ({args.epochs} epoch)", f"{res.metrics['score']:.3f}", "–", "–"))

    print(f"\nMiniLM, task {args.task}: {len(task.train)} train / {len(task.validation)} validation, "
          f"{args.threads} threads\n")
    widths = [max(len(r[i]) for r in rows + [("figure", "value", "baseline", "ratio")]) for i in range(4)]
    for r in [("figure", "value", "baseline", "ratio"), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
