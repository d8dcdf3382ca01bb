"""The cache folder as a list of entries: what is there, how big, how old, for which model; pruning.

A latentatlas cache holds one folder per kind (:data:`KINDS`); each child of a kind folder is one entry
(a folder or a file; ``*.lock`` files belong to the entry they lock). An entry's age is the time since it
was last written (the newest modification time inside it). The model of an entry is known where the
entry says it: an activation store's manifest names its model fingerprint, a cached variant or a zoo
model is named by its folder; features, fine-tuning runs and measure values are keyed by content hashes
that include the model, so they are attributed to none and pruned by age.

Nothing outside the cache folder is ever removed: entries are direct children of the kind folders, and a
symbolic link is removed as a link, never followed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInputError

#: The kinds of cache entry, each a folder of the cache.
KINDS = ("activations", "models", "zoo", "features", "finetune", "measures", "topology", "annotations")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class CacheEntry:
    """One cache entry: its kind, path, size in bytes, last write (epoch seconds) and model, if known."""

    kind: str
    path: Path
    bytes: int
    modified: float
    model: str | None = None
    partial: bool = False

    def age_s(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.modified)


def check_cache(cache: str | Path) -> Path:
    """``cache`` as a Path, or a one-line error when it is missing or is not a latentatlas cache."""
    root = Path(cache).expanduser()
    if not root.is_dir():
        raise BadInputError(f"cache folder {str(root)!r} does not exist; pass --cache (or set LATENTATLAS_CACHE) "
                            "to the folder your studies use.")
    if not any((root / k).is_dir() and not (root / k).is_symlink() for k in KINDS):
        raise BadInputError(f"{str(root)!r} is not a latentatlas cache (it has none of the folders "
                            f"{', '.join(KINDS)}); pass --cache with the folder your studies use.")
    return root


def entries(cache: str | Path) -> list[CacheEntry]:
    """Every entry of the cache, by kind then name."""
    root = check_cache(cache)
    out = []
    for kind in KINDS:
        folder = root / kind
        if not folder.is_dir() or folder.is_symlink():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.endswith(".lock") or (path.name.startswith(".") and path.name.endswith(".tmp")):
                continue
            size, modified = _usage(path)
            out.append(CacheEntry(kind, path, size, modified, _model_of(kind, path),
                                  partial=path.name.endswith(".partial") or path.name.startswith(".")))
    return out


def _usage(path: Path) -> tuple[int, float]:
    """Bytes and newest modification time of a file or folder (links not followed)."""
    st = path.lstat()
    if not path.is_dir() or path.is_symlink():
        return st.st_size, st.st_mtime
    size, newest = 0, st.st_mtime
    for dirpath, _, files in os.walk(path):
        for name in files:
            s = os.lstat(os.path.join(dirpath, name))
            size += s.st_size
            newest = max(newest, s.st_mtime)
    return size, newest


def _model_of(kind: str, path: Path) -> str | None:
    """The model fingerprint (activations, models) or zoo folder name (zoo) the entry belongs to."""
    if kind == "activations":
        try:
            return str(json.loads((path / "manifest.json").read_text())["model_key"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    if kind in ("models", "zoo") and path.is_dir():
        return path.name
    return None


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w`` or ``45s`` in seconds; a one-line error otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text or "")
    if not m:
        raise BadInputError(f"--older-than {text!r} is not an age; write a number and a unit, e.g. 30d, 12h, "
                            "90m or 2w.")
    return float(m.group(1)) * _UNITS[m.group(2)]


def select(found: Iterable[CacheEntry], *, older_than_s: float | None = None, models: Iterable[str] | None = None,
           now: float | None = None) -> list[CacheEntry]:
    """The entries older than ``older_than_s`` and (when given) belonging to one of ``models``
    (fingerprints or zoo folder names); both conditions must hold when both are given."""
    keep: list[Callable[[CacheEntry], bool]] = []
    if older_than_s is not None:
        keep.append(lambda e: e.age_s(now) > older_than_s)
    if models is not None:
        wanted = set(models)
        keep.append(lambda e: e.model in wanted)
    if not keep:
        raise BadInputError("cache prune needs --older-than AGE or --model SPEC (or both); nothing was removed.")
    return [e for e in found if all(k(e) for k in keep)]


def remove(entry: CacheEntry, cache: str | Path) -> None:
    """Delete one entry (and its lock file), refusing any path that is not inside ``cache``."""
    root = Path(cache).expanduser().resolve()
    path = entry.path
    parent = path.parent.resolve()
    if parent.parent != root or parent.name not in KINDS:
        raise BadInputError(f"{str(path)!r} is not an entry of the cache {str(root)!r}; nothing was removed.")
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)
    lock = path.with_name(path.name + ".lock")
    if lock.is_file() and not lock.is_symlink():
        lock.unlink(missing_ok=True)


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def human_age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


__all__ = ["KINDS", "CacheEntry", "check_cache", "entries", "human_age", "human_bytes", "parse_age", "remove",
           "select"]
