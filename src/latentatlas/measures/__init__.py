"""Geometry measures: registries of pure functions over point clouds.

Importing this package registers every family (:mod:`.spread`, :mod:`.quantization`, :mod:`.dimension`,
:mod:`.topology`'s helpers need no registration, :mod:`.similarity` fills the two-cloud registry;
:mod:`.external` adds scikit-dimension's estimators when that package is installed).
"""

# Importing the families registers their measures, in this order (the order of `names()` and of results).
from . import spread  # noqa: F401, I001
from . import quantization  # noqa: F401
from . import dimension  # noqa: F401
from . import external  # noqa: F401  (skdim_* when scikit-dimension is installed)
from . import similarity  # noqa: F401
from . import registry
from .cloud import PointCloud, as_cloud, validate_cloud
from .registry import MEASURES, SIMILARITY, MeasureSpec, all_measures, compute, flatten, get, measure, names, run_battery

__all__ = [
    "MEASURES",
    "SIMILARITY",
    "MeasureSpec",
    "PointCloud",
    "all_measures",
    "as_cloud",
    "compute",
    "flatten",
    "get",
    "measure",
    "names",
    "registry",
    "run_battery",
    "validate_cloud",
]
