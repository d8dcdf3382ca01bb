"""Polarity: one-sided binomial / hypergeometric enrichment tests against scipy, BH by hand and vs scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from latentatlas.analyses.concepts.polarity import (
    DEFAULT_MIN_PURITY,
    benjamini_hochberg,
    binomial_pvalues,
    class_counts,
    hypergeometric_pvalues,
    polar_concepts,
    polarity_by_layer,
    polarity_summary,
    unit_counts,
)
from latentatlas.errors import BadInputError, UnknownNameError


def _expand(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Occurrence arrays (concept, class) realising the contingency M, in a shuffled order."""
    concepts, classes = [], []
    for k in range(M.shape[0]):
        for c in range(M.shape[1]):
            concepts += [k] * int(M[k, c])
            classes += [c] * int(M[k, c])
    order = np.random.default_rng(0).permutation(len(concepts))
    return np.asarray(concepts)[order], np.asarray(classes)[order]


M = np.array([[18, 2, 0], [3, 3, 4], [1, 9, 0], [0, 0, 6], [5, 5, 5]])


def test_contingency_from_occurrences() -> None:
    ids, got = class_counts(*_expand(M), n_classes=3)
    assert ids.tolist() == list(range(5))
    assert np.array_equal(got, M)


def test_pvalues_match_scipy_tests() -> None:
    N, Nc, n = M.sum(), M.sum(0), M.sum(1)
    pb, ph = binomial_pvalues(M), hypergeometric_pvalues(M)
    for k in range(M.shape[0]):
        for c in range(M.shape[1]):
            ref_b = stats.binomtest(int(M[k, c]), int(n[k]), Nc[c] / N, alternative="greater").pvalue
            assert pb[k, c] == pytest.approx(ref_b, rel=1e-10)
            # one-sided Fisher exact test on the 2x2 table (in concept / not) x (class / not)
            table = [[M[k, c], n[k] - M[k, c]], [Nc[c] - M[k, c], N - n[k] - Nc[c] + M[k, c]]]
            ref_h = stats.fisher_exact(table, alternative="greater").pvalue
            assert ph[k, c] == pytest.approx(ref_h, rel=1e-9)


def test_bh_by_hand_and_against_scipy() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.20])
    # sorted 0.01, 0.03, 0.04, 0.20 ; m p / rank = 0.04, 0.06, 0.0533.., 0.20 ; running min from the top
    expected = np.array([0.04, 0.0533333333, 0.0533333333, 0.20])
    assert np.allclose(benjamini_hochberg(p), expected)
    rng = np.random.default_rng(1)
    many = rng.uniform(size=(40, 3)) ** 3
    assert np.allclose(benjamini_hochberg(many), stats.false_discovery_control(many.ravel()).reshape(40, 3))
    assert np.all(benjamini_hochberg(np.array([0.9, 0.95])) <= 1.0)
    with pytest.raises(BadInputError):
        benjamini_hochberg(np.array([0.1, np.nan]))


def test_polar_concepts_finds_planted_ones() -> None:
    concepts, classes = _expand(M)
    words = np.array([f"w{k}" for k in concepts], dtype=object)
    table = polar_concepts(concepts, classes, ["a", "b", "c"], words=words, alpha=0.05, min_size=5, min_purity=0.0)
    polar = {(int(r.concept), r.class_name) for r in table.itertuples() if r.polar}
    # concept 0 is 90 % class a (prior 27/61), 2 is 90 % b, 3 is all c: those three and nothing balanced
    assert {(0, "a"), (2, "b"), (3, "c")} <= polar
    assert not any(k == 4 for k, _ in polar)
    # q values are the BH correction of the 15 tested p values
    p = hypergeometric_pvalues(M)
    row = table.loc[(table["concept"] == 3) & (table["class"] == 2)].iloc[0]
    assert row["q"] == pytest.approx(benjamini_hochberg(p)[3, 2])
    assert row["examples"] == "w3" and row["purity"] == 1.0 and row["prior"] == pytest.approx(15 / 61)


def test_min_size_excludes_from_correction() -> None:
    concepts, classes = _expand(M)
    table = polar_concepts(concepts, classes, ["a", "b", "c"], min_size=11)  # only concepts 0 (20) and 4 (15)
    assert sorted(table["concept"].unique().tolist()) == [0, 4]
    p = hypergeometric_pvalues(M)[[0, 4]]
    ref = benjamini_hochberg(p)
    got = table.set_index(["concept", "class"])["q"]
    assert got[(0, 0)] == pytest.approx(ref[0, 0]) and got[(4, 1)] == pytest.approx(ref[1, 1])


def test_by_layer_and_summary() -> None:
    concepts, classes = _expand(M)
    sources = {"gold": classes, "predicted": np.zeros_like(classes)}
    table = polarity_by_layer({3: concepts, 5: concepts}, sources, ["a", "b", "c"], test="binomial", min_purity=0.0)
    assert set(table["layer"]) == {3, 5} and set(table["source"]) == {"gold", "predicted"}
    summary = polarity_summary(table)
    gold = summary.loc[(summary["layer"] == 3) & (summary["source"] == "gold")].iloc[0]
    assert gold["n_tested"] == 5 and gold["n_polar_concepts"] == 3
    # all predictions in class a: no enrichment is possible (prior 1)
    pred = summary.loc[(summary["layer"] == 3) & (summary["source"] == "predicted")].iloc[0]
    assert pred["n_polar_concepts"] == 0


def test_bad_input() -> None:
    with pytest.raises(BadInputError, match="same order"):
        polar_concepts(np.zeros(4), np.zeros(3, dtype=int), ["a", "b"])
    with pytest.raises(BadInputError, match="class ids"):
        polar_concepts(np.zeros(3), np.array([0, 1, 2]), ["a", "b"])
    with pytest.raises(UnknownNameError):
        polar_concepts(np.zeros(3), np.zeros(3, dtype=int), ["a", "b"], test="chi2")
    assert isinstance(polarity_summary(polarity_by_layer({0: np.zeros(6)}, {"gold": np.arange(6) % 2}, ["a", "b"])), pd.DataFrame)


def _sentences(n_per_class: tuple[int, int]) -> np.ndarray:
    return np.repeat([0, 1], n_per_class)


def test_sentence_level_test_counts_each_sentence_once() -> None:
    # 40 sentences (20 per class), 10 tokens each. Concept 0: the first 9 tokens of sentences 0..2
    # (class 0), 27 class-0 occurrences but only three labelled units. Concept 1: the last token of each
    # of the 20 class-0 sentences (20 units). Concept 2: every other token.
    sent_class = _sentences((20, 20))
    units = np.repeat(np.arange(40), 10)
    classes = sent_class[units]
    last = np.arange(units.size) % 10 == 9
    concepts = np.full(units.size, 2)
    concepts[(units < 3) & ~last] = 0
    concepts[last & (classes == 0)] = 1
    token = polar_concepts(concepts, classes, ["a", "b"])
    sent = polar_concepts(concepts, classes, ["a", "b"], units=units)
    t0 = token.query("concept == 0 and `class` == 0").iloc[0]
    s0 = sent.query("concept == 0 and `class` == 0").iloc[0]
    # token level: 27 of 27 class-0 occurrences against a prior of 1/2 -> absurdly significant
    assert t0["size"] == 27 and t0["q"] < 1e-6 and t0["polar"]
    # sentence level: 3 of 3 sentences, hypergeometric (40, 20, 3): p = (20·19·18)/(40·39·38)
    assert s0["n_units"] == 3 and s0["unit_count"] == 3 and s0["unit_prior"] == pytest.approx(0.5)
    assert s0["p"] == pytest.approx(20 * 19 * 18 / (40 * 39 * 38)) and not s0["polar"]
    assert s0["size"] == 27 and s0["purity"] == 1.0  # purity stays at occurrence level
    # concept 1: 20 distinct class-0 sentences: polar at both levels
    s1 = sent.query("concept == 1 and `class` == 0").iloc[0]
    assert s1["n_units"] == 20 and s1["q"] < 1e-6 and s1["polar"]
    # the unit counts by hand
    ids, U, totals = unit_counts(concepts, classes, units, 2)
    assert ids.tolist() == [0, 1, 2] and U.tolist() == [[3, 0], [20, 0], [17, 20]] and totals.tolist() == [20, 20]


def test_default_min_purity_is_theta() -> None:
    # 400 sentences, 200 per class; concept 0: one token of 140 class-0 and 60 class-1 sentences
    # (purity 0.7, hugely significant); concept 1: the rest. Durrani's notion needs > θ = 0.9 purity.
    assert DEFAULT_MIN_PURITY == 0.9
    sent_class = _sentences((200, 200))
    units = np.concatenate([np.arange(140), 200 + np.arange(60), np.arange(400)])
    concepts = np.concatenate([np.zeros(200, dtype=int), np.ones(400, dtype=int)])
    table = polar_concepts(concepts, sent_class[units], ["a", "b"], units=units)
    row = table.query("concept == 0 and `class` == 0").iloc[0]
    assert row["purity"] == pytest.approx(0.7) and row["q"] < 1e-6 and not row["polar"]
    assert polar_concepts(concepts, sent_class[units], ["a", "b"], units=units, min_purity=0.6)\
        .query("concept == 0 and `class` == 0")["polar"].iloc[0]


def test_units_must_carry_one_class() -> None:
    with pytest.raises(BadInputError, match="one class per sentence"):
        polar_concepts(np.zeros(4), np.array([0, 1, 0, 0]), ["a", "b"], units=np.array([0, 0, 1, 1]))
    with pytest.raises(BadInputError, match="sentence of every occurrence"):
        polar_concepts(np.zeros(4), np.zeros(4, dtype=int), ["a", "b"], units=np.zeros(3))
