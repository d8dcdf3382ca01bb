"""The stage runner: corpus → models → activation stores → measures → results table → report.

Every stage is cached under the study's cache folder (models and activations content-addressed by
their inputs, measure values per cloud and measure parameters), so rerunning an interrupted study
redoes only unfinished work. Outputs are written atomically at the end: an interrupted or failed run
leaves no half-written results.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .corpus import Corpus, bundled_corpus, load_corpus
from .engine import Engine
from .errors import BadInputError
from .extract import ActivationStore, ExtractionOptions
from .io import atomic_write_json, atomic_write_text
from .layers import resolve_layers
from .measures import registry as reg
from .models import LoadedModel, ModelSpec, load_model
from .results import rows_for, to_frame, write_results
from .study import MeasureEntry, Study

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


def _progress(items: list[Any], enabled: bool, **kw: Any) -> Any:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, leave=False, **kw)


def load_study_corpus(study: Study) -> Corpus:
    c = study.corpus
    if c.source == "bundled":
        return bundled_corpus(c.n_sentences, seed=c.seed, min_words=c.min_words, max_words=c.max_words)
    return load_corpus(
        c.source,
        text_column=c.text_column,
        n_sentences=c.n_sentences,
        seed=c.seed,
        min_words=c.min_words,
        max_words=c.max_words,
    )


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:24]


class MeasureCache:
    """Per-cloud JSON of measure values, keyed by the cloud's identity; one file per cloud.

    Safe under concurrent writers (two studies sharing one cache folder, or engine workers): every
    write is read-merge-write under a per-file lock, and the file is replaced atomically, so readers
    never see half a file and no writer loses another's values.
    """

    def __init__(self, root: Path) -> None:
        self.root = root / "measures"

    def path(self, cloud_key: str) -> Path:
        return self.root / f"{cloud_key}.json"

    def lock(self, cloud_key: str) -> Any:
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path(cloud_key)) + ".lock")

    def load(self, cloud_key: str) -> dict[str, Any]:
        p = self.path(cloud_key)
        if not p.exists():
            return {}
        try:
            data = json.loads(p.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, json.JSONDecodeError):
            log.warning("measure cache %s is unreadable; recomputing", p)
            return {}

    def save(self, cloud_key: str, data: Mapping[str, Any]) -> None:
        """Merge ``data`` into the stored values (under the lock) and write the file atomically."""
        self.update(cloud_key, data)

    def update(self, cloud_key: str, fresh: Mapping[str, Any]) -> dict[str, Any]:
        """Read-merge-write under the file lock; returns the merged values."""
        with self.lock(cloud_key):
            merged = {**self.load(cloud_key), **dict(fresh)}
            atomic_write_json(self.path(cloud_key), merged)
        return merged


def _entry_key(e: MeasureEntry, seed: int) -> str:
    spec = reg.get(e.name)
    params = {**spec.defaults, **e.params}
    return f"{e.name}|{_digest({'params': params, 'seed': seed if spec.stochastic else None})}"


def measure_cloud(
    X: np.ndarray,
    entries: list[MeasureEntry],
    *,
    seed: int,
    cache: MeasureCache | None = None,
    cloud_key: str | None = None,
    progress: bool = False,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run ``entries`` on one cloud, reusing cached values; returns (values by name, timings)."""
    stored = cache.load(cloud_key) if cache and cloud_key else {}
    todo = [e for e in entries if _entry_key(e, seed) not in stored]
    timings: dict[str, float] = {}
    if todo:
        fresh = reg.run_battery(
            X,
            [e.name for e in todo],
            seed=seed,
            params={e.name: e.params for e in todo},
            timings=timings,
            progress=progress,
        )
        new = {_entry_key(e, seed): fresh[e.name] for e in todo}
        stored.update(new)
        if cache and cloud_key:
            cache.update(cloud_key, new)
    return {e.name: stored[_entry_key(e, seed)] for e in entries}, timings


def model_store(
    spec: ModelSpec,
    study: Study,
    corpus: Corpus,
    *,
    progress: bool = True,
    timings: dict[str, float] | None = None,
    lm: LoadedModel | None = None,
    engine: Engine | None = None,
) -> tuple[ActivationStore, list[int]]:
    """Load (or build) one model, unless given, and open (or fill) its activation store (its
    unfinished shards run on ``engine``, default local)."""
    timings = timings if timings is not None else {}
    t0 = time.perf_counter()
    lm = lm if lm is not None else load_model(spec, cache_dir=Path(study.cache))
    layers = resolve_layers(study.layers, lm.num_layers)
    timings["models"] = timings.get("models", 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    store = ActivationStore.build_or_open(
        Path(study.cache),
        lm.model,
        lm.tokenizer,
        list(corpus.sentences),
        model_key=lm.fingerprint,
        options=ExtractionOptions(layers=layers, **study.extraction.model_dump()),
        progress=progress,
        engine=engine,
    )
    timings["extract"] = timings.get("extract", 0.0) + time.perf_counter() - t0
    return store, layers


def extract_study(study: Study, *, progress: bool = True, engine: Engine | None = None) -> dict[str, ActivationStore]:
    """Fill the activation store for every model of ``study`` (the ``extract`` stage alone)."""
    specs = [ModelSpec.parse(m) for m in study.models]
    corpus = load_study_corpus(study)
    return {str(spec): model_store(spec, study, corpus, progress=progress, engine=engine)[0] for spec in specs}


@dataclass(frozen=True)
class MeasureJob:
    """One cell of the measure grid: every measure entry on one (model, layer) cloud."""

    store_path: str
    layer: int
    cloud_key: str


@dataclass(frozen=True)
class GridContext:
    """What every measure job shares: the entries, subsample size, seed and the cache folder."""

    entries: tuple[MeasureEntry, ...]
    max_points: int | None
    seed: int
    cache_root: str


def measure_job(ctx: GridContext, job: MeasureJob) -> tuple[dict[str, Any], dict[str, float], int]:
    """Run one grid cell (in this process or on an engine worker): open the store, read the cloud,
    measure it through the locked measure cache. Returns (values, timings, n_points)."""
    store = ActivationStore.open(job.store_path, verify="size")
    X = store.cloud(job.layer, max_points=ctx.max_points, seed=ctx.seed)
    values, mt = measure_cloud(
        X, list(ctx.entries), seed=ctx.seed, cache=MeasureCache(Path(ctx.cache_root)), cloud_key=job.cloud_key
    )
    return values, mt, int(X.shape[0])


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_study(
    study: Study, *, output: str | Path | None = None, progress: bool = True, engine: Engine | None = None
) -> RunResult:
    """Execute every stage of ``study`` and write results, manifest and report to the output folder.

    Stages: corpus → (per model) load → extract → downstream (tasks) → the measure grid over every
    (model, layer) → analysis → report. Extraction shards and grid cells run on ``engine`` (default:
    local, in this process); the results do not depend on the engine.
    """
    from .engine import LocalEngine, run_all

    engine = engine if engine is not None else LocalEngine()
    from .downstream import stage as ds

    t_start = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out_dir = Path(output if output is not None else study.output)
    cache_root = Path(study.cache)
    entries = study.measure_entries()
    specs = [ModelSpec.parse(m) for m in study.models]  # all specs checked before any work
    holdout = study.holdout_specs()
    families = {e.name: reg.get(e.name).family for e in entries}
    params = {e.name: dict(e.params) for e in entries}
    timings: dict[str, float] = {}
    peak_rss: dict[str, float] = {}

    t0 = time.perf_counter()
    corpus = load_study_corpus(study)
    timings["corpus"] = time.perf_counter() - t0
    log.info("corpus: %d sentences (%s)", len(corpus), corpus.source)
    t0 = time.perf_counter()
    tasks = ds.load_tasks(study) if study.tasks else []
    if tasks:
        timings["tasks"] = time.perf_counter() - t0
        log.info("tasks: %s", ", ".join(f"{t.info.name} ({len(t.train)}/{len(t.validation)})" for t in tasks))
    peak_rss["corpus and tasks"] = _peak_rss_mb()

    rows: list[dict[str, Any]] = []
    score_rows: list[dict[str, Any]] = []
    transfer_rows: list[dict[str, Any]] = []
    score_layer: dict[str, int] = {}
    per_model: list[dict[str, Any]] = []
    timings.update({"models": 0.0, "extract": 0.0, "measures": 0.0})
    measure_times: dict[str, float] = {}
    grid: list[tuple[ModelSpec, int, MeasureJob]] = []

    for spec in specs:
        t0 = time.perf_counter()
        lm = load_model(spec, cache_dir=cache_root)
        timings["models"] += time.perf_counter() - t0
        store, layers = model_store(spec, study, corpus, progress=progress, timings=timings, lm=lm, engine=engine)
        peak_rss["extract"] = _peak_rss_mb()
        for layer in layers:
            cloud_key = _digest(
                {"store": store.key, "layer": layer, "max_points": study.max_points, "seed": study.seed}
            )
            grid.append((spec, layer, MeasureJob(str(store.path), layer, cloud_key)))
        if tasks:
            t0 = time.perf_counter()
            sc, tr = ds.model_downstream(lm, tasks, study, progress=progress, timings=timings)
            score_rows.extend(sc)
            transfer_rows.extend(tr)
            score_layer[str(spec)] = resolve_layers(study.downstream.score_layer, lm.num_layers)[0]
            timings["downstream"] = timings.get("downstream", 0.0) + time.perf_counter() - t0
            peak_rss["downstream"] = _peak_rss_mb()
        per_model.append(
            {"spec": str(spec), "store": store.key, "n_tokens": store.n_tokens, "layers": layers,
             "holdout": str(spec) in holdout, "family": study.family_of(str(spec))}
        )
        log.info("%s: %d tokens, %d layers to measure", spec, store.n_tokens, len(layers))
        del lm

    t0 = time.perf_counter()
    ctx = GridContext(tuple(entries), study.max_points, study.seed, str(cache_root))
    jobs = [job for _, _, job in grid]
    if progress and isinstance(engine, LocalEngine):
        outcomes = [measure_job(ctx, job) for job in _progress(jobs, True, desc="measure", unit="cloud")]
    else:
        outcomes = run_all(engine, measure_job, jobs, ctx)
    for (spec, layer, _), (values, mt, n_points) in zip(grid, outcomes, strict=True):
        for name, dt in mt.items():
            measure_times[name] = measure_times.get(name, 0.0) + dt
        rows.extend(
            rows_for(
                spec=str(spec),
                base=spec.base,
                variant=spec.variant or "pretrained",
                variant_seed=spec.seed,
                layer=layer,
                values=reg.flatten(values),
                families=families,
                n_points=n_points,
                params=params,
                measure_seed=study.seed,
            )
        )
    timings["measures"] += time.perf_counter() - t0
    if grid:
        peak_rss["measures"] = _peak_rss_mb()
    manifest_engine = engine.name

    if not rows:
        raise BadInputError("the study produced no results; check its models, layers and measures.")
    df = to_frame(rows)

    scores = transfer = baselines = None
    analysis = model_summary = None
    if tasks:
        scores = pd.DataFrame(score_rows, columns=ds.SCORE_COLUMNS)
        transfer = pd.DataFrame(transfer_rows, columns=ds.TRANSFER_COLUMNS)
        baselines = ds.baselines(tasks)
        model_summary = ds.model_scores(scores, score_layer, baselines, study.downstream.learnability)
        t0 = time.perf_counter()
        n_train = sum(1 for m in per_model if not m["holdout"])
        if len(model_summary.targets) < 2:
            log.warning("no task is learnable (see task_summary.csv): the geometry → score analysis is skipped")
        elif n_train >= 3:
            from .analysis.relate import relate

            analysis = relate(
                df, model_summary.table, transfer,
                targets=model_summary.targets,
                families={m["spec"]: m["family"] for m in per_model},
                holdout=holdout,
                n_boot=study.analysis.n_boot,
                seed=study.analysis.seed,
            )
        else:
            log.warning("only %d training models: the geometry → score analysis needs at least 3", n_train)
        timings["analysis"] = time.perf_counter() - t0
        peak_rss["analysis"] = _peak_rss_mb()

    # Render everything before writing anything: past this point only atomic file writes remain, so a
    # failure cannot leave results without their report and manifest.
    from .report import render_report
    from .report.sections import load_sections

    t0 = time.perf_counter()
    timings["total"] = time.perf_counter() - t_start
    manifest = build_manifest(study, corpus, per_model, timings, measure_times, started)
    manifest["peak_rss_mb_by_stage"] = peak_rss
    manifest["engine"] = manifest_engine
    if tasks:
        manifest["tasks"] = [
            {"name": t.info.name, "kind": t.info.kind, "metric": t.info.metric, "n_train": len(t.train),
             "n_validation": len(t.validation), "suite": t.info.suite}
            for t in tasks
        ]
        manifest["score_layers"] = score_layer
        eps = scores[scores["metric"] == "examples_per_s"]["value"] if scores is not None else None
        if eps is not None and len(eps):
            manifest["finetune_examples_per_s"] = round(float(eps.mean()), 2)
    page = render_report(df, manifest, scores=scores, model_scores=model_summary, baselines=baselines,
                         transfer=transfer, analysis=analysis, extra_sections=load_sections(out_dir))
    manifest["timings_s"]["report"] = round(time.perf_counter() - t0, 3)

    files: dict[str, Path] = {}
    files["results.parquet"], files["results.csv"] = write_results(df, out_dir)
    if tasks:
        assert scores is not None and transfer is not None and baselines is not None and model_summary is not None
        files.update(write_tables(out_dir, {
            "scores": scores, "model_scores": model_summary.table, "baselines": baselines, "transfer": transfer,
            "task_summary": model_summary.learnability,
        }))
        if analysis is not None:
            files.update(write_tables(out_dir, {
                "correlations": analysis.correlations,
                "fits": analysis.fits.drop(columns="coef", errors="ignore"),
                "holdout_predictions": analysis.holdout,
                "transfer_comparison": analysis.transfer,
                "models": analysis.models,
            }))
    files["report.html"] = atomic_write_text(out_dir / "report.html", page)
    files["run.json"] = atomic_write_json(out_dir / "run.json", manifest)
    log.info("results, report and manifest written to %s", out_dir)
    return RunResult(results=df, output_dir=out_dir, files=files, manifest=manifest, timings=timings,
                     scores=scores, analysis=analysis)


def write_tables(out_dir: Path, tables: Mapping[str, pd.DataFrame]) -> dict[str, Path]:
    """Write each table as ``<name>.csv`` atomically."""
    from .io import atomic_write

    return {
        f"{name}.csv": atomic_write(out_dir / f"{name}.csv", lambda p, t=t: t.to_csv(p, index=False))
        for name, t in tables.items()
    }


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "latentatlas": __version__}
    for pkg in ("numpy", "scipy", "torch", "transformers", "faiss-cpu", "pandas", "scikit-learn"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def build_manifest(
    study: Study,
    corpus: Corpus,
    per_model: list[dict[str, Any]],
    timings: Mapping[str, float],
    measure_times: Mapping[str, float],
    started: str,
) -> dict[str, Any]:
    import os

    return {
        "study": study.model_dump(mode="json"),
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "corpus": {
            "source": corpus.source,
            "n_sentences": len(corpus),
            "fingerprint": corpus.fingerprint(),
        },
        "models": per_model,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "measure_time_s": {k: round(v, 3) for k, v in sorted(measure_times.items())},
        "peak_rss_mb": _peak_rss_mb(),
    }
