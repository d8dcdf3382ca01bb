"""Housekeeping (issue 16.6): one cache location, a cache command, cached reruns that load no model,
and scikit-dimension's estimators through the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from latentatlas.cli import main


def _study(tmp: Path, tiny: Path, **overrides: Any) -> Path:
    spec = {
        "name": "cached",
        "output": str(tmp / "out"),
        "cache": str(tmp / "cache"),
        "corpus": {"source": "bundled", "n_sentences": 20, "seed": 0},
        "models": [str(tiny), f"{tiny}@perturb(alpha=5,seed=0)"],
        "layers": "all",
        "measures": ["eee", "twonn"],
        "max_points": 200,
        "tasks": [{"name": "bbc_topic", "max_train": 40, "max_eval": 20}],
        "downstream": {"mode": "probe", "seeds": [0], "probe": {"classifier": "ridge"}},
        **overrides,
    }
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_fully_cached_rerun_loads_no_model(tmp_path: Path, tiny_bert_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import latentatlas.models.load as load

    study = _study(tmp_path, tiny_bert_dir)
    assert main(["--quiet", "run", str(study)]) == 0
    first = pd.read_csv(tmp_path / "out" / "results.csv")
    first_scores = pd.read_csv(tmp_path / "out" / "scores.csv")

    loads: list[str] = []
    real = load.load_model

    def counting(spec: Any, **kw: Any) -> Any:
        loads.append(str(spec))
        return real(spec, **kw)

    monkeypatch.setattr(load, "load_model", counting)
    monkeypatch.setattr("latentatlas.pipeline.run.load_model", counting, raising=False)  # where the old code called it
    assert main(["--quiet", "run", str(study)]) == 0
    assert loads == []
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "results.csv"), first)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "scores.csv"), first_scores)

    # A new task needs features, so then (and only then) each model loads once.
    (tmp_path / "out").rename(tmp_path / "out-1")
    study = _study(tmp_path, tiny_bert_dir, tasks=[{"name": "bbc_topic", "max_train": 40, "max_eval": 20},
                                                   {"name": "bbc_pair", "max_train": 40, "max_eval": 20}])
    assert main(["--quiet", "run", str(study)]) == 0
    assert sorted(loads) == sorted([str(tiny_bert_dir), f"{tiny_bert_dir}@perturb(alpha=5,seed=0)"])
