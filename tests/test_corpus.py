"""Corpora: the sentence splitter, the word filter, seeded sampling, user files and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from latentatlas.corpus import bundled_corpus, load_corpus, n_words, split_sentences
from latentatlas.errors import BadInputError


def test_split_sentences_handles_abbreviations_and_decimals() -> None:
    text = 'Mr. Smith paid $3.5bn to the U.S. Treasury. He left! "Why?" she asked. J. K. Rowling wrote.'
    assert split_sentences(text) == [
        "Mr. Smith paid $3.5bn to the U.S. Treasury.",
        "He left!",
        '"Why?" she asked.',
        "J. K. Rowling wrote.",
    ]


def test_word_count_follows_countvectorizer() -> None:
    assert n_words("A cat, a dog and I went to the U.S. in 2004.") == 8  # 1-char tokens dropped


def test_txt_filter_dedupe_and_sampling(tmp_path: Path) -> None:
    lines = ["one two three four", "too short", "one two three four"] + [f"sentence {i} has four words" for i in range(20)]
    f = tmp_path / "c.txt"
    f.write_text("\n".join(lines) + "\n\n")
    c = load_corpus(f)
    assert len(c) == 21 and c.sentences[0] == "one two three four"
    a = load_corpus(f, n_sentences=5, seed=1)
    assert a == load_corpus(f, n_sentences=5, seed=1)
    assert a.sentences != load_corpus(f, n_sentences=5, seed=2).sentences
    assert list(a.doc_ids) == sorted(a.doc_ids)  # kept in file order
    assert a.fingerprint() != load_corpus(f, n_sentences=5, seed=2).fingerprint()


def test_jsonl_and_csv(tmp_path: Path) -> None:
    j = tmp_path / "c.jsonl"
    j.write_text("\n".join(json.dumps({"body": f"this is line number {i}"}) for i in range(3)))
    assert len(load_corpus(j, text_column="body")) == 3
    c = tmp_path / "c.csv"
    c.write_text("id,text\n1,the first csv sentence\n2,the second csv sentence\n")
    assert load_corpus(c).sentences == ("the first csv sentence", "the second csv sentence")
    with pytest.raises(BadInputError, match=r"its columns are \['id', 'text'\]"):
        load_corpus(c, text_column="body")


def test_corpus_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        load_corpus(tmp_path / "missing.txt")
    (tmp_path / "c.pdf").write_text("x")
    with pytest.raises(BadInputError, match="unsupported extension"):
        load_corpus(tmp_path / "c.pdf")
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(BadInputError, match="empty"):
        load_corpus(tmp_path / "empty.txt")
    (tmp_path / "short.txt").write_text("a b c\nshort one\n")
    with pytest.raises(BadInputError, match=r"all 2 sentences were removed by the length filter \(4–49"):
        load_corpus(tmp_path / "short.txt")
    assert load_corpus(tmp_path / "short.txt", min_words=2).sentences == ("short one",)  # 'a b c': no 2-char word


def test_bundled_corpus() -> None:
    c = bundled_corpus(300, seed=0)
    assert len(c) == 300 and len(set(c.sentences)) == 300
    assert c.label_names == ("business", "entertainment", "politics", "sports", "tech")
    assert set(c.labels) == set(c.label_names)
    assert all(4 <= n_words(s) <= 49 for s in c.sentences)
    assert bundled_corpus(300, seed=0) == c
