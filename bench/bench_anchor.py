"""Anchor-vector analysis on trained model folders: wall time and the R² table per model and k.

    python bench/bench_anchor.py /tmp/la-zoo/mlm /tmp/la-zoo/first_char --n-sentences 1000 --out /tmp/la-anchor

Prints the wall time and one line per (model, k, intercept): the real R² beside its matched nulls (the
head's output matrix rotated, or its rows resampled) and the mean prediction entropy, and the verdict;
writes anchor.csv/json/html under --out.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from latentatlas.analyses.anchor import run_anchor, write_anchor
from latentatlas.settings import AnchorSettings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--ks", default="0,10,100,1000")
    ap.add_argument("--n-sentences", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/tmp/la-anchor")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    result = run_anchor(AnchorSettings(models=tuple(args.models), ks=tuple(int(k) for k in args.ks.split(",")),
                                       n_sentences=args.n_sentences))
    write_anchor(result, args.out)
    print(f"wall {time.perf_counter() - t0:.1f} s for {len(args.models)} models, {args.n_sentences} sentences")
    cols = ["model", "k", "intercept", "n_test", "real_r2", "null_rotation_r2", "null_rotation_r2_max",
            "null_resample_r2", "mean_entropy_nats", "null_rotation_entropy_nats", "r2_gap", "beats_null"]
    print(result.table.reindex(columns=cols).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for model, verdict in result.info.get("verdicts", {}).items():
        print(f"{model}: {verdict}")


if __name__ == "__main__":
    main()
