"""latentatlas: map the geometry of transformer latent spaces and relate it to downstream performance."""

from .errors import BadInputError, LatentAtlasError, MissingAssetError, TooFewPointsError
from .measures import PointCloud, all_measures, compute, flatten, get, names, run_battery

__version__ = "0.1.0"

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
