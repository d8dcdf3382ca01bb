"""Word occurrences to cluster: word-level vectors and seeded per-type occurrence sampling.

Following the ConceptX line of work (Mousi et al. 2023, §3): types seen fewer than ``min_per_type``
times are dropped and each kept type contributes at most ``max_per_type`` occurrences. Unlike the public
``frequency_filter_data.py``, which keeps the *first* occurrences in corpus order (biased towards early
documents), the occurrences are drawn uniformly at random with an explicit seed.

Occurrences are identified by ``(sentence_id, word_id)`` (the fast tokenizer's word index), so two
models are compared on the identical occurrences: :func:`shared_occurrences` checks that both stores
split the sentences into the same words and samples once.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd

from ...errors import BadInputError
from ...store.store import ActivationStore, word_vectors

log = logging.getLogger(__name__)

Aggregation = Literal["first", "last", "mean"]

#: Subword markers removed when rebuilding a word's surface string from its tokens
#: (WordPiece continuation ``##``, byte-level BPE space ``Ġ``, SentencePiece space ``▁``).
SUBWORD_MARKERS: tuple[str, ...] = ("##", "Ġ", "▁")
OCCURRENCE_KEYS = ["sentence_id", "word_id"]


def word_table(store: ActivationStore) -> pd.DataFrame:
    """One row per word of the store (special tokens excluded), in store order.

    Columns: ``sentence_id``, ``word_id``, ``word`` (the subword tokens joined with the markers of
    :data:`SUBWORD_MARKERS` removed, i.e. the word as the model's tokenizer sees it) and
    ``n_subwords``.
    """
    t = store.tokens
    keep = (~t["is_special"].to_numpy()) & (t["word_id"].to_numpy() >= 0)
    t = t.loc[keep, ["sentence_id", "word_id", "token"]]
    pattern = "^(?:" + "|".join(map(_escape, SUBWORD_MARKERS)) + ")"
    pieces = t["token"].astype(str).str.replace(pattern, "", regex=True)
    grouped = pieces.groupby([t["sentence_id"].to_numpy(), t["word_id"].to_numpy()], sort=False)
    words = grouped.agg("".join)
    counts = grouped.size()
    return pd.DataFrame(
        {
            "sentence_id": words.index.get_level_values(0).astype(np.int64),
            "word_id": words.index.get_level_values(1).astype(np.int64),
            "word": words.to_numpy(),
            "n_subwords": counts.to_numpy().astype(np.int64),
        }
    )


def _escape(marker: str) -> str:
    import re

    return re.escape(marker)


def sample_occurrences(
    words: pd.DataFrame, *, max_per_type: int = 10, min_per_type: int = 5, seed: int = 0
) -> pd.DataFrame:
    """Seeded occurrence sample: types with ≥ ``min_per_type`` occurrences, ≤ ``max_per_type`` each.

    ``words`` has at least the columns ``sentence_id``, ``word_id``, ``word`` (e.g. :func:`word_table`).
    Each type with more than ``max_per_type`` occurrences keeps a uniformly random subset of them (one
    random permutation of all rows from ``seed``, then the first ``max_per_type`` per type in that
    order). Returns the selected rows in corpus order (sorted by sentence and word), index reset.
    """
    if max_per_type < 1 or min_per_type < 1:
        raise BadInputError(
            f"max_per_type={max_per_type} and min_per_type={min_per_type} must both be at least 1; "
            "pass positive occurrence counts."
        )
    missing = {"sentence_id", "word_id", "word"} - set(words.columns)
    if missing:
        raise BadInputError(f"the word table lacks columns {sorted(missing)}; build it with word_table(store).")
    counts = words["word"].map(words["word"].value_counts())
    pool = words.loc[counts.to_numpy() >= min_per_type]
    order = np.random.default_rng(seed).permutation(len(pool))
    shuffled = pool.iloc[order]
    rank = shuffled.groupby("word", sort=False).cumcount().to_numpy()
    chosen = shuffled.loc[rank < max_per_type] if len(shuffled) else shuffled
    out = chosen.sort_values(OCCURRENCE_KEYS, kind="stable").reset_index(drop=True)
    log.info(
        "sampled %d occurrences of %d types (min %d, max %d per type, seed %d)",
        len(out), out["word"].nunique(), min_per_type, max_per_type, seed,
    )
    return out


def check_same_words(words_a: pd.DataFrame, words_b: pd.DataFrame, names: tuple[str, str] = ("A", "B")) -> None:
    """Raise :class:`BadInputError` unless two word tables split the corpus into identical words."""
    a = words_a[["sentence_id", "word_id", "word"]].reset_index(drop=True)
    b = words_b[["sentence_id", "word_id", "word"]].reset_index(drop=True)
    if len(a) == len(b) and a.equals(b):
        return
    merged = a.merge(b, on=OCCURRENCE_KEYS, how="outer", suffixes=("_a", "_b"), indicator=True)
    bad = merged.loc[(merged["_merge"] != "both") | (merged["word_a"] != merged["word_b"])]
    first = bad.sort_values(OCCURRENCE_KEYS).iloc[0] if len(bad) else None
    where = (
        f"; first difference in sentence {int(first['sentence_id'])}, word {int(first['word_id'])}: "
        f"{first['word_a']!r} vs {first['word_b']!r}"
        if first is not None
        else ""
    )
    raise BadInputError(
        f"models {names[0]} and {names[1]} tokenise the words differently ({len(a)} vs {len(b)} words"
        f"{where}); concepts can only be compared on identical occurrences: use models that share a "
        "tokenizer (e.g. a pre-trained model and its fine-tuned copy) on the same sentences."
    )


def shared_occurrences(
    store_a: ActivationStore,
    store_b: ActivationStore,
    *,
    max_per_type: int = 10,
    min_per_type: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """One occurrence sample valid for both stores (which must tokenise the words identically)."""
    if store_a.n_sentences != store_b.n_sentences:
        raise BadInputError(
            f"the stores hold {store_a.n_sentences} and {store_b.n_sentences} sentences; extract both "
            "models on the same corpus."
        )
    wa, wb = word_table(store_a), word_table(store_b)
    check_same_words(wa, wb)
    return sample_occurrences(wa, max_per_type=max_per_type, min_per_type=min_per_type, seed=seed)


def occurrence_vectors(
    store: ActivationStore, layer: int, occurrences: pd.DataFrame, how: Aggregation = "last"
) -> np.ndarray:
    """Word vectors (float32, one row per occurrence, in the order of ``occurrences``) of one layer.

    Subwords are aggregated by ``how`` (first / last / mean subword; ConceptX's default is ``last``).
    """
    vecs, index = word_vectors(store, layer, how)
    table = index[OCCURRENCE_KEYS].astype(np.int64).assign(_row=np.arange(len(index)))
    wanted = occurrences[OCCURRENCE_KEYS].astype(np.int64)
    rows = wanted.merge(table, on=OCCURRENCE_KEYS, how="left")["_row"]
    if rows.isna().any():
        raise BadInputError(
            "some occurrences are not words of this store; sample them from this store's word_table "
            "(or with shared_occurrences for two models)."
        )
    return vecs[rows.to_numpy(dtype=np.int64)]
