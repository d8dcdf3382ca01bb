"""What produced a result: package versions and the machine, recorded in manifests and cache entries."""

from __future__ import annotations

import os
import platform
import resource
from typing import Any

from ._version import __version__

#: Packages whose versions can change the numbers.
PACKAGES = ("numpy", "scipy", "torch", "transformers", "faiss-cpu", "pandas", "scikit-learn")


def versions() -> dict[str, str]:
    """Python, latentatlas and every installed package of :data:`PACKAGES` with its version."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "latentatlas": __version__}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def machine() -> dict[str, Any]:
    """CPU count and platform string."""
    return {"cpus": os.cpu_count(), "platform": platform.platform()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


__all__ = ["PACKAGES", "machine", "peak_rss_mb", "versions"]
