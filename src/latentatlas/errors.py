"""Exceptions raised by latentatlas.

Every error a user can cause derives from :class:`LatentAtlasError`. Its message names the offending
input and the fix; the CLI prints it and exits with the error's ``exit_code``: 2 for bad input
(:data:`EXIT_BAD_INPUT`), 1 for a machine that cannot do the work (:data:`EXIT_ENVIRONMENT`: a folder
that cannot be written, too little memory).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 1


class LatentAtlasError(Exception):
    """Base class of every error caused by input, configuration or missing assets."""

    exit_code = EXIT_BAD_INPUT


class BadInputError(LatentAtlasError, ValueError):
    """An argument, file or option is malformed or out of range."""


class TooFewPointsError(BadInputError):
    """A point cloud has fewer points than a measure needs."""

    def __init__(self, what: str, needed: int, got: int) -> None:
        self.needed = needed
        self.got = got
        super().__init__(
            f"{what} needs at least {needed} points but the cloud has {got}; "
            "use more sentences (--n-sentences, or corpus.n_sentences in a study file) or drop this measure."
        )


class UnknownNameError(BadInputError, KeyError):
    """A name (measure, model spec, layer keyword, ...) is not known; suggests close matches."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = "") -> None:
        known = sorted(known)
        close = close_names(name, known)
        msg = f"unknown {kind} {name!r}"
        if close:
            msg += f"; did you mean {', '.join(repr(c) for c in close)}?"
        if hint:
            msg += f" {hint}"
        elif 0 < len(known) <= 12:  # a short list is the most useful fix: show it
            msg += f"{' Choose' if close else '; choose'} one of: {', '.join(known)}."
        self.name = name
        self.suggestions = close
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


def close_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` names of ``known`` close to ``name``, ignoring case (``EEE`` finds ``eee``)."""
    by_lower: dict[str, str] = {}
    for k in known:
        by_lower.setdefault(k.lower(), k)
    exact = [by_lower[name.lower()]] if name.lower() in by_lower else []
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.5)
    return list(dict.fromkeys(exact + [by_lower[c] for c in close]))[:n]


class MissingAssetError(LatentAtlasError):
    """A model, corpus or optional dependency is not available on this machine."""


class EnvironmentLimitError(LatentAtlasError):
    """The input is fine but this machine cannot do the work as asked: a folder that cannot be written,
    not enough memory. Exit code 1, like the file-system errors the CLI maps."""

    exit_code = EXIT_ENVIRONMENT


class CacheCorruptError(LatentAtlasError):
    """A cache entry is truncated or inconsistent; it will be (or must be) rebuilt."""


class ReadOnlyCacheError(BadInputError):
    """An entry must be written (built, or rebuilt after damage) but the cache folder is read-only."""


def require(module: str, extra: str) -> object:
    """Import an optional dependency or raise a :class:`MissingAssetError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingAssetError(
            f"this feature needs the optional package {module!r}; install it with "
            f"`pip install 'latentatlas[{extra}]'`"
        ) from exc
