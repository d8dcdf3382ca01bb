"""Model specs: the string that names a model, parsed and validated without loading anything.

Grammar: ``BASE`` or ``BASE@VARIANT(key=value,...)`` where BASE is ``minilm`` (the bundled
all-MiniLM-L6-v2), ``zoo:OBJECTIVE(key=value,...)`` (a miniature model pre-trained on the bundled corpus
on first use, :mod:`latentatlas.pretrain.zoo`), a local Hugging Face folder, or a hub name (needs
internet). Examples::

    minilm
    minilm@perturb(alpha=10,seed=1)
    zoo:mlm_shuffle_sentence(steps=200)
    /data/my-bert@random_init(seed=0)
    minilm@swap_emb(source=/data/other-bert)

Parameters are stored sorted, so ``@perturb(seed=0,alpha=10)`` and ``@perturb(alpha=10,seed=0)`` are one
spec (``str(ModelSpec.parse(text))`` is the normal form).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundled import BUNDLED_MODELS
from ..errors import BadInputError, UnknownNameError
from ..pretrain.zoo import is_zoo, zoo_settings
from .variants import REQUIRED, VARIANTS

_SPEC = re.compile(r"^(?P<base>[^@]+?)(?:@(?P<variant>\w+)(?:\((?P<args>.*)\))?)?$")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


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


def base_kind(base: str) -> str:
    """``bundled``, ``zoo``, ``dir`` or ``hub``; BadInputError for a base that is none of them."""
    if base in BUNDLED_MODELS:
        return "bundled"
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
        base_kind(base)
        if variant is None:
            return cls(base=base)
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


__all__ = ["ModelSpec", "base_kind"]
