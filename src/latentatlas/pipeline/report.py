"""Stage: the manifest, the report page and every output table, written only once all are rendered.

Everything is rendered in memory first, then written into a staging folder inside the output folder
(``.outputs.<pid>-<host>.<random>.tmp/``) and only then moved in, file by file with ``os.replace``,
``run.json`` last. ``run.json`` is the commit marker: it lists every file of its output set with its
sha256 (``"outputs"``), and it is removed before a new set moves in, so a folder with a ``run.json``
holds one complete, consistent output set. A kill or a full disk while the files are written leaves the
previous set untouched (and a staging folder, removed by the next run); only a kill in the instant of
the renames can leave a folder without ``run.json``, which a rerun completes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..corpus import Corpus
from ..downstream.base import TaskData
from ..io import (
    TEMP_SUFFIX,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    file_sha256,
    remove_stale_temps,
    temp_prefix,
    timed,
)
from ..provenance import machine, peak_rss_mb, versions
from ..report.html import Report, build_report
from ..report.sections import load_sections
from ..settings import Study
from ..stats.groups import model_group
from ..stats.noise import noise_summary
from .results import write_results

log = logging.getLogger(__name__)


@dataclass
class RunLog:
    """Where a run's time and memory went, for ``run.json``: seconds per stage (summed over calls, so a
    per-model stage adds up over the models) and the peak RSS after each stage."""

    timings: dict[str, float] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    t_start: float = field(default_factory=time.perf_counter)

    @contextmanager
    def stage(self, name: str, *, peak: str | None = None) -> Iterator[None]:
        """Add the block's seconds to ``timings[name]``; with ``peak``, record the peak RSS under it after."""
        with timed(self.timings, name):
            yield
        log.debug("stage %s: %.1f s so far", name, self.timings[name])
        if peak is not None:
            self.peak(peak)

    def peak(self, name: str) -> None:
        """Record the process's peak RSS so far under ``name``."""
        self.peaks[name] = peak_rss_mb()


@dataclass
class StudyOutputs:
    """What the report stage writes besides the manifest: the results table, the other tables by name
    (downstream, then analysis), the downstream summary and the analysis for the page, JSON documents, the
    measures' own noise, and for ``run.json`` the seconds per measure, the tasks and each model's score layer."""

    results: pd.DataFrame
    measure_times: dict[str, float] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: Any = None
    analysis: Any = None
    documents: dict[str, Any] = field(default_factory=dict)
    tasks: list[TaskData] = field(default_factory=list)
    score_layers: dict[str, int] = field(default_factory=dict)
    noise: pd.DataFrame | None = None


def task_records(tasks: list[TaskData]) -> list[dict[str, Any]]:
    """The manifest's ``tasks``: name, kind, metric, split sizes and suite of every task."""
    return [{"name": t.info.name, "kind": t.info.kind, "metric": t.info.metric, "n_train": len(t.train),
             "n_validation": len(t.validation), "suite": t.info.suite} for t in tasks]


def report_study(
    out_dir: Path,
    study: Study,
    corpus: Corpus,
    models: list[dict[str, Any]],
    outputs: StudyOutputs,
    run: RunLog,
    engine: str,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """The report stage: the manifest (``run.json``), the page and every table, rendered, then written as
    one set (:func:`write_outputs`). Returns where each file is and the manifest."""
    t0 = time.perf_counter()
    run.timings["total"] = t0 - run.t_start
    manifest = build_manifest(study, corpus, models, run.timings, outputs.measure_times, run.started)
    manifest["peak_rss_mb_by_stage"] = run.peaks
    manifest["engine"] = engine
    if outputs.tasks:
        manifest["tasks"] = task_records(outputs.tasks)
        manifest["score_layers"] = outputs.score_layers
        eps = outputs.tables["scores"].query("metric == 'examples_per_s'")["value"]
        if len(eps):
            manifest["finetune_examples_per_s"] = round(float(eps.mean()), 2)
    t = outputs.tables
    noise = outputs.noise
    report = render(out_dir, outputs.results, manifest, scores=t.get("scores"), model_scores=outputs.summary,
                    baselines=t.get("baselines"), transfer=t.get("transfer"), analysis=outputs.analysis,
                    noise=noise, noise_summary=None if noise is None else noise_summary(noise))
    manifest["timings_s"]["report"] = round(time.perf_counter() - t0, 3)
    files = write_outputs(out_dir, outputs.results, t, report.page, manifest, outputs.documents, report.files)
    log.info("results, report and manifest written to %s", out_dir)
    return files, manifest


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
    documents: Mapping[str, Any] | None = None, files_extra: Mapping[str, bytes] | None = None,
) -> dict[str, Path]:
    """Write results, the other tables, the JSON ``documents`` (name → object, e.g. ``predictor.json``),
    ``files_extra`` (relative path → bytes: the report's figures), ``report.html`` and ``run.json`` as
    one set (module docstring).

    ``manifest`` gains ``"outputs"``: each file's sha256. Returns where each file now is.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir)  # staging folders and temporaries of runs killed earlier
    stage = Path(tempfile.mkdtemp(prefix=temp_prefix("outputs"), suffix=TEMP_SUFFIX, dir=out_dir))
    try:
        staged: dict[str, Path] = {}
        staged["results.parquet"], staged["results.csv"] = write_results(results, stage)
        staged.update(write_tables(stage, tables))
        for name, obj in (documents or {}).items():
            staged[name] = atomic_write_json(stage / name, obj)
        for rel, content in (files_extra or {}).items():
            staged[rel] = atomic_write(stage / rel, lambda p, c=content: p.write_bytes(c))
        staged["report.html"] = atomic_write_text(stage / "report.html", page)
        manifest["outputs"] = {name: file_sha256(path) for name, path in staged.items()}
        staged["run.json"] = atomic_write_json(stage / "run.json", manifest)
        _commit(out_dir, staged)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {name: out_dir / name for name in staged}


def _previous_outputs(out_dir: Path) -> list[str]:
    """The files the current ``run.json`` lists (none when there is no readable one)."""
    try:
        listed = json.loads((out_dir / "run.json").read_text()).get("outputs", {})
    except (OSError, ValueError, AttributeError):
        return []
    return [name for name in listed if isinstance(name, str) and _inside(name)]


def _inside(name: str) -> bool:
    """Whether a listed output name is a plain relative path inside the output folder (``figures/x.svg``)."""
    parts = name.split("/")
    return not name.startswith("/") and all(p and p not in (".", "..") and not p.startswith(".") for p in parts)


def _commit(out_dir: Path, staged: Mapping[str, Path]) -> None:
    """Replace the output set: uncommit (remove ``run.json``), drop the old set's files the new one
    lacks, rename the new files in, ``run.json`` last. Renames write no data, so a full disk cannot
    stop it half-way."""
    old = _previous_outputs(out_dir)
    (out_dir / "run.json").unlink(missing_ok=True)
    for name in old:
        if name not in staged:
            (out_dir / name).unlink(missing_ok=True)
    for name, path in staged.items():
        if name != "run.json":
            (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, out_dir / name)
    os.replace(staged["run.json"], out_dir / "run.json")


__all__ = ["RunLog", "StudyOutputs", "build_manifest", "render", "report_study", "task_records", "write_outputs",
           "write_tables"]
