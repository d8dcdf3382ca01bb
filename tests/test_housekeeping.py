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


def _manifold(n: int, seed: int = 0):  # type: ignore[no-untyped-def]
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)) @ rng.normal(size=(3, 8)) + 0.05 * rng.normal(size=(n, 8))


def test_skdim_estimators_equal_calling_scikit_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    skdim = pytest.importorskip("skdim")
    import latentatlas as la
    from latentatlas.measures import external, registry

    X = _manifold(200).astype("float32")  # a cloud as latentatlas holds it (float32, as stored)
    X64 = X.astype("float64")  # what the estimators see
    direct = {
        "skdim_danco": lambda A: skdim.id.DANCo(k=10, D=8, ver="DANCoFit", fractal=True, random_state=0).fit(A),
        "skdim_ess": lambda A: skdim.id.ESS(ver="a", random_state=0).fit(A, n_neighbors=10),
        "skdim_fishers": lambda A: skdim.id.FisherS(conditional_number=10.0, project_on_sphere=1).fit(A),
        "skdim_tle": lambda A: skdim.id.TLE(epsilon=1e-4).fit(A, n_neighbors=20),
        "skdim_corrint": lambda A: skdim.id.CorrInt(k1=10, k2=20).fit(A),
        "skdim_lpca": lambda A: skdim.id.lPCA(ver="FO", alphaFO=0.05, alphaRatio=0.05, verbose=False).fit(A),
    }
    for name, fit in direct.items():
        assert la.measure(X, name) == float(fit(X64).dimension_), name
    assert 2.0 < la.measure(X, "skdim_tle") < 4.5  # the cloud is 3-dimensional plus noise
    # A cloud larger than n_points: the seeded subsample, the same one for the same seed.
    sub = external.subsample(X, 100, seed=3, distinct=True)
    assert sub.shape == (100, 8) and la.measure(X, "skdim_corrint", n_points=100, seed=3) == float(
        direct["skdim_corrint"](sub).dimension_)
    # Registered as coming from scikit-dimension, listed so, and not part of `measures: all`.
    spec = registry.get("skdim_ess")
    assert spec.source == "scikit-dimension" and "scikit-dimension" in spec.reference and spec.stochastic
    assert not any(n.startswith("skdim_") for n in registry.names())
    assert main(["measures", "--family", "dimension"]) == 0
    listing = capsys.readouterr().out
    assert sum(line.endswith("[scikit-dimension]") for line in listing.splitlines()) == 6
    with pytest.raises(la.BadInputError, match="skdim_corrint.k2=5 must be larger than k1=10"):
        la.measure(X, "skdim_corrint", k2=5)
