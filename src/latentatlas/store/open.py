"""Open (or build) the activation store of one model over one list of sentences: the one way in.

The pipeline, ``compare``, ``concepts`` and the tagging experiment all go through :func:`open_store`, so
a model is loaded, its layers resolved and its store keyed the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import timed
from ..models import LoadedModel, ModelSpec, load_model
from ..settings import RESIDUAL, ExtractionSettings
from .store import ActivationStore


def open_store(
    model: str | ModelSpec | LoadedModel,
    sentences: Sequence[str],
    *,
    cache: str | Path,
    layers: str | int | list[int] = "all",
    site: str = RESIDUAL,
    settings: ExtractionSettings | None = None,
    progress: bool = True,
    engine: Any = None,
    timings: dict[str, float] | None = None,
) -> tuple[ActivationStore, LoadedModel]:
    """The activation store of ``model`` (a spec, or an already loaded model) over ``sentences``.

    Loads the model unless given (variants and ``zoo:`` models are built into ``cache`` on first use),
    then opens the cached entry of ``site`` (:mod:`.sites`: ``residual``, ``attention``, ``mlp`` or
    ``module:PATTERN``) or extracts it (unfinished shards on ``engine``, default local). With
    ``timings``, the seconds spent loading and extracting are added under ``models`` and ``extract``.
    Returns the store (``store.layers`` are the resolved layer indices) and the loaded model.
    """
    timings = timings if timings is not None else {}
    with timed(timings, "models"):
        lm = model if isinstance(model, LoadedModel) else load_model(model, cache_dir=Path(cache))
    with timed(timings, "extract"):
        store = ActivationStore.build_or_open(
            Path(cache), lm.model, lm.tokenizer, list(sentences), model_key=lm.fingerprint,
            options=settings or ExtractionSettings(), layers=layers, progress=progress, engine=engine, site=site,
        )
    return store, lm


__all__ = ["open_store"]
