"""Concept labels: lexical labels, spaCy labels per model word, purity alignment with UNK accounting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentatlas.analyses.concepts.label import (
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


def test_theta_is_one_strict_comparison_everywhere() -> None:
    """Purity or overlap exactly θ never passes, in label alignment, model alignment and polarity."""
    from latentatlas.analyses.concepts.align import align_concepts
    from latentatlas.analyses.concepts.label import exceeds
    from latentatlas.analyses.concepts.polarity import polar_concepts

    assert not exceeds(0.9, 0.9) and exceeds(0.9000001, 0.9)
    concepts = np.array([0] * 10 + [1] * 10)
    labels = np.array(["NN"] * 9 + ["VB"] + ["NN"] * 10)  # concept 0: purity exactly 0.9
    al = label_alignment(concepts, labels, theta=0.9).set_index("concept")
    assert al.loc[0, "purity"] == pytest.approx(0.9) and not al.loc[0, "aligned"] and al.loc[1, "aligned"]
    sweep = theta_sweep(concepts, labels, thetas=[0.85, 0.9]).set_index("theta")
    assert sweep.loc[0.85, "n_aligned"] == 2 and sweep.loc[0.9, "n_aligned"] == 1
    b = np.array([5] * 9 + [6] + [7] * 10)  # concept 0 overlaps B's concept 5 by exactly 9/10
    df = align_concepts(concepts, b, np.arange(20).astype(str), thetas=[0.9], n_perm=0)
    assert float(df[(df["measure"] == "occ_a_to_b")]["value"].iloc[0]) == 0.5
    # 40 sentences of class 0, 360 of class 1; concept 0: 9 of 10 occurrences class 0 (purity exactly 0.9)
    classes = np.array([0] * 9 + [1] + [0] * 31 + [1] * 359)
    cids = np.array([0] * 10 + [1] * 390)
    table = polar_concepts(cids, classes, ["a", "b"], min_purity=0.9)
    row = table.loc[(table["concept"] == 0) & (table["class"] == 0)].iloc[0]
    assert row["q"] < 1e-4 and row["purity"] == pytest.approx(0.9) and not row["polar"]
    assert polar_concepts(cids, classes, ["a", "b"], min_purity=0.89).query("concept == 0 and `class` == 0")["polar"].iloc[0]
