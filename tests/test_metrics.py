"""Official metrics against scikit-learn / scipy and hand-computed cases; baselines and GLUE average."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from latentatlas.downstream.base import Split, TaskData, TaskInfo
from latentatlas.downstream.metrics import (
    GLUE_TASKS,
    METRICS,
    acc_f1,
    accuracy,
    bio_spans,
    evaluate,
    glue_average,
    majority_baseline,
    mcc,
    pearson_spearman,
    per_word_baseline,
    span_f1,
    task_baselines,
    token_accuracy,
)
from latentatlas.errors import BadInputError, UnknownNameError


def _info(kind: str, metric: str, labels: tuple[str, ...] = ("a", "b")) -> TaskInfo:
    return TaskInfo(name="t", kind=kind, metric=metric, labels=labels, pair=False, suite="x", description="")


@pytest.mark.parametrize("k", [2, 3, 5])
def test_mcc_matches_sklearn(rng: np.random.Generator, k: int) -> None:
    for _ in range(20):
        t = rng.integers(0, k, 60)
        p = np.where(rng.random(60) < 0.6, t, rng.integers(0, k, 60))
        assert mcc(t, p)["score"] == pytest.approx(skm.matthews_corrcoef(t, p), abs=1e-12)


def test_mcc_hand_and_degenerate() -> None:
    # TP=2, TN=1, FP=1, FN=1 -> (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    t = [1, 1, 1, 0, 0]
    p = [1, 1, 0, 1, 0]
    assert mcc(t, p)["mcc"] == pytest.approx(1 / 6)
    assert mcc([0, 1, 1, 0], [1, 1, 1, 1])["score"] == 0.0  # constant prediction
    assert mcc([0, 1, 0], [0, 1, 0])["score"] == pytest.approx(1.0)
    assert mcc([0, 1, 0, 1], [1, 0, 1, 0])["score"] == pytest.approx(-1.0)


def test_accuracy_and_acc_f1(rng: np.random.Generator) -> None:
    t = rng.integers(0, 2, 50)
    p = rng.integers(0, 2, 50)
    out = acc_f1(t, p)
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(t, p))
    assert out["f1"] == pytest.approx(skm.f1_score(t, p))
    assert out["score"] == pytest.approx((out["accuracy"] + out["f1"]) / 2)
    # hand: TP=1, FP=1, FN=1 -> F1 = 2/4; accuracy 2/4
    assert acc_f1([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx({"accuracy": 0.5, "f1": 0.5, "score": 0.5})
    assert acc_f1([0, 0], [0, 0])["f1"] == 0.0  # no positives anywhere
    assert accuracy(["x", "y"], ["x", "x"])["score"] == 0.5


def test_pearson_spearman_matches_scipy(rng: np.random.Generator) -> None:
    t = rng.normal(size=40)
    p = t + rng.normal(size=40)
    p[:5] = p[5]  # ties for the rank correlation
    out = pearson_spearman(t, p)
    assert out["pearson"] == pytest.approx(stats.pearsonr(t, p)[0], abs=1e-12)
    assert out["spearman"] == pytest.approx(stats.spearmanr(t, p)[0], abs=1e-12)
    assert out["score"] == pytest.approx((out["pearson"] + out["spearman"]) / 2)
    assert pearson_spearman([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])["score"] == 0.0  # constant -> 0
    # monotone but not linear: spearman 1, pearson < 1
    out = pearson_spearman([1.0, 2.0, 3.0, 4.0], [1.0, 4.0, 9.0, 100.0])
    assert out["spearman"] == pytest.approx(1.0) and out["pearson"] < 0.99


def test_token_accuracy_counts_words_not_sentences() -> None:
    t = [np.array([0, 1, 2]), np.array([1])]
    p = [np.array([0, 1, 0]), np.array([0])]
    assert token_accuracy(t, p)["score"] == pytest.approx(2 / 4)  # not mean of (2/3, 0)
    with pytest.raises(BadInputError, match="sentence 1"):
        token_accuracy(t, [np.array([0, 1, 2]), np.array([0, 0])])


def test_bio_spans_rules() -> None:
    assert bio_spans(["B-PER", "I-PER", "O", "B-LOC"]) == {(0, 2, "PER"), (3, 4, "LOC")}
    # I- after O opens a span; I- of another type opens a new one; B- after B- splits.
    assert bio_spans(["O", "I-ORG", "I-ORG", "I-LOC", "B-LOC", "B-LOC"]) == {
        (1, 3, "ORG"), (3, 4, "LOC"), (4, 5, "LOC"), (5, 6, "LOC"),
    }
    assert bio_spans(["O", "O"]) == set()
    with pytest.raises(BadInputError, match="not BIO"):
        bio_spans(["PER"])


def test_span_f1_hand_computed() -> None:
    y_true = [
        ["B-PER", "I-PER", "O", "B-LOC"],
        ["O", "B-ORG", "I-ORG", "I-ORG"],
    ]
    y_pred = [
        ["B-PER", "I-PER", "O", "B-ORG"],  # PER right; LOC typed wrong
        ["O", "B-ORG", "I-ORG", "O"],  # ORG boundary wrong
    ]
    # true spans 3, predicted 3, correct 1 -> P = R = F1 = 1/3
    out = span_f1(y_true, y_pred)
    assert out == pytest.approx({"precision": 1 / 3, "recall": 1 / 3, "f1": 1 / 3, "score": 1 / 3})
    # lenient I- start matches a B- start of the same span
    assert span_f1([["B-PER", "I-PER"]], [["I-PER", "I-PER"]])["score"] == 1.0
    # no predicted spans: precision 0, recall 0, F1 0
    assert span_f1([["B-PER"]], [["O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "score": 0.0}
    # P != R: 2 true, 1 predicted correct -> P=1, R=1/2, F1=2/3
    assert span_f1([["B-A", "O", "B-B"]], [["B-A", "O", "O"]])["f1"] == pytest.approx(2 / 3)


def test_evaluate_dispatch_and_span_names() -> None:
    info = _info("tagging", "span_f1", ("O", "B-PER", "I-PER"))
    out = evaluate(info, [np.array([1, 2, 0])], [np.array([1, 2, 0])])
    assert out["score"] == 1.0
    with pytest.raises(BadInputError, match="outside"):
        evaluate(info, [np.array([3])], [np.array([0])])
    assert evaluate(_info("classification", "mcc"), [0, 1, 1], [0, 1, 1])["score"] == pytest.approx(1.0)
    with pytest.raises(UnknownNameError, match="accuracy"):
        evaluate(_info("classification", "acuracy"), [0], [0])
    assert set(METRICS) >= {"mcc", "accuracy", "acc_f1", "pearson_spearman", "token_accuracy", "span_f1"}


def test_metric_input_errors() -> None:
    with pytest.raises(BadInputError, match="one prediction per example"):
        accuracy([0, 1], [0])
    with pytest.raises(BadInputError, match="zero examples"):
        mcc([], [])
    with pytest.raises(BadInputError, match="finite"):
        pearson_spearman([1.0, np.nan], [1.0, 2.0])


def _split(labels: list, texts: int | None = None) -> Split:
    n = len(labels) if texts is None else texts
    return Split(text_a=tuple(f"s{i}" for i in range(n)), labels=np.asarray(labels))


def test_majority_baseline_classification_and_regression() -> None:
    info = _info("classification", "accuracy", ("a", "b", "c"))
    task = TaskData(info, _split([2, 2, 1, 0, 2]), _split([2, 1, 1, 0]))
    assert majority_baseline(task)["score"] == pytest.approx(1 / 4)  # always predicts 2
    # ties go to the smallest id: train {0: 2, 1: 2} -> predict 0
    task = TaskData(info, _split([1, 0, 1, 0]), _split([0, 0, 1]))
    assert majority_baseline(task)["accuracy"] == pytest.approx(2 / 3)
    reg = _info("regression", "pearson_spearman", ())
    task = TaskData(reg, _split([1.0, 3.0]), _split([0.5, 2.5, 4.0]))
    assert majority_baseline(task) == {"pearson": 0.0, "spearman": 0.0, "score": 0.0}
    mcc_info = _info("classification", "mcc")
    assert majority_baseline(TaskData(mcc_info, _split([1, 1, 0]), _split([0, 1])))["score"] == 0.0


def test_tagging_baselines_majority_tag_and_per_word() -> None:
    info = _info("tagging", "token_accuracy", ("DT", "NN", "VB"))
    words = (("the", "run", "run"), ("the", "dog", "run"))
    tags = (np.array([0, 2, 1]), np.array([0, 1, 1]))  # 'run': VB once, NN twice -> NN; overall NN
    train = Split(text_a=("", ""), words=words, tags=tags)
    vwords = (("the", "run", "cat"),)
    vtags = (np.array([0, 2, 1]),)
    val = Split(text_a=("",), words=vwords, tags=vtags)
    # per word: the->DT (right), run->NN (wrong), cat unseen -> NN (right) = 2/3
    assert per_word_baseline(TaskData(info, train, val))["score"] == pytest.approx(2 / 3)
    # majority: NN (3 of 6 train tags) everywhere = 1/3
    assert majority_baseline(TaskData(info, train, val))["score"] == pytest.approx(1 / 3)
    both = task_baselines(TaskData(info, train, val))
    assert both == {"majority": majority_baseline(TaskData(info, train, val)),
                    "per_word_majority": per_word_baseline(TaskData(info, train, val))}
    assert set(task_baselines(TaskData(_info("classification", "accuracy"), _split([0, 1]), _split([1])))) == {"majority"}
    with pytest.raises(BadInputError, match="not a tagging task"):
        per_word_baseline(TaskData(_info("classification", "accuracy"), _split([0, 1]), _split([1])))


def test_glue_average() -> None:
    scores = {t: float(i) for i, t in enumerate(GLUE_TASKS)}
    out = glue_average(scores)
    assert out["glue_avg_9"] == pytest.approx(np.mean(range(9)))
    assert out["glue_avg_8_no_wnli"] == pytest.approx(np.mean(range(8)))
    del scores["wnli"]
    assert glue_average(scores) == {"glue_avg_8_no_wnli": pytest.approx(np.mean(range(8)))}
    del scores["rte"]
    with pytest.raises(BadInputError, match="missing: rte, wnli"):
        glue_average(scores)
