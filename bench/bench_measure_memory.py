"""Peak memory of `latentatlas measure` on a large .npy cloud, against the file size and the old path.

The cloud is SYNTHETIC: an (n, 384) float16 .npy (seeded low-rank signal plus noise around a shifted
mean, like a transformer layer), written chunk by chunk to a temporary folder; 2,000,000 rows make a
1.54 GB file. Three fresh processes, each reporting its own peak resident memory (``VmHWM`` of
/proc/self/status, which counts memory-mapped pages the process touched; ``ru_maxrss`` of a child would
start at the parent's size, which Linux carries over the fork):

* ``floor``: Python importing the CLI and the measures, nothing else;
* ``cli``: ``latentatlas measure FILE -m eee -m isoscore ... --json`` on the streamable measures (the
  file is memory-mapped, validated and measured in row chunks);
* ``old``: what the command did before: ``run_battery(np.asarray(np.load(FILE, mmap_mode="r")))``
  (a float32 copy of the whole cloud plus an n × d finiteness mask).

The values of ``cli`` and ``old`` are compared bit for bit. Memory figures hold on a loaded machine;
the wall-clock times printed beside them do not.

    nice -n 10 python bench/bench_measure_memory.py                # the issue's 2,000,000 x 384 figure
    nice -n 10 python bench/bench_measure_memory.py --n 200000     # a quick run

Measured (2 shared cores, loaded; memory only), the 8 streamable measures on 2,000,000 x 384 float16
(1,465 MiB): ``latentatlas measure`` peaks at 433 MiB (0.30x the file; Python and the imports alone
116 MiB), the old path at 5,234 MiB (3.57x the file, 12.1x ours); the values are bit-identical.
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
HWM = """
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print("VmHWM_kB", hwm)
"""
CLI = "import sys\nfrom latentatlas.cli import main\ncode = main(sys.argv[1:])\n" + HWM + "sys.exit(code)\n"
OLD = r"""
import json, sys
import numpy as np
from latentatlas.measures import registry as reg
X = np.load(sys.argv[1], mmap_mode="r")
print(json.dumps(reg.run_battery(np.asarray(X), sys.argv[2].split(","), seed=0)))
""" + HWM
FLOOR = "import latentatlas.cli, latentatlas.measures.stream, latentatlas.measures.registry\n" + HWM


def write_cloud(path: Path, n: int, seed: int, chunk: int = 100_000, rank: int = 24) -> None:
    """A seeded (n, 384) float16 cloud written to ``path`` chunk by chunk (never whole in memory)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(rank, D)) * np.linspace(4, 0.5, rank)[:, None]
    mu = rng.normal(size=D) * 2
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, D))
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        mm[s : s + m] = (rng.normal(size=(m, rank)) @ W + rng.normal(size=(m, D)) + mu).astype(np.float16)
    mm.flush()
    del mm


def peak_of(argv: list[str]) -> tuple[str, float, float]:
    """(stdout without the last line, peak RSS in MiB, wall seconds) of a child whose last line of output
    is its ``VmHWM``; raises if it fails."""
    t0 = time.perf_counter()
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:5])} ... failed ({run.returncode}): {run.stderr[-2000:]}")
    *lines, last = run.stdout.strip().splitlines()
    assert last.startswith("VmHWM_kB"), last
    return "\n".join(lines), int(last.split()[1]) / 1024, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-old", action="store_true", help="leave out the old path (it needs ~3.5x the file)")
    args = ap.parse_args()

    from latentatlas.measures.stream import streamable

    names = streamable()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"cloud_{args.n}x{D}_float16.npy"
        t0 = time.perf_counter()
        write_cloud(path, args.n, args.seed)
        size_mb = path.stat().st_size / 2**20
        print(f"cloud {path.name}: {size_mb:.0f} MiB, written in {time.perf_counter() - t0:.1f} s", flush=True)
        rows = {}
        _, rows["floor"], _ = peak_of([sys.executable, "-c", FLOOR])
        cli = [sys.executable, "-c", CLI, "-q", "measure", str(path), *[a for m in names for a in ("-m", m)], "--json"]
        out, rows["cli"], t_cli = peak_of(cli)
        new_values = json.loads(out)
        report = {"n": args.n, "d": D, "dtype": "float16", "file_mib": round(size_mb, 1), "measures": names,
                  "floor_peak_rss_mib": round(rows["floor"], 1), "cli_peak_rss_mib": round(rows["cli"], 1),
                  "cli_peak_over_file": round(rows["cli"] / size_mb, 3), "cli_wall_s": round(t_cli, 1)}
        if not args.skip_old:
            out, rows["old"], t_old = peak_of([sys.executable, "-c", OLD, str(path), ",".join(names)])
            old_values = json.loads(out)
            report.update({"old_peak_rss_mib": round(rows["old"], 1), "old_peak_over_file": round(rows["old"] / size_mb, 3),
                           "old_over_cli": round(rows["old"] / rows["cli"], 2), "old_wall_s": round(t_old, 1),
                           "values_bit_identical": new_values == old_values})
        report["values"] = new_values
    print(json.dumps(report, indent=2))
    print(f"\npeak RSS of `latentatlas measure` on a {size_mb:.0f} MiB file: {rows['cli']:.0f} MiB "
          f"({rows['cli'] / size_mb:.2f}x the file; Python + imports alone {rows['floor']:.0f} MiB)")
    if "old" in rows:
        print(f"old path (float32 copy + mask): {rows['old']:.0f} MiB ({rows['old'] / size_mb:.2f}x the file), "
              f"{rows['old'] / rows['cli']:.1f}x ours; values bit-identical: {report['values_bit_identical']}")


if __name__ == "__main__":
    main()
