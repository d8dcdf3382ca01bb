"""Files and keys: atomic writes, sealed cache entries, content keys, safe readers, stage timing.

* Atomic writes: write to a temporary sibling, then rename, so no reader sees half a file. Files get
  the mode the umask allows (``0o666 & ~umask``), as ``open`` would give them, not ``mkstemp``'s 0600.
  Temporaries are named ``.<target>.<pid>-<host>.<random>.tmp``; :func:`remove_stale_temps` deletes those
  whose writer is gone (a dead process of this host, or nothing changed for :data:`STALE_AFTER_S`).
* Sealed entries: :func:`seal` writes the sha256 of a finished cache entry (a file: ``<name>.sha256``
  beside it; a folder: ``SHA256SUMS`` inside it, every file by relative path), both in ``sha256sum``
  format; :func:`verify_seal` checks them before the entry is used. :func:`entry_intact` and
  :func:`write_sealed` wrap both for single-file cache entries (a damaged one is logged and recomputed).
* Read-only caches: :func:`writable` tells whether a folder accepts new files; :func:`entry_lock` holds an
  entry's file lock or raises :class:`~latentatlas.errors.ReadOnlyCacheError` saying which folder to pass.
* :func:`content_key`: the one way a cache entry is named (sha256 of canonical JSON).
* Safe readers: ``.npy`` without pickles, torch checkpoints with tensors only, strict YAML, text with a
  named encoding; each failure is one :class:`~latentatlas.errors.BadInputError` line.
* :func:`timed`: seconds spent in a stage, added to a timings dict.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import CacheCorruptError, ReadOnlyCacheError

log = logging.getLogger(__name__)

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
    """Call ``writer(tmp_path)`` then move the result onto ``path`` atomically (same directory).

    The file gets mode ``0o666 & ~umask``; the first write into a folder in this process first removes
    the stale temporaries a killed writer left there (:func:`remove_stale_temps`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _tidy_once(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


#: The first bytes of a .npy file and of a zip archive (an .npz file is a zip of .npy files).
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


# -- modes and temporaries -------------------------------------------------------------------------

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (``/proc/self/status``);
    elsewhere set and restored at once under a lock (``os.umask`` can only be read by setting it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a new file as ``open`` would create it: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Mode of a new folder as ``mkdir`` would create it: ``0o777 & ~umask``."""
    return 0o777 & ~current_umask()


def apply_umask(folder: str | Path, pattern: str | None = None) -> None:
    """Give the files under ``folder`` mode ``0o666 & ~umask`` and its folders (itself included)
    ``0o777 & ~umask``, as ``open`` and ``mkdir`` would; with ``pattern`` only the files matching it
    (``folder.rglob(pattern)``), folders untouched. Libraries that write model folders create some
    files 0600 (safetensors), ``mkdtemp`` its folder 0700."""
    fmode, dmode = file_mode(), dir_mode()
    if pattern is not None:
        for path in Path(folder).rglob(pattern):
            os.chmod(path, fmode)
        return
    os.chmod(folder, dmode)
    for dirpath, dirnames, filenames in os.walk(folder):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), dmode)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), fmode)


TEMP_SUFFIX = ".tmp"
#: A temporary of another host, or of a version without owner tags, is stale once nothing in it has
#: changed for this long (a live writer keeps touching its file).
STALE_AFTER_S = 3600.0
_TEMP = re.compile(r"^\.(?P<target>.+?)\.(?:(?P<pid>\d+)-(?P<host>[0-9a-f]{8})\.)?[a-z0-9_]+\.tmp$")


@functools.lru_cache(maxsize=1)
def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temp_prefix(name: str) -> str:
    """``.<name>.<pid>-<host>.``: the start of a temporary's name (file or folder) for target ``name``."""
    return f".{name}.{os.getpid()}-{_host_tag()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _last_change(path: Path) -> float:
    """Latest mtime of ``path`` and, for a folder, of what is directly inside it."""
    latest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        with os.scandir(path) as it:
            for e in it:
                with contextlib.suppress(OSError):
                    latest = max(latest, e.stat(follow_symlinks=False).st_mtime)
    return latest


def _stale(path: Path, now: float) -> bool:
    m = _TEMP.match(path.name)
    if m is None:
        return False
    if m["pid"] is not None and m["host"] == _host_tag():
        return not _alive(int(m["pid"]))
    return now - _last_change(path) > STALE_AFTER_S


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temporaries of this project's naming in ``folder`` (not below) whose writer is gone.

    Stale: the owner tag names a process of this host that no longer runs, or (another host's, or an
    untagged one of an earlier version) nothing in it changed for :data:`STALE_AFTER_S`. A live
    writer's temporary is never touched. Returns what was removed (each logged); a folder we may not
    write to is left alone.
    """
    folder = Path(folder)
    if not folder.is_dir() or not writable(folder):
        return []
    now = time.time()
    removed = []
    for path in sorted(folder.iterdir()):
        try:
            if not _stale(path, now):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:  # gone already (another process cleaned it), or not ours to remove
            continue
        log.info("removed stale temporary %s", path)
        removed.append(path)
    return removed


_TIDIED: set[str] = set()


def _tidy_once(folder: Path) -> None:
    key = f"{os.getpid()}:{folder.resolve()}"
    if key not in _TIDIED:
        _TIDIED.add(key)
        remove_stale_temps(folder)


# -- read-only caches ------------------------------------------------------------------------------


def writable(folder: str | Path) -> bool:
    """Whether new files can be created in ``folder`` (when it does not exist yet: in the nearest
    existing folder above it, where it would be made). False on a read-only mount, also for root."""
    p = Path(folder).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return os.access(p, os.W_OK | os.X_OK)


def read_only_error(cache_root: str | Path, what: str) -> ReadOnlyCacheError:
    """The one-line error for an entry that a read-only cache lacks (or holds damaged)."""
    return ReadOnlyCacheError(
        f"the cache folder {str(cache_root)!r} is read-only and {what}; pass a writable cache folder "
        "(the study's `cache:` or --cache; copy this one there to reuse its complete entries)."
    )


@contextlib.contextmanager
def entry_lock(lock_path: str | Path, cache_root: str | Path, what: str) -> Iterator[None]:
    """Hold the file lock ``lock_path`` for writing a cache entry; in a folder that refuses the lock
    file (read-only mount, no permission) raise :func:`read_only_error` instead of a traceback."""
    from filelock import FileLock

    lock = FileLock(str(lock_path))
    try:
        lock.acquire()
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise read_only_error(cache_root, what) from None
        raise
    try:
        yield
    finally:
        lock.release()


_WARNED_READ_ONLY: set[str] = set()


def warn_read_only(folder: str | Path, what: str) -> None:
    """Log once per folder that ``what`` cannot be kept in the read-only ``folder``."""
    key = str(Path(folder).absolute())
    if key not in _WARNED_READ_ONLY:
        _WARNED_READ_ONLY.add(key)
        log.warning("cache folder %s is read-only: new %s entries are computed but not kept; pass a writable "
                    "cache folder (the study's `cache:` or --cache) to keep them", key, what)


# -- sealed entries --------------------------------------------------------------------------------

SUMS_FILE = "SHA256SUMS"
SUM_SUFFIX = ".sha256"


@functools.lru_cache(maxsize=4096)
def _sha256(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    del size, mtime_ns, ctime_ns, inode  # cache key only: a rewritten file gets a new entry
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's content, memoised on (path, size, mtime, ctime, inode): a process hashes each
    file once (MiniLM's 90 MB take a fraction of a second), and any rewrite, even in place, is hashed again."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return _sha256(real, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SUM_SUFFIX)


def _folder_files(folder: Path) -> list[str]:
    """Relative paths (``/``-separated, sorted) of the regular files of ``folder``, at any depth; names
    starting with a dot (our temporaries) and the checksum file itself are left out."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(folder)
        for name in filenames:
            if not name.startswith(".") and not (rel == Path(".") and name == SUMS_FILE):
                found.append((rel / name).as_posix())
    return sorted(found)


def seal(path: str | Path) -> Path:
    """Record the sha256 of a finished entry: a file in ``<name>.sha256`` beside it, a folder in
    ``SHA256SUMS`` inside it (one ``<sha256>  <relative path>`` line per file, ``sha256sum -c`` format).
    Write it last: an entry without its checksum file is unfinished. Returns the checksum file."""
    path = Path(path)
    if path.is_dir():
        lines = [f"{file_sha256(path / rel)}  {rel}\n" for rel in _folder_files(path)]
        return atomic_write_text(path / SUMS_FILE, "".join(lines))
    return atomic_write_text(_sidecar(path), f"{file_sha256(path)}  {path.name}\n")


def _read_sums(sums: Path) -> dict[str, str]:
    try:
        text = sums.read_text(encoding="utf-8")
    except FileNotFoundError:
        why = f"it has no {sums.name} (unfinished, or written before entries were sealed)"
        raise CacheCorruptError(why) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CacheCorruptError(f"its {sums.name} is unreadable ({exc})") from None
    out = {}
    for line in text.splitlines():
        digest, sep, rel = line.partition("  ")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", digest) or not rel:
            raise CacheCorruptError(f"its {sums.name} is malformed")
        out[rel] = digest
    return out


def verify_seal(path: str | Path) -> None:
    """Check an entry against its checksum file; raise :class:`CacheCorruptError` saying what is wrong
    (no checksum file, a file missing, added or failing its sha256)."""
    path = Path(path)
    if path.is_dir():
        expected = _read_sums(path / SUMS_FILE)
        present = _folder_files(path)
        extra = sorted(set(present) - set(expected))
        if extra:
            raise CacheCorruptError(f"{extra[0]} is not part of the entry")
        for rel, digest in expected.items():
            if rel not in present:
                raise CacheCorruptError(f"{rel} is missing")
            if file_sha256(path / rel) != digest:
                raise CacheCorruptError(f"{rel} fails its sha256 checksum")
        return
    expected = _read_sums(_sidecar(path))
    if list(expected) != [path.name]:
        raise CacheCorruptError(f"its {_sidecar(path).name} is for another file")
    if not path.is_file():
        raise CacheCorruptError(f"{path.name} is missing")
    if file_sha256(path) != expected[path.name]:
        raise CacheCorruptError(f"{path.name} fails its sha256 checksum")


def discard(path: str | Path) -> None:
    """Remove a cache entry (a folder, or a file and its checksum file); nothing in a read-only folder."""
    path = Path(path)
    if not writable(path.parent):
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
        _sidecar(path).unlink(missing_ok=True)


def entry_intact(path: str | Path, what: str) -> bool:
    """Whether the single-file cache entry ``path`` is there and matches its checksum. A damaged entry
    (altered, truncated, or without its checksum file) is logged as a warning naming it, and the caller
    recomputes it (:func:`write_sealed` then replaces it); a missing one is simply False."""
    path = Path(path)
    if not path.exists():  # also a checksum file whose entry a writer is about to move in
        return False
    try:
        verify_seal(path)
    except CacheCorruptError as exc:
        log.warning("%s %s is damaged (%s); recomputing it", what, path, exc)
        return False
    return True


def write_sealed(path: str | Path, writer: Callable[[Path], None], what: str) -> bool:
    """Write a single-file cache entry atomically with its checksum file (written first, from the
    temporary, so the entry never appears without it); in a read-only cache folder write nothing (one
    warning per folder). Returns whether the entry was kept."""
    path = Path(path)
    if not writable(path.parent):
        warn_read_only(path.parent, what)
        return False

    def write_then_seal(tmp: Path) -> None:
        writer(tmp)
        atomic_write_text(_sidecar(path), f"{file_sha256(tmp)}  {path.name}\n")

    atomic_write(path, write_then_seal)
    return True


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
