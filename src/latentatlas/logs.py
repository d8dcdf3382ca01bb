"""Quiet, honest logs: third-party noise off by default, warnings through ``logging``, repeats collapsed.

:func:`configure` is what the command line calls once per command (a notebook may call it too):

* Levels: ``quiet`` shows warnings and errors only, the default adds latentatlas' info lines (one per
  finished stage), ``verbose`` adds debug lines *and* the third-party output that is otherwise silenced:
  Hugging Face's load reports ("newly initialized" poolers) and weight-loading bars, and the loggers of
  torch, faiss, matplotlib, urllib3, filelock and friends (:data:`NOISY`).
* Python warnings (``warnings.warn``, e.g. scipy's ``NearConstantInputWarning``) become one log line each,
  ``WARNING <module>: <Category>: <message>``, under the logger of the module the warning points at.
  Deprecation and future warnings, and anything raised inside a :data:`NOISY` package, are debug lines.
* A warning that repeats with only its values changed (same logger, same template: "%s at layer %s is
  constant ..." for 23 measures) is shown once; :func:`flush_repeats` (called when the command ends)
  then adds one line with the count.

This module imports nothing from latentatlas; the library itself only ever calls ``logging``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

#: Third-party packages whose logs and warnings are shown only with ``verbose``.
NOISY = ("transformers", "huggingface_hub", "tokenizers", "torch", "faiss", "matplotlib", "urllib3", "filelock",
         "httpx", "datasets", "numba", "PIL", "ray", "spacy", "fsspec", "asyncio", "skdim")

_FORMAT = "%(levelname)s %(name)s: %(message)s"
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?")


def _template(record: logging.LogRecord) -> str:
    """The message with its values blanked: ``%s`` arguments as ``…``, numbers as ``#``."""
    if record.args:
        text = re.sub(r"%[-+ #0-9.]*[sdrfgei]", "…", str(record.msg))
    else:
        text = _NUMBER.sub("#", record.getMessage())
    return " ".join(text.split())


class RepeatFilter(logging.Filter):
    """Lets the first warning of each kind through and counts the repeats.

    Two warnings are of one kind when they come from the same logger at the same level with the same
    template: ``record.msg`` for a message with arguments, else the message with its numbers blanked.
    Info and debug lines are never held back.
    """

    def __init__(self, min_level: int = logging.WARNING) -> None:
        super().__init__()
        self.min_level = min_level
        self.counts: dict[tuple[str, int, str], int] = {}
        self.first: dict[tuple[str, int, str], logging.LogRecord] = {}

    @staticmethod
    def kind(record: logging.LogRecord) -> tuple[str, int, str]:
        return record.name, record.levelno, _template(record)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level or getattr(record, "repeat_summary", False):
            return True
        key = self.kind(record)
        self.counts[key] = self.counts.get(key, 0) + 1
        if key in self.first:
            return False
        self.first[key] = record
        return True

    def summaries(self) -> list[logging.LogRecord]:
        """One record per repeated kind: how many times it came in all; the counts are then reset."""
        out = []
        for key, n in self.counts.items():
            if n > 1:
                first = self.first[key]
                rec = logging.LogRecord(first.name, first.levelno, first.pathname, first.lineno,
                                        "%d warnings like this in all (%d repeats not shown): %s",
                                        (n, n - 1, _template(first)), None)
                rec.repeat_summary = True
                out.append(rec)
        self.counts.clear()
        self.first.clear()
        return out


_handler: logging.Handler | None = None
_repeats: RepeatFilter | None = None


def configure(*, quiet: bool = False, verbose: bool = False, stream: Any = None) -> None:
    """Set up logging for a command: levels, third-party silence, warnings as log lines, repeats collapsed.

    Calling it again (a second command in one process, or a flag given after the subcommand) replaces
    the previous set-up; repeats counted so far are flushed first.
    """
    global _handler, _repeats
    flush_repeats()
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    _handler.setFormatter(logging.Formatter(_FORMAT))
    _repeats = RepeatFilter()
    _handler.addFilter(_repeats)
    for h in list(root.handlers):  # an earlier basicConfig's handler would print every line twice
        if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in (sys.stderr, sys.__stderr__):
            root.removeHandler(h)
    root.addHandler(_handler)
    root.setLevel(level)
    third_party = logging.DEBUG if verbose else logging.ERROR
    for name in NOISY:
        logging.getLogger(name).setLevel(third_party)
    _third_party_switches(verbose)
    warnings.showwarning = _show_warning


def _third_party_switches(verbose: bool) -> None:
    """Hugging Face's own handler and bars: through their settings (environment before import, calls after)."""
    os.environ["TRANSFORMERS_VERBOSITY"] = "info" if verbose else "error"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "0" if verbose else "1"
    os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "0" if verbose else "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        if verbose:
            hf_logging.set_verbosity_info()
            hf_logging.enable_progress_bar()
        else:
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub import utils as hub_utils

        (hub_utils.enable_progress_bars if verbose else hub_utils.disable_progress_bars)()


def _module_of(filename: str) -> str:
    """``a/site-packages/scipy/stats/_x.py`` → ``scipy.stats._x``; ``src/latentatlas/io.py`` → ``latentatlas.io``."""
    parts = Path(filename).with_suffix("").parts
    for anchor in ("site-packages", "dist-packages", "src"):
        if anchor in parts:
            return ".".join(parts[len(parts) - parts[::-1].index(anchor):]) or "py.warnings"
    return Path(filename).stem or "py.warnings"


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` replacement: one log line under the logger of the warning's module."""
    del file, line, lineno
    module = _module_of(filename)
    noisy = module.split(".")[0] in NOISY or category.__module__.split(".")[0] in NOISY
    quiet_kind = issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning))
    level = logging.DEBUG if noisy or quiet_kind else logging.WARNING
    text = " ".join(str(message).split())
    logging.getLogger(module).log(level, f"{category.__name__}: {text}")  # no args: the text is the template


def flush_repeats() -> None:
    """Write one line per repeated warning (with its count) and reset the counts."""
    if _repeats is None or _handler is None:
        return
    for record in _repeats.summaries():
        _handler.handle(record)


def interactive() -> bool:
    """Whether stderr is a terminal (progress bars there; one line per finished stage elsewhere)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = ["NOISY", "RepeatFilter", "configure", "flush_repeats", "interactive"]
