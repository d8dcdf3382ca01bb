"""Miniature pre-training: corpus transforms, packing, corruption, objectives, resumability, saved folders."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from latentatlas.cli import main
from latentatlas.errors import BadInputError, UnknownNameError
from latentatlas.pretrain import (
    OBJECTIVES,
    PretrainSettings,
    bundled_tokenizer,
    corrupt,
    pack_blocks,
    pretrain,
    shuffle_corpus,
    shuffle_sentence,
)


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    return bundled_tokenizer()


def test_shuffles_keep_the_right_bags(sentences: list[str]) -> None:
    within = shuffle_sentence(sentences, 3)
    assert within == shuffle_sentence(sentences, 3)
    for a, b in zip(sentences, within, strict=True):
        assert Counter(a.split()) == Counter(b.split())
    assert within != sentences
    across = shuffle_corpus(sentences, 3)
    assert [len(s.split()) for s in across] == [len(s.split()) for s in sentences]
    assert Counter(w for s in across for w in s.split()) == Counter(w for s in sentences for w in s.split())
    assert any(Counter(a.split()) != Counter(b.split()) for a, b in zip(sentences, across, strict=True))


def test_pack_blocks_is_the_sep_joined_stream(tok, sentences: list[str]) -> None:  # type: ignore[no-untyped-def]
    blocks = pack_blocks(sentences, tok, 16, min_blocks=1)
    assert (blocks[:, 0] == tok.cls_token_id).all()
    stream = [t for s in sentences for t in (*tok(s, add_special_tokens=False)["input_ids"], tok.sep_token_id)]
    assert blocks[:, 1:].reshape(-1).tolist() == stream[: blocks.shape[0] * 15]
    assert blocks.shape[0] == len(stream) // 15
    with pytest.raises(BadInputError, match="shorter --seq-len"):
        pack_blocks(sentences, tok, 128, min_blocks=2)


def test_corruption_rates_and_specials(tok) -> None:  # type: ignore[no-untyped-def]
    blocks = torch.randint(1000, 20000, (200, 64))
    blocks[:, 0] = tok.cls_token_id
    special = torch.tensor(sorted(set(tok.all_special_ids)))
    gen = torch.Generator().manual_seed(0)
    inputs, selected = corrupt(blocks, special, len(tok), tok.mask_token_id, gen)
    assert not selected[:, 0].any()
    rate = selected[:, 1:].float().mean().item()
    assert abs(rate - 0.15) < 0.01
    sel_in = inputs[selected]
    masked = (sel_in == tok.mask_token_id).float().mean().item()
    kept = (sel_in == blocks[selected]).float().mean().item()
    assert abs(masked - 0.8) < 0.02 and abs(kept - 0.1) < 0.02
    assert torch.equal(inputs[~selected], blocks[~selected])


def test_first_char_and_random_targets(tok) -> None:  # type: ignore[no-untyped-def]
    ids = torch.tensor([tok.convert_tokens_to_ids(t) for t in ["hello", "##ing", "market", "2004", ","]])
    selected = torch.ones(5, dtype=torch.bool)
    gen = torch.Generator().manual_seed(0)
    first = OBJECTIVES["first_char"].targets(tok)(ids, selected, gen)
    assert tok.convert_ids_to_tokens(first.tolist()) == ["h", "i", "m", "2", ","]
    assert torch.equal(OBJECTIVES["mlm"].targets(tok)(ids, selected, gen), ids)
    big = torch.ones(5000, dtype=torch.bool)
    rand = OBJECTIVES["random"].targets(tok)(torch.zeros(5000, dtype=torch.long), big, gen)
    counts = Counter(tok.convert_ids_to_tokens(rand.tolist()))
    assert set(counts) == {"0", "1", "2", "3", "4"} and min(counts.values()) > 900


TINY = dict(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, seq_len=16, batch_size=4,
            heldout_blocks=4, eval_every=2, checkpoint_every=2, lr=1e-3)


@pytest.fixture(scope="module")
def blocks(tok) -> torch.Tensor:  # type: ignore[no-untyped-def]
    from latentatlas.corpus import bundled_corpus

    return pack_blocks(bundled_corpus(60, seed=0).sentences, tok, 16, min_blocks=8)


def test_resume_gives_the_same_weights(tmp_path: Path, blocks: torch.Tensor) -> None:
    s = PretrainSettings(steps=6, objective="random", **TINY)
    full = pretrain(s, tmp_path / "full", blocks=blocks)
    part = pretrain(s, tmp_path / "split", blocks=blocks, stop_after=3)
    assert part == {"finished": False, "step": 3}
    resumed = pretrain(s, tmp_path / "split", blocks=blocks)
    assert resumed["step"] == 6 and resumed["final_heldout_loss"] == full["final_heldout_loss"]
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "split" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = pretrain(PretrainSettings(steps=6, objective="random", seed=1, **TINY), tmp_path / "seed1", blocks=blocks)
    assert other["final_heldout_loss"] != full["final_heldout_loss"]
    with pytest.raises(BadInputError, match="different settings"):
        pretrain(PretrainSettings(steps=7, objective="random", **TINY), tmp_path / "full", blocks=blocks)


def test_training_lowers_loss_and_saves_a_usable_folder(tmp_path: Path, blocks: torch.Tensor) -> None:
    from transformers import AutoModel, BertModel

    from latentatlas.analyses.anchor import load_lm
    from latentatlas.models import load_model

    out = tmp_path / "mlm"
    summary = pretrain(PretrainSettings(steps=30, objective="mlm", **{**TINY, "eval_every": 10, "lr": 1e-2}), out, blocks=blocks)
    curve = np.loadtxt(out / "training_curves.csv", delimiter=",", skiprows=1)
    assert curve.shape[0] == 3 and curve[-1, 2] < curve[0, 2] - 0.3  # held-out loss falls
    assert summary["tokens_per_second"] > 0 and summary["tokens"] == 30 * 4 * 16
    assert (out / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]
    enc = AutoModel.from_pretrained(out)
    assert isinstance(enc, BertModel)
    lm = load_lm(str(out))
    torch.testing.assert_close(enc.embeddings.word_embeddings.weight, lm.model.bert.embeddings.word_embeddings.weight)
    assert lm.kind == "masked"
    loaded = load_model(str(out))
    assert loaded.hidden_size == 16 and loaded.num_layers == 1


def test_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="objective 'mlmm'"):
        pretrain(PretrainSettings(objective="mlmm"), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before any work
    with pytest.raises(ValueError, match="divisible"):
        PretrainSettings(hidden_size=10, num_heads=3)


def test_cli_corpus_too_small_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pt"
    rc = main(["-q", "pretrain", "--n-sentences", "20", "--seq-len", "512", "--output", str(out)])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "shorter --seq-len" in err and len(err.splitlines()) == 1
    assert not out.exists()
