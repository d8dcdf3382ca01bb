"""The study as a sequence of stages: corpus → models (extract, downstream) → measures → noise → analysis → report.

Every stage is cached under the study's cache folder (models and activations content-addressed by their
inputs, measure values per cloud and measure parameters), so rerunning an interrupted study redoes only
unfinished work. Outputs are written at the end through a staging folder, ``run.json`` last as the
commit marker (:func:`latentatlas.pipeline.report.write_outputs`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine import Engine, LocalEngine
from ..models import lazy_model
from ..provenance import release_free_memory
from ..settings import Study
from .analyse import analyse_study
from .corpus import study_corpus
from .downstream import StudyScores, load_tasks
from .extract import ExtractedModel, extract_model, log_model
from .measure import measure_study
from .noise import noise_study
from .plan import plan_study
from .report import RunLog, StudyOutputs, report_study


@dataclass
class RunResult:
    """What :func:`run_study` produced (``scores``/``analysis`` only when the study has tasks)."""

    results: pd.DataFrame
    output_dir: Path
    files: dict[str, Path]
    manifest: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    scores: pd.DataFrame | None = None
    analysis: Any = None


def run_study(
    study: Study, *, output: str | Path | None = None, progress: bool = True, engine: Engine | None = None
) -> RunResult:
    """Execute every stage of ``study`` and write results, manifest and report to the output folder.

    Extraction shards and measure-grid cells run on ``engine`` (default: local, in this process); the
    results do not depend on the engine.
    """
    engine = engine if engine is not None else LocalEngine()
    out_dir = Path(output if output is not None else study.output)
    run = RunLog()
    plan = plan_study(study)  # every name, folder and width checked before any work
    with run.stage("corpus"):
        corpus = study_corpus(study.corpus)
    with run.stage("tasks", peak="corpus and tasks"):
        tasks = load_tasks(study)
    run.timings.update({"models": 0.0, "extract": 0.0, "measures": 0.0})
    models: list[ExtractedModel] = []
    scores = StudyScores()
    for i, spec in enumerate(plan.specs, 1):  # one model in memory at a time, its weights loaded only if needed
        t0, lm = time.perf_counter(), lazy_model(spec, cache_dir=Path(study.cache))
        models.append(extract_model(lm, study, corpus, plan.holdout, progress=progress, timings=run.timings,
                                    engine=engine))
        run.peak("extract")
        if tasks:
            with run.stage("downstream", peak="downstream"):
                scores.add_model(lm, tasks, study, progress=progress, timings=run.timings)
        log_model(i, len(plan.specs), models[-1], loaded=lm.loaded, seconds=time.perf_counter() - t0)
        del lm
        release_free_memory()  # each model, and the measure stages after them, start from the live floor
    with run.stage("measures", peak="measures"):
        measured = measure_study(models, plan.entries, study, engine, progress=progress)
    out = StudyOutputs(measured.results, measured.measure_times, tasks=tasks, score_layers=scores.score_layer)
    release_free_memory()
    if study.noise_seeds:
        with run.stage("noise", peak="noise"):
            out.noise = noise_study(models, plan.entries, out.results, study, engine, progress=progress)
    records = [m.record() for m in models]
    if tasks:
        out.tables, out.summary = scores.tables(tasks, study.downstream.learnability)
        with run.stage("analysis", peak="analysis"):
            analysed = analyse_study(out.results, out.summary, out.tables["transfer"], records, study, corpus,
                                     plan.entries, noise=out.noise)
        out.tables.update(analysed.tables)
        out.analysis, out.documents = analysed.analysis, analysed.documents
    if out.noise is not None:
        out.tables["measure_noise"] = out.noise
    files, manifest = report_study(out_dir, study, corpus, records, out, run, engine.name)
    return RunResult(results=out.results, output_dir=out_dir, files=files, manifest=manifest, timings=run.timings,
                     scores=out.tables.get("scores"), analysis=out.analysis)


__all__ = ["RunResult", "run_study"]
