"""Adversarial triggers: insertion positions, word sets, flip rates in closed form and on a tiny BERT probe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentatlas.analyses.concepts.triggers import (
    HeadClassifier,
    bootstrap_ci,
    ProbeClassifier,
    evaluate_triggers,
    frequency_bands,
    frequency_matched_words,
    has_classification_head,
    insert_words,
    polar_words,
    random_words,
)
from latentatlas.errors import BadInputError, UnknownNameError


def test_insert_positions() -> None:
    assert insert_words("the cat sat", ["x", "y"], "prefix") == "x y the cat sat"
    assert insert_words("the cat sat", ["x"], "suffix") == "the cat sat x"
    seen = set()
    for s in range(30):
        out = insert_words("a b c", ["X", "Y"], "random", np.random.default_rng(s))
        assert out == insert_words("a b c", ["X", "Y"], "random", np.random.default_rng(s))  # seeded
        words = out.split()
        assert [w for w in words if w not in "XY"] == ["a", "b", "c"]  # originals kept in order
        i = words.index("X")
        assert words[i + 1] == "Y"  # one block
        seen.add(i)
    assert seen == {0, 1, 2, 3}  # every word boundary, ends included
    with pytest.raises(UnknownNameError):
        insert_words("a", ["b"], "middle")


class Keywords:
    """Logit of class c = number of occurrences of its keyword: closed-form probabilities."""

    n_classes = 2
    keys = ("apple", "zebra")

    def proba(self, texts: list[str]) -> np.ndarray:
        z = np.array([[t.split().count(k) for k in self.keys] for t in texts], dtype=float)
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)


TEXTS = ["apple pie today", "an apple a day", "the zebra runs", "apple again", "no keyword here"]
LABELS = np.array([0, 0, 1, 0, 0])


def test_flip_rates_and_confidence_in_closed_form() -> None:
    sets = {"trigger": ["zebra"], "random": ["cat", "dog"]}
    # inputs: class-0 texts the classifier gets right -> 0, 1, 3 ("no keyword here" is a tie, argmax 0:
    # also right); the zebra text is the target class and is excluded
    three = evaluate_triggers(Keywords(), TEXTS, LABELS, 1, sets, n_insert=3)
    t = three.set_index("word_set")
    assert t.loc["trigger", "n_inputs"] == 4
    assert t.loc["trigger", "flip_rate"] == 1.0 and t.loc["trigger", "flip_to_target_rate"] == 1.0
    assert t.loc["random", "flip_rate"] == 0.0 and t.loc["random", "confidence_drop"] == pytest.approx(0.0)
    # one zebra against one apple: tie (argmax keeps class 0), p(apple) e/(1+e) -> 1/2
    one = evaluate_triggers(Keywords(), TEXTS[:2], LABELS[:2], 1, {"trigger": ["zebra"]}, n_insert=1).iloc[0]
    assert one["flip_rate"] == 0.0
    assert one["confidence_drop"] == pytest.approx(np.e / (1 + np.e) - 0.5)
    assert one["target_gain"] == pytest.approx(0.5 - 1 / (1 + np.e))


def test_polar_words_rank_and_exclusions() -> None:
    concepts = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    words = np.array(["good", "good", "great", ",", "fine", "good", "bad", "awful", "bad"])
    polar = pd.DataFrame({"concept": [0, 2, 1], "class": [1, 0, 1], "polar": [True, True, False]})
    # "good" is in a polar-1 concept (twice) but never in a polar-0 one; "," has no letter
    assert polar_words(concepts, words, polar, 1) == ["good", "great"]
    assert polar_words(concepts, words, polar, 0, n_words=1) == ["bad"]
    polar2 = pd.DataFrame({"concept": [0, 1], "class": [1, 0], "polar": [True, True]})
    assert polar_words(concepts, words, polar2, 1) == ["great"]  # "good" is also polar to class 0


def test_baseline_word_sets() -> None:
    freq = {f"w{i}": i + 1 for i in range(100)}
    bands = frequency_bands(freq, n_bands=10)
    assert bands["w0"] == 0 and bands["w99"] == 9 and len(set(bands.values())) == 10
    targets = ["w5", "w50", "w95"]
    matched = frequency_matched_words(targets, freq, exclude=set(targets), seed=1)
    assert matched == frequency_matched_words(targets, freq, exclude=set(targets), seed=1)
    assert [bands[m] for m in matched] == [bands[t] for t in targets]
    assert not set(matched) & set(targets) and len(set(matched)) == 3
    r = random_words(list(freq), 5, exclude={"w1"}, seed=2)
    assert len(set(r)) == 5 and "w1" not in r
    with pytest.raises(BadInputError):
        random_words(["a", "b"], 3)


@pytest.fixture(scope="module")
def zebra_probe(tiny_bert_dir: Path):  # type: ignore[no-untyped-def]
    """A probe on a random tiny BERT trained where class 1 sentences contain the planted word 'zebra'."""
    from transformers import AutoModel, AutoTokenizer

    from latentatlas.downstream.base import Split, TaskData, TaskInfo

    rng = np.random.default_rng(0)
    vocab = "the a cat dog house river market team city road tree game night music paper stone".split()
    texts, labels = [], []
    for i in range(160):
        words = list(rng.choice(vocab, 6))
        # the same length in both classes: only the planted word tells them apart
        words.insert(int(rng.integers(0, 7)), "zebra" if i % 2 else str(rng.choice(vocab)))
        texts.append(" ".join(words))
        labels.append(i % 2)
    info = TaskInfo("toy", "classification", "accuracy", ("plain", "zebra"), False, "test", "planted word")
    task = TaskData(info, Split(tuple(texts[:120]), labels=np.array(labels[:120])),
                    Split(tuple(texts[120:]), labels=np.array(labels[120:])))
    model = AutoModel.from_pretrained(tiny_bert_dir).eval()
    clf = ProbeClassifier.fit(model, AutoTokenizer.from_pretrained(tiny_bert_dir), task, layer=-1, C=1.0)
    return clf, task, vocab


def test_planted_trigger_flips_a_tiny_bert_probe(zebra_probe) -> None:  # type: ignore[no-untyped-def]
    clf, task, vocab = zebra_probe
    val = task.validation
    base = clf.proba(val.text_a)
    assert (base.argmax(1) == val.labels).mean() >= 0.9  # the probe learned the planted word
    # the training features kept by fit give the same probabilities as recomputing them
    assert np.allclose(clf.proba_of_features(clf.train_features[:6]), clf.proba(task.train.text_a[:6]), atol=1e-4)
    res = evaluate_triggers(clf, val.text_a, val.labels, 1, {"trigger": ["zebra"], "random": vocab[:5]},
                            n_insert=2, position="random", seed=0, base_proba=base).set_index("word_set")
    assert res.loc["trigger", "n_inputs"] >= 15
    assert res.loc["trigger", "flip_rate"] >= 0.8
    assert res.loc["random", "flip_rate"] <= 0.2
    assert res.loc["trigger", "confidence_drop"] > res.loc["random", "confidence_drop"] + 0.3


def test_head_classifier_matches_softmax(tmp_path: Path, tiny_bert_dir: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    cfg = AutoConfig.from_pretrained(tiny_bert_dir, num_labels=3)
    torch.manual_seed(0)
    m = AutoModelForSequenceClassification.from_config(cfg).eval()
    m.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(tmp_path)
    assert has_classification_head(str(tmp_path)) and not has_classification_head(str(tiny_bert_dir))
    clf = HeadClassifier.load(str(tmp_path), batch_size=2)
    texts = ["a short one", "a somewhat longer sentence than that", "mid length text"]
    P = clf.proba(texts)
    tok = clf.tokenizer
    with torch.inference_mode():
        ref = torch.softmax(m(**tok(texts[1:2], return_tensors="pt")).logits, -1).numpy()
    assert np.allclose(P.sum(1), 1.0) and np.allclose(P[1], ref[0], atol=1e-5)


def test_bootstrap_ci_known_answers() -> None:
    assert bootstrap_ci(np.ones(50)) == (1.0, 1.0) and bootstrap_ci(np.zeros(7)) == (0.0, 0.0)
    half = np.tile([0.0, 1.0], 200)  # 400 inputs, rate 0.5: normal-approximation half-width 1.96·0.025 ≈ 0.049
    lo, hi = bootstrap_ci(half, n_boot=4000, seed=3)
    assert lo == pytest.approx(0.451, abs=0.01) and hi == pytest.approx(0.549, abs=0.01)
    assert bootstrap_ci(half, seed=3) == bootstrap_ci(half, seed=3)  # seeded
    with pytest.raises(BadInputError, match="non-empty"):
        bootstrap_ci(np.array([]))


def test_flip_rates_carry_bootstrap_intervals() -> None:
    sets = {"trigger": ["zebra"], "random": ["cat", "dog"]}
    t = evaluate_triggers(Keywords(), TEXTS, LABELS, 1, sets, n_insert=3).set_index("word_set")
    # every input flips with the trigger and none with random words: degenerate intervals
    assert (t.loc["trigger", "flip_rate_lo"], t.loc["trigger", "flip_rate_hi"]) == (1.0, 1.0)
    assert (t.loc["random", "flip_rate_lo"], t.loc["random", "flip_rate_hi"]) == (0.0, 0.0)
    assert (t.loc["trigger", "flip_to_target_lo"], t.loc["trigger", "flip_to_target_hi"]) == (1.0, 1.0)
    # a mixed case: 1 of 2 inputs flips ("zebra" x2 against "apple" x2 in "an apple a day" ties -> no flip)
    texts = ["apple pie", "an apple a apple day"]
    m = evaluate_triggers(Keywords(), texts, np.array([0, 0]), 1, {"z": ["zebra"]}, n_insert=2).iloc[0]
    assert m["flip_rate"] == 0.5 and m["flip_rate_lo"] == 0.0 and m["flip_rate_hi"] == 1.0
