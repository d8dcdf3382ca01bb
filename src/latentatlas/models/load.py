"""Loading models: a spec resolves to (encoder, tokenizer) and a fingerprint of the exact weights.

Variants are built from their base, written atomically to ``<cache>/models/<fingerprint>/`` and reloaded
from there; ``zoo:`` bases are pre-trained on first use (:mod:`latentatlas.pretrain.zoo`).
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
from ..errors import MissingAssetError
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


@lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """Content hash of a weight file; memoised on (path, size, mtime) so a study hashes each file once."""
    del size, mtime_ns  # cache key only: a rewritten file gets a new entry
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
            weights.append((p.name, st.st_size, _file_sha256(str(p.resolve()), st.st_size, st.st_mtime_ns)))
    return {"config": json.loads((path / "config.json").read_text()), "weights": weights}


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
        raise MissingAssetError(f"model folder {where!r} could not be loaded: {exc}") from None
    return model.eval(), tokenizer


@lru_cache(maxsize=2)
def _load_base(base: str, cache_dir: str | None = None) -> tuple[nn.Module, Any]:
    where = base_path(base, cache_dir)
    return _from_pretrained(where, base_kind(base) == "hub")


def load_model(spec: str | ModelSpec, *, cache_dir: Path | str | None = None) -> LoadedModel:
    """Resolve ``spec`` to a :class:`LoadedModel` (eval mode), building and caching variants.

    Variants are written to ``cache_dir/models/<fingerprint>/`` (atomically) and reloaded from there on
    later calls; without ``cache_dir`` they are rebuilt each time.
    """
    spec = ModelSpec.parse(spec)
    root = None if cache_dir is None else str(cache_dir)
    fp = fingerprint(spec, root)
    if spec.variant is None:
        model, tokenizer = _load_base(spec.base, root)
        return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, fingerprint=fp)
    cached = Path(cache_dir) / "models" / fp if cache_dir is not None else None
    if cached is not None and (cached / "config.json").is_file():
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
        _save_atomically(model, tokenizer, cached)
    return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, fingerprint=fp)


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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = ["LoadedModel", "base_path", "fingerprint", "lazy_model", "load_model"]
