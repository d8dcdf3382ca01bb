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


#: The first bytes of a .npy file and of a zip archive (an .npz file is a zip of .npy files).
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def load_npy(path: str | Path) -> Any:
    """Read a .npy array memory-mapped (no pickles), or raise a one-line BadInputError naming the file and fix.

    Refused before any measure sees them: a folder, an empty (0-byte) file, an ``.npz`` archive renamed
    ``.npy``, any other non-.npy file, complex numbers (a measure would drop the imaginary part), non-numeric
    dtypes (strings, objects, records, booleans) and arrays with no rows or no columns. The shape (2-D) and
    the values (finite) are checked by the measures' own validation.
    """
    import numpy as np

    from .errors import BadInputError

    p = Path(path)
    name = f"cloud file {str(p)!r}"
    if p.is_dir():
        raise BadInputError(f"{name} is a folder; pass a .npy file (an array saved with numpy.save).")
    if not p.is_file():
        raise BadInputError(f"{name} does not exist; pass a .npy file.")
    with open(p, "rb") as fh:
        head = fh.read(len(_NPY_MAGIC))
    if not head:
        raise BadInputError(f"{name} is empty (0 bytes); save the array with numpy.save.")
    if head.startswith(_ZIP_MAGIC):
        raise BadInputError(
            f"{name} is an .npz archive (a zip of arrays), not a .npy array; save the one array to measure with "
            f"numpy.save, e.g. numpy.save('cloud.npy', numpy.load('{p.name}')['NAME'])."
        )
    if head != _NPY_MAGIC:
        raise BadInputError(f"{name} is not a readable .npy array (it lacks the .npy magic bytes); save it with numpy.save.")
    try:
        arr = np.load(p, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        raise BadInputError(
            f"{name} is not a readable .npy array ({' '.join(str(exc).split()) or type(exc).__name__}); "
            "save it with numpy.save."
        ) from None
    if arr.dtype.kind == "c":
        raise BadInputError(
            f"{name} holds complex numbers (dtype {arr.dtype}); measures need real coordinates: save X.real, "
            "or numpy.hstack([X.real, X.imag]) to keep both parts."
        )
    if arr.dtype.kind not in "fiu":
        raise BadInputError(f"{name} must hold real numbers, got dtype {arr.dtype}; save a float array.")
    if arr.size == 0:
        raise BadInputError(
            f"{name} holds an empty array of shape {arr.shape}; a cloud needs at least one row (point) and one "
            "column (dimension)."
        )
    return arr


def check_writable_dir(path: str | Path, what: str, *, read_only_ok: bool = False) -> Path:
    """Check, before any work, that ``path`` is a folder this process can write in, or can be created.

    ``what`` names the option in the message (e.g. ``"--output folder"``). A path that is (or lies under)
    a file is bad input (:class:`~latentatlas.errors.BadInputError`, exit 2); a folder that cannot be
    written (read-only mount, no permission, full disk) is :class:`~latentatlas.errors.EnvironmentLimitError`
    (exit 1). The test creates an unnamed temporary file (``O_TMPFILE``; nothing appears in the folder) in
    the folder, or in the nearest existing folder above it when it does not exist yet, so it also catches
    what ``os.access`` misses (root on a read-only file system). ``read_only_ok``: an existing folder is
    accepted unwritten (a cache that is only read).
    """
    import tempfile

    from .errors import BadInputError, EnvironmentLimitError

    p = Path(path)
    existing = next((q for q in (p, *p.absolute().parents) if q.exists()), Path("/"))
    if not existing.is_dir():
        if existing == p:
            raise BadInputError(f"{what} {str(p)!r} is a file, not a folder; pass a folder (it is created if missing).")
        raise BadInputError(f"{what} {str(p)!r} cannot be made: {str(existing)!r} is a file; pass a folder path.")
    if read_only_ok and existing == p:
        return p
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        how = "cannot be written" if existing == p else f"cannot be created in {str(existing)!r}"
        raise EnvironmentLimitError(
            f"{what} {str(p)!r} {how}: {exc.strerror or exc}; pass a folder you can write to."
        ) from None
    return p


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


def check_encoding(encoding: str) -> str:
    """``encoding`` if Python knows the codec, else a one-line BadInputError listing common ones."""
    import codecs

    from .errors import BadInputError

    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise BadInputError(
            f"unknown text encoding {encoding!r}; pass a Python codec name such as utf-8, latin-1, cp1252 or utf-16."
        ) from None
    return encoding


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
