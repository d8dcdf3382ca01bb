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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from torch import nn

from ..bundled import bundled_model_dir
from ..errors import CacheCorruptError, MissingAssetError
from ..io import (
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


@dataclass
class LoadedModel:
    """An encoder in eval mode, its tokenizer, and the identity of its exact weights."""

    model: nn.Module
    tokenizer: Any
    spec: ModelSpec
    fingerprint: str

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


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


__all__ = ["LoadedModel", "base_path", "fingerprint", "load_model"]
