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
    from latentatlas.models import load

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


def _one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], expect: str) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and expect in err, err


def _age(path: Path, days: float) -> None:
    import os
    import time

    t = time.time() - days * 86400
    for p in [path, *path.rglob("*")]:
        os.utime(p, (t, t), follow_symlinks=False)


def test_one_cache_location_and_the_cache_command(tmp_path: Path, tiny_bert_dir: Path, char_bert_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from latentatlas.models import fingerprint
    from latentatlas.settings import Study, read_study

    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "shared-cache"
    monkeypatch.setenv("LATENTATLAS_CACHE", str(cache))
    # Set once: the study without a cache field, the presets and every --cache default follow it.
    (tmp_path / "s.yaml").write_text("models: [minilm]\n")
    assert read_study(tmp_path / "s.yaml").cache == str(cache) == read_study(None, preset="default").cache
    assert Study().cache == str(cache)
    for model in (tiny_bert_dir, char_bert_dir):
        assert main(["-q", "extract", "-m", str(model), "--n-sentences", "8"]) == 0
    assert not (tmp_path / ".latentatlas-cache").exists()
    capsys.readouterr()
    (cache / "measures").mkdir()
    (cache / "measures" / "0123abcd.json").write_text("{}")  # an entry attributed to no model

    assert main(["cache", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    stores = [e for e in listed if e["kind"] == "activations"]
    assert len(stores) == 2 and all(e["bytes"] > 1000 for e in stores)
    assert {e["model"] for e in stores} == {fingerprint(str(tiny_bert_dir)), fingerprint(str(char_bert_dir))}
    assert main(["cache", "list"]) == 0
    text = capsys.readouterr().out
    assert main(["cache", "--cache", str(cache), "list"]) == 0  # --cache before the subcommand too
    assert capsys.readouterr().out.splitlines()[-1] == text.splitlines()[-1]
    assert "activations" in text and text.strip().splitlines()[-1].startswith("3 entries, ") and str(cache) in text

    # Prune by model: only that model's store (and its lock file) goes.
    tiny_store = next(Path(e["path"]) for e in stores if e["model"] == fingerprint(str(tiny_bert_dir)))
    assert main(["cache", "prune", "--model", str(tiny_bert_dir), "--dry-run"]) == 0
    assert "would remove activations/" in capsys.readouterr().out and tiny_store.exists()
    assert main(["cache", "prune", "--model", str(tiny_bert_dir)]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert not tiny_store.exists() and not tiny_store.with_name(tiny_store.name + ".lock").exists()
    assert len(list((cache / "activations").iterdir())) == 2  # the other store and its lock

    # Prune by age; a link in the cache is removed as a link, its target outside untouched.
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.txt").write_text("keep me")
    (cache / "features").mkdir()
    (cache / "features" / "link.npz").symlink_to(outside, target_is_directory=True)
    assert main(["cache", "prune", "--older-than", "30d"]) == 0
    assert "removed 0 entries" in capsys.readouterr().out
    for entry in [*(cache / "activations").iterdir(), cache / "features" / "link.npz"]:
        _age(entry, 40)
    assert main(["cache", "prune", "--older-than", "30d"]) == 0
    assert "removed 2 entries" in capsys.readouterr().out
    assert list((cache / "activations").iterdir()) == [] and list((cache / "features").iterdir()) == []
    assert (cache / "measures" / "0123abcd.json").exists()  # younger than 30 days
    assert (outside / "data.txt").read_text() == "keep me"

    # Bad input: one line, exit 2, nothing removed.
    not_cache = tmp_path / "home"
    not_cache.mkdir()
    (not_cache / "thesis.tex").write_text("x")
    _one_line_exit_2(capsys, ["cache", "prune", "--cache", str(not_cache), "--older-than", "0s"],
                     "is not a latentatlas cache")
    assert (not_cache / "thesis.tex").exists()
    _one_line_exit_2(capsys, ["cache", "list", "--cache", str(tmp_path / "nowhere")], "does not exist")
    _one_line_exit_2(capsys, ["cache", "prune", "--older-than", "30 days"], "is not an age")
    _one_line_exit_2(capsys, ["cache", "prune"], "needs --older-than AGE or --model SPEC")
