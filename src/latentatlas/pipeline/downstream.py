"""Stage: downstream scores of a study: every model on every task, probed or fine-tuned, several seeds.

Produces tidy tables: ``scores`` (one row per model, task, run seed, layer and metric), ``baselines``
(input-blind baselines per task: the majority class or tag, and for tagging the per-word most frequent
tag) and ``transfer`` (LogME / H-score of the frozen features per model, task and layer). Features,
probes and fine-tuning runs are cached under the study's cache folder.

:func:`model_scores` summarises the scores per model; its ``average`` (the study's main target) only
averages the tasks that :func:`task_learnability` finds learnable, and says why the others are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..downstream.base import TaskData
from ..downstream.encode import FeatureCache
from ..downstream.finetune import finetune, finished_run
from ..downstream.learnability import LEARNABILITY_COLUMNS, task_learnability
from ..downstream.probe import probe, targets
from ..downstream.tasks import load_task
from ..downstream.transferability import transferability
from ..errors import BadInputError
from ..io import timed
from ..layers import resolve_layers
from ..models import LoadedModel
from ..provenance import single_thread_pool
from ..settings import LearnabilityRule, Study
from .plan import task_entries

log = logging.getLogger(__name__)

SCORE_COLUMNS = ["spec", "task", "mode", "run_seed", "layer", "metric", "value"]
TRANSFER_COLUMNS = ["spec", "task", "layer", "method", "value"]
BASELINE_COLUMNS = ["task", "metric", "value", "baseline"]


def load_tasks(study: Study) -> list[TaskData]:
    """Load every task of ``study`` (seeded splits, sample sizes from the study); none without tasks."""
    tasks = [
        load_task(t.name, data_dir=t.data_dir, seed=study.seed, max_train=t.max_train, max_eval=t.max_eval,
                  cache_dir=Path(study.cache))
        for t in task_entries(study)
    ]
    if tasks:
        log.info("tasks: %s", ", ".join(f"{t.info.name} ({len(t.train)}/{len(t.validation)})" for t in tasks))
    return tasks


def baselines(tasks: list[TaskData]) -> pd.DataFrame:
    """Input-blind baselines of every task, tidy: task, metric, value, baseline.

    ``baseline`` names the predictor (:data:`~latentatlas.downstream.metrics.BASELINES`):
    ``majority`` (the most frequent train class or tag, the train mean for regression; every task) and
    ``per_word_majority`` (each word's most frequent train tag; tagging tasks only).
    """
    from ..downstream.metrics import task_baselines

    rows = [
        {"task": t.info.name, "metric": k, "value": float(v), "baseline": name}
        for t in tasks
        for name, values in task_baselines(t).items()
        for k, v in values.items()
    ]
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def majority_scores(baselines: pd.DataFrame) -> dict[str, float]:
    """Task -> the official ``score`` of its majority baseline, from a :func:`baselines` table (a table
    written before the ``baseline`` column existed counts as majority rows)."""
    rows = baselines[baselines["metric"] == "score"]
    if "baseline" in rows.columns:
        rows = rows[rows["baseline"] == "majority"]
    return {str(t): float(v) for t, v in zip(rows["task"], rows["value"])}


def _transfer_rows(spec: str, task: TaskData, layer: int, feats: np.ndarray, kept: np.ndarray,
                   methods: list[str]) -> list[dict[str, Any]]:
    y = targets(task.info, task.train)[kept]
    F = feats[kept]

    def score(method: str) -> dict[str, Any]:
        try:
            value = transferability(method, F, y, regression=task.info.kind == "regression")
        except BadInputError as exc:  # e.g. H-score on a regression task: reported as missing
            log.info("%s on %s: %s", method, task.info.name, exc)
            value = float("nan")
        return {"spec": spec, "task": task.info.name, "layer": layer, "method": method, "value": float(value)}

    # the methods at once, one BLAS thread each (as the probes' fits), in the order given
    with single_thread_pool() as pool:
        return list(pool.map(score, methods))


def model_downstream(
    lm: LoadedModel,
    tasks: list[TaskData],
    study: Study,
    *,
    progress: bool = False,
    timings: dict[str, float] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Scores and transferability rows of one loaded model on every task."""
    ds = study.downstream
    spec = str(lm.spec)
    score_layer = resolve_layers(ds.score_layer, lm.num_layers)[0]
    probe_layers = sorted(set(resolve_layers(ds.probe_layers, lm.num_layers)) | {score_layer})
    cache = FeatureCache(study.cache)
    scores: list[dict[str, Any]] = []
    transfer: list[dict[str, Any]] = []
    timings = timings if timings is not None else {}
    for task in tasks:
        layers = probe_layers if ds.mode == "probe" else [score_layer]
        # one set of arguments for the look-up and the computation, so both name the same cache entry
        entry: dict[str, Any] = {"model_key": lm.fingerprint, "layers": layers, "max_length": ds.max_length,
                                 "sentence_pooling": ds.probe.sentence_pooling, "pair_features": ds.probe.pair_features}
        with timed(timings, "features"):
            feats = {
                name: cache.cached(split, task.info, **entry)
                or cache.get_or_compute(  # only now are the model's weights needed (a deferred model loads)
                    lm.model, lm.tokenizer, split, task.info, batch_size=ds.batch_size, progress=progress, **entry
                )
                for name, split in (("train", task.train), ("validation", task.validation))
            }
        with timed(timings, ds.mode):
            if ds.mode == "probe":
                for row in probe(task, feats["train"], feats["validation"], layers=probe_layers, seeds=ds.seeds,
                                 settings=ds.probe):
                    scores.extend(_metric_rows(spec, task.info.name, "probe", row["seed"], row["layer"], row))
            else:
                for seed in ds.seeds:
                    res = finished_run(task, model_key=lm.fingerprint, cache_dir=study.cache, seed=seed,
                                       settings=ds.finetune) \
                        or finetune(lm.model, lm.tokenizer, task, model_key=lm.fingerprint, cache_dir=study.cache,
                                    seed=seed, settings=ds.finetune, progress=progress)
                    metrics = {**res.metrics, "examples_per_s": res.examples_per_s}
                    scores.extend(_metric_rows(spec, task.info.name, "finetune", seed, score_layer, metrics))
        with timed(timings, "transferability"):
            tr = feats["train"]
            transfer.extend(_transfer_rows(spec, task, score_layer, tr.by_layer[score_layer], tr.kept,
                                           ds.transferability))
    return scores, transfer


def _metric_rows(spec: str, task: str, mode: str, seed: int, layer: int,
                 metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    skip = {"layer", "seed"}
    return [
        {"spec": spec, "task": task, "mode": mode, "run_seed": int(seed), "layer": int(layer), "metric": k,
         "value": float(v)}
        for k, v in metrics.items()
        if k not in skip
    ]


def official_scores(scores: pd.DataFrame, score_layer_of: Mapping[str, int]) -> pd.DataFrame:
    """The official ``score`` rows of every model at its score layer: spec, task, run_seed, value."""
    official = scores[scores["metric"] == "score"]
    official = official[official["layer"] == official["spec"].map(score_layer_of)]
    return official[["spec", "task", "run_seed", "value"]]


@dataclass
class StudyScores:
    """The downstream rows of every model so far, and the layer each model is scored at."""

    scores: list[dict[str, Any]] = field(default_factory=list)
    transfer: list[dict[str, Any]] = field(default_factory=list)
    score_layer: dict[str, int] = field(default_factory=dict)

    def add_model(self, lm: LoadedModel, tasks: list[TaskData], study: Study, *, progress: bool = False,
                  timings: dict[str, float] | None = None) -> None:
        """Score one loaded model on every task (:func:`model_downstream`) and record its rows."""
        scores, transfer = model_downstream(lm, tasks, study, progress=progress, timings=timings)
        self.scores.extend(scores)
        self.transfer.extend(transfer)
        self.score_layer[str(lm.spec)] = resolve_layers(study.downstream.score_layer, lm.num_layers)[0]

    def tables(self, tasks: list[TaskData], rule: LearnabilityRule | None = None,
               ) -> tuple[dict[str, pd.DataFrame], ModelScores]:
        """The output tables ``scores``, ``model_scores``, ``baselines``, ``transfer``, ``task_summary``
        (each task's learnability verdict under ``rule``) and the summary."""
        scores = pd.DataFrame(self.scores, columns=SCORE_COLUMNS)
        base = baselines(tasks)
        summary = model_scores(scores, self.score_layer, base, rule)
        return {"scores": scores, "model_scores": summary.table, "baselines": base,
                "transfer": pd.DataFrame(self.transfer, columns=TRANSFER_COLUMNS),
                "task_summary": summary.learnability}, summary


@dataclass
class ModelScores:
    """One row per model: its mean score per task at the score layer, the spread over seeds, and the
    average over the learnable tasks (the study's main target).

    ``learnability`` holds :func:`task_learnability`'s verdict per task (empty when no baselines were
    given); ``targets`` lists the learnable tasks and ``average``.
    """

    table: pd.DataFrame
    targets: list[str]
    learnability: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEARNABILITY_COLUMNS))

    @property
    def left_out(self) -> dict[str, str]:
        """Task -> why it is not in the average."""
        out = self.learnability[~self.learnability["learnable"].astype(bool)]
        return dict(zip(out["task"].astype(str), out["reason"].astype(str)))


def model_scores(
    scores: pd.DataFrame,
    score_layer_of: Mapping[str, int],
    baselines: pd.DataFrame | None = None,
    rule: LearnabilityRule | None = None,
) -> ModelScores:
    """Summarise ``scores`` per model: ``<task>`` (mean over seeds), ``<task>_std`` and ``average``.

    With ``baselines`` (a :func:`baselines` table) each task is judged by :func:`task_learnability`
    and ``average`` is the mean over the learnable tasks only (NaN when none is); a task left out is
    logged with its reason. Without, every task is averaged (and nothing is judged).
    """
    official = official_scores(scores, score_layer_of)
    grouped = official.groupby(["spec", "task"], sort=False)["value"]
    mean = grouped.mean().unstack("task")
    std = grouped.std(ddof=1).unstack("task").add_suffix("_std")
    tasks = list(mean.columns)
    learnability = pd.DataFrame(columns=LEARNABILITY_COLUMNS)
    averaged = tasks
    if baselines is not None:
        learnability = task_learnability(official, majority_scores(baselines), rule)
        ok = dict(zip(learnability["task"], learnability["learnable"]))
        averaged = [t for t in tasks if ok.get(t, False)]
        for t, reason in zip(learnability["task"], learnability["reason"]):
            if not ok[t]:
                log.warning("task %s is left out of the average: %s", t, reason)
    table = pd.concat([mean, std], axis=1)
    table["average"] = mean[averaged].mean(axis=1) if averaged else np.nan
    table = table.reset_index()
    return ModelScores(table=table, targets=[*averaged, "average"], learnability=learnability)
