"""Files and keys: atomic writes, content keys of cache entries, safe readers, stage timing.

* Atomic writes: write to a temporary sibling, then rename, so no reader sees half a file.
* :func:`content_key`: the one way a cache entry is named (sha256 of canonical JSON).
* Safe readers: ``.npy`` without pickles, torch checkpoints with tensors only, strict YAML, text with a
  named encoding; each failure is one :class:`~latentatlas.errors.BadInputError` line.
* :func:`timed`: seconds spent in a stage, added to a timings dict.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: Hex digits of a content key: 128 bits, enough that two different entries never collide.
KEY_LENGTH = 32

#: The environment variable naming the cache folder of every command and study that does not name one.
CACHE_ENV = "LATENTATLAS_CACHE"
#: The cache folder when neither an option, a study file nor :data:`CACHE_ENV` names one.
DEFAULT_CACHE = ".latentatlas-cache"


def default_cache() -> str:
    """The cache folder: ``$LATENTATLAS_CACHE`` when set (``~`` expanded), else ``.latentatlas-cache``."""
    value = os.environ.get(CACHE_ENV, "").strip()
    return os.path.expanduser(value) if value else DEFAULT_CACHE


def content_key(obj: Any, length: int = KEY_LENGTH) -> str:
    """sha256 of ``obj`` as canonical JSON (sorted keys; non-JSON values by ``str``), cut to ``length``."""
    blob = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


@contextlib.contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Add the seconds spent in the ``with`` block to ``timings[stage]`` (also when it raises)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` then move the result onto ``path`` atomically (same directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def load_npy(path: str | Path) -> Any:
    """Read a .npy array (memory-mapped, no pickles) or raise a BadInputError naming the file and fix."""
    import numpy as np

    from .errors import BadInputError

    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"cloud file {str(p)!r} does not exist; pass a .npy file.")
    try:
        return np.load(p, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise BadInputError(
            f"cloud file {str(p)!r} is not a readable .npy array ({exc}); save it with numpy.save."
        ) from None


def load_checkpoint(path: str | Path, map_location: Any = None) -> Any:
    """Load a torch checkpoint that latentatlas wrote, refusing anything but tensors and plain containers.

    ``torch.load`` with ``weights_only=True`` never unpickles arbitrary objects, so a crafted file in an
    output folder or a shared cache cannot run code. A file the safe loader refuses is reported as a
    :class:`~latentatlas.errors.BadInputError` naming the file and the fix; other read errors (a truncated
    file) propagate unchanged for the caller to handle.
    """
    import pickle

    import torch

    from .errors import BadInputError

    try:
        return torch.load(path, weights_only=True, map_location=map_location)
    except pickle.UnpicklingError:
        raise BadInputError(
            f"checkpoint {str(path)!r} holds pickled objects other than tensors and plain values, so it was not "
            "written by latentatlas and was refused unread; delete it (or its folder) to start that run afresh."
        ) from None


def read_yaml(text: str, origin: str) -> Any:
    """Parse a YAML document strictly: safe tags only, no aliases, no duplicate keys; errors in one line.

    Aliases are refused because a few bytes of nested aliases expand to gigabytes (a "billion laughs"
    study file); a duplicate key is refused because YAML would let the last one win silently.
    """
    import yaml

    from .errors import BadInputError

    class _SafeStrictLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.MarkedYAMLError(problem=f"alias *{event.anchor} is not allowed (write the value out)",
                                           problem_mark=event.start_mark)
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r} (keep one)",
                                               problem_mark=key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    try:
        return yaml.load(text, Loader=_SafeStrictLoader)
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise BadInputError(f"{origin} is not valid YAML: {problem}{where}; fix the file.") from None


def read_text(path: str | Path, what: str, encoding: str = "utf-8") -> str:
    """A text file's contents, or a BadInputError naming the file, the byte offset and the fix."""
    from .errors import BadInputError

    p = Path(path)
    try:
        return p.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"{what} {str(p)!r} is not {encoding} text (byte {exc.start} is {exc.object[exc.start:exc.start + 1]!r}); "
            f"save it as {encoding}."
        ) from None
    except IsADirectoryError:
        raise BadInputError(f"{what} {str(p)!r} is a folder; pass a file.") from None


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
