"""Pre-training data: corpus transforms (registry) and packing of tokenised sentences into blocks.

Corpus transforms (:data:`CORPUS_TRANSFORMS`), all seeded, applied to whitespace words before
tokenisation:

* ``none``: the sentences as they are.
* ``shuffle_sentence``: the word order inside every sentence is permuted (Sinha et al. 2021, "Masked
  language modeling and the distributional hypothesis": word-order-shuffled pre-training). The bag of
  words of every sentence is kept, its order is destroyed.
* ``shuffle_corpus``: all words of the corpus are permuted across sentences, sentence lengths kept
  (Sinha et al.'s corpus-level unigram control): unigram frequencies survive, co-occurrence does not.

Packing: sentences are tokenised without special tokens and concatenated, each followed by [SEP];
the stream is cut into blocks of ``seq_len − 1`` tokens, each prefixed with [CLS]; the last partial block
is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..errors import BadInputError
from ..registry import Registry


def _words(sentences: Sequence[str]) -> list[list[str]]:
    return [s.split() for s in sentences]


def keep(sentences: Sequence[str], seed: int) -> list[str]:
    return list(sentences)


def shuffle_sentence(sentences: Sequence[str], seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(w[i] for i in rng.permutation(len(w))) for w in _words(sentences)]


def shuffle_corpus(sentences: Sequence[str], seed: int) -> list[str]:
    words = _words(sentences)
    flat = [x for w in words for x in w]
    perm = np.random.default_rng(seed).permutation(len(flat))
    out, pos = [], 0
    for w in words:
        out.append(" ".join(flat[i] for i in perm[pos : pos + len(w)]))
        pos += len(w)
    return out


CORPUS_TRANSFORMS: Registry[Callable[[Sequence[str], int], list[str]]] = Registry.of("corpus transform", {
    "none": keep,
    "shuffle_sentence": shuffle_sentence,
    "shuffle_corpus": shuffle_corpus,
})


def pack_blocks(sentences: Sequence[str], tokenizer: object, seq_len: int, *, min_blocks: int) -> torch.Tensor:
    """Token-id blocks (n_blocks × seq_len), each [CLS] + seq_len−1 tokens of the [SEP]-joined stream.

    Raises BadInputError when the corpus yields fewer than ``min_blocks`` blocks.
    """
    if seq_len < 8:
        raise BadInputError(f"--seq-len {seq_len} is too short (seq_len= in a zoo: spec); use at least 8 tokens "
                            "(default 64).")
    ids = tokenizer(list(sentences), add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    sep, cls = tokenizer.sep_token_id, tokenizer.cls_token_id  # type: ignore[attr-defined]
    stream = np.fromiter((t for seq in ids for t in (*seq, sep)), dtype=np.int64)
    body = seq_len - 1
    n_blocks = stream.size // body
    if n_blocks < min_blocks:
        raise BadInputError(
            f"the pre-training corpus has {stream.size} tokens, which give {n_blocks} blocks of {seq_len} tokens, "
            f"but training needs at least {min_blocks} (one batch plus held-out blocks); use more sentences "
            "(--n-sentences) or a shorter --seq-len (n_sentences= and seq_len= in a zoo: spec)."
        )
    blocks = stream[: n_blocks * body].reshape(n_blocks, body)
    return torch.as_tensor(np.concatenate([np.full((n_blocks, 1), cls), blocks], axis=1))
