"""Occurrence sampling: word strings, per-type caps, seeded (not first-m) draws, shared occurrences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentatlas.analyses.concepts.sample import (
    check_same_words,
    occurrence_vectors,
    sample_occurrences,
    shared_occurrences,
    word_table,
)
from latentatlas.errors import BadInputError
from latentatlas.settings import ExtractionSettings
from latentatlas.store import ActivationStore, word_vectors


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(tiny_bert_dir).eval(), AutoTokenizer.from_pretrained(tiny_bert_dir)


def _store(root: Path, model, tok, sentences: list[str], key: str = "tiny") -> ActivationStore:  # type: ignore[no-untyped-def]
    return ActivationStore.build_or_open(
        root, model, tok, sentences, model_key=key, options=ExtractionSettings(dtype="float32"), progress=False
    )


def test_word_table_matches_pre_tokenizer(tmp_path: Path, tiny, sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    table = word_table(_store(tmp_path, model, tok, sentences))
    backend = tok.backend_tokenizer
    for i, s in enumerate(sentences):
        expected = [w for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(s))]
        got = table.loc[table["sentence_id"] == i].sort_values("word_id")
        assert got["word"].tolist() == expected
        assert got["word_id"].tolist() == list(range(len(expected)))
    # "unbelievably" is split into several WordPiece tokens and rebuilt whole
    row = table.loc[table["word"] == "unbelievably"]
    assert len(row) == 1 and int(row["n_subwords"].iloc[0]) > 1


def _synthetic_words(counts: dict[str, int]) -> pd.DataFrame:
    rows = []
    k = 0
    for word, c in counts.items():
        for _ in range(c):
            rows.append((k // 7, k % 7, word))
            k += 1
    df = pd.DataFrame(rows, columns=["sentence_id", "word_id", "word"])
    return df.sample(frac=1.0, random_state=0).reset_index(drop=True)  # types interleaved in the corpus


def test_caps_and_minimum_counts() -> None:
    words = _synthetic_words({"a": 50, "b": 10, "c": 4, "d": 3, "e": 1})
    out = sample_occurrences(words, max_per_type=8, min_per_type=4, seed=3)
    assert out["word"].value_counts().to_dict() == {"a": 8, "b": 8, "c": 4}
    # every sampled row is a real row of the table, listed in corpus order, without repeats
    keys = list(zip(out["sentence_id"], out["word_id"]))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    original = dict(zip(zip(words["sentence_id"], words["word_id"]), words["word"]))
    assert all(original[k] == w for k, w in zip(keys, out["word"]))


def test_sampling_is_seeded_and_uniform_not_first_m() -> None:
    words = _synthetic_words({"a": 20})
    first = sample_occurrences(words, max_per_type=5, min_per_type=1, seed=1)
    assert first.equals(sample_occurrences(words, max_per_type=5, min_per_type=1, seed=1))
    hits: dict[tuple[int, int], int] = {}
    seeds = 400
    for seed in range(seeds):
        out = sample_occurrences(words, max_per_type=5, min_per_type=1, seed=seed)
        for k in zip(out["sentence_id"], out["word_id"]):
            hits[k] = hits.get(k, 0) + 1
    # each of the 20 occurrences is drawn with probability 5/20: binomial(400, 0.25), sd ≈ 8.7
    assert len(hits) == 20
    freq = np.array(list(hits.values())) / seeds
    assert np.all(np.abs(freq - 0.25) < 0.1)


def test_bad_counts() -> None:
    with pytest.raises(BadInputError, match="at least 1"):
        sample_occurrences(_synthetic_words({"a": 3}), max_per_type=0)
    with pytest.raises(BadInputError, match="word_table"):
        sample_occurrences(pd.DataFrame({"word": ["a"]}))


def test_vectors_and_shared_occurrences(tmp_path: Path, tiny, tiny_bert_dir: Path, sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    import torch
    from transformers import BertModel

    model, tok = tiny
    torch.manual_seed(1)
    other = BertModel(model.config).eval()
    sa = _store(tmp_path, model, tok, sentences * 3, key="a")
    sb = _store(tmp_path, other, tok, sentences * 3, key="b")
    occ = shared_occurrences(sa, sb, max_per_type=2, min_per_type=2, seed=0)
    assert occ["word"].value_counts().max() == 2 and occ["word"].value_counts().min() == 2
    for how in ("first", "last", "mean"):
        V = occurrence_vectors(sa, 2, occ, how=how)
        allv, index = word_vectors(sa, 2, how)
        for r in [0, len(occ) // 2, len(occ) - 1]:
            j = np.flatnonzero(
                (index["sentence_id"].to_numpy() == occ["sentence_id"][r]) & (index["word_id"].to_numpy() == occ["word_id"][r])
            )[0]
            np.testing.assert_array_equal(V[r], allv[j])
    # "last" is the last subword's row of the layer (hand lookup in the token table)
    V = occurrence_vectors(sa, 1, occ)
    t = sa.tokens
    r = 0
    rows = np.flatnonzero((t["sentence_id"].to_numpy() == occ["sentence_id"][r]) & (t["word_id"].to_numpy() == occ["word_id"][r]))
    np.testing.assert_array_equal(V[r], np.asarray(sa.layer(1)[rows[-1]], dtype=np.float32))
    with pytest.raises(BadInputError, match="same corpus"):
        shared_occurrences(sa, _store(tmp_path, other, tok, sentences, key="c"))
    with pytest.raises(BadInputError, match="not words of this store"):
        occurrence_vectors(sa, 1, pd.DataFrame({"sentence_id": [999], "word_id": [0]}))


def test_different_tokenisation_is_rejected() -> None:
    a = pd.DataFrame({"sentence_id": [0, 0, 1], "word_id": [0, 1, 0], "word": ["the", "cat", "sat"]})
    check_same_words(a, a.copy())
    b = a.copy()
    b.loc[1, "word"] = "Cat"
    with pytest.raises(BadInputError, match="sentence 0, word 1: 'cat' vs 'Cat'.*share a tokenizer"):
        check_same_words(a, b)
    with pytest.raises(BadInputError, match="3 vs 2 words"):
        check_same_words(a, a.iloc[:2])
