"""``latentatlas compare``: layer × layer similarity of two representation spaces over the same tokens."""

from .run import Comparison, compare, write_comparison

__all__ = ["Comparison", "compare", "write_comparison"]
