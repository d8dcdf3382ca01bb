"""Stage: every model of the study loaded (variants and zoo models built on first use) and extracted."""

from __future__ import annotations

from typing import Any

from ..corpus import Corpus
from ..engine import Engine
from ..models import LoadedModel, ModelSpec
from ..settings import Study
from ..store import ActivationStore, open_store
from .corpus import study_corpus
from .plan import model_specs


def model_store(
    model: ModelSpec | LoadedModel,
    study: Study,
    corpus: Corpus,
    *,
    progress: bool = True,
    timings: dict[str, float] | None = None,
    engine: Engine | None = None,
) -> tuple[ActivationStore, LoadedModel]:
    """One model's activation store over the study's corpus, layers and extraction settings."""
    return open_store(
        model, corpus.sentences, cache=study.cache, layers=study.layers, settings=study.extraction,
        progress=progress, engine=engine, timings=timings,
    )


def extract_study(study: Study, *, progress: bool = True, engine: Any = None) -> dict[str, ActivationStore]:
    """Fill the activation store for every model of ``study`` (the ``extract`` stage alone)."""
    specs = model_specs(study)
    corpus = study_corpus(study.corpus)
    return {str(spec): model_store(spec, study, corpus, progress=progress, engine=engine)[0] for spec in specs}


__all__ = ["extract_study", "model_store"]
