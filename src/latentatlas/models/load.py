"""Loading models: a spec resolves to (encoder, tokenizer) and a fingerprint of the exact weights.

Variants are built from their base, written atomically to ``<cache>/models/<fingerprint>/`` with a
``SHA256SUMS`` of every file (:func:`latentatlas.io.seal`) and reloaded from there once the checksums match;
a damaged folder is logged and rebuilt. In a read-only cache a variant that is not there intact is built
in memory and not kept. ``zoo:`` bases are pre-trained on first use (:mod:`latentatlas.pretrain.zoo`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from torch import nn

from ..bundled import bundled_model_dir
from ..errors import BadInputError, CacheCorruptError, MissingAssetError
from ..io import (
    read_text,
    TEMP_SUFFIX,
    apply_umask,
    discard,
    entry_lock,
    file_sha256,
    remove_stale_temps,
    seal,
    temp_prefix,
    verify_seal,
    writable,
)
from ..pretrain.zoo import ensure_zoo_model
from .spec import ModelSpec, base_kind
from .variants import VARIANTS

log = logging.getLogger(__name__)

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".h5", ".msgpack")


class LoadedModel:
    """An encoder in eval mode, its tokenizer, and the identity of its exact weights.

    Built loaded (``LoadedModel(model, tokenizer, spec, fingerprint)``) or deferred (:func:`lazy_model`):
    a deferred one knows its fingerprint and config without loading, and loads its weights on the first
    access to :attr:`model` or :attr:`tokenizer`, so a stage whose results are all cached never loads it.
    """

    def __init__(self, model: nn.Module | None, tokenizer: Any, spec: ModelSpec, fingerprint: str, *,
                 loader: Callable[[], tuple[nn.Module, Any]] | None = None,
                 config: Callable[[], Any] | None = None) -> None:
        if model is None and loader is None:
            raise ValueError("LoadedModel needs a model or a loader")
        self._model, self._tokenizer = model, tokenizer
        self._loader, self._config_loader = loader, config
        self._config: Any = None
        self.spec, self.fingerprint = spec, fingerprint

    def _load(self) -> None:
        if self._model is None:
            assert self._loader is not None
            self._model, self._tokenizer = self._loader()

    @property
    def model(self) -> nn.Module:
        self._load()
        return self._model  # type: ignore[return-value]

    @property
    def tokenizer(self) -> Any:
        self._load()
        return self._tokenizer

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory (False for a deferred model nothing has needed yet)."""
        return self._model is not None

    @property
    def config(self) -> Any:
        """The model's Hugging Face config (read from disk, without the weights, while deferred)."""
        if self._model is not None:
            return self._model.config
        if self._config is None:
            self._config = self._config_loader() if self._config_loader is not None else self.model.config
        return self._config

    @property
    def num_layers(self) -> int:
        return int(self.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.config.hidden_size)

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "deferred"
        return f"LoadedModel({str(self.spec)!r}, {state}, fingerprint={self.fingerprint[:12]})"


def base_path(base: str, cache_dir: Path | str | None = None) -> str:
    """Local folder (bundled, zoo or user) for ``base``, or the hub name itself.

    A ``zoo:`` base is pre-trained into ``cache_dir`` (default ``.latentatlas-cache``) when not there yet."""
    kind = base_kind(base)
    if kind == "zoo":
        return str(ensure_zoo_model(base, cache_dir))
    if kind == "bundled":
        return str(bundled_model_dir(base))
    return str(Path(base).expanduser().resolve()) if kind == "dir" else base


def _folder_identity(path: Path) -> dict[str, Any]:
    """config.json content plus the name and content hash of every weight file.

    Names and sizes alone are not enough: two models of one architecture (a fine-tuned copy, zoo models
    pre-trained with different objectives, random inits) have equal configs and equal file sizes, and
    would share cached activations. Hashing MiniLM's 90 MB takes a fraction of a second, once per process.
    """
    weights = []
    for p in sorted(path.iterdir()):
        if p.suffix in _WEIGHT_SUFFIXES:
            st = p.stat()
            weights.append((p.name, st.st_size, file_sha256(p)))
    return {"config": read_config(path), "weights": weights}


def read_config(folder: str | Path) -> dict[str, Any]:
    """A model folder's config.json as a dict, or a one-line BadInputError naming the folder and the fix."""
    path = Path(folder) / "config.json"
    text = read_text(path, "model config")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"model folder {str(folder)!r} has an invalid config.json ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}); restore the file (save_pretrained writes it) or copy the model folder again."
        ) from None
    if not isinstance(config, dict):
        raise BadInputError(f"model folder {str(folder)!r}: config.json must hold a JSON object; restore the file.")
    return config


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is damaged (header unreadable, data shorter or longer than the header
    says), or None when its size matches its header. Reads the header only."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"{size} bytes, shorter than a header"
        n = int.from_bytes(head, "little")
        if n > size - 8:
            return f"the header claims {n} bytes but the file has {size}"
        try:
            header = json.loads(fh.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "the header is not valid JSON"
    if not isinstance(header, dict):
        return "the header is not a JSON object"
    try:
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (KeyError, TypeError, ValueError, IndexError):
        return "the header lists tensors without data offsets"
    if 8 + n + end != size:
        return f"the header needs {8 + n + end} bytes but the file has {size}"
    return None


def _pickle_problem(path: Path) -> str | None:
    """Why a PyTorch .bin weights file is refused: pickled objects other than tensors (loaded with
    ``weights_only=True``, memory-mapped when it is a zip archive), or damage; None when it loads."""
    import pickle
    import warnings
    import zipfile

    import torch

    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of files it then refuses
            warnings.simplefilter("ignore")
            torch.load(path, weights_only=True, map_location="cpu", mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError:
        return ("it holds pickled objects other than tensors and was refused unread; convert it to "
                "model.safetensors with a tool you trust, or get the model from its original source")
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"it is damaged ({first}); copy the model folder again"
    return None


@lru_cache(maxsize=64)
def _check_folder_files(folder: str, stamp: tuple[tuple[str, int, int], ...]) -> None:
    del stamp  # cache key only: a changed file gets a new check
    path = Path(folder)
    config = read_config(path)
    model_type = config.get("model_type")
    from transformers import CONFIG_MAPPING

    if model_type is not None and model_type not in CONFIG_MAPPING:
        if "auto_map" in config:
            raise BadInputError(
                f"model folder {folder!r} needs its own Python code (config.json has auto_map and model_type "
                f"{model_type!r}); latentatlas never runs code from model folders (no trust_remote_code): use a "
                "model whose architecture transformers implements."
            )
        import transformers

        raise BadInputError(
            f"model folder {folder!r} has model_type {model_type!r}, which transformers {transformers.__version__} "
            "does not know; fix config.json or use a model of a supported architecture."
        )
    weights = sorted(p for p in path.iterdir() if p.suffix == ".safetensors")
    for w in weights:
        problem = _safetensors_problem(w)
        if problem is not None:
            raise BadInputError(
                f"weights file {w.name!r} of model folder {folder!r} is damaged or truncated ({problem}); copy the "
                "model folder again."
            )
    if not weights:  # transformers falls back to PyTorch pickles only without safetensors
        for w in sorted(path.glob("pytorch_model*.bin")):
            problem = _pickle_problem(w)
            if problem is not None:
                raise BadInputError(f"weights file {w.name!r} of model folder {folder!r}: {problem}.")


def check_model_folder(folder: str | Path) -> None:
    """Check a local model folder before any work, without loading the model: config.json is a JSON
    object of an architecture transformers implements (no remote code), every ``.safetensors`` file is
    as long as its header says, and a ``pytorch_model*.bin`` used in their place holds tensors only.
    Each problem is a one-line BadInputError naming the file and the fix. Memoised per file state."""
    path = Path(folder)
    stamp = tuple(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(path.iterdir()) if p.name == "config.json" or p.suffix in _WEIGHT_SUFFIXES
    )
    _check_folder_files(str(path), stamp)


def hidden_size(spec: str | ModelSpec) -> int | None:
    """The width of a model's hidden states, read from its config (a ``zoo:`` model's settings) without
    loading or building it; None for a hub name or a config that does not say. Variants keep the width."""
    from ..pretrain.zoo import zoo_settings

    spec = ModelSpec.parse(spec)
    kind = base_kind(spec.base)
    if kind == "zoo":
        return int(zoo_settings(spec.base).hidden_size)
    if kind == "hub":
        return None
    config = read_config(base_path(spec.base))
    width = next((config[k] for k in ("hidden_size", "d_model", "n_embd", "dim") if k in config), None)
    return int(width) if isinstance(width, int) else None


def check_spec_folders(spec: str | ModelSpec) -> None:
    """:func:`check_model_folder` for every local folder a spec names (its base, a swap_emb source)."""
    spec = ModelSpec.parse(spec)
    if base_kind(spec.base) == "dir":
        check_model_folder(base_path(spec.base))
    if spec.variant == "swap_emb":
        check_spec_folders(dict(spec.params)["source"])


def fingerprint(spec: str | ModelSpec, cache_dir: Path | str | None = None) -> str:
    """sha256 identifying the exact weights a spec denotes (base identity + variant + parameters).

    ``cache_dir``: where ``zoo:`` bases are built (see :func:`base_path`)."""
    spec = ModelSpec.parse(spec)
    kind = base_kind(spec.base)
    if kind == "hub":
        base_id: Any = {"hub": spec.base}
    else:
        base_id = _folder_identity(Path(base_path(spec.base, cache_dir)))
    params = dict(spec.params)
    if spec.variant == "swap_emb":
        params["source"] = fingerprint(params["source"], cache_dir)
    blob = json.dumps({"base": base_id, "variant": spec.variant, "params": params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or os.environ.get(
        "TRANSFORMERS_OFFLINE", ""
    ).lower() in ("1", "true", "yes")


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub endpoint accepts a TCP connection (so an offline machine fails at once)."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _from_pretrained(where: str, is_hub: bool) -> tuple[nn.Module, Any]:
    from transformers import AutoModel, AutoTokenizer

    if not is_hub:
        check_model_folder(where)  # a damaged folder is one line naming the file, not a traceback
    # Offline, a hub name can still come from the local Hugging Face cache; never wait on retries.
    local_only = is_hub and (_offline() or not _hub_reachable())
    try:
        model = AutoModel.from_pretrained(where, local_files_only=local_only)
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local_only)
    except OSError as exc:
        if local_only:
            raise MissingAssetError(
                f"model {where!r} is a Hugging Face Hub name, the Hub cannot be reached from this machine "
                "(offline) and it is not in the local cache; pass a local model folder instead, or "
                "'minilm' for the bundled one."
            ) from None
        if is_hub:
            raise MissingAssetError(
                f"model {where!r} could not be loaded from the Hugging Face Hub ({exc.__class__.__name__}); "
                "it is not available offline: pass a local model folder instead."
            ) from None
        raise MissingAssetError(f"model folder {where!r} could not be loaded: {_first_line(exc)}") from None
    except (ValueError, RuntimeError, KeyError, TypeError, AttributeError, ImportError) as exc:
        # what transformers raises for files it cannot use (refused remote code, a pickle, bad fields)
        what = f"model {where!r}" if is_hub else f"model folder {where!r}"
        raise BadInputError(
            f"{what} could not be loaded by transformers ({type(exc).__name__}: {_first_line(exc)}); check its "
            "config.json, weights and tokenizer files, or copy it again."
        ) from None
    return model.eval(), tokenizer


def _first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message, cut to ``limit`` characters."""
    line = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    return line if len(line) <= limit else line[: limit - 3] + "..."


@lru_cache(maxsize=2)
def _load_base(base: str, cache_dir: str | None = None) -> tuple[nn.Module, Any]:
    where = base_path(base, cache_dir)
    return _from_pretrained(where, base_kind(base) == "hub")


def forget_loaded_models() -> None:
    """Drop the in-process memo of base models, so the next :func:`load_model` reads their folders again
    (as a new process would: after a model folder changed on disk)."""
    _load_base.cache_clear()


def load_model(spec: str | ModelSpec, *, cache_dir: Path | str | None = None) -> LoadedModel:
    """Resolve ``spec`` to a :class:`LoadedModel` (eval mode), building and caching variants.

    Variants are written to ``cache_dir/models/<fingerprint>/`` (atomically, sealed with the sha256 of
    every file) and reloaded from there on later calls once the checksums match; a damaged copy is
    logged and rebuilt. Without ``cache_dir``, or in a read-only one lacking the variant, they are built
    each time.
    """
    spec = ModelSpec.parse(spec)
    root = None if cache_dir is None else str(cache_dir)
    fp = fingerprint(spec, root)
    if spec.variant is None:
        model, tokenizer = _load_base(spec.base, root)
        return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, fingerprint=fp)
    cached = Path(cache_dir) / "models" / fp if cache_dir is not None else None
    if cached is not None and _intact(cached, spec):
        log.info("loading cached variant %s from %s", spec, cached)
        model, tokenizer = _from_pretrained(str(cached), is_hub=False)
        return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, fingerprint=fp)
    base_model, tokenizer = _load_base(spec.base, root)
    log.info("building variant %s", spec)
    variant = VARIANTS[spec.variant]
    model = variant.build(
        base_model, **dict(spec.params), resolve=lambda s: load_model(s, cache_dir=cache_dir).model
    ).eval()
    if cached is not None:
        if writable(cached.parent):
            with entry_lock(f"{cached}.lock", cache_dir, f"lacks the variant {spec}"):
                if not _intact(cached, spec, quiet=True):  # another process may have saved it meanwhile
                    discard(cached)
                    _save_atomically(model, tokenizer, cached)
        else:  # cheap to build again; a stage that needs it on disk says so itself
            log.info("read-only cache: variant %s built in memory, not kept", spec)
    return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, fingerprint=fp)


def _intact(folder: Path, spec: ModelSpec, quiet: bool = False) -> bool:
    """Whether the cached variant folder is there and matches its checksums (a damaged one is logged)."""
    if not folder.exists():
        return False
    try:
        verify_seal(folder)
    except CacheCorruptError as exc:
        if not quiet:
            log.warning("cached variant %s in %s is damaged (%s); rebuilding it", spec, folder, exc)
        return False
    return True


def lazy_model(spec: str | ModelSpec, *, cache_dir: Path | str | None = None) -> LoadedModel:
    """``spec`` as a deferred :class:`LoadedModel`: fingerprint and config now, weights on first use.

    The fingerprint comes from the weight files (:func:`fingerprint`, no model built); the config from
    the base's ``config.json`` (a variant keeps its base's architecture). Loading, when something needs
    the weights, is :func:`load_model` (variants built and cached as there).
    """
    spec = ModelSpec.parse(spec)
    root = None if cache_dir is None else str(cache_dir)
    return LoadedModel(None, None, spec, fingerprint(spec, root),
                       loader=lambda: _weights(spec, cache_dir), config=lambda: _base_config(spec.base, root))


def _weights(spec: ModelSpec, cache_dir: Path | str | None) -> tuple[nn.Module, Any]:
    lm = load_model(spec, cache_dir=cache_dir)
    return lm.model, lm.tokenizer


def _base_config(base: str, cache_dir: str | None) -> Any:
    from transformers import AutoConfig

    is_hub = base_kind(base) == "hub"
    local_only = is_hub and (_offline() or not _hub_reachable())
    try:
        return AutoConfig.from_pretrained(base_path(base, cache_dir), local_files_only=local_only)
    except OSError:  # the full load reports it in one line, naming the fix
        return load_model(base, cache_dir=cache_dir).model.config


def _save_atomically(model: nn.Module, tokenizer: Any, target: Path) -> None:
    """Save into a temporary sibling folder, seal it, then rename it onto ``target`` in one step."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target.parent)  # folders of builds killed before their rename
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), suffix=TEMP_SUFFIX, dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        apply_umask(tmp)  # mkdtemp makes it 0700 and safetensors its file 0600: modes as the umask says
        seal(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = ["LoadedModel", "base_path", "check_model_folder", "check_spec_folders", "fingerprint", "forget_loaded_models",
           "hidden_size",
           "lazy_model", "load_model", "read_config"]
