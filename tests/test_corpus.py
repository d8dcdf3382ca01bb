"""Corpora: the sentence splitter, the word filter, seeded sampling, user files and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from latentatlas.corpus import (
    bundled_corpus,
    load_corpus,
    load_corpus_spec,
    n_words,
    split_paragraphs,
    split_sentences,
    splitter_name,
)
from latentatlas.errors import BadInputError
from latentatlas.settings import CorpusSpec


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


# -- paragraphs split into sentences on request ----------------------------------------------------


PARAGRAPH = ('Mr. Smith paid $3.5bn to the U.S. Treasury last year, e.g. in ten-year bonds. He left. '
             '"We won the whole thing," she said on Monday. The shares rose 4.5% to close at 120.25 in London.')
SENTENCES_OF_PARAGRAPH = [
    "Mr. Smith paid $3.5bn to the U.S. Treasury last year, e.g. in ten-year bonds.",
    "He left.",
    '"We won the whole thing," she said on Monday.',
    "The shares rose 4.5% to close at 120.25 in London.",
]


@pytest.mark.parametrize("splitter", ["rules", "spacy"])
def test_split_paragraphs_keeps_abbreviations_decimals_and_quotes(splitter: str) -> None:
    # spaCy's sentencizer alone would end the second sentence with the opening quote ('He left. "')
    assert split_paragraphs([PARAGRAPH, "One more short sentence here."], splitter=splitter) == [
        SENTENCES_OF_PARAGRAPH, ["One more short sentence here."]]
    assert splitter_name(splitter) == splitter
    with pytest.raises(BadInputError, match="use 'auto', 'spacy' or 'rules'"):
        splitter_name("nltk")  # type: ignore[arg-type]


def test_auto_splitter_is_spacy_when_it_imports() -> None:
    pytest.importorskip("spacy")
    assert splitter_name() == "spacy"


def _numbered(text: str, i: int) -> str:
    return text.replace("Smith", f"Smith{i}").replace("Monday", f"day {i}").replace("London", f"London {i}")


def _paragraph_file(tmp_path: Path, n: int = 6) -> Path:
    """``n`` paragraphs of about 80 words, one per line (the layout researchers have)."""
    f = tmp_path / "paragraphs.txt"
    f.write_text("\n".join(" ".join([_numbered(PARAGRAPH, i)] * 2) for i in range(n)) + "\n")
    return f


def test_paragraph_lines_are_rejected_with_the_fix_then_split(tmp_path: Path) -> None:
    f = _paragraph_file(tmp_path)
    with pytest.raises(BadInputError, match=r"all 6 sentences were removed by the length filter \(4–49 words of 2\+ "
                                            r"characters, 6 longer\); if its lines are paragraphs, split them into "
                                            r"sentences with --split-sentences"):
        load_corpus(f)
    c = load_corpus(f, split_sentences=True)
    # 4 sentences per paragraph (the repeated half is a duplicate); "He left." has 2 words: filtered out
    assert len(c) == 6 * 3 and c.sentences[:3] == tuple(_numbered(x, 0) for x in SENTENCES_OF_PARAGRAPH if x != "He left.")
    assert list(c.doc_ids) == [i for i in range(6) for _ in range(3)]  # the paragraph is the document
    assert "sentences split by" in c.source
    # the seeded sample is drawn after splitting: a subset of the split sentences, in file order
    a = load_corpus(f, split_sentences=True, n_sentences=5, seed=3)
    assert a == load_corpus(f, split_sentences=True, n_sentences=5, seed=3) and len(a) == 5
    assert set(a.sentences) <= set(c.sentences) and list(a.doc_ids) == sorted(a.doc_ids)


def test_some_long_lines_are_dropped_with_a_warning_naming_the_fix(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "mixed.txt"
    f.write_text(" ".join([PARAGRAPH] * 2) + "\none two three four five\n")
    with caplog.at_level("WARNING", logger="latentatlas.corpus"):
        assert load_corpus(f).sentences == ("one two three four five",)
    assert "1 of 2 lines are longer than 49 words" in caplog.text and "--split-sentences" in caplog.text


def test_corpus_spec_reaches_the_splitter(tmp_path: Path) -> None:
    f = _paragraph_file(tmp_path)
    spec = CorpusSpec(source=str(f), n_sentences=None, split_sentences=True)
    assert load_corpus_spec(spec) == load_corpus(f, split_sentences=True)
    assert load_corpus_spec(CorpusSpec(n_sentences=50)) == bundled_corpus(50)
