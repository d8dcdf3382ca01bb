"""Geometry measures: a registry of pure functions over point clouds."""

from .cloud import PointCloud, as_cloud, validate_cloud
from . import registry
from .registry import MeasureSpec, all_measures, compute, flatten, get, measure, names, run_battery

__all__ = [
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
