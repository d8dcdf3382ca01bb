"""What produced a result: package versions and the machine, recorded in manifests and cache entries."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform
import resource
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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


def available_cores(cap: int = 8) -> int:
    """Cores this process may run on (its CPU affinity), at most ``cap``: the width of thread pools."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        cores = os.cpu_count() or 1
    return max(1, min(cores, cap))


@contextlib.contextmanager
def single_thread_pool(workers: int | None = None, *, openmp: bool = False) -> Iterator[ThreadPoolExecutor]:
    """A pool of ``workers`` threads (default: :func:`available_cores`) for independent numeric jobs, each
    with one BLAS thread (and one OpenMP thread with ``openmp``): small dense problems run faster side by
    side than sharing threads, and a job's numbers do not depend on the number of cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api=None if openmp else "blas"), \
            ThreadPoolExecutor(max(1, workers if workers is not None else available_cores())) as pool:
        yield pool


def release_free_memory() -> None:
    """Collect garbage and hand the allocator's free pages back to the system (glibc's ``malloc_trim``;
    elsewhere only the collection). Forward passes of many batch shapes leave the C heap fragmented:
    after each MiniLM model of the default study 230 MB of freed memory stayed resident, so every later
    stage started from a higher floor."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def available_memory_bytes() -> int:
    """Memory the kernel could give this process now without swapping: ``MemAvailable`` of
    /proc/meminfo on Linux, else free physical pages (``os.sysconf``)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


__all__ = ["PACKAGES", "available_memory_bytes", "machine", "peak_rss_mb", "versions"]
