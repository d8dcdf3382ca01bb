"""Atomic file writes: write to a temporary sibling, then rename, so no reader sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
