"""Frozen features, probes and fine-tuning on small synthetic tasks with a tiny random BERT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latentatlas.downstream.base import Split, TaskData, TaskInfo
from latentatlas.downstream.encode import FeatureCache, encode_split, features
from latentatlas.downstream.finetune import FinetuneSettings, finetune, run_key
from latentatlas.downstream.probe import (
    CV_MAX_ITER,
    CV_TOL,
    ProbeSettings,
    cv_folds,
    probe,
    select_C,
)
from latentatlas.errors import BadInputError

NOUNS = ["cat", "dog", "market", "team", "minister", "phone", "film", "bank", "player", "court"]


def _sentiment_task(n_train: int = 80, n_eval: int = 40, seed: int = 0) -> TaskData:
    """Label 1 iff the sentence contains 'excellent' (else 'terrible'): linearly decodable from words."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> Split:
        labels = rng.integers(0, 2, size=n)
        texts = tuple(
            f"the {rng.choice(NOUNS)} was {'excellent' if y else 'terrible'} today" for y in labels
        )
        return Split(text_a=texts, labels=labels.astype(np.int64))

    info = TaskInfo("toy_sentiment", "classification", "accuracy", ("neg", "pos"), False, "offline", "toy")
    return TaskData(info, split(n_train), split(n_eval))


def _tagging_task(n_train: int = 60, n_eval: int = 30, seed: int = 0) -> TaskData:
    """Tag 1 on nouns from NOUNS, 0 elsewhere."""
    rng = np.random.default_rng(seed)
    fillers = ["the", "a", "quickly", "saw", "near", "big", "old", "and"]

    def split(n: int) -> Split:
        words, tags = [], []
        for _ in range(n):
            w = [str(rng.choice(NOUNS if rng.random() < 0.4 else fillers)) for _ in range(rng.integers(3, 9))]
            words.append(tuple(w))
            tags.append(np.array([int(x in NOUNS) for x in w], dtype=np.int64))
        return Split(text_a=tuple(" ".join(w) for w in words), words=tuple(words), tags=tuple(tags))

    info = TaskInfo("toy_nouns", "tagging", "token_accuracy", ("O", "NOUN"), False, "offline", "toy")
    return TaskData(info, split(n_train), split(n_eval))


@pytest.fixture(scope="module")
def tiny(tiny_bert_dir: Path):
    from transformers import AutoModel, AutoTokenizer

    return AutoModel.from_pretrained(tiny_bert_dir).eval(), AutoTokenizer.from_pretrained(tiny_bert_dir)


def test_sentence_features_are_mean_of_non_special_tokens(tiny) -> None:
    model, tok = tiny
    task = _sentiment_task(6, 2)
    feats = features(model, tok, task.train, task.info, layers=[0, 2])
    enc = tok(list(task.train.text_a[:1]), return_tensors="pt")
    with torch.inference_mode():
        hs = model(**enc, output_hidden_states=True).hidden_states
    expected = hs[2][0, 1:-1].mean(0).numpy()  # [CLS] and [SEP] excluded
    np.testing.assert_allclose(feats.by_layer[2][0], expected, rtol=1e-4, atol=1e-5)
    assert feats.kept.all() and feats.by_layer[0].shape == (6, 32)


def test_pair_features_use_segment_ids(tiny) -> None:
    model, tok = tiny
    info = TaskInfo("toy_pair", "classification", "accuracy", ("a", "b"), True, "offline", "toy")
    split = Split(text_a=("a cat sat",), text_b=("a dog ran",), labels=np.array([0]))
    feats = features(model, tok, split, info, layers=[1])
    enc = tok(["a cat sat"], ["a dog ran"], return_tensors="pt")
    assert enc["token_type_ids"].sum() > 0
    with torch.inference_mode():
        h = model(**enc, output_hidden_states=True).hidden_states[1][0]
    special = np.array(tok.get_special_tokens_mask(enc["input_ids"][0].tolist(), already_has_special_tokens=True), bool)
    np.testing.assert_allclose(feats.by_layer[1][0], h[~special].mean(0).numpy(), rtol=1e-4, atol=1e-5)


def _hidden(model, tok, *texts: str, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Hidden states of one encoded text (or pair) at ``layer`` and its special-token mask."""
    enc = tok(*[[t] for t in texts], return_tensors="pt")
    with torch.inference_mode():
        h = model(**enc, output_hidden_states=True).hidden_states[layer][0].numpy()
    special = np.array(tok.get_special_tokens_mask(enc["input_ids"][0].tolist(), already_has_special_tokens=True), bool)
    return h, special


def test_sentence_poolings_halves_and_cls_mean_max(tiny) -> None:
    model, tok = tiny
    task = _sentiment_task(3, 1)
    h, special = _hidden(model, tok, task.train.text_a[0], layer=2)
    tokens = h[~special]
    k = len(tokens)
    assert k >= 5  # "the NOUN was ADJ today": at least 5 word pieces
    halves = features(model, tok, task.train, task.info, layers=[2], sentence_pooling="halves").by_layer[2][0]
    expected = np.concatenate([tokens[: k // 2].mean(0), tokens[k // 2 :].mean(0)])
    np.testing.assert_allclose(halves, expected, rtol=1e-4, atol=1e-5)
    three = features(model, tok, task.train, task.info, layers=[2], sentence_pooling="cls_mean_max").by_layer[2][0]
    np.testing.assert_allclose(three, np.concatenate([h[0], tokens.mean(0), tokens.max(0)]), rtol=1e-4, atol=1e-5)
    with pytest.raises(BadInputError, match="sentence pooling"):
        features(model, tok, task.train, task.info, layers=[2], sentence_pooling="meen")  # type: ignore[arg-type]


def test_senteval_pair_features_encode_each_sentence_alone(tiny, tmp_path: Path) -> None:
    model, tok = tiny
    info = TaskInfo("toy_pair", "classification", "accuracy", ("a", "b"), True, "offline", "toy")
    split = Split(text_a=("a cat sat", "the old dog ran far"), text_b=("a dog ran", "news"), labels=np.array([0, 1]))
    feats = features(model, tok, split, info, layers=[1], pair_features="senteval").by_layer[1]
    assert feats.shape == (2, 4 * 32)
    for i in range(2):
        ha, sa = _hidden(model, tok, split.text_a[i], layer=1)
        hb, sb = _hidden(model, tok, split.text_b[i], layer=1)
        u, v = ha[~sa].mean(0), hb[~sb].mean(0)
        np.testing.assert_allclose(feats[i], np.concatenate([u, v, np.abs(u - v), u * v]), rtol=1e-4, atol=1e-5)
    # the cache keys on the feature kind: joint and separate features are two entries
    cache = FeatureCache(tmp_path)
    cache.get_or_compute(model, tok, split, info, model_key="m", layers=[1], pair_features="senteval")
    cache.get_or_compute(model, tok, split, info, model_key="m", layers=[1], pair_features="joint_mean")
    assert len(list((tmp_path / "features").glob("*.npz"))) == 2


def test_cv_folds_are_stratified_grouped_and_seeded() -> None:
    y = np.array([0] * 10 + [1] * 5 + [2] * 3)
    folds = cv_folds(y, 3, seed=0)
    for c, n_c in ((0, 10), (1, 5), (2, 3)):
        counts = np.bincount(folds[y == c], minlength=3)
        assert counts.max() - counts.min() <= 1 and counts.sum() == n_c
    sizes = np.bincount(folds, minlength=3)
    assert sizes.max() - sizes.min() <= 1
    np.testing.assert_array_equal(folds, cv_folds(y, 3, seed=0))
    assert not np.array_equal(folds, cv_folds(y, 3, seed=1))
    groups = np.repeat(np.arange(9), 2)  # 9 sentences of 2 words
    gfolds = cv_folds(np.zeros(18, int), 3, seed=0, groups=groups)
    assert all(len(set(gfolds[groups == g])) == 1 for g in range(9))
    assert (np.bincount(gfolds) == 6).all()


def test_select_C_matches_plain_cross_validation() -> None:
    """Warm-started grid fits give the scores of independent fits with the same folds, and the best C."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    n, d = 150, 40
    y = rng.integers(0, 3, n)
    F = rng.normal(size=(n, d))
    F[:, :3] += 0.8 * np.eye(3)[y]  # a weak signal in 3 of 40 dimensions: the grid's ends differ
    info = TaskInfo("toy3", "classification", "accuracy", ("a", "b", "c"), False, "offline", "toy")
    settings = ProbeSettings()
    C, scores = select_C(F, y, info, settings, seed=0)
    folds = cv_folds(y, 3, seed=0)
    expected = []
    for c in settings.C_grid:
        acc = []
        for f in range(3):
            est = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=CV_MAX_ITER, tol=CV_TOL))
            est.fit(F[folds != f], y[folds != f])
            acc.append(np.mean(est.predict(F[folds == f]) == y[folds == f]))
        expected.append(np.mean(acc))
    np.testing.assert_allclose(scores, expected, atol=0.02)
    assert C == settings.C_grid[int(np.argmax(scores))]
    assert scores.max() - scores.min() > 0.1  # the choice matters here
    # too few examples to validate on: C = 1
    C1, s1 = select_C(F[:1], y[:1], info, settings, seed=0)
    assert C1 == 1.0 and np.isnan(s1).all()


def test_probe_chooses_C_once_per_layer_or_uses_the_fixed_one(tiny) -> None:
    model, tok = tiny
    task = _sentiment_task(60, 30)
    tr = features(model, tok, task.train, task.info, layers=[0, 2])
    va = features(model, tok, task.validation, task.info, layers=[0, 2])
    rows = probe(task, tr, va, layers=[0, 2], seeds=[0, 1])
    for layer in (0, 2):
        chosen = {r["C"] for r in rows if r["layer"] == layer}
        assert len(chosen) == 1 and chosen <= set(ProbeSettings().C_grid)
    fixed = probe(task, tr, va, layers=[2], seeds=[0], settings=ProbeSettings(C=0.5))
    assert fixed[0]["C"] == 0.5
    ridge = probe(task, tr, va, layers=[2], seeds=[0], settings=ProbeSettings(classifier="ridge"))
    assert "C" not in ridge[0]


def test_tagging_features_take_first_subword_and_mark_truncated_words(tiny) -> None:
    model, tok = tiny
    info = TaskInfo("toy_nouns", "tagging", "token_accuracy", ("O", "NOUN"), False, "offline", "toy")
    words = ("unbelievably", "good", "cat") + ("dog",) * 20
    split = Split(text_a=(" ".join(words),), words=(words,), tags=(np.zeros(len(words), np.int64),))
    enc = encode_split(tok, split, info, max_length=12)
    wt = enc.word_token[0]
    n_sub = len(tok.tokenize("unbelievably"))
    assert n_sub > 1 and wt[0] == 1 and wt[1] == 1 + n_sub  # first subwords, after [CLS]
    n_fit = 10 - n_sub + 1  # 12 tokens = [CLS] + 10 + [SEP]
    assert (wt[:n_fit] > 0).all() and (wt[n_fit:] == -1).all()
    feats = features(model, tok, split, info, layers=[2], max_length=12)
    assert feats.kept.sum() == (wt >= 0).sum() and not feats.by_layer[2][~feats.kept].any()


def test_feature_cache_reuses_and_keys_on_content(tiny, tmp_path: Path) -> None:
    model, tok = tiny
    task = _sentiment_task(8, 4)
    cache = FeatureCache(tmp_path)
    a = cache.get_or_compute(model, tok, task.train, task.info, model_key="m", layers=[1, 2])
    files = list((tmp_path / "features").glob("*.npz"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    b = cache.get_or_compute(model, tok, task.train, task.info, model_key="m", layers=[1, 2])
    assert files[0].stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(a.by_layer[2], b.by_layer[2])
    cache.get_or_compute(model, tok, task.validation, task.info, model_key="m", layers=[1, 2])
    assert len(list((tmp_path / "features").glob("*.npz"))) == 2


def test_probe_decodes_a_linear_signal_and_seeds_vary_the_sample(tiny) -> None:
    model, tok = tiny
    task = _sentiment_task(120, 60)
    tr = features(model, tok, task.train, task.info, layers=[0, 2])
    va = features(model, tok, task.validation, task.info, layers=[0, 2])
    rows = probe(task, tr, va, layers=[0, 2], seeds=[0, 1], settings=ProbeSettings(train_fraction=0.5))
    assert {(r["layer"], r["seed"]) for r in rows} == {(0, 0), (0, 1), (2, 0), (2, 1)}
    assert all(r["n_train"] == 60 for r in rows)
    majority = max(np.mean(task.validation.labels), 1 - np.mean(task.validation.labels))
    assert min(r["score"] for r in rows) > max(0.9, majority)


def test_probe_rows_do_not_depend_on_the_number_of_cores(tiny, monkeypatch) -> None:
    """Folds and (seed, layer) fits run one per core; the rows are those of a serial run, in order."""
    import latentatlas.downstream.probe as probe_module

    model, tok = tiny
    task = _sentiment_task(60, 30)
    tr = features(model, tok, task.train, task.info, layers=[0, 2])
    va = features(model, tok, task.validation, task.info, layers=[0, 2])
    monkeypatch.setattr(probe_module, "available_cores", lambda: 1)
    serial = probe(task, tr, va, layers=[0, 2], seeds=[0, 1])
    monkeypatch.setattr(probe_module, "available_cores", lambda: 3)
    assert probe(task, tr, va, layers=[0, 2], seeds=[0, 1]) == serial
    assert [(r["seed"], r["layer"]) for r in serial] == [(0, 0), (0, 2), (1, 0), (1, 2)]


@pytest.mark.parametrize("classifier", ["logistic", "ridge"])
def test_probe_tagging_scores_per_word(tiny, classifier: str) -> None:
    model, tok = tiny
    task = _tagging_task()
    tr = features(model, tok, task.train, task.info, layers=[0])
    va = features(model, tok, task.validation, task.info, layers=[0])
    settings = ProbeSettings(train_fraction=1.0, classifier=classifier)
    (row,) = probe(task, tr, va, layers=[0], seeds=[0], settings=settings)
    # layer 0 = word embedding + position: the noun identity is linearly decodable
    assert row["score"] > 0.95


def test_probe_regression_uses_ridge(tiny) -> None:
    model, tok = tiny
    base = _sentiment_task(100, 40)
    info = TaskInfo("toy_reg", "regression", "pearson_spearman", (), False, "offline", "toy")
    task = TaskData(
        info,
        Split(text_a=base.train.text_a, labels=base.train.labels.astype(np.float32) * 5),
        Split(text_a=base.validation.text_a, labels=base.validation.labels.astype(np.float32) * 5),
    )
    tr = features(model, tok, task.train, info, layers=[1])
    va = features(model, tok, task.validation, info, layers=[1])
    (row,) = probe(task, tr, va, layers=[1], seeds=[0], settings=ProbeSettings(train_fraction=1.0))
    assert row["pearson"] > 0.9 and row["score"] == pytest.approx((row["pearson"] + row["spearman"]) / 2)


SMALL = FinetuneSettings(learning_rate=1e-3, batch_size=8, per_device_batch_size=4, epochs=6, max_length=16)


def test_finetune_refuses_a_planted_checkpoint(tiny, tmp_path: Path, plant_code) -> None:  # type: ignore[no-untyped-def]
    model, tok = tiny
    task = _sentiment_task(16, 8)
    marker = plant_code(tmp_path / "finetune" / run_key("tiny", task, SMALL, 0) / "checkpoint.pt")
    with pytest.raises(BadInputError, match="refused unread"):
        finetune(model, tok, task, model_key="tiny", cache_dir=tmp_path, seed=0, settings=SMALL)
    assert not marker.exists()


def test_finetune_learns_and_saves_a_loadable_model(tiny, tmp_path: Path) -> None:
    model, tok = tiny
    task = _sentiment_task(96, 32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = finetune(model, tok, task, model_key="tiny", cache_dir=tmp_path, seed=0, settings=SMALL)
    assert res.metrics["score"] >= 0.9 and res.examples_per_s > 0
    for k, v in model.state_dict().items():  # the caller's encoder is untouched
        assert torch.equal(v, before[k])
    from transformers import AutoModel

    tuned = AutoModel.from_pretrained(res.model_dir)
    assert not torch.equal(tuned.embeddings.word_embeddings.weight, model.embeddings.word_embeddings.weight)
    again = finetune(model, tok, task, model_key="tiny", cache_dir=tmp_path, seed=0, settings=SMALL)
    assert again.metrics == res.metrics  # cached result reused
    # the whole task model is saved too: its head reproduces the validation accuracy
    from latentatlas.analyses.concepts.triggers import HeadClassifier

    assert again.classifier_dir == res.classifier_dir and res.classifier_dir is not None
    head = HeadClassifier.load(str(res.classifier_dir))
    pred = head.proba(list(task.validation.text_a)).argmax(1)
    assert np.mean(pred == np.asarray(task.validation.labels)) == pytest.approx(res.metrics["accuracy"])


def test_finetune_tagging_and_regression_heads(tiny, tmp_path: Path) -> None:
    model, tok = tiny
    tag = finetune(model, tok, _tagging_task(48, 16), model_key="tiny", cache_dir=tmp_path, seed=0, settings=SMALL)
    assert tag.metrics["score"] > 0.8
    base = _sentiment_task(96, 32)
    info = TaskInfo("toy_reg", "regression", "pearson_spearman", (), False, "offline", "toy")
    reg_task = TaskData(
        info,
        Split(text_a=base.train.text_a, labels=base.train.labels.astype(np.float32)),
        Split(text_a=base.validation.text_a, labels=base.validation.labels.astype(np.float32)),
    )
    reg = finetune(model, tok, reg_task, model_key="tiny", cache_dir=tmp_path, seed=0, settings=SMALL)
    assert np.isfinite(reg.metrics["score"]) and reg.metrics["pearson"] > 0.5


def test_interrupted_finetune_resumes_to_the_same_result(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import latentatlas.downstream.finetune as ft

    model, tok = tiny
    task = _sentiment_task(32, 16)
    full = finetune(model, tok, task, model_key="tiny", cache_dir=tmp_path / "a", seed=3, settings=SMALL)

    calls = {"n": 0}
    real = ft._labels_for

    def crash_in_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 8 + 2:  # 8 micro-batches per epoch: die early in epoch 2 of 6
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ft, "_labels_for", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        finetune(model, tok, task, model_key="tiny", cache_dir=tmp_path / "b", seed=3, settings=SMALL)
    assert list((tmp_path / "b" / "finetune").glob("*/checkpoint.pt"))
    monkeypatch.setattr(ft, "_labels_for", real)
    resumed = finetune(model, tok, task, model_key="tiny", cache_dir=tmp_path / "b", seed=3, settings=SMALL)
    assert resumed.resumed_from_epoch == 1
    assert resumed.metrics == pytest.approx(full.metrics)
    from transformers import AutoModel

    a = AutoModel.from_pretrained(full.model_dir).state_dict()
    b = AutoModel.from_pretrained(resumed.model_dir).state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_settings_reject_batch_not_multiple_of_device_batch() -> None:
    with pytest.raises(ValueError, match="multiple of per_device_batch_size"):
        FinetuneSettings(batch_size=30, per_device_batch_size=8)
