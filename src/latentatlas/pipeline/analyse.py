"""Stage: relate the geometry of the training models to their scores and predict the held-out ones."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..corpus import Corpus
from ..settings import RESIDUAL, MeasureEntry, Study
from ..stats.groups import model_group
from ..stats.relate import StudyAnalysis, relate
from .downstream import ModelScores
from .predictor import build_predictor

log = logging.getLogger(__name__)

#: Fewest training (not held-out) models the analysis runs on.
MIN_TRAINING_MODELS = 3


def site_measures(results: pd.DataFrame) -> pd.DataFrame:
    """The results with every site other than the residual stream folded into the measure name
    (``eee`` at site ``attention`` becomes ``attention/eee``), so that each (site, measure, layer) is its
    own candidate predictor and picking the best one pays for every site in its selection cost. A table
    of the residual stream alone is returned as it is."""
    if "site" not in results.columns or (results["site"] == RESIDUAL).all():
        return results
    other = results["site"] != RESIDUAL
    out = results.copy()
    out.loc[other, "measure"] = out.loc[other, "site"] + "/" + out.loc[other, "measure"]
    return out


def analyse(
    results: pd.DataFrame,
    summary: ModelScores,
    transfer: pd.DataFrame,
    models: list[dict[str, Any]],
    study: Study,
    *,
    noise: pd.DataFrame | None = None,
) -> StudyAnalysis | None:
    """The study's analysis tables, or None (with a warning) when too few models are trained on.

    ``models``: one record per model with ``spec``, ``family`` and ``holdout``; ``noise``: the measures'
    own noise (:func:`latentatlas.pipeline.noise.study_noise`), set beside each candidate.
    """
    n_train = sum(1 for m in models if not m["holdout"])
    if n_train < MIN_TRAINING_MODELS:
        log.warning("only %d training models: the geometry → score analysis needs at least %d",
                    n_train, MIN_TRAINING_MODELS)
        return None
    return relate(
        site_measures(results), summary.table, transfer,
        targets=summary.targets,
        families={m["spec"]: m["family"] for m in models},
        holdout={m["spec"] for m in models if m["holdout"]},
        groups={m["spec"]: model_group(m["spec"]) for m in models},
        n_boot=study.analysis.n_boot,
        seed=study.analysis.seed,
        noise=noise,
    )


@dataclass
class Analysed:
    """The analyse stage's output: the analysis (None when it could not run), its tables by name and the
    JSON documents it adds to the outputs (``predictor.json``)."""

    analysis: StudyAnalysis | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)


def analyse_study(
    results: pd.DataFrame,
    summary: ModelScores,
    transfer: pd.DataFrame,
    models: list[dict[str, Any]],
    study: Study,
    corpus: Corpus,
    entries: Sequence[MeasureEntry],
    *,
    noise: pd.DataFrame | None = None,
) -> Analysed:
    """The analyse stage: :func:`analyse` when some task is learnable, then the predictor of the main
    target (:func:`~.predictor.build_predictor`). ``models``: one record per model (spec, family, holdout);
    ``noise``: the measures' own noise (:func:`~.noise.noise_study`), set beside each candidate."""
    if len(summary.targets) < 2:  # only "average", and it is NaN
        log.warning("no task is learnable (see task_summary.csv): the geometry → score analysis is skipped")
        return Analysed()
    t0 = time.perf_counter()
    analysis = analyse(results, summary, transfer, models, study, noise=noise)
    if analysis is None:
        return Analysed()
    predictor = build_predictor(analysis, study, corpus, entries)
    log.info("analysis in %.1f s", time.perf_counter() - t0)  # the stage's one line in a log
    return Analysed(analysis, analysis.tables(), {"predictor.json": predictor} if predictor is not None else {})


__all__ = ["MIN_TRAINING_MODELS", "Analysed", "analyse", "analyse_study", "site_measures"]
