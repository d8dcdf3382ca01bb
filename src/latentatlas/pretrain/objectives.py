"""Pre-training objectives (registry :data:`OBJECTIVES`), after Alajrami & Aletras (ACL 2022) and
Sinha et al. (EMNLP 2021).

All objectives share BERT's corruption (Devlin et al. 2019): 15% of the ordinary tokens of a block are
selected; of those 80% become [MASK], 10% a random token, 10% stay. They differ in the corpus
(:data:`latentatlas.pretrain.data.CORPUS_TRANSFORMS`) and in the *target* predicted at a selected
position, always through the same BertForMaskedLM head (a softmax over the vocabulary), so every model
is saved with a usable LM head:

* ``mlm``: the original token (standard masked language modelling).
* ``mlm_shuffle_sentence``: the original token, on sentences whose word order was shuffled (Sinha et al.).
* ``mlm_shuffle_corpus``: the original token, on a corpus whose words were shuffled across sentences.
* ``first_char``: the first character of the original token (lower-cased, WordPiece "##" stripped),
  as the vocabulary id of that one-character token (Alajrami & Aletras' "First Char": a ~30-way task).
* ``random``: a label drawn uniformly from 5 fixed label tokens, independently for every selected
  position (Alajrami & Aletras' non-linguistic control: the target carries no information about the
  input, so any structure the encoder learns comes from the corruption alone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..registry import Registry

MASK_RATE = 0.15
RANDOM_LABELS = ("0", "1", "2", "3", "4")
Targets = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def _identity(tokenizer: Any) -> Targets:
    return lambda original, selected, gen: original[selected]


def _first_char(tokenizer: Any) -> Targets:
    vocab: dict[str, int] = tokenizer.get_vocab()
    unk = tokenizer.unk_token_id
    table = torch.full((len(tokenizer),), unk, dtype=torch.long)
    for token, idx in vocab.items():
        bare = token[2:] if token.startswith("##") and len(token) > 2 else token
        table[idx] = vocab.get(bare[0].lower(), unk) if bare else unk
    return lambda original, selected, gen: table[original[selected]]


def _random_label(tokenizer: Any) -> Targets:
    vocab = tokenizer.get_vocab()
    labels = torch.tensor([vocab[t] for t in RANDOM_LABELS], dtype=torch.long)

    def targets(original: torch.Tensor, selected: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = int(selected.sum())
        return labels[torch.randint(len(labels), (n,), generator=gen)]

    return targets


@dataclass(frozen=True)
class Objective:
    """A pre-training objective: which corpus transform, and which target at a selected position."""

    name: str
    transform: str
    targets: Callable[[Any], Targets]
    summary: str


OBJECTIVES: Registry[Objective] = Registry.of("pre-training objective", hint="Objectives: mlm, mlm_shuffle_sentence, mlm_shuffle_corpus, first_char, random.", items={
    o.name: o
    for o in (
        Objective("mlm", "none", _identity, "standard masked-token prediction"),
        Objective("mlm_shuffle_sentence", "shuffle_sentence", _identity, "MLM on word-order-shuffled sentences"),
        Objective("mlm_shuffle_corpus", "shuffle_corpus", _identity, "MLM on words shuffled across sentences"),
        Objective("first_char", "none", _first_char, "predict the first character of the masked token"),
        Objective("random", "none", _random_label, "predict a random label (5 classes) per masked token"),
    )
})


def corrupt(
    blocks: torch.Tensor, special_ids: torch.Tensor, vocab_size: int, mask_id: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT corruption of a batch: (inputs, selected) with selected the positions to predict.

    Every ordinary (non-special) position is selected with probability 15%; at least one per batch.
    Selected positions become [MASK] (80%), a random ordinary token (10%) or stay (10%).
    """
    ordinary = ~torch.isin(blocks, special_ids)
    selected = (torch.rand(blocks.shape, generator=gen) < MASK_RATE) & ordinary
    if not bool(selected.any()):
        selected.view(-1)[int(torch.nonzero(ordinary.view(-1))[0])] = True
    u = torch.rand(blocks.shape, generator=gen)
    inputs = blocks.clone()
    inputs[selected & (u < 0.8)] = mask_id
    swap = selected & (u >= 0.8) & (u < 0.9)
    inputs[swap] = torch.randint(vocab_size, (int(swap.sum()),), generator=gen)
    return inputs, selected
