"""Anchor-vector analysis: closed forms, brute force, planted/absent anchors, real LM heads, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from latentatlas.analyses.anchor import (
    anchor_table,
    anchored_lm,
    anchorless_lm,
    bulk_log_partition,
    collect,
    collect_contexts,
    cosine,
    fit_anchor,
    heldout_scores,
    load_lm,
    null_scores,
    prediction_entropy,
    random_lm,
    resampled_head,
    rotated_head,
    split_contexts,
    split_groups,
    with_nulls,
)
from latentatlas.analyses.anchor.null import anchor_verdict, haar_orthogonal, head_targets
from latentatlas.cli import main
from latentatlas.errors import BadInputError


def test_bulk_log_partition_matches_brute_force(rng: np.random.Generator) -> None:
    logits = rng.normal(size=(7, 50)) * 3
    ks = [0, 1, 5, 49]
    got = bulk_log_partition(logits, ks)
    for i in range(7):
        order = np.sort(logits[i])[::-1]
        for j, k in enumerate(ks):
            assert got[i, j] == pytest.approx(np.log(np.sum(np.exp(order[k:]))), rel=1e-12)


def test_bulk_log_partition_rejects_k_beyond_vocabulary() -> None:
    with pytest.raises(BadInputError, match="no word in the bulk"):
        bulk_log_partition(np.zeros((2, 5)), [5])


def test_fit_anchor_matches_normal_equations(rng: np.random.Generator) -> None:
    F = rng.normal(size=(40, 5)) + 2.0
    y = F @ np.arange(1.0, 6.0) + 3.0 + 0.1 * rng.normal(size=40)
    fit = fit_anchor(F, y, intercept=True, ridge=0.0)
    X = np.column_stack([F, np.ones(40)])
    ref = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(fit.v0, ref[:5], rtol=1e-9)
    assert fit.intercept == pytest.approx(ref[5], rel=1e-9)
    no_c = fit_anchor(F, y, intercept=False, ridge=0.0)
    np.testing.assert_allclose(no_c.v0, np.linalg.lstsq(F, y, rcond=None)[0], rtol=1e-9)
    assert no_c.intercept == 0.0
    # ridge: (FcᵀFc + λI) v = Fcᵀ yc with λ = ridge · tr(FcᵀFc)/d
    r = fit_anchor(F, y, intercept=True, ridge=0.5)
    Fc, yc = F - F.mean(0), y - y.mean()
    lam = 0.5 * np.trace(Fc.T @ Fc) / 5
    np.testing.assert_allclose(r.v0, np.linalg.solve(Fc.T @ Fc + lam * np.eye(5), Fc.T @ yc), rtol=1e-9)


def test_heldout_scores_by_hand() -> None:
    from latentatlas.analyses.anchor import AnchorFit

    fit = AnchorFit(v0=np.array([1.0]), intercept=0.0)
    s = heldout_scores(fit, np.array([[1.0], [2.0]]), np.array([1.0, 3.0]), train_mean=1.0)
    assert s["mse"] == pytest.approx(0.5)  # errors 0, 1
    assert s["mse_const"] == pytest.approx(2.0)  # errors 0, 2
    assert s["r2"] == pytest.approx(0.75)
    assert cosine(np.array([1.0, 0]), np.array([1.0, 1.0])) == pytest.approx(2**-0.5)


def test_split_is_seeded_and_disjoint() -> None:
    a = split_contexts(100, test_fraction=0.3, seed=4)
    b = split_contexts(100, test_fraction=0.3, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert len(a[1]) == 30 and not set(a[0]) & set(a[1])
    with pytest.raises(BadInputError, match="too few"):
        split_contexts(3, test_fraction=0.3, seed=0)


def test_split_by_group_keeps_each_sentence_on_one_side() -> None:
    groups = np.repeat(np.arange(40), np.arange(40) % 5 + 1)  # 40 sentences of 1..5 contexts
    train, test = split_groups(groups, test_fraction=0.3, seed=3)
    assert not set(groups[train]) & set(groups[test])
    assert np.unique(groups[test]).size == 12 and train.size + test.size == groups.size
    np.testing.assert_array_equal(test, np.sort(test))
    # one context per sentence: the same split as by context
    for got, ref in zip(split_groups(np.arange(50), test_fraction=0.3, seed=1),
                        split_contexts(50, test_fraction=0.3, seed=1), strict=True):
        np.testing.assert_array_equal(got, ref)
    with pytest.raises(BadInputError, match="sentences are too few"):
        split_groups(np.repeat([0, 1, 2], 50), test_fraction=0.3, seed=0)


def test_planted_anchor_is_recovered() -> None:
    lm = anchored_lm(seed=1, leak=0.0)
    ks = [0, 10, 100]
    y = bulk_log_partition(lm.logits(), ks)
    for row in anchor_table(lm.features, y, ks, seed=1):
        if row["intercept"]:
            assert row["r2"] > 0.999999
    fit = fit_anchor(lm.features, y[:, 1], intercept=True)
    assert cosine(fit.v0, lm.v0) > 0.9999
    np.testing.assert_allclose(fit.v0, lm.v0, atol=1e-3 * np.linalg.norm(lm.v0))
    # a small leak of the output embeddings into the context subspace keeps the anchor approximate
    leaky = anchored_lm(seed=1, leak=0.05)
    yl = bulk_log_partition(leaky.logits(), [0])
    row = anchor_table(leaky.features, yl, [0], seed=1)[0]
    assert row["r2"] > 0.95
    assert cosine(fit_anchor(leaky.features, yl[:, 0], intercept=True).v0, leaky.v0) > 0.95


def test_no_anchor_gives_zero_r2() -> None:
    lm = anchorless_lm(seed=2, n=3000)
    y = bulk_log_partition(lm.logits(), [0, 10])
    rows = anchor_table(lm.features, y, [0, 10], seed=2)
    for row in rows:
        if row["intercept"]:
            assert abs(row["r2"]) < 0.05
        else:  # through the origin it cannot even reach the mean log Z
            assert row["r2"] < -10


# -- matched nulls ---------------------------------------------------------------------------------


def _with_nulls(lm, ks: list[int], seed: int = 0):  # type: ignore[no-untyped-def]
    import pandas as pd

    Y, H = head_targets(lm.features, lm.weight, lm.bias, ks)
    real = pd.DataFrame(anchor_table(lm.features, Y, ks, seed=seed))
    return with_nulls(real, null_scores(lm.features, lm.weight, lm.bias, ks, seed=seed), float(H.mean()))


def test_null_heads_keep_the_vocabulary_geometry(rng: np.random.Generator) -> None:
    W = rng.normal(size=(60, 7))
    b = W[:, 0] * 10  # a bias tied to each row, to see that it travels with its row
    Q = haar_orthogonal(7, seed=5)
    np.testing.assert_allclose(Q @ Q.T, np.eye(7), atol=1e-12)
    Wr, br = rotated_head(W, b, seed=5)
    np.testing.assert_allclose(Wr, W @ Q)
    np.testing.assert_allclose(Wr @ Wr.T, W @ W.T, atol=1e-10)  # row norms and word-word inner products
    np.testing.assert_array_equal(br, b)
    assert np.abs(Wr - W).max() > 0.1 and not np.allclose(rotated_head(W, b, seed=6)[0], Wr)
    Ws, bs = resampled_head(W, b, seed=5)
    np.testing.assert_array_equal(bs, Ws[:, 0] * 10)
    assert {tuple(r) for r in Ws} <= {tuple(r) for r in W} and np.unique(Ws, axis=0).shape[0] < 60
    np.testing.assert_array_equal(resampled_head(W, b, seed=5)[0], Ws)
    # Haar: the mean of Q over many seeds vanishes (a sign-biased QR would not give 0 on the diagonal)
    mean_q = np.mean([haar_orthogonal(3, s) for s in range(4000)], axis=0)
    assert np.abs(mean_q).max() < 0.03


def test_prediction_entropy_known_answers() -> None:
    p = np.exp([1.0, 2.0, 3.0, 4.0]) / np.exp([1.0, 2.0, 3.0, 4.0]).sum()
    np.testing.assert_allclose(prediction_entropy(np.zeros((1, 8))), [np.log(8)], rtol=1e-12)
    np.testing.assert_allclose(prediction_entropy(np.array([[1.0, 2.0, 3.0, 4.0]])), [-(p * np.log(p)).sum()], rtol=1e-12)
    peaked = np.array([[1000.0, 0.0, 0.0, 0.0], [0.0, 0.0, -np.inf, -np.inf]])  # words of probability 0 add 0
    np.testing.assert_allclose(prediction_entropy(peaked), [0.0, np.log(2)], atol=1e-12)


def test_planted_anchor_beats_its_rotation_null() -> None:
    table = _with_nulls(anchored_lm(seed=0, leak=0.05), [0, 10, 100])
    fits = table[table["intercept"]]
    assert (fits["real_r2"] > 0.999).all()
    assert (fits["null_rotation_r2_max"] < 0.55).all() and (fits["null_rotation_r2_sd"] > 0).all()
    assert (fits["r2_gap"] > 0.45).all() and fits["beats_null"].all()
    # the resample null keeps every row, and with them the shared anchor: it cannot decide (see null.py)
    assert (fits["null_resample_r2"] > 0.999).all()
    verdict = anchor_verdict(table)
    assert verdict["verdict"] == "anchor supported" and verdict["supported_ks"] == [0, 10, 100]
    assert verdict["mean_entropy_nats"] == pytest.approx(0.88, abs=0.01)


def test_random_head_at_high_entropy_has_high_r2_but_no_anchor() -> None:
    # nothing planted: log Z is nearly linear in f by smoothness, so R² is high, and so is the null's
    table = _with_nulls(random_lm(seed=0, spread=0.1), [0, 10, 100])
    fits = table[table["intercept"]].set_index("k")
    assert fits.loc[10, "real_r2"] > 0.85 and (fits["real_r2"] > 0.65).all()
    assert (fits["mean_entropy_nats"] > 6.85).all()  # log 1000 = 6.91: nearly uniform predictions
    np.testing.assert_allclose(fits["real_r2"], fits["null_rotation_r2"], atol=0.04)
    assert fits["null_rotation_entropy_nats"].to_numpy() == pytest.approx(fits["mean_entropy_nats"].to_numpy(), abs=0.01)
    assert not fits["beats_null"].any()
    assert anchor_verdict(table)["verdict"] == "no anchor beyond the null"
    # without the null the old report read this as an anchor: R² above 0.65 at every k


def test_with_nulls_and_verdict_by_hand() -> None:
    import pandas as pd

    real = pd.DataFrame({"k": [0, 10, 0, 10], "intercept": [True, True, False, False], "r2": [0.9, 0.6, 0.3, 0.2]})
    nulls = pd.DataFrame({
        "null": ["rotation"] * 6 + ["resample"] * 2,
        "null_seed": [0, 1, 2, 0, 1, 2, 0, 0],
        "k": [0, 0, 0, 10, 10, 10, 0, 10],
        "intercept": [True] * 8,
        "r2": [0.5, 0.7, 0.6, 0.4, 0.55, 0.45, 0.95, 0.5],
        "mean_entropy_nats": [2.0] * 8,
    })
    t = with_nulls(real, nulls, 3.0, margin=0.1, min_r2=0.5).set_index(["k", "intercept"])
    assert t.loc[(0, True), "null_rotation_r2"] == pytest.approx(0.6)
    assert t.loc[(0, True), "null_rotation_r2_sd"] == pytest.approx(0.1)
    assert t.loc[(0, True), "null_rotation_r2_max"] == pytest.approx(0.7)
    assert t.loc[(0, True), "r2_gap"] == pytest.approx(0.2)  # the resample null does not enter the gap
    assert t.loc[(0, True), "beats_null"] and not t.loc[(10, True), "beats_null"]  # 0.6 − 0.55 < 0.1
    assert np.isnan(t.loc[(0, False), "null_rotation_r2"]) and not t.loc[(0, False), "beats_null"]
    assert (t["mean_entropy_nats"] == 3.0).all() and t.loc[(0, True), "null_rotation_entropy_nats"] == 2.0
    v = anchor_verdict(t.reset_index())
    assert v["verdict"] == "anchor supported at k = 0 only" and not v["supported"]
    assert "0.900 vs rotation null 0.600 ± 0.100 (max 0.700)" in v["text"]
    assert "entropy 3.00 nats, rotation null 2.00" in v["text"] and v["null_rotation_entropy_nats"] == 2.0
    # below min_r2 no gap is enough
    low = with_nulls(real.assign(r2=real["r2"] - 0.45), nulls.assign(r2=nulls["r2"] - 0.9), 3.0)
    assert not low["beats_null"].any()


# -- real LM heads ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    model = BertForMaskedLM(cfg).eval()
    with torch.no_grad():  # a visible output bias, so a forgotten b shows in the logits check
        model.get_output_embeddings().bias.normal_(0, 1.0)
    out = tmp_path_factory.mktemp("tiny_mlm")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(minilm_dir)
    cfg = GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=2, n_positions=128,
                     bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id)
    out = tmp_path_factory.mktemp("tiny_gpt2")
    GPT2LMHeadModel(cfg).eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.mark.parametrize("which, kind", [("mlm_dir", "masked"), ("gpt2_dir", "causal")])
def test_decoder_input_reproduces_model_logits(request: pytest.FixtureRequest, which: str, kind: str, sentences: list[str]) -> None:
    lm = load_lm(str(request.getfixturevalue(which)))
    assert lm.kind == kind
    enc = lm.tokenizer(sentences[:3], return_tensors="pt", padding=True)
    enc.pop("token_type_ids", None) if kind == "causal" else None
    f, logits = lm.features(**enc)
    assert f.shape[-1] == 32
    torch.testing.assert_close(f @ lm.weight.T + lm.bias, logits, rtol=1e-5, atol=1e-5)
    if kind == "masked":  # f is the transform output (after LayerNorm), not the encoder's last hidden state
        hidden = lm.model.bert(**enc).last_hidden_state
        assert not torch.allclose(hidden, f, atol=1e-3)
        torch.testing.assert_close(lm.model.cls.predictions.transform(hidden), f)
        assert lm.bias.abs().max() > 0.1
    else:
        assert float(lm.bias.abs().max()) == 0.0


def test_collect_targets_are_bulk_partition_of_model_logits(mlm_dir: Path, sentences: list[str]) -> None:
    lm = load_lm(str(mlm_dir))
    F, Y = collect(lm, sentences, [0, 10], seed=0)
    assert F.shape == (len(sentences), 32) and Y.shape == (len(sentences), 2)
    logits = F @ lm.weight.double().numpy().T + lm.bias.double().numpy()
    np.testing.assert_allclose(Y[:, 0], np.log(np.exp(logits).sum(1)), rtol=1e-10)
    F2, _ = collect(lm, sentences, [0], seed=0)
    np.testing.assert_array_equal(F, F2)  # seeded mask positions


def test_causal_contexts_are_every_position(gpt2_dir: Path, sentences: list[str]) -> None:
    lm = load_lm(str(gpt2_dir))
    F, _ = collect(lm, sentences, [0], seed=0)
    n_tokens = sum(len(lm.tokenizer(s)["input_ids"]) for s in sentences)
    assert F.shape[0] == n_tokens
    F_cap, _ = collect(lm, sentences, [0], seed=0, max_contexts=20)
    assert F_cap.shape[0] == 20


def test_causal_contexts_of_one_sentence_stay_on_one_side(gpt2_dir: Path, sentences: list[str]) -> None:
    lm = load_lm(str(gpt2_dir))
    F, sentence = collect_contexts(lm, sentences, seed=0)
    lengths = [len(lm.tokenizer(s)["input_ids"]) for s in sentences]
    np.testing.assert_array_equal(sentence, np.repeat(np.arange(len(sentences)), lengths))
    rows = anchor_table(F, np.zeros((F.shape[0], 1)) + F[:, :1], [0], seed=0, groups=sentence)
    train, test = split_groups(sentence, test_fraction=0.3, seed=0)
    assert not set(sentence[train]) & set(sentence[test])
    assert rows[0]["n_test"] == test.size == sum(lengths[s] for s in np.unique(sentence[test]))
    # a capped sample keeps each row's sentence id
    F_cap, s_cap = collect_contexts(lm, sentences, seed=0, max_contexts=20)
    assert F_cap.shape[0] == s_cap.size == 20
    for f, s in zip(F_cap, s_cap, strict=True):
        assert np.any(np.all(F[sentence == s] == f, axis=1))


def test_model_without_lm_head_is_bad_input(tiny_bert_dir: Path) -> None:
    with pytest.raises(BadInputError, match="latentatlas pretrain"):
        load_lm(str(tiny_bert_dir))
    with pytest.raises(BadInputError, match="language-model head"):
        load_lm("minilm")


def test_cli_minilm_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["-q", "anchor", "--model", "minilm", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "language-model head" in err and "latentatlas pretrain" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_anchor_writes_table_json_html(mlm_dir: Path, gpt2_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "anchor"
    rc = main(["-q", "anchor", "-m", str(mlm_dir), "-m", str(gpt2_dir), "--ks", "0,10,100",
               "--n-sentences", "60", "--output", str(out)])
    assert rc == 0
    import pandas as pd

    table = pd.read_csv(out / "anchor.csv")
    synthetic = {"synthetic: anchor", "synthetic: no anchor", "synthetic: random head"}
    assert set(table["model"]) == {str(mlm_dir), str(gpt2_dir), *synthetic}
    assert len(table) == 5 * 3 * 2
    assert table[["real_r2", "null_rotation_r2", "null_resample_r2", "mean_entropy_nats"]].notna()[table["intercept"]].all().all()
    # the causal model's held-out contexts are the positions of whole held-out sentences
    from latentatlas.corpus import bundled_corpus

    _, sentence = collect_contexts(load_lm(str(gpt2_dir)), bundled_corpus(60, seed=0).sentences, seed=0)
    causal = table[table["model"] == str(gpt2_dir)]
    assert (causal["n_test"] == split_groups(sentence, test_fraction=0.3, seed=0)[1].size).all()
    planted = table[(table["model"] == "synthetic: anchor") & table["intercept"]]
    assert (planted["real_r2"] > 0.95).all() and (planted["cos_v0_planted"] > 0.95).all()
    payload = json.loads((out / "anchor.json").read_text())
    assert len(payload["rows"]) == len(table)
    verdicts = payload["verdicts"]
    assert set(verdicts) == set(table["model"]) and "rotation" in payload["verdict_rule"]
    assert verdicts["synthetic: anchor"]["verdict"] == "anchor supported"
    assert verdicts["synthetic: random head"]["verdict"] == "no anchor beyond the null"
    # random heads of tiny untrained models: no anchor beyond the null
    assert not verdicts[str(mlm_dir)]["supported"] and not verdicts[str(gpt2_dir)]["supported"]
    page = (out / "anchor.html").read_text()
    assert "<img" in page and "Anchor vector" in page and verdicts["synthetic: random head"]["text"] in page
    assert (out / "anchor_r2.png").read_bytes()[:4] == b"\x89PNG"


def test_contexts_fit_a_short_position_table(tmp_path: Path, minilm_dir: Path) -> None:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=16)
    BertForMaskedLM(cfg).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(tmp_path)
    long = " ".join(["word"] * 60) + "."
    F, Y = collect(load_lm(str(tmp_path)), [long, "A short one here."], [0], seed=0)
    assert F.shape == (2, 16) and np.isfinite(Y).all()
