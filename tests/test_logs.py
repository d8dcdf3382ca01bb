"""Quiet, honest logs (issue 16.3): no third-party noise by default, warnings as log lines, repeats
collapsed into one counted line, and no progress bars in a log file."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import pytest
import yaml

from conftest import LENIENT_LEARNABILITY
from latentatlas import logs
from latentatlas.cli import main


@pytest.fixture
def log_stream():  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    logs.configure(stream=buf)
    yield buf
    logs.flush_repeats()
    logs.configure(quiet=True)


def test_repeated_warnings_collapse_into_one_counted_line(log_stream: io.StringIO) -> None:
    log = logging.getLogger("latentatlas.test")
    for measure in ["eee", "twonn", "mle", "koleo"]:
        log.warning("%s at layer %s is constant or missing", measure, 0)
    log.warning("another warning")
    log.info("%s: %d tokens", "m1", 10)
    log.info("%s: %d tokens", "m2", 12)  # info lines are never held back
    logs.flush_repeats()
    lines = log_stream.getvalue().splitlines()
    assert lines == [
        "WARNING latentatlas.test: eee at layer 0 is constant or missing",
        "WARNING latentatlas.test: another warning",
        "INFO latentatlas.test: m1: 10 tokens",
        "INFO latentatlas.test: m2: 12 tokens",
        "WARNING latentatlas.test: 4 warnings like this in all (3 repeats not shown): … at layer … is constant or missing",
    ]
    logs.flush_repeats()  # counts were reset: nothing more
    assert len(log_stream.getvalue().splitlines()) == 5


def test_python_warnings_become_log_lines(log_stream: io.StringIO) -> None:
    from scipy.stats import NearConstantInputWarning, pearsonr

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logs.configure(stream=log_stream)  # inside catch_warnings, as a command runs
        pearsonr([1.0, 1.0, 1.0 + 1e-13, 1.0], [1.0, 2.0, 3.0, 4.0])
        warnings.warn("an old API", FutureWarning, stacklevel=1)  # a debug line: not shown by default
    out = log_stream.getvalue()
    # under the logger of the module the warning points at (scipy warns at its caller: this file)
    assert out.startswith(f"WARNING test_logs: {NearConstantInputWarning.__name__}: An input array is nearly constant")
    assert len(out.splitlines()) == 1 and "FutureWarning" not in out
    assert "warnings.warn" not in out  # no raw source line as the default format prints


def _lm_folder(tmp: Path, minilm_dir: Path) -> Path:
    """A tiny BERT saved with a masked-LM head: loading it as an encoder leaves the pooler newly initialized
    (transformers prints a LOAD REPORT)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    out = tmp / "tiny-mlm"
    BertForMaskedLM(cfg).eval().save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(out)
    return out


def test_a_study_log_is_quiet_and_honest(tmp_path: Path, minilm_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    tiny = _lm_folder(tmp_path, minilm_dir)
    models = [str(tiny), f"{tiny}@perturb(alpha=5,seed=0)", f"{tiny}@perturb(alpha=20,seed=0)"]
    study = {"output": str(tmp_path / "out"), "cache": str(tmp_path / "cache"),
             "corpus": {"source": "bundled", "n_sentences": 20}, "models": models,
             "measures": ["eee", "pc_ratio", "twonn"], "max_points": 200,
             "tasks": [{"name": "bbc_topic", "max_train": 40, "max_eval": 20}],
             "downstream": {"mode": "probe", "seeds": [0], "probe": {"classifier": "ridge"},
                       "learnability": LENIENT_LEARNABILITY},
             "analysis": {"n_boot": 20}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    capfd.readouterr()  # the fixture's own save_pretrained bar (before any latentatlas logging is configured)
    assert main(["run", str(tmp_path / "study.yaml")]) == 0  # default verbosity, stderr not a terminal
    err = capfd.readouterr().err
    assert "\r" not in err  # no progress bars in a log file
    assert "LOAD REPORT" not in err and "newly initialized" not in err  # transformers' noise silenced
    assert "Writing model shards" not in err and "Loading weights" not in err
    lines = err.splitlines()
    assert all(line.startswith(("INFO ", "WARNING ")) for line in lines), err
    # one line per finished stage
    for stage in ("corpus: 20 sentences", "tasks: bbc_topic", "model 1/3", "model 3/3", "measures: 9 clouds",
                  "analysis in", "results, report and manifest written"):
        assert sum(stage in line for line in lines) == 1, (stage, err)
    # layer 0 (the embeddings) is the same in all three models: one warning per measure, collapsed
    constant = [line for line in lines if "is constant or missing" in line]
    assert constant[0].startswith("WARNING latentatlas.stats.correlate: eee at layer 0 is constant")
    assert len(constant) == 2 and constant[1].endswith(
        "3 warnings like this in all (2 repeats not shown): … at layer … is constant or missing for some of the … "
        "models; its correlations are NaN")

    # -v shows the third-party output again; --quiet after the subcommand silences info lines
    (tmp_path / "out").rename(tmp_path / "out-1")
    assert main(["run", str(tmp_path / "study.yaml"), "-v"]) == 0
    assert "DEBUG " in capfd.readouterr().err
    assert main(["run", str(tmp_path / "study.yaml"), "--quiet"]) == 0
    assert "INFO " not in capfd.readouterr().err
