"""Stage: the manifest, the report page and every output table, written only once all are rendered.

Everything is rendered in memory first; only atomic file writes remain after that, so a failure cannot
leave results without their report and manifest. ``run.json`` is written last.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..corpus import Corpus
from ..io import atomic_write, atomic_write_json, atomic_write_text
from ..provenance import machine, peak_rss_mb, versions
from ..report.html import Report, build_report
from ..report.sections import load_sections
from ..settings import Study
from ..stats.groups import model_group
from .results import write_results


def build_manifest(
    study: Study,
    corpus: Corpus,
    models: list[dict[str, Any]],
    timings: Mapping[str, float],
    measure_times: Mapping[str, float],
    started: str,
) -> dict[str, Any]:
    """``run.json``: the study as run, versions, machine, corpus, models and where the time went."""
    return {
        "study": study.model_dump(mode="json"),
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions(),
        "machine": machine(),
        "corpus": {"source": corpus.source, "n_sentences": len(corpus), "fingerprint": corpus.fingerprint()},
        "models": models,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "measure_time_s": {k: round(v, 3) for k, v in sorted(measure_times.items())},
        "peak_rss_mb": peak_rss_mb(),
    }


def write_tables(out_dir: Path, tables: Mapping[str, pd.DataFrame]) -> dict[str, Path]:
    """Write each table as ``<name>.csv`` atomically."""
    return {
        f"{name}.csv": atomic_write(out_dir / f"{name}.csv", lambda p, t=t: t.to_csv(p, index=False))
        for name, t in tables.items()
    }


def render(out_dir: Path, results: pd.DataFrame, manifest: dict[str, Any], **tables: Any) -> Report:
    """The report page (with the analysis sections attached to ``out_dir``, if any) and its figure files;
    seed twins are grouped by :func:`~latentatlas.stats.groups.model_group`."""
    groups = {str(s): model_group(str(s)) for s in results["spec"].unique()}
    return build_report(results, manifest, extra_sections=load_sections(out_dir), groups=groups, **tables)


def write_outputs(
    out_dir: Path, results: pd.DataFrame, tables: Mapping[str, pd.DataFrame], page: str, manifest: dict[str, Any],
    files_extra: Mapping[str, bytes] | None = None,
) -> dict[str, Path]:
    """Write results, the other tables, ``files_extra`` (relative path → bytes: the report's figures),
    ``report.html`` and, last, ``run.json``."""
    files: dict[str, Path] = {}
    files["results.parquet"], files["results.csv"] = write_results(results, out_dir)
    files.update(write_tables(out_dir, tables))
    for rel, content in (files_extra or {}).items():
        files[rel] = atomic_write(out_dir / rel, lambda p, c=content: p.write_bytes(c))
    files["report.html"] = atomic_write_text(out_dir / "report.html", page)
    files["run.json"] = atomic_write_json(out_dir / "run.json", manifest)
    return files


__all__ = ["build_manifest", "render", "write_outputs", "write_tables"]
