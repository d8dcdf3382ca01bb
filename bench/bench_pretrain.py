"""Pre-training throughput and the miniature zoo: train every objective, report tokens/s and losses.

    python bench/bench_pretrain.py --steps 100 --out /tmp/la-zoo          # short runs
    python bench/bench_pretrain.py --objectives mlm --steps 2000 --out zoo  # one full default run

Prints one JSON line per objective (tokens/s, train seconds, final held-out loss) and writes each model
folder under --out/<objective>. Runs resume from their checkpoints when repeated.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import torch

from latentatlas.pretrain import OBJECTIVES, PretrainSettings, pretrain


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objectives", default=",".join(OBJECTIVES))
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/tmp/la-zoo")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    for name in args.objectives.split(","):
        s = PretrainSettings(objective=name, steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len,
                             eval_every=max(1, args.steps // 10), checkpoint_every=max(1, args.steps // 5))
        t0 = time.perf_counter()
        summary = pretrain(s, f"{args.out}/{name}")
        keys = ("tokens", "tokens_per_second", "train_seconds", "final_train_loss", "final_heldout_loss", "n_parameters")
        print(json.dumps({"objective": name, "wall_s": round(time.perf_counter() - t0, 1),
                          **{k: summary[k] for k in keys}}), flush=True)


if __name__ == "__main__":
    main()
