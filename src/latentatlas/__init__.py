"""latentatlas: map the geometry of transformer latent spaces and relate it to downstream performance.

The measure functions are imported at once; the notebook API (:mod:`latentatlas.api`: ``extract``,
``layer_table``, ``Study``, ``load_results``, ``measure``, ...) is imported on first use, so
``import latentatlas`` stays light.
"""

from typing import Any

from .errors import BadInputError, LatentAtlasError, MissingAssetError, TooFewPointsError
from .measures import PointCloud, all_measures, compute, flatten, get, names, run_battery

from ._version import __version__

#: Names served by :mod:`latentatlas.api`, imported on first access (it pulls in torch and the pipeline).
_API = ("Activations", "Results", "Study", "cache_entries", "extract", "layer_table", "load_results", "measure",
        "prune_cache")


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'latentatlas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = [
    "Activations",
    "BadInputError",
    "LatentAtlasError",
    "MissingAssetError",
    "PointCloud",
    "Results",
    "Study",
    "TooFewPointsError",
    "__version__",
    "all_measures",
    "cache_entries",
    "compute",
    "extract",
    "flatten",
    "get",
    "layer_table",
    "load_results",
    "measure",
    "names",
    "prune_cache",
    "run_battery",
]
