"""Stage: every measure's own noise, from the training models' clouds measured again on other subsamples.

For each of the study's ``noise_seeds`` every training (not held-out) model's cloud at every site and
layer is subsampled again (``max_points`` tokens drawn with that seed) and measured with the same entries,
the measures' own random choices seeded with it too; the values go through the measure cache like the
study's own. :func:`study_noise` then sets the spread over the draws beside the spread between the
training models (:func:`latentatlas.stats.noise.noise_table`), per candidate predictor of the analysis
(sites folded into the measure name, layer -1 for each model's own last layer where depths differ).

Held-out models are not drawn again: the noise that matters for the fit is that of the rows it is fitted
on, and leaving them out spares their clouds. When ``max_points`` covers a whole cloud the draws are the
same tokens and only the measures' own random choices differ (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pandas as pd

from ..engine import Engine
from ..measures import registry as reg
from ..settings import MeasureEntry, Study
from ..stats.noise import noise_table
from ..stats.relate import with_last_layer
from ..store import ActivationStore
from .analyse import site_measures
from .extract import ExtractedModel
from .measure import GridContext, MeasureJob, cloud_key, measure_grid
from .results import results_table

log = logging.getLogger(__name__)


def noise_jobs(store: ActivationStore, study: Study) -> dict[int, list[MeasureJob]]:
    """The grid cells of one store for each noise seed: every layer, subsampled with that seed."""
    return {
        seed: [MeasureJob(str(store.path), layer, cloud_key(store, layer, study.max_points, seed))
               for layer in store.layers]
        for seed in study.noise_seeds
    }


def measure_draws(
    study: Study,
    entries: Sequence[MeasureEntry],
    cells: Mapping[int, Sequence[tuple[Any, str, int, MeasureJob]]],
    engine: Engine,
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """The tidy results of every noise seed's cells (``cells[seed]``: (spec, site, layer, job) as in the
    study's grid), with a ``draw`` column holding the seed."""
    families = {e.name: reg.get(e.name).family for e in entries}
    params = {e.name: dict(e.params) for e in entries}
    frames = []
    for seed, grid in cells.items():
        ctx = GridContext(tuple(entries), study.max_points, seed, str(study.cache))
        outcomes = measure_grid(ctx, [job for *_, job in grid], engine, progress=progress)
        if study.max_points is None or any(n < study.max_points for *_, n in outcomes):
            log.info("noise seed %d: some clouds have no more than max_points tokens, so their draws hold the same "
                     "tokens and differ only in the measures' own random choices", seed)
        frames.append(results_table(list(grid), outcomes, families, params, seed).assign(draw=seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def study_noise(results: pd.DataFrame, draws: pd.DataFrame, *, seed: int, training: Collection[str]) -> pd.DataFrame:
    """The noise table of the study (:func:`latentatlas.stats.noise.noise_table`) over the ``training``
    specs, keyed like the analysis' candidates: ``measure`` with its site folded in, ``layer`` with -1 for
    each model's own last layer when the models differ in depth."""
    both = pd.concat([results.assign(draw=seed), draws], ignore_index=True)
    both = with_last_layer(site_measures(both))
    return noise_table(both[["spec", "measure", "layer", "draw", "value"]], primary=seed, spread=training)


def noise_study(
    models: Sequence[ExtractedModel],
    entries: Sequence[MeasureEntry],
    results: pd.DataFrame,
    study: Study,
    engine: Engine,
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """The noise stage: every training model's clouds (all sites and layers) measured again for each of
    ``study.noise_seeds`` (:func:`measure_draws`), then the noise table (:func:`study_noise`)."""
    cells: dict[int, list[tuple[Any, str, int, MeasureJob]]] = {s: [] for s in study.noise_seeds}
    for m in models:
        if m.holdout:  # the noise of the rows the analysis fits on
            continue
        for site, store in m.stores.items():
            for seed, jobs in noise_jobs(store, study).items():
                cells[seed] += [(m.spec, site, job.layer, job) for job in jobs]
    draws = measure_draws(study, entries, cells, engine, progress=progress)
    noise = study_noise(results, draws, seed=study.seed, training={str(m.spec) for m in models if not m.holdout})
    log.info("noise: %d clouds measured again (%d noise seed(s)); %d of %d (measure, layer) have noise ≥ half "
             "their between-model SD", sum(len(c) for c in cells.values()), len(cells), int(noise["noisy"].sum()),
             len(noise))
    return noise


__all__ = ["measure_draws", "noise_jobs", "noise_study", "study_noise"]
