"""Anchor-vector analysis: closed forms, brute force, planted/absent anchors, real LM heads, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from latentatlas.anchor import (
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
    split_contexts,
    split_groups,
)
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
    from latentatlas.anchor import AnchorFit

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
    assert set(table["model"]) == {str(mlm_dir), str(gpt2_dir), "synthetic: anchor", "synthetic: no anchor"}
    assert len(table) == 4 * 3 * 2
    # the causal model's held-out contexts are the positions of whole held-out sentences
    from latentatlas.corpus import bundled_corpus

    _, sentence = collect_contexts(load_lm(str(gpt2_dir)), bundled_corpus(60, seed=0).sentences, seed=0)
    causal = table[table["model"] == str(gpt2_dir)]
    assert (causal["n_test"] == split_groups(sentence, test_fraction=0.3, seed=0)[1].size).all()
    planted = table[(table["model"] == "synthetic: anchor") & table["intercept"]]
    assert (planted["r2"] > 0.95).all() and (planted["cos_v0_planted"] > 0.95).all()
    payload = json.loads((out / "anchor.json").read_text())
    assert len(payload["rows"]) == len(table)
    page = (out / "anchor.html").read_text()
    assert "<img" in page and "Anchor vector" in page
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
