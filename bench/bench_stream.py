"""Streaming measures on a large token cloud: peak memory and time.

The cloud is SYNTHETIC: an (n, 384) float16 memory map written chunk by chunk (seeded low-rank signal
plus noise, shifted mean, like a transformer layer), the format of an activation-store layer; a second
cloud Y (a noisy random linear map of X) serves linear CKA. Each measurement runs in a fresh process that
opens the memmaps and reports its own peak RSS (VmHWM, which counts memory-mapped pages it touched).

    python bench/bench_stream.py --n 2000000            # the issue's 2,000,000 x 384 figure
    python bench/bench_stream.py --n 200000 --keep DIR  # smaller; keep the files in DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

D = 384
CHILD = r"""
import json, resource, sys, time
import numpy as np
from latentatlas.measures.stream import streamable, stream_battery, stream_cka, subsample_interval
X = np.load(sys.argv[1], mmap_mode="r"); Y = np.load(sys.argv[2], mmap_mode="r"); what = sys.argv[3]
t0 = time.perf_counter()
if what == "battery":
    out = stream_battery(X, seed=0)
elif what == "cka":
    out = {"cka": stream_cka(X, Y)}
else:
    size = int(sys.argv[4])
    out = {m: subsample_interval(X, m, size=size, n_boot=5, seed=0, params=p).to_dict()
           for m, p in (("twonn", {}), ("pq_pp", {"nbits": 6}))}
wall = time.perf_counter() - t0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"what": what, "wall_s": wall, "peak_rss_mb": int(hwm) / 1024, "values": out}))
"""


def write_cloud(path: Path, n: int, seed: int, chunk: int = 100_000, rank: int = 24) -> None:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(rank, D)) * np.linspace(4, 0.5, rank)[:, None]
    mu = rng.normal(size=D) * 2
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, D))
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        mm[s : s + m] = (rng.normal(size=(m, rank)) @ W + rng.normal(size=(m, D)) + mu).astype(np.float16)
    mm.flush()
    del mm


def write_pair(path: Path, src: Path, seed: int, chunk: int = 100_000) -> None:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(D, D)) / np.sqrt(D)
    X = np.load(src, mmap_mode="r")
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=X.shape)
    for s in range(0, X.shape[0], chunk):
        B = np.asarray(X[s : s + chunk], dtype=np.float32)
        mm[s : s + chunk] = (B @ A + 0.5 * rng.normal(size=B.shape)).astype(np.float16)
    mm.flush()
    del mm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2_000_000)
    ap.add_argument("--subsample", type=int, default=20_000)
    ap.add_argument("--keep", type=Path, default=None, help="folder for the memmaps (default: a temp dir)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory() if args.keep is None else None
    root = Path(tmp.name) if tmp else args.keep
    root.mkdir(parents=True, exist_ok=True)
    x, y = root / f"X_{args.n}.npy", root / f"Y_{args.n}.npy"
    t0 = time.perf_counter()
    if not x.exists():
        write_cloud(x, args.n, seed=0)
    if not y.exists():
        write_pair(y, x, seed=1)
    print(f"synthetic float16 clouds {args.n:,} x {D} ({x.stat().st_size / 2**30:.2f} GiB each) "
          f"ready in {time.perf_counter() - t0:.0f} s")
    rows = []
    for what in ("battery", "cka", "subsample"):
        r = subprocess.run([sys.executable, "-c", CHILD, str(x), str(y), what, str(args.subsample)],
                           capture_output=True, text=True, check=True)
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print("\n| run | wall (s) | peak RSS (MB) |\n|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} |")
    print("\nvalues:", json.dumps({r["what"]: r["values"] for r in rows}, indent=1, default=float))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
