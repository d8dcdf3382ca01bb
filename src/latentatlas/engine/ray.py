"""Ray engine: jobs as Ray tasks on a cluster (``--address``) or on a local instance started here.

The shared object (a model, a context) is put in the object store once; each item becomes one task.
Workers read and write the study's cache folder, so on a multi-machine cluster that folder must be on
a shared filesystem. An instance started by :class:`RayEngine` is shut down by :meth:`close`; one
that was already running (or reached through ``address``) is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import BadInputError, require

log = logging.getLogger(__name__)


class RayEngine:
    """Runs ``fn(shared, item)`` as Ray tasks (one CPU each)."""

    name = "ray"

    def __init__(self, *, address: str | None = None, num_cpus: int | None = None) -> None:
        ray: Any = require("ray", "ray")
        self._ray = ray
        self._started = False
        if address not in (None, "auto", "local"):
            _probe(address)
        if not ray.is_initialized():
            try:
                ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                where = f"at {address!r}" if address else "locally"
                raise BadInputError(
                    f"could not start or reach a Ray cluster {where} ({str(exc).splitlines()[0] if str(exc) else exc!r}); "
                    "start one with `ray start --head` and pass its address, or leave out --address."
                ) from None
            self._started = True
        self._threads = _driver_threads()
        log.info("ray engine: %s CPUs; tasks use %s BLAS / torch threads", ray.cluster_resources().get("CPU"),
                 self._threads)

    def imap_unordered(self, fn: Callable[[Any, Any], Any], items: Sequence[Any], shared: Any) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        if not items:
            return
        task = ray.remote(num_cpus=1, max_retries=2)(_call)
        ref = ray.put(shared)
        pending = {task.remote(fn, ref, item, self._threads): i for i, item in enumerate(items)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for r in done:
                i = pending.pop(r)
                try:
                    value = ray.get(r)
                except ray.exceptions.RayTaskError as exc:
                    from ..errors import LatentAtlasError

                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, LatentAtlasError):
                        raise cause from None  # one clear line, not a remote traceback
                    raise
                yield i, value

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False

    def __repr__(self) -> str:
        return f"RayEngine(started_here={self._started})"


def _driver_threads() -> tuple[int, int]:
    """(BLAS threads, torch intra-op threads) of this process."""
    import torch
    from threadpoolctl import threadpool_info

    blas = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return (max(blas) if blas else 1), torch.get_num_threads()


def _call(fn: Callable[[Any, Any], Any], shared: Any, item: Any, threads: tuple[int, int]) -> Any:
    """The task body: any picklable callable (function, builtin, partial) applied to (shared, item).

    It runs with the driver's BLAS and torch thread counts: multi-threaded float reductions group
    their sums by thread, so equal counts make the task's numbers equal the local engine's, bit for
    bit (on the same kind of CPU).
    """
    import torch
    from threadpoolctl import threadpool_limits

    if torch.get_num_threads() != threads[1]:
        torch.set_num_threads(threads[1])
    with threadpool_limits(limits=threads[0], user_api="blas"):
        return fn(shared, item)


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast (ray.init would retry for minutes) when ``host:port`` accepts no connection."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise BadInputError(f"--address {address!r} must look like HOST:PORT (e.g. 10.0.0.5:6379) or 'auto'.")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise BadInputError(
            f"no Ray cluster answers at {address!r} ({exc.strerror or exc}); start one with `ray start --head` "
            "and pass the address it prints, or leave out --address to start a local instance."
        ) from None
