"""One registry for every kind of named thing: measures, tasks, variants, objectives, engines, ...

A :class:`Registry` is a read-only mapping from name to item with one way in (:meth:`Registry.register`,
usable as a decorator) and one way out (``registry[name]`` / :meth:`Registry.get`), which raises
:class:`~latentatlas.errors.UnknownNameError` with close-name suggestions (case-insensitive) and, for a
short registry, the list of choices. Because that error is also a ``KeyError``, code written against a
plain dict keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar, overload

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Named items of one kind, in registration order.

    Args:
        kind: what the items are, for messages ("measure", "downstream task", ...).
        hint: a sentence appended to an unknown-name message (e.g. which command lists them).
    """

    def __init__(self, kind: str, hint: str = "") -> None:
        self.kind = kind
        self.hint = hint
        self._items: dict[str, T] = {}

    @classmethod
    def of(cls, kind: str, items: Mapping[str, T], hint: str = "") -> Registry[T]:
        """A registry holding ``items`` (name → item) in their order."""
        reg: Registry[T] = cls(kind, hint)
        for name, item in items.items():
            reg.register(name, item)
        return reg

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, item: T) -> T: ...

    def register(self, name: str, item: T | None = None) -> T | Callable[[T], T]:
        """Add ``item`` under ``name`` (or, without ``item``, return a decorator that does).

        Registering a second, different item under a taken name is a programming error (ValueError).
        """

        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return add if item is None else add(item)

    def get(self, name: str) -> T:  # type: ignore[override]
        """The item named ``name``; :class:`UnknownNameError` (with close names) when there is none."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, str(name), self._items, hint=self.hint) from None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


__all__ = ["Registry"]
