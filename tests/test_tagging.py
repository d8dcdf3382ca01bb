"""Token-tagging experiment and `latentatlas topology`: alignment, article split, tagger, scores, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentatlas.annotate import Annotation
from latentatlas.cli import main
from latentatlas.errors import BadInputError
from latentatlas.settings import TaggingSettings
from latentatlas.analyses.topology.run import (
    WordData,
    article_split,
    datastore_rows,
    evaluate,
    fit_predict,
    paired_difference,
    sign_flip_p,
    softmax_regression,
    standardise,
    summarise,
    word_rows,
)


def test_word_rows_take_the_first_subword_of_each_word() -> None:
    # sentence 0: "Unbelievable Paris" -> [CLS] un ##believ ##able paris [SEP]; sentence 1: "Hi" -> [CLS] hi [SEP]
    ann0 = Annotation(words=("Unbelievable", "Paris"), spans=((0, 12), (13, 18)), ent_bio=("O", "B-GPE"))
    ann1 = Annotation(words=("Hi",), spans=((0, 2),), ent_bio=("O",))
    offsets = [[(0, 0), (0, 2), (2, 8), (8, 12), (13, 18), (0, 0)], [(0, 0), (0, 2), (0, 0)]]
    tokens = pd.DataFrame({"sentence_id": [0] * 6 + [1] * 3, "position": [0, 1, 2, 3, 4, 5, 0, 1, 2]})
    words = word_rows(tokens, offsets, [ann0, ann1])
    assert words.rows.tolist() == [1, 4, 7]
    assert words.labels == ["O", "B-GPE", "O"]
    assert words.sentence.tolist() == [0, 0, 1]
    # a store without special tokens: positions skip 0 and the last
    tokens = pd.DataFrame({"sentence_id": [0, 0, 0, 0, 1], "position": [1, 2, 3, 4, 1]})
    assert word_rows(tokens, offsets, [ann0, ann1]).rows.tolist() == [0, 3, 4]


def test_article_split_keeps_articles_whole_and_is_seeded() -> None:
    doc_ids = np.repeat(np.arange(50), np.arange(50) % 7 + 1)
    for seed in range(5):
        val = article_split(doc_ids, seed)
        assert not set(doc_ids[val]) & set(doc_ids[~val])
        assert 0.15 < val.mean() < 0.3
        np.testing.assert_array_equal(val, article_split(doc_ids, seed))
    assert not np.array_equal(article_split(doc_ids, 0), article_split(doc_ids, 1))
    with pytest.raises(BadInputError, match="at least 2"):
        article_split(np.zeros(10, dtype=int), 0)


def test_datastore_rows_are_the_training_sentences_tokens() -> None:
    token_sentence = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])
    doc_ids = np.array([10, 10, 11, 12])  # article of each sentence
    val = article_split(doc_ids, seed=0, fraction=0.3)
    rows = datastore_rows(token_sentence, ~val)
    assert set(token_sentence[rows]) == set(np.flatnonzero(~val))
    assert not set(token_sentence[rows]) & set(np.flatnonzero(val))
    assert datastore_rows(token_sentence, np.array([True, False, True, False])).tolist() == [0, 1, 2, 5, 6, 7, 8]


def test_standardise_uses_training_statistics_and_imputes_nan() -> None:
    train = np.array([[1.0, 5.0, np.nan], [3.0, 5.0, 2.0], [5.0, 5.0, 4.0]])
    test = np.array([[3.0, 7.0, np.nan]])
    tr, te = standardise(train, test)
    np.testing.assert_allclose(tr[:, 0], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    assert np.all(tr[:, 1] == 0) and te[0, 1] == 2.0  # zero spread: divided by 1
    assert tr[0, 2] == 0 and te[0, 2] == 0 and tr[2, 2] == pytest.approx(1.0)


def test_softmax_regression_matches_sklearn(rng: np.random.Generator) -> None:
    from sklearn.linear_model import LogisticRegression

    X = rng.standard_normal((150, 4))
    y = rng.integers(0, 3, 150)
    X[:, 0] += y
    W, b = softmax_regression(X, y, 3, C=0.7, max_iter=500, double=True)
    ref = LogisticRegression(C=0.7, tol=1e-8, max_iter=500).fit(X, y)
    np.testing.assert_allclose(W, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(b - b.mean(), ref.intercept_ - ref.intercept_.mean(), atol=1e-5)
    names = np.array(["B-X", "I-X", "O"])
    assert (fit_predict(X, names[y], X) == names[ref.predict(X)]).mean() > 0.99


def _words(n_sent: int, rng: np.random.Generator) -> tuple[WordData, np.ndarray]:
    """Sentences of 6 words; word 2 starts a 2-word ORG, word 4 is a PERSON; one article per 3 sentences."""
    pattern = ["O", "O", "B-ORG", "I-ORG", "B-PERSON", "O"]
    labels = pattern * n_sent
    sentence = np.repeat(np.arange(n_sent), 6)
    code = np.array([{"O": 0, "B-ORG": 1, "I-ORG": 2, "B-PERSON": 3}[t] for t in labels])
    words = WordData(np.arange(len(labels)), labels, sentence, np.arange(n_sent) // 3)
    return words, code


def test_evaluate_scores_and_topology_block(rng: np.random.Generator) -> None:
    words, code = _words(60, rng)
    informative = np.eye(4)[code] * 3 + 0.1 * rng.standard_normal((code.size, 4))
    noise = rng.standard_normal((code.size, 4))
    # tags readable from the LM block: perfect spans with or without the noise topology block
    scores = evaluate(informative, noise, words, [0, 1])
    assert scores.shape[0] == 4 and set(scores["condition"]) == {"lm", "lm+topology"}
    assert np.allclose(scores["f1"], 1.0)
    assert (scores["n_features"] == [4, 8, 4, 8]).all()
    # tags readable only from the topology block: the topology condition wins
    scores = evaluate(noise, informative, words, [0])
    f1 = scores.set_index("condition")["f1"]
    assert f1["lm+topology"] == 1.0 and f1["lm"] < 0.5
    summary = summarise(pd.concat([scores, scores.assign(seed=1, f1=scores["f1"] / 2)]))
    row = summary.set_index("condition").loc["lm+topology"]
    assert row["f1_mean"] == pytest.approx(0.75) and row["f1_std"] == pytest.approx(np.std([1.0, 0.5], ddof=1))


def _per_seed(lm_f1: list[float], topo_f1: list[float]) -> pd.DataFrame:
    n = len(lm_f1)
    return pd.DataFrame({
        "condition": ["lm"] * n + ["lm+topology"] * n, "seed": list(range(n)) * 2, "f1": lm_f1 + topo_f1,
        "precision": 0.5, "recall": 0.5, "n_train_words": 800, "n_val_words": 200,
    })


def test_paired_difference_over_seeds_by_hand() -> None:
    from scipy import stats

    lm = [0.60, 0.62, 0.58, 0.61, 0.59]
    topo = [a + d for a, d in zip(lm, [0.02, 0.03, 0.01, 0.04, 0.05], strict=True)]
    p = paired_difference(_per_seed(lm, topo))
    sd = np.std([0.02, 0.03, 0.01, 0.04, 0.05], ddof=1)
    half = stats.t.ppf(0.975, 4) * sd / np.sqrt(5)
    assert p["n_seeds"] == 5 and p["diff_mean"] == pytest.approx(0.03) and p["diff_sd"] == pytest.approx(sd)
    assert (p["ci_low"], p["ci_high"]) == pytest.approx((0.03 - half, 0.03 + half))
    assert p["ci_low"] == pytest.approx(0.010368, abs=1e-6)
    assert p["p_t"] == pytest.approx(stats.ttest_rel(topo, lm).pvalue, rel=1e-9)
    assert p["p_sign_flip"] == pytest.approx(2 / 32)  # every difference positive: the exact floor for 5 seeds
    # overlap-corrected: s·√(1/5 + 200/800)
    half_c = stats.t.ppf(0.975, 4) * sd * np.sqrt(0.2 + 0.25)
    assert p["val_train_ratio"] == pytest.approx(0.25)
    assert (p["ci_low_corrected"], p["ci_high_corrected"]) == pytest.approx((0.03 - half_c, 0.03 + half_c))
    assert p["p_corrected"] > p["p_t"]
    # no difference at all: p = 1 everywhere, interval [0, 0]
    same = paired_difference(_per_seed(lm, lm))
    assert same["diff_mean"] == 0 and same["p_t"] == 1.0 and same["p_sign_flip"] == 1.0 and same["ci_high"] == 0
    # one seed: nothing to test, NaN rather than a made-up interval
    one = paired_difference(_per_seed(lm[:1], topo[:1]))
    assert np.isnan(one["ci_low"]) and np.isnan(one["p_t"]) and one["p_sign_flip"] == 1.0


def test_sign_flip_p_matches_enumeration(rng: np.random.Generator) -> None:
    import itertools

    d = rng.normal(0.01, 0.02, size=7)
    obs = abs(d.mean())
    ref = np.mean([abs(np.dot(e, d)) / 7 >= obs * (1 - 1e-12) for e in itertools.product([1, -1], repeat=7)])
    assert sign_flip_p(d) == pytest.approx(ref)
    big = rng.normal(0.0, 1.0, size=30)  # Monte Carlo beyond 16 seeds, seeded
    assert sign_flip_p(big) == sign_flip_p(big) and 0 < sign_flip_p(big) <= 1


def test_summary_carries_the_paired_test_and_seeds_default_to_five() -> None:
    scores = _per_seed([0.6, 0.7, 0.65, 0.62, 0.66], [0.61, 0.69, 0.67, 0.66, 0.66])
    summary = summarise(scores).set_index("condition")
    p = paired_difference(scores)
    assert summary.loc["lm+topology", "f1_diff"] == pytest.approx(p["diff_mean"])
    assert summary.loc["lm+topology", "diff_ci_low"] == pytest.approx(p["ci_low"])
    assert summary.loc["lm+topology", "p_sign_flip"] == pytest.approx(p["p_sign_flip"])
    assert summary.loc["lm+topology", "p_nb"] == pytest.approx(p["p_corrected"])
    assert np.isnan(summary.loc["lm", "f1_diff"])
    assert len(TaggingSettings().seeds) >= 5


def test_evaluate_refuses_a_task_without_entities(rng: np.random.Generator) -> None:
    words, code = _words(12, rng)
    words.labels = ["O"] * len(words.labels)
    with pytest.raises(BadInputError, match="no named entities"):
        evaluate(np.zeros((code.size, 2)), np.zeros((code.size, 1)), words, [0])


def test_topology_command_end_to_end(tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["-q", "topology", "--model", str(tiny_bert_dir), "--layer", "2", "--k", "8", "--seeds", "0,1",
                 "--n-sentences", "60", "--cache", str(tmp_path / "cache"), "--output", str(out), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    summary = {r["condition"]: r for r in result["summary"]}
    assert set(summary) == {"lm", "lm+topology"} and all(r["n_seeds"] == 2 for r in summary.values())
    assert all(0 <= r["f1"] <= 1 for r in result["scores"])
    assert result["n_entity_spans"] > 0 and result["layer"] == 2
    assert result["topology_spec"]["k"] == 8
    per_seed = pd.read_csv(out / "tagging.csv")
    assert len(per_seed) == 4 and (per_seed["n_features"].iloc[1] - per_seed["n_features"].iloc[0]) == len(
        result["topology_features"]
    )
    assert (out / "tagging.html").read_text().count("data:image/png;base64,") == 1
    assert (out / "tagging_summary.csv").is_file() and (out / "tagging.json").is_file()
    # the paired comparison over the seeds is in the JSON, the summary and the page
    paired = result["paired_test"]
    assert paired["n_seeds"] == 2 and {"diff_mean", "ci_low", "ci_high", "p_t", "p_sign_flip"} <= set(paired)
    f1 = {(r["condition"], r["seed"]): r["f1"] for r in result["scores"]}
    assert paired["diff_mean"] == pytest.approx(np.mean([f1[("lm+topology", s)] - f1[("lm", s)] for s in (0, 1)]))
    assert summary["lm+topology"]["f1_diff"] == pytest.approx(paired["diff_mean"])
    assert "paired over seeds" in (out / "tagging.html").read_text()
    # one datastore per seed: the training articles' tokens of that seed's split, fewer than all tokens
    assert set(result["datastore_tokens"]) == {"0", "1"}
    assert all(0 < v < result["n_tokens"] for v in result["datastore_tokens"].values())
    assert result["datastore_tokens"]["0"] != result["datastore_tokens"]["1"]
    # the features were cached (one file per split): a second run reuses them and gives the same scores
    assert len(list((tmp_path / "cache" / "topology").glob("*.npz"))) == 2
    assert main(["-q", "topology", "--model", str(tiny_bert_dir), "--layer", "2", "--k", "8", "--seeds", "0,1",
                 "--n-sentences", "60", "--cache", str(tmp_path / "cache"), "--output", str(out), "--json"]) == 0
    strip = lambda rows: [{k: v for k, v in r.items() if k != "fit_s"} for r in rows]  # noqa: E731
    assert strip(json.loads(capsys.readouterr().out)["scores"]) == strip(result["scores"])


def test_topology_without_the_tda_extra_fails_at_once(
    tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ripser", None)  # `import ripser` now raises ImportError
    out, cache = tmp_path / "out", tmp_path / "cache"
    code = main(["-q", "topology", "--model", str(tiny_bert_dir), "--n-sentences", "20", "--cache", str(cache),
                 "--output", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "pip install 'latentatlas[tda]'" in err and "ripser" in err and err.count("\n") == 1
    assert not out.exists() and not cache.exists()  # nothing extracted, nothing written


@pytest.fixture(scope="module")
def zero_bert_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    """A BERT whose weights are all zero: every embedding-layer vector is the same (LayerNorm bias 0)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=128)
    model = BertModel(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    out = tmp_path_factory.mktemp("zero_bert")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(out)
    return out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k", "100000"], "lower --k"),
        (["--model", "no-such-model-here"], "no-such-model-here"),
        (["--seeds", "0,x"], "comma-separated integers"),
        (["--k", "1"], "--k: Input should be greater than or equal to 2"),
        (["--layer", "9"], "layer"),
        (["ZERO", "--layer", "0"], "identical"),
    ],
)
def test_topology_bad_input(
    tmp_path: Path, tiny_bert_dir: Path, zero_bert_dir: Path, capsys: pytest.CaptureFixture[str],
    args: list[str], message: str,
) -> None:
    model = str(zero_bert_dir) if args[:1] == ["ZERO"] else str(tiny_bert_dir)
    args = [a for a in args if a != "ZERO"]
    if "--model" not in args:
        args = ["--model", model, *args]
    out = tmp_path / "out"
    code = main(["-q", "topology", "--n-sentences", "20", "--cache", str(tmp_path / "cache"), "--output", str(out), *args])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()
