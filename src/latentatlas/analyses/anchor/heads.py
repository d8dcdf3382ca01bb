"""Language-model heads: load a model *with* its LM head and read f(x), the exact decoder input.

Two head kinds are registered (:data:`HEAD_KINDS`):

* ``masked``: BERT-type masked-LM heads (``*ForMaskedLM``, ``*ForPreTraining``). The decoder input is
  the output of the head's transform (dense → activation → LayerNorm); logits = W f + b with the
  output bias b.
* ``causal``: GPT-2-style heads (``*LMHeadModel``, ``*ForCausalLM``): f is the final hidden state after
  the last layer norm (and any projection), logits = W f (no bias).

In both cases f(x) is captured by a forward hook on ``model.get_output_embeddings()``, so it is exactly
what the decoder multiplies, whatever the architecture puts in front of it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...errors import BadInputError, MissingAssetError
from ...registry import Registry

log = logging.getLogger(__name__)

_NO_HEAD_FIX = (
    "the anchor analysis needs a model with a language-model head: train one with `latentatlas pretrain` "
    "(it saves BertForMaskedLM folders) or pass a local Hugging Face folder saved with its masked-LM or "
    "causal-LM head (config.json architectures like 'BertForMaskedLM' or 'GPT2LMHeadModel')."
)


@dataclass(frozen=True)
class HeadKind:
    """How to recognise and load one family of LM heads."""

    name: str
    suffixes: tuple[str, ...]
    loader: Callable[[str], Any]
    head_prefixes: tuple[str, ...]  # parameter-name prefixes that belong to the head


def _masked(where: str) -> Any:
    from transformers import AutoModelForMaskedLM

    return AutoModelForMaskedLM.from_pretrained(where, output_loading_info=True)


def _causal(where: str) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(where, output_loading_info=True)


HEAD_KINDS: Registry[HeadKind] = Registry.of("language-model head kind", {
    "masked": HeadKind("masked", ("ForMaskedLM", "ForPreTraining"), _masked, ("cls.", "lm_head.", "predictions.")),
    "causal": HeadKind("causal", ("LMHeadModel", "ForCausalLM"), _causal, ("lm_head.",)),
})


@dataclass
class LMWithHead:
    """A language model in eval mode, its tokenizer, and its decoder W (V × d) and bias b (V,)."""

    model: Any
    tokenizer: Any
    kind: str
    name: str

    @property
    def decoder(self) -> torch.nn.Module:
        return self.model.get_output_embeddings()

    @property
    def weight(self) -> torch.Tensor:
        return self.decoder.weight.detach()

    @property
    def bias(self) -> torch.Tensor:
        b = getattr(self.decoder, "bias", None)
        return b.detach() if b is not None else torch.zeros(self.weight.shape[0], dtype=self.weight.dtype)

    @torch.no_grad()
    def features(self, **inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(f, logits) for a tokenised batch: f = the decoder's input (B, T, d), logits (B, T, V)."""
        seen: list[torch.Tensor] = []
        handle = self.decoder.register_forward_hook(lambda _m, args, _out: seen.append(args[0].detach()))
        try:
            out = self.model(**inputs)
        finally:
            handle.remove()
        if len(seen) != 1:
            raise BadInputError(f"model {self.name!r}: the decoder ran {len(seen)} times in one forward pass.")
        return seen[0], out.logits.detach()


def head_kind(config: dict[str, Any], name: str) -> HeadKind:
    """The registered head kind of a config.json, or BadInputError when it has no LM head."""
    archs = config.get("architectures") or []
    for kind in HEAD_KINDS.values():
        if any(a.endswith(s) for a in archs for s in kind.suffixes):
            return kind
    raise BadInputError(
        f"model {name!r} has no language-model head (its config.json architectures are {archs or 'unset'}); "
        + _NO_HEAD_FIX
    )


def load_lm(spec: str) -> LMWithHead:
    """Load ``spec`` (``minilm``, a local folder, or a hub name) with its LM head, in eval mode.

    Raises BadInputError when the checkpoint has no trained LM head (architectures, or head weights
    missing from the saved file: a random head would make the analysis meaningless).
    """
    from transformers import AutoTokenizer

    from ...models import ModelSpec, base_path

    parsed = ModelSpec.parse(spec)
    if parsed.variant is not None:
        raise BadInputError(
            f"model spec {spec!r}: variants change the encoder only and leave no trained LM head; pass a "
            "plain folder. " + _NO_HEAD_FIX
        )
    where = base_path(parsed.base)
    config_file = Path(where) / "config.json"
    if not config_file.is_file():
        raise MissingAssetError(f"model {spec!r} is not a local folder with config.json; " + _NO_HEAD_FIX)
    kind = head_kind(json.loads(config_file.read_text()), spec)
    model, info = kind.loader(where)
    missing = [k for k in info.get("missing_keys", []) if k.startswith(kind.head_prefixes)]
    if missing:
        raise BadInputError(
            f"model {spec!r}: the language-model head weights {missing[:3]} are missing from the checkpoint; "
            + _NO_HEAD_FIX
        )
    tokenizer = AutoTokenizer.from_pretrained(where)
    log.info("loaded %s with a %s LM head (vocabulary %d)", spec, kind.name, model.get_output_embeddings().weight.shape[0])
    return LMWithHead(model=model.eval(), tokenizer=tokenizer, kind=kind.name, name=str(spec))
