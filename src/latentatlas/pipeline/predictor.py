"""The study's fitted relation, saved as ``predictor.json`` and applied to models the study never saw.

``latentatlas run`` writes the predictor of the study's main target (the task average): the selected
(measure, layer) — the candidate with the largest |r| over the training models, the same rule the nested
cross-validation evaluates — its OLS line, the training range, and everything needed to measure a new
model the same way (corpus and its fingerprint, extraction settings, layers, subsample size and seed,
measure parameters). ``latentatlas score-model`` extracts new models on that corpus, computes only that
measure and prints each prediction with its 95 % prediction interval, the study's nested-CV error (the
honest error of the procedure) and a warning when the measure lies outside the training range.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._version import __version__
from ..corpus import Corpus
from ..errors import BadInputError
from ..io import read_text
from ..layers import resolve_layers
from ..measures import registry as reg
from ..models import ModelSpec
from ..settings import CorpusSpec, ExtractionSettings, MeasureEntry, Study
from ..stats.predictor import LinearPredictor, fit_predictor
from ..stats.relate import SEP, StudyAnalysis
from ..store import open_store
from .corpus import study_corpus
from .measure import MeasureCache, cached_battery, cloud_key

log = logging.getLogger(__name__)

#: Version of the file layout; a file of another format is refused.
PREDICTOR_FORMAT = 1
MAIN_TARGET = "average"


def build_predictor(
    analysis: StudyAnalysis, study: Study, corpus: Corpus, entries: Sequence[MeasureEntry]
) -> dict[str, Any] | None:
    """The predictor of the main target (``average``, else the first target), or None with a log line
    when the analysis selected nothing."""
    sel = analysis.selection
    if sel.empty:
        log.info("no predictor.json: the analysis has no selection")
        return None
    row = sel[sel["target"] == MAIN_TARGET].iloc[0] if (sel["target"] == MAIN_TARGET).any() else sel.iloc[0]
    best = row["best"]
    if not isinstance(best, str):
        log.info("no predictor.json: %s", row.get("note") or "nothing was selected")
        return None
    target = str(row["target"])
    train = analysis.models[~analysis.models["holdout"]].dropna(subset=[best, target])
    fit = fit_predictor(train[best], train[target], column=best, target=target)
    measure, layer = best.rsplit(SEP, 1)
    params = next((dict(e.params) for e in entries if e.name == measure), {})

    def number(key: str) -> float | None:
        value = row.get(key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

    return {
        "format": PREDICTOR_FORMAT,
        "latentatlas": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "study": study.name,
        "target": target,
        "measure": measure,
        "layer": int(layer),
        "measure_params": params,
        "measure_seed": study.seed,
        "max_points": study.max_points,
        "layers": study.layers,
        "corpus": {"spec": study.corpus.model_dump(mode="json"), "fingerprint": corpus.fingerprint(),
                   "n_sentences": len(corpus)},
        "extraction": study.extraction.model_dump(mode="json"),
        "fit": fit.to_json(),
        "selection": {"candidates": int(row["candidates"]), "max_abs_r": number("max_abs_r"),
                      "p_family_wise": number("p_family_wise"), "n_permutations": number("n_permutations")},
        "nested_cv": {"mse": number("nested_mse"), "mae": number("nested_mae"),
                      "spearman": number("nested_spearman"), "kendall": number("nested_kendall"),
                      "n_groups": number("nested_n_groups"), "mean_only_mse": number("mean_only_mse")},
        "training_models": list(train["spec"]),
    }


def read_predictor(path: str | Path) -> dict[str, Any]:
    """A ``predictor.json`` checked for format and version (one BadInputError line otherwise)."""
    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"predictor file {str(p)!r} does not exist; pass the predictor.json of a "
                            "`latentatlas run` output folder.")
    try:
        data = json.loads(read_text(p, "predictor file"))
    except json.JSONDecodeError as exc:
        raise BadInputError(f"predictor file {str(p)!r} is not JSON ({exc.msg} at line {exc.lineno}).") from None
    if not isinstance(data, dict) or data.get("format") != PREDICTOR_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise BadInputError(
            f"predictor file {str(p)!r} has format {found!r}, this latentatlas reads format {PREDICTOR_FORMAT}; "
            "rerun `latentatlas run` with this version to write a compatible predictor.json."
        )
    major = str(data.get("latentatlas", "")).split(".")[0]
    if major != __version__.split(".")[0]:
        raise BadInputError(
            f"predictor file {str(p)!r} was written by latentatlas {data.get('latentatlas')!r}, incompatible "
            f"with {__version__}; rerun `latentatlas run` with this version."
        )
    return data


def score_models(
    specs: Sequence[str], predictor: dict[str, Any], *, cache: str | Path, progress: bool = False
) -> list[dict[str, Any]]:
    """Predict the score of each model spec from the predictor's measure, measured as in the study.

    Every spec, the measure and the corpus fingerprint are checked before any extraction. Returns one
    record per model: spec, layer, the measure value, the prediction with its 95 % interval, and whether
    it extrapolates beyond the training range.
    """
    parsed = [ModelSpec.parse(s) for s in specs]
    measure, layer = predictor["measure"], int(predictor["layer"])
    entry = MeasureEntry(name=measure, params=predictor["measure_params"])
    reg.cloud_measure(measure).check_params(entry.params)
    corpus = study_corpus(CorpusSpec.model_validate(predictor["corpus"]["spec"]))
    if corpus.fingerprint() != predictor["corpus"]["fingerprint"]:
        raise BadInputError(
            "the predictor's corpus is not the corpus this machine builds from its settings (different "
            "fingerprint: another corpus file or data version); score models with the same corpus as the study."
        )
    fit = LinearPredictor.from_json(predictor["fit"])
    settings = ExtractionSettings.model_validate(predictor["extraction"])
    seed, max_points = int(predictor["measure_seed"]), predictor["max_points"]
    out = []
    for spec in parsed:
        store, lm = open_store(spec, corpus.sentences, cache=cache, layers=predictor["layers"], settings=settings,
                               progress=progress)
        at = resolve_layers(layer, lm.num_layers)[0]
        if at not in store.layers:
            raise BadInputError(f"{spec} has no layer {layer} among its extracted layers {store.layers}.")
        X = store.cloud(at, max_points=max_points, seed=seed)
        values, _ = cached_battery(X, [entry], seed=seed, cache=MeasureCache(Path(cache)),
                                   key=cloud_key(store, at, max_points, seed))
        x = values[measure]
        yhat, lo, hi = fit.predict(x)
        outside = fit.extrapolates(x)
        if outside:
            log.warning("%s: %s = %.6g lies outside the training range [%.6g, %.6g]; the prediction extrapolates",
                        spec, fit.column, x, fit.x_min, fit.x_max)
        out.append({"spec": str(spec), "layer": at, "measure": measure, "value": x, "target": fit.target,
                    "predicted": yhat, "lower": lo, "upper": hi, "extrapolates": outside})
    return out


__all__ = ["MAIN_TARGET", "PREDICTOR_FORMAT", "build_predictor", "read_predictor", "score_models"]
