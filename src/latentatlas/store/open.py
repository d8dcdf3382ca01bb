"""Open (or build) the activation store of one model over one list of sentences: the one way in.

The pipeline, ``compare``, ``concepts`` and the tagging experiment all go through :func:`open_store`, so
a model is loaded, its layers resolved and its store keyed the same way everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CacheCorruptError
from ..io import timed
from ..layers import resolve_layers
from ..models import LoadedModel, ModelSpec, lazy_model
from ..settings import MODULE_PREFIX, RESIDUAL, ExtractionSettings, check_site
from .store import ActivationStore, store_key

log = logging.getLogger(__name__)


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
    """The activation store of ``model`` (a spec, or a loaded or deferred model) over ``sentences``.

    A spec becomes a deferred model (:func:`~latentatlas.models.lazy_model`): when the store is cached,
    the weights are never loaded. Otherwise the model is loaded (variants and ``zoo:`` models are built
    into ``cache`` on first use) and the entry of ``site`` (:mod:`.sites`: ``residual``, ``attention``,
    ``mlp`` or ``module:PATTERN``) extracted (unfinished shards on ``engine``, default local). With
    ``timings``, the seconds spent loading and extracting are added under ``models`` and ``extract``.
    Returns the store (``store.layers`` are the resolved layer indices) and the model.
    """
    timings = timings if timings is not None else {}
    options = settings or ExtractionSettings()
    with timed(timings, "models"):
        lm = model if isinstance(model, LoadedModel) else lazy_model(model, cache_dir=Path(cache))
    with timed(timings, "extract"):
        store = cached_store(lm, sentences, cache=cache, layers=layers, site=site, settings=options)
    if store is not None:
        return store, lm
    with timed(timings, "models"):
        lm.model  # noqa: B018 - load now, so the time is counted as loading, not extracting
    with timed(timings, "extract"):
        store = ActivationStore.build_or_open(
            Path(cache), lm.model, lm.tokenizer, list(sentences), model_key=lm.fingerprint,
            options=options, layers=layers, progress=progress, engine=engine, site=site,
        )
    return store, lm


def cached_store(
    lm: LoadedModel,
    sentences: Sequence[str],
    *,
    cache: str | Path,
    layers: str | int | list[int] = "all",
    site: str = RESIDUAL,
    settings: ExtractionSettings | None = None,
) -> ActivationStore | None:
    """The finished, verified store entry of these inputs, or None when there is none (or it is corrupt,
    which :meth:`ActivationStore.build_or_open` then rebuilds). Needs the model's config, not its weights;
    a module site is matched against the model's modules, so it always goes through the full path."""
    site = check_site(site)
    if site.startswith(MODULE_PREFIX):
        return None
    options = settings or ExtractionSettings()
    layer_list = resolve_layers(layers, lm.num_layers)
    if site != RESIDUAL:  # attention and mlp have one layer per block, no embedding layer
        layer_list = [layer for layer in layer_list if layer > 0]
    key = store_key(lm.fingerprint, sentences, options, layer_list, site)
    path = Path(cache) / "activations" / key
    if not path.is_dir():
        return None
    try:
        store = ActivationStore.open(path)
    except CacheCorruptError:
        return None
    log.info("activation store %s reused (%d tokens)", key[:12], store.n_tokens)
    return store


__all__ = ["cached_store", "open_store"]
