"""End-to-end studies on a tiny random BERT: outputs, caching/resume, and bad input leaving nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from latentatlas.cli import main
from latentatlas.pipeline.results import COLUMNS

FAST_MEASURES = ["acs", "eee", "isoscore", "pc_ratio", {"name": "pq_pp", "params": {"nbits": 4}}]


@pytest.fixture
def corpus_file(tmp_path: Path, sentences: list[str]) -> Path:
    path = tmp_path / "corpus.txt"
    lines = [f"{s} Sentence number {i} adds a few more words." for i in range(6) for s in sentences]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_study(tmp_path: Path, **overrides: object) -> Path:
    spec = {
        "name": "tiny",
        "output": str(tmp_path / "out"),
        "cache": str(tmp_path / "cache"),
        "corpus": {"source": str(tmp_path / "corpus.txt"), "n_sentences": None},
        "models": [],
        "layers": "all",
        "measures": FAST_MEASURES,
        "max_points": None,
        "seed": 0,
    }
    spec.update(overrides)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_run_end_to_end_and_resume(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # seed 1: the fixture itself was initialised with seed 0, which random_init(seed=0) reproduces
    models = [str(tiny_bert_dir), f"{tiny_bert_dir}@random_init(seed=1)"]
    study = write_study(tmp_path, models=models)
    assert main(["--quiet", "run", str(study)]) == 0
    out = tmp_path / "out"
    df = pd.read_parquet(out / "results.parquet")
    assert list(df.columns) == COLUMNS
    assert set(df["spec"]) == set(models)
    assert sorted(df["layer"].unique()) == [0, 1, 2]
    assert set(df["measure"]) == {"acs", "eee", "isoscore", "pc_ratio", "pq_pp"}
    assert len(df) == 2 * 3 * 5
    assert df["value"].notna().all()
    assert set(df["variant"]) == {"pretrained", "random_init"}
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(df)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["study"]["name"] == "tiny" and len(manifest["models"]) == 2
    assert "torch" in manifest["versions"]
    page = (out / "report.html").read_text()
    # one panel figure per measure family (spread: acs, eee, isoscore, pc_ratio; quantization: pq_pp),
    # each also written as SVG and PDF with the CSV of what it plots
    assert page.count('<figure class="profile"') == 2
    assert page.count("data:image/png;base64,") == 2
    for family in ("spread", "quantization"):
        for ext in ("svg", "pdf", "csv"):
            assert (out / "figures" / f"profiles_{family}.{ext}").stat().st_size > 0
    plotted = pd.read_csv(out / "figures" / "profiles_quantization.csv")
    assert len(plotted) == 2 * 3 and set(plotted["measure"]) == {"pq_pp"}
    # The two models really differ (random init is not the base).
    pivot = df.pivot_table(index=["layer", "measure"], columns="variant", values="value")
    assert (pivot["pretrained"] - pivot["random_init"]).abs().max() > 1e-3

    # Rerun: everything comes from the cache and gives identical numbers.
    first = df.sort_values(["spec", "layer", "measure"]).reset_index(drop=True)
    measure_files = sorted((tmp_path / "cache" / "measures").glob("*.json"))
    mtimes = [p.stat().st_mtime_ns for p in measure_files]
    assert main(["--quiet", "run", str(study)]) == 0
    again = pd.read_parquet(out / "results.parquet").sort_values(["spec", "layer", "measure"])
    pd.testing.assert_frame_equal(first, again.reset_index(drop=True))
    assert [p.stat().st_mtime_ns for p in measure_files] == mtimes


def test_layer_out_of_range_writes_nothing(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = write_study(tmp_path, models=[str(tiny_bert_dir)], layers=[0, 5])
    assert main(["run", str(study)]) == 2
    err = capsys.readouterr().err
    assert "layer 5 is out of range" in err and "0..2" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"measures": ["eee", "isoscor"]}, "did you mean 'isoscore'"),
        ({"models": ["minilm@perturbb(alpha=1)"]}, "perturb"),
        ({"models": ["/no/such/model/dir"]}, "/no/such/model/dir"),
        ({"bogus_field": 1}, "bogus_field"),
        ({"corpus": {"source": "/no/such/corpus.txt"}}, "/no/such/corpus.txt"),
    ],
)
def test_bad_study_exits_2(
    tmp_path: Path,
    tiny_bert_dir: Path,
    corpus_file: Path,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, object],
    message: str,
) -> None:
    base: dict[str, object] = {"models": [str(tiny_bert_dir)]}
    base.update(overrides)
    study = write_study(tmp_path, **base)
    assert main(["run", str(study)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_empty_and_filtered_corpus(
    tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "corpus.txt").write_text("\n\n")
    study = write_study(tmp_path, models=[str(tiny_bert_dir)])
    assert main(["run", str(study)]) == 2
    assert "empty" in capsys.readouterr().err
    (tmp_path / "corpus.txt").write_text("too short\nalso short\n")
    assert main(["run", str(study)]) == 2
    assert "filter" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_study_file_and_bad_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n")
    assert main(["run", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_extract_command(
    tmp_path: Path, tiny_bert_dir: Path, corpus_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "-q", "extract", "-m", str(tiny_bert_dir), "--corpus", str(corpus_file),
            "--n-sentences", "10", "--layers", "-1", "--cache", str(tmp_path / "cache"), "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    (entry,) = json.loads(out)
    assert entry["layers"] == [2] and entry["n_tokens"] > 10
    assert Path(entry["store"]).is_dir()


def test_default_preset_is_valid() -> None:
    from latentatlas.pipeline import load_study
    from latentatlas.pipeline.plan import measure_entries

    for preset in ("default", "quick", "full"):
        study = load_study(None, preset=preset)
        assert study.models[0] == "minilm"
        assert measure_entries(study)
