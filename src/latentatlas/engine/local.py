"""The default engine: every job in this process, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any


class LocalEngine:
    """Runs ``fn(shared, item)`` sequentially in the calling process."""

    name = "local"

    def imap_unordered(self, fn: Callable[[Any, Any], Any], items: Sequence[Any], shared: Any) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(shared, item)

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "LocalEngine()"
