"""latentatlas: map the geometry of transformer latent spaces and relate it to downstream performance."""

from .errors import BadInputError, LatentAtlasError, MissingAssetError, TooFewPointsError
from .measures import PointCloud, all_measures, compute, flatten, get, names, run_battery

from ._version import __version__

__all__ = [
    "BadInputError",
    "LatentAtlasError",
    "MissingAssetError",
    "PointCloud",
    "TooFewPointsError",
    "__version__",
    "all_measures",
    "compute",
    "flatten",
    "get",
    "names",
    "run_battery",
]
