"""Executors for the job grid: extraction shards and (model, variant, layer, measure) clouds.

An :class:`Engine` runs ``fn(shared, item)`` for every item; ``shared`` is one object every call
needs (a model, a context), sent once. ``local`` (the default) runs in this process, in order; ``ray``
(optional extra, ``pip install 'latentatlas[ray]'``) spreads the calls over a Ray cluster. Jobs are
pure functions of their inputs and write only to content-addressed, locked cache files, so both
engines give the same results. Importing this package never imports ray.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from ..registry import Registry
from .local import LocalEngine

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Engine(Protocol):
    """What the runner needs from an executor."""

    name: str

    def imap_unordered(self, fn: Callable[[S, T], R], items: Sequence[T], shared: S) -> Iterator[tuple[int, R]]:
        """Yield ``(index, fn(shared, items[index]))`` as calls finish (any order)."""
        ...

    def close(self) -> None:
        """Release what the engine started."""
        ...


def run_all(engine: Engine, fn: Callable[[S, T], R], items: Sequence[T], shared: S) -> list[R]:
    """Every result of ``fn(shared, item)``, in the order of ``items``."""
    out: dict[int, R] = dict(engine.imap_unordered(fn, items, shared))
    return [out[i] for i in range(len(items))]


def _ray(**kw: Any) -> Engine:
    from .ray import RayEngine  # lazy: ray is an optional extra

    return RayEngine(**kw)


ENGINES: Registry[Callable[..., Engine]] = Registry.of(
    "engine", {"local": lambda **kw: LocalEngine(), "ray": _ray}, hint="Engines: local (default), ray."
)


def get_engine(name: str = "local", *, address: str | None = None, num_cpus: int | None = None) -> Engine:
    """An engine by name (``local`` or ``ray``); ``address``/``num_cpus`` configure Ray."""
    make = ENGINES[name]
    if name == "local":
        if address is not None:
            from ..errors import BadInputError

            raise BadInputError("--address names a Ray cluster; use it with --engine ray.")
        return make()
    return make(address=address, num_cpus=num_cpus)


__all__ = ["ENGINES", "Engine", "LocalEngine", "get_engine", "run_all"]
