"""Stage: every model of the study loaded (variants and zoo models built on first use) and extracted at
every activation site of the study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..corpus import Corpus
from ..engine import Engine
from ..models import LoadedModel, ModelSpec, load_model
from ..settings import RESIDUAL, Study
from ..store import ActivationStore, open_store
from .corpus import study_corpus
from .plan import model_specs


def model_store(
    model: ModelSpec | LoadedModel,
    study: Study,
    corpus: Corpus,
    *,
    site: str = RESIDUAL,
    progress: bool = True,
    timings: dict[str, float] | None = None,
    engine: Engine | None = None,
) -> tuple[ActivationStore, LoadedModel]:
    """One model's activation store at ``site`` over the study's corpus, layers and extraction settings."""
    return open_store(
        model, corpus.sentences, cache=study.cache, layers=study.layers, site=site, settings=study.extraction,
        progress=progress, engine=engine, timings=timings,
    )


def extract_study(
    study: Study, *, progress: bool = True, engine: Any = None
) -> dict[tuple[str, str], ActivationStore]:
    """Fill the activation store of every model of ``study`` at every site (the ``extract`` stage alone);
    keyed by (model spec, site), models in study order, each loaded once."""
    specs = model_specs(study)
    corpus = study_corpus(study.corpus)
    stores: dict[tuple[str, str], ActivationStore] = {}
    for spec in specs:
        lm = load_model(spec, cache_dir=Path(study.cache))
        for site in study.sites:
            stores[str(spec), site] = model_store(lm, study, corpus, site=site, progress=progress, engine=engine)[0]
        del lm
    return stores


__all__ = ["extract_study", "model_store"]
