"""Geometry measures: a registry of pure functions over point clouds."""

from .cloud import PointCloud, as_cloud, validate_cloud
from .registry import MeasureSpec, compute, flatten, get, measure, names, registry, run_battery

__all__ = [
    "MeasureSpec",
    "PointCloud",
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
