"""Concept labels: lexical labels, spaCy labels per model word, purity alignment with UNK accounting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentatlas.concepts.label import (
    UNK,
    affix,
    casing,
    label_alignment,
    occurrence_labels,
    theta_sweep,
    word_spans,
    PREFIXES,
    SUFFIXES,
)
from latentatlas.errors import BadInputError, UnknownNameError


def test_lexical_labels() -> None:
    assert [casing(w) for w in ["cat", "NASA", "London", "iPhone", ",", "A"]] == ["LC", "UC", "TC", "MC", UNK, "UC"]
    assert affix("happiness", SUFFIXES, suffix=True) == "ness"
    assert affix("information", SUFFIXES, suffix=True) == "ation"  # longest listed suffix
    assert affix("nation", SUFFIXES, suffix=True) == "ion"  # "ation", "tion" would leave < 3 letters
    assert affix("is", SUFFIXES, suffix=True) == UNK
    assert affix("Unhappy", PREFIXES, suffix=False) == "un"
    assert affix("the", PREFIXES, suffix=False) == UNK


def test_alignment_by_hand() -> None:
    concepts = np.array([0] * 10 + [1] * 10 + [2] * 10 + [3] * 3 + [4] * 10)
    labels = (
        ["NOUN"] * 10                       # pure: aligned
        + ["VERB"] * 9 + ["NOUN"]           # purity 0.9, not > 0.9: impure
        + [UNK] * 5 + ["ADJ"] * 5           # UNK fraction 0.5 > 0.4: mostly_unk
        + ["DET"] * 3                       # too small
        + [UNK] * 3 + ["ADP"] * 7           # purity 0.7 (UNK in the denominator)
    )
    t = label_alignment(concepts, labels, theta=0.9, min_size=5)
    assert t["status"].tolist() == ["aligned", "impure", "mostly_unk", "too_small", "impure"]
    np.testing.assert_allclose(t["purity"], [1.0, 0.9, 0.5, 1.0, 0.7])
    np.testing.assert_allclose(t["unk_fraction"], [0, 0, 0.5, 0, 0.3])
    assert t["top_label"].tolist() == ["NOUN", "VERB", "ADJ", "DET", "ADP"]
    # ignoring UNKs: concept 4 has purity 7/7
    t2 = label_alignment(concepts, labels, theta=0.9, min_size=5, ignore_unk=True)
    assert t2["status"].tolist() == ["aligned", "impure", "mostly_unk", "too_small", "aligned"]
    sweep = theta_sweep(concepts, labels, thetas=[0.5, 0.85, 0.95], min_size=5)
    assert sweep["n_aligned"].tolist() == [3, 2, 1]
    assert sweep["labels_covered"].tolist() == [3, 2, 1]
    np.testing.assert_allclose(sweep["fraction_aligned"], [3 / 5, 2 / 5, 1 / 5])
    with pytest.raises(BadInputError, match="does not line up"):
        label_alignment(concepts, labels[:-1])


def test_labels_per_model_word(minilm_dir: Path) -> None:
    from transformers import AutoTokenizer

    from latentatlas.annotate import annotate

    sentences = ["Apple unveiled unbelievably fast phones in London.", "NASA launched it."]
    tok = AutoTokenizer.from_pretrained(minilm_dir)
    spans = word_spans(tok, sentences)
    occ = spans[["sentence_id", "word_id"]]
    ann = annotate(sentences, layers=["pos", "tag", "ner", "dep"])
    lab = occurrence_labels(occ, sentences, spans, ann)
    words = [sentences[s][a:b] for s, a, b in spans[["sentence_id", "start", "end"]].itertuples(index=False)]
    assert words[:4] == ["Apple", "unveiled", "unbelievably", "fast"]  # original casing kept (uncased model)
    row = dict(zip(words, lab.to_dict("records")))
    assert row["London"]["ner"] == "GPE" and row["London"]["casing"] == "TC" and row["London"]["pos"] == "PROPN"
    assert row["unbelievably"]["suffix"] == "ably" and row["unbelievably"]["prefix"] == "un"
    assert row["NASA"]["casing"] == "UC" and row["NASA"]["first_word"] == "FIRST"
    assert row["fast"]["ner"] == UNK and row["phones"]["tag"] == "NNS"
    assert lab["last_word"].tolist().count("LAST") == 2 and row["."]["last_word"] == "LAST"
    with pytest.raises(BadInputError, match="annotation per sentence"):
        occurrence_labels(occ, sentences, spans, ann[:1])
    with pytest.raises(UnknownNameError):
        occurrence_labels(occ, sentences, spans, ann, sets=["psos"])
    with pytest.raises(BadInputError, match="no word span"):
        occurrence_labels(pd.DataFrame({"sentence_id": [0], "word_id": [99]}), sentences, spans, ann)
