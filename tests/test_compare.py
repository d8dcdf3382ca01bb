"""`latentatlas compare`: two .npy clouds or two model specs over the same tokens."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from latentatlas.cli import main


def test_compare_npy_clouds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 8))
    np.save(tmp_path / "a.npy", X)
    np.save(tmp_path / "b.npy", X @ np.linalg.qr(rng.standard_normal((8, 8)))[0])
    out = tmp_path / "cmp"
    code = main(["-q", "compare", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "-m", "cka", "-m", "procrustes",
                 "--output", str(out), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["matrices"]["cka"][0][0] == pytest.approx(1.0)
    assert result["matrices"]["procrustes"][0][0] == pytest.approx(0.0, abs=1e-9)
    assert (out / "compare_cka.csv").is_file()
    assert (out / "compare.html").read_text().count("data:image/png;base64,") == 2


def test_compare_models_layer_by_layer(tmp_path: Path, tiny_bert_dir: Path, sentences: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"{s} and then some more words" for s in sentences))
    out = tmp_path / "cmp"
    code = main(["-q", "compare", str(tiny_bert_dir), f"{tiny_bert_dir}@perturb(alpha=30,seed=1)", "--corpus", str(corpus),
                 "--n-sentences", "8", "--cache", str(tmp_path / "cache"), "--output", str(out), "--json"])
    assert code == 0
    cka = np.array(json.loads(capsys.readouterr().out)["matrices"]["cka"])
    assert cka.shape == (3, 3)
    assert cka[0, 0] == pytest.approx(1.0)  # embeddings are not perturbed
    assert cka[2, 2] < 0.999


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a.npy", "short.npy"], "same rows"),
        (["a.npy", "minilm"], "not one of each"),
        (["a.npy", "a.npy", "-m", "ckaa"], "did you mean 'cka'"),
        (["missing.npy", "a.npy"], "does not exist"),
    ],
)
def test_compare_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    np.save(tmp_path / "a.npy", np.random.default_rng(0).standard_normal((50, 4)))
    np.save(tmp_path / "short.npy", np.random.default_rng(0).standard_normal((20, 4)))
    paths = [str(tmp_path / a) if a.endswith(".npy") else a for a in args]
    assert main(["compare", *paths, "--output", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_compare_refuses_models_that_tokenise_differently(
    tmp_path: Path, tiny_bert_dir: Path, char_bert_dir: Path, sentences: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoTokenizer

    # the fixture really tokenises differently: letter by letter, unlike the uncased WordPiece vocab
    assert len(AutoTokenizer.from_pretrained(char_bert_dir)("The cat")["input_ids"]) == 2 + 6
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(f"{s} and then some more words" for s in sentences))
    out = tmp_path / "cmp"
    code = main(["-q", "compare", str(tiny_bert_dir), str(char_bert_dir), "--corpus", str(corpus), "--n-sentences", "8",
                 "--cache", str(tmp_path / "cache"), "--output", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "tokenise the sentences differently" in err and "share a tokenizer" in err
    assert err.startswith("latentatlas: error:") and err.count("\n") == 1
    assert not out.exists()
