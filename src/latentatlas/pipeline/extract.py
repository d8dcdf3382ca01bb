"""Stage: every model of the study loaded (variants and zoo models built on first use) and extracted at
every activation site of the study."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..corpus import Corpus
from ..engine import Engine
from ..models import LoadedModel, ModelSpec, load_model
from ..settings import RESIDUAL, Study
from ..store import ActivationStore, open_store
from .corpus import study_corpus
from .plan import family_of, model_specs

log = logging.getLogger(__name__)


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


@dataclass
class ExtractedModel:
    """One model of a study after the extract stage: its activation store at every site (study order),
    whether it is held out, and its family."""

    spec: ModelSpec
    stores: dict[str, ActivationStore]
    holdout: bool
    family: str

    @property
    def store(self) -> ActivationStore:
        """The store at the study's first site (the one the manifest's top-level fields describe)."""
        return next(iter(self.stores.values()))

    def record(self) -> dict[str, Any]:
        """The model's entry in ``run.json`` (also what the analysis reads: spec, holdout, family)."""
        s = self.store
        return {"spec": str(self.spec), "store": s.key, "n_tokens": s.n_tokens, "layers": s.layers,
                "sites": {site: {"store": st.key, "layers": st.layers, "modules": st.modules}
                          for site, st in self.stores.items()},
                "holdout": self.holdout, "family": self.family}


def extract_model(
    lm: LoadedModel,
    study: Study,
    corpus: Corpus,
    holdout: set[str],
    *,
    progress: bool = True,
    timings: dict[str, float] | None = None,
    engine: Engine | None = None,
) -> ExtractedModel:
    """The extract stage for one model: its store at every site of ``study`` over ``corpus`` (built, or
    opened from the cache without loading a deferred model's weights). ``holdout``: the normalised specs
    of the held-out models."""
    stores = {site: model_store(lm, study, corpus, site=site, progress=progress, timings=timings, engine=engine)[0]
              for site in study.sites}
    return ExtractedModel(lm.spec, stores, str(lm.spec) in holdout, family_of(study, str(lm.spec)))


def log_model(i: int, n: int, model: ExtractedModel, *, loaded: bool, seconds: float) -> None:
    """One log line per model: its tokens, clouds to measure, whether its weights had to load."""
    log.info("model %d/%d %s: %d tokens, %d clouds to measure (%s) in %.1f s", i, n, model.spec,
             model.store.n_tokens, sum(len(s.layers) for s in model.stores.values()),
             "weights loaded" if loaded else "all cached, not loaded", seconds)


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


__all__ = ["ExtractedModel", "extract_model", "extract_study", "log_model", "model_store"]
