"""The study as a sequence of stages: corpus → models (extract, downstream) → measures → analysis → report.

Every stage is cached under the study's cache folder (models and activations content-addressed by their
inputs, measure values per cloud and measure parameters), so rerunning an interrupted study redoes only
unfinished work. Outputs are written at the end through a staging folder, ``run.json`` last as the
commit marker (:func:`latentatlas.pipeline.report.write_outputs`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine import Engine, LocalEngine
from ..errors import BadInputError
from ..io import timed
from ..measures import registry as reg
from ..models import ModelSpec, lazy_model
from ..provenance import peak_rss_mb
from ..settings import Study
from ..stats.noise import noise_summary
from .analyse import analyse
from .corpus import study_corpus
from .downstream import ModelScores, StudyScores, load_tasks
from .extract import model_store
from .measure import GridContext, MeasureJob, cloud_key, measure_grid
from .noise import measure_draws, noise_jobs, study_noise
from .plan import check_widths, family_of, holdout_specs, measure_entries, model_specs
from .predictor import build_predictor
from .report import build_manifest, render, write_outputs
from .results import results_table

log = logging.getLogger(__name__)


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
    t_start, started = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out_dir = Path(output if output is not None else study.output)
    entries, specs, holdout = measure_entries(study), model_specs(study), holdout_specs(study)  # checked first
    check_widths(entries, specs)
    timings: dict[str, float] = {}
    peak: dict[str, float] = {}

    with timed(timings, "corpus"):
        corpus = study_corpus(study.corpus)
    log.info("corpus: %d sentences (%s) in %.1f s", len(corpus), corpus.source, timings["corpus"])
    tasks = []
    if study.tasks:
        with timed(timings, "tasks"):
            tasks = load_tasks(study)
        log.info("tasks: %s in %.1f s", ", ".join(f"{t.info.name} ({len(t.train)}/{len(t.validation)})" for t in tasks),
                 timings["tasks"])
    peak["corpus and tasks"] = peak_rss_mb()

    # Per model: extract, score on the tasks (the weights loaded only where a cache entry is missing), free.
    timings.update({"models": 0.0, "extract": 0.0, "measures": 0.0})
    models: list[dict[str, Any]] = []
    grid: list[tuple[ModelSpec, str, int, MeasureJob]] = []
    redraws: dict[int, list[tuple[ModelSpec, str, int, MeasureJob]]] = {s: [] for s in study.noise_seeds}
    downstream = StudyScores()
    for i, spec in enumerate(specs, 1):
        t_model = time.perf_counter()
        # Deferred: the weights load only if the stores, features or fine-tuning runs are not all cached.
        lm = lazy_model(spec, cache_dir=Path(study.cache))
        stores = {site: model_store(lm, study, corpus, site=site, progress=progress, timings=timings, engine=engine)[0]
                  for site in study.sites}
        peak["extract"] = peak_rss_mb()
        for site, store in stores.items():
            grid += [(spec, site, layer,
                      MeasureJob(str(store.path), layer, cloud_key(store, layer, study.max_points, study.seed)))
                     for layer in store.layers]
            if str(spec) not in holdout:  # the noise of the rows the analysis fits on
                for seed, jobs in noise_jobs(store, study).items():
                    redraws[seed] += [(spec, site, job.layer, job) for job in jobs]
        store = stores[study.sites[0]]
        if tasks:
            with timed(timings, "downstream"):
                downstream.add_model(lm, tasks, study, progress=progress, timings=timings)
            peak["downstream"] = peak_rss_mb()
        models.append({"spec": str(spec), "store": store.key, "n_tokens": store.n_tokens, "layers": store.layers,
                       "sites": {site: {"store": s.key, "layers": s.layers, "modules": s.modules}
                                 for site, s in stores.items()},
                       "holdout": str(spec) in holdout, "family": family_of(study, str(spec))})
        log.info("model %d/%d %s: %d tokens, %d clouds to measure (%s) in %.1f s", i, len(specs), spec,
                 store.n_tokens, sum(len(s.layers) for s in stores.values()),
                 "weights loaded" if lm.loaded else "all cached, not loaded", time.perf_counter() - t_model)
        del lm

    measure_times: dict[str, float] = {}
    with timed(timings, "measures"):
        ctx = GridContext(tuple(entries), study.max_points, study.seed, str(study.cache))
        outcomes = measure_grid(ctx, [job for *_, job in grid], engine, progress=progress)
    log.info("measures: %d clouds × %d measures in %.1f s", len(grid), len(entries), timings["measures"])
    if grid:
        peak["measures"] = peak_rss_mb()
    results = results_table(grid, outcomes, {e.name: reg.get(e.name).family for e in entries},
                            {e.name: dict(e.params) for e in entries}, study.seed, measure_times)
    if results.empty:
        raise BadInputError("the study produced no results; check its models, layers and measures.")

    tables: dict[str, pd.DataFrame] = {}
    noise = None
    if study.noise_seeds:
        with timed(timings, "noise"):
            draws = measure_draws(study, entries, redraws, engine, progress=progress)
            noise = study_noise(results, draws, seed=study.seed,
                                training={m["spec"] for m in models if not m["holdout"]})
        peak["noise"] = peak_rss_mb()
        log.info("noise: %d clouds measured again (%d noise seed(s)) in %.1f s; %d of %d (measure, layer) have "
                 "noise ≥ half their between-model SD", sum(len(g) for g in redraws.values()), len(redraws),
                 timings["noise"], int(noise["noisy"].sum()), len(noise))
    documents: dict[str, Any] = {}
    summary: ModelScores | None = None
    analysis = None
    if tasks:
        tables, summary = downstream.tables(tasks, study.downstream.learnability)
        with timed(timings, "analysis"):
            if len(summary.targets) < 2:  # only "average", and it is NaN
                log.warning("no task is learnable (see task_summary.csv): the geometry → score analysis is skipped")
            else:
                analysis = analyse(results, summary, tables["transfer"], models, study, noise=noise)
            if analysis is not None:
                tables.update(analysis.tables())
                predictor = build_predictor(analysis, study, corpus, entries)
                if predictor is not None:
                    documents["predictor.json"] = predictor
        peak["analysis"] = peak_rss_mb()
        log.info("analysis in %.1f s", timings["analysis"])
    if noise is not None:
        tables["measure_noise"] = noise

    t0 = time.perf_counter()
    timings["total"] = time.perf_counter() - t_start
    manifest = build_manifest(study, corpus, models, timings, measure_times, started)
    manifest["peak_rss_mb_by_stage"] = peak
    manifest["engine"] = engine.name
    if tasks:
        manifest["tasks"] = [
            {"name": t.info.name, "kind": t.info.kind, "metric": t.info.metric, "n_train": len(t.train),
             "n_validation": len(t.validation), "suite": t.info.suite}
            for t in tasks
        ]
        manifest["score_layers"] = downstream.score_layer
        eps = tables["scores"].query("metric == 'examples_per_s'")["value"]
        if len(eps):
            manifest["finetune_examples_per_s"] = round(float(eps.mean()), 2)
    report = render(out_dir, results, manifest, scores=tables.get("scores"), model_scores=summary,
                    baselines=tables.get("baselines"), transfer=tables.get("transfer"), analysis=analysis,
                    noise=noise, noise_summary=None if noise is None else noise_summary(noise))
    manifest["timings_s"]["report"] = round(time.perf_counter() - t0, 3)

    files = write_outputs(out_dir, results, tables, report.page, manifest, documents, report.files)
    log.info("results, report and manifest written to %s", out_dir)
    return RunResult(results=results, output_dir=out_dir, files=files, manifest=manifest, timings=timings,
                     scores=tables.get("scores"), analysis=analysis)


__all__ = ["RunResult", "run_study"]
