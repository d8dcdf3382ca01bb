"""Benchmark: the default study (``latentatlas run`` with no arguments) from a cold cache, against its budget.

The budget (issue 13, README): at most 15 minutes and 2 GB on an idle 2-core machine with a cold cache.
Runs the study as a user does (``python -m latentatlas.cli run`` in a child process started in a fresh
temporary folder, ``LATENTATLAS_CACHE`` unset, so the cache is cold) and prints, per study, the wall time, the peak
resident memory of the process (the child's own ``ru_maxrss``, from ``os.wait4``), the stage times of its ``run.json``, the
load average before and after, and the ratios to the budget. With ``--baseline`` the previous 15-model
default (``bench/default_study_before.yaml``, kept as it was before issue 13) runs too, in the same
session and from its own cold cache, and the table gains the ratio new / old.

    python bench/bench_default_study.py                  # the default study only (about 15 minutes idle)
    python bench/bench_default_study.py --baseline       # and the former default (about 17 minutes more)
    python bench/bench_default_study.py --study my.yaml  # any study file, same figures

Wall time depends on other load: read the load average printed beside it (a loaded 2-core machine is
several times slower); the stage breakdown says where the time went either way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S, BUDGET_MB = 15 * 60, 2048
BASELINE = Path(__file__).with_name("default_study_before.yaml")


def run_cold(study: str | None, label: str, keep: Path | None) -> dict:
    """Run one study as a user does, in a child process started in a fresh folder with ``LATENTATLAS_CACHE``
    unset (so the cache is that folder's ``.latentatlas-cache``, cold, and the output its
    ``latentatlas-out``); its wall time, peak RSS, CPU time and run.json."""
    with tempfile.TemporaryDirectory(prefix=f"la-bench-{label}-") as tmp:
        root = keep / label if keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "latentatlas.cli", "--quiet", "run",
               *([str(Path(study).resolve())] if study else [])]
        env = {k: v for k, v in os.environ.items() if k != "LATENTATLAS_CACHE"}
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        with open(root / "stderr.log", "w") as err:
            proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (peak RSS, CPU)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            sys.stderr.write((root / "stderr.log").read_text()[-4000:])
            raise SystemExit(f"{label}: latentatlas run exited {code}")
        out = root / "latentatlas-out"
        manifest = json.loads((out / "run.json").read_text())
        return {
            "label": label, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "load_before": load0, "load_after": os.getloadavg(), "timings_s": manifest["timings_s"],
            "n_models": len(manifest["models"]),
            "n_holdout": sum(bool(m.get("holdout")) for m in manifest["models"]),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", default=None, help="study file (default: the built-in default study)")
    ap.add_argument("--baseline", action="store_true", help=f"also run the former default ({BASELINE.name})")
    ap.add_argument("--keep", type=Path, default=None, help="keep outputs and caches under this folder")
    args = ap.parse_args()

    runs = [run_cold(args.study, "default", args.keep)]
    if args.baseline:
        runs.append(run_cold(str(BASELINE), "before", args.keep))

    print(f"\nmachine: {os.cpu_count()} CPUs; budget {BUDGET_S / 60:.0f} min and {BUDGET_MB / 1024:.0f} GB "
          "(idle 2-core machine, cold cache)\n")
    for r in runs:
        print(f"{r['label']}: {r['n_models']} models ({r['n_holdout']} held out); load average "
              f"{r['load_before'][0]:.1f} before, {r['load_after'][2]:.1f} (15-min) after")
        stages = ", ".join(f"{k} {v:.0f}" for k, v in r["timings_s"].items())
        print(f"  stages (s): {stages}")
    header = ("figure", "value", "budget / baseline", "ratio")
    rows = []
    for r in runs:
        rows.append((f"{r['label']}: wall, min", f"{r['wall_s'] / 60:.1f}", f"budget {BUDGET_S / 60:.0f}",
                     f"{r['wall_s'] / BUDGET_S:.2f}"))
        rows.append((f"{r['label']}: peak RSS, MB", f"{r['peak_rss_mb']:.0f}", f"budget {BUDGET_MB}",
                     f"{r['peak_rss_mb'] / BUDGET_MB:.2f}"))
        rows.append((f"{r['label']}: CPU, min", f"{r['cpu_s'] / 60:.1f}", "–", "–"))
    if len(runs) == 2:
        new, old = runs
        rows.append(("wall, new / before", f"{new['wall_s'] / 60:.1f}", f"{old['wall_s'] / 60:.1f}",
                     f"{new['wall_s'] / old['wall_s']:.2f}"))
        rows.append(("CPU, new / before", f"{new['cpu_s'] / 60:.1f}", f"{old['cpu_s'] / 60:.1f}",
                     f"{new['cpu_s'] / old['cpu_s']:.2f}"))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    print()
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main()
