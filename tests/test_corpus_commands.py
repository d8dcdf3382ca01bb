"""``--corpus`` (with ``--text-column`` and ``--split-sentences``) on extract, pretrain, anchor and topology:
each command analyses the user's sentences, split from paragraphs on request (concepts: test_concepts_run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from latentatlas.cli import main
from latentatlas.corpus import bbc_articles, load_corpus


@pytest.fixture(scope="module")
def paragraphs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve BBC News articles, one article body per line (paragraphs joined): text as researchers have it."""
    articles, _ = bbc_articles()
    f = tmp_path_factory.mktemp("paragraphs") / "articles.txt"
    f.write_text("\n".join(" ".join(body.split()) for _, _, body in articles[::180][:12]) + "\n")
    return f


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    out = tmp_path_factory.mktemp("mlm")
    BertForMaskedLM(cfg).eval().save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(out)
    return out


def test_extract_splits_paragraphs_on_request(paragraphs: Path, tiny_bert_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-q", "extract", "-m", str(tiny_bert_dir), "--corpus", str(paragraphs), "--n-sentences", "40",
            "--cache", str(tmp_path / "c"), "--json"]
    assert main(argv) == 2  # every line is longer than 49 words
    assert "--split-sentences" in capsys.readouterr().err and not (tmp_path / "c").exists()
    assert main([*argv, "--split-sentences"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    want = load_corpus(paragraphs, split_sentences=True, n_sentences=40, seed=0)
    from latentatlas.store import ActivationStore

    assert ActivationStore.open(row["store"]).n_sentences == len(want) == 40


def test_pretrain_reads_the_corpus(paragraphs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from latentatlas.bundled import bundled_tokenizer

    small = ["--steps", "2", "--batch-size", "2", "--seq-len", "8", "--hidden-size", "8", "--num-heads", "2",
             "--num-layers", "1", "--intermediate-size", "16"]
    # too little text for 2 + 64 held-out blocks: the message counts exactly the corpus's tokens
    few = tmp_path / "few.txt"
    few.write_text(" ".join(paragraphs.read_text().split()[:80]) + "\n")  # one paragraph of 80 words
    sentences = load_corpus(few, split_sentences=True).sentences
    ids = bundled_tokenizer()(list(sentences), add_special_tokens=False)["input_ids"]
    n_tokens = sum(len(x) + 1 for x in ids)
    assert main(["-q", "pretrain", *small, "--corpus", str(few), "--split-sentences", "--output", str(tmp_path / "a")]) == 2
    assert f"the pre-training corpus has {n_tokens} tokens, which give {n_tokens // 7} blocks" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    out = tmp_path / "b"
    assert main(["-q", "pretrain", *small, "--corpus", str(paragraphs), "--split-sentences", "--output", str(out)]) == 0
    settings = json.loads((out / "pretrain.json").read_text())["settings"]
    assert settings["corpus"]["source"] == str(paragraphs) and settings["corpus"]["split_sentences"] is True
    assert settings["n_sentences"] is None


def test_anchor_reads_the_corpus(paragraphs: Path, mlm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "anchor", "-m", str(mlm_dir), "--ks", "0,10", "--corpus", str(paragraphs), "--split-sentences",
                 "--n-sentences", "60", "--output", str(tmp_path / "anc"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["info"]["n_sentences"] == 60 and res["info"]["corpus"].startswith(f"{paragraphs} (sentences split by")
    assert res["settings"]["corpus"]["source"] == str(paragraphs)


def test_topology_reads_the_corpus_and_splits_by_paragraph(paragraphs: Path, tiny_bert_dir: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "topology", "--model", str(tiny_bert_dir), "--layer", "2", "--k", "8", "--seeds", "0",
                 "--corpus", str(paragraphs), "--split-sentences", "--n-sentences", "80",
                 "--cache", str(tmp_path / "cache"), "--output", str(tmp_path / "top"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_sentences"] == 80 and "sentences split by" in res["corpus"]
    assert res["n_entity_spans"] > 0 and {r["condition"] for r in res["summary"]} == {"lm", "lm+topology"}
    assert "sentences of " + str(paragraphs) in (tmp_path / "top" / "tagging.html").read_text()
