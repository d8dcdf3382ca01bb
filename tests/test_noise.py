"""Each measure's own noise (its spread over subsample seeds) beside the spread between models: the
table's formula on known numbers, and a tiny study that measures it, writes it and reports it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import LENIENT_LEARNABILITY

import latentatlas as la
from latentatlas.cli import main
from latentatlas.errors import BadInputError
from latentatlas.stats.noise import (
    NOISE_COLUMNS,
    NOISY_RATIO,
    noise_summary,
    noise_table,
)
from latentatlas.store import ActivationStore


def _draws(values: dict[str, list[float]], measure: str = "eee", layer: int = 1) -> pd.DataFrame:
    """One row per (spec, draw): draws 0, 1, ... in the order given."""
    return pd.DataFrame([{"spec": spec, "measure": measure, "layer": layer, "draw": d, "value": v}
                         for spec, vs in values.items() for d, v in enumerate(vs)])


def test_noise_table_known_answer() -> None:
    # three models, two draws: noise variances (v1 - v2)^2 / 2 = 0.5, 2, 0 -> pooled 2.5 / 3
    got = noise_table(_draws({"a": [1.0, 2.0], "b": [5.0, 3.0], "c": [9.0, 9.0]}), primary=0)
    assert list(got.columns) == NOISE_COLUMNS and len(got) == 1
    row = got.iloc[0]
    noise_sd = np.sqrt((0.5 + 2.0 + 0.0) / 3)
    between_sd = np.std([1.0, 5.0, 9.0], ddof=1)  # the primary draw, as the analysis uses it
    assert row["noise_sd"] == pytest.approx(noise_sd)
    assert row["between_sd"] == pytest.approx(between_sd) == pytest.approx(4.0)
    assert row["noise_ratio"] == pytest.approx(noise_sd / 4.0)
    assert not row["noisy"] and row["n_models"] == 3 and row["n_draws"] == 2


def test_noise_table_three_draws_spread_subset_and_flag() -> None:
    draws = _draws({"a": [0.0, 1.0, 2.0], "b": [1.0, 1.0, 4.0], "held": [50.0, -50.0, 0.0]})
    got = noise_table(draws, primary=0, spread={"a", "b"}).iloc[0]
    # variances with ddof 1 over three draws: 1 and 3; primary values 0 and 1 -> between SD 1/sqrt(2)
    assert got["noise_sd"] == pytest.approx(np.sqrt(2.0))
    assert got["between_sd"] == pytest.approx(np.sqrt(0.5))
    assert got["noise_ratio"] == pytest.approx(2.0) and got["noisy"] and NOISY_RATIO == 0.5
    assert got["n_models"] == 2 and got["n_draws"] == 3


def test_noise_table_missing_values_and_degenerate_cases() -> None:
    draws = pd.concat([
        _draws({"a": [1.0, np.nan], "b": [2.0, 2.5], "c": [4.0, 4.5]}, layer=0),
        _draws({"a": [1.0, 1.5], "b": [1.0, 1.5]}, layer=1),  # no spread between models: ratio NaN
        _draws({"a": [1.0], "b": [2.0]}, layer=2),  # one draw each: no noise
    ], ignore_index=True)
    got = noise_table(draws, primary=0).set_index("layer")
    assert got.loc[0, "n_models"] == 2 and got.loc[0, "noise_sd"] == pytest.approx(np.sqrt(0.125))
    assert got.loc[1, "between_sd"] == 0 and np.isnan(got.loc[1, "noise_ratio"]) and not got.loc[1, "noisy"]
    assert np.isnan(got.loc[2, "noise_sd"]) and got.loc[2, "n_models"] == 0
    summary = noise_summary(noise_table(draws, primary=0)).set_index("measure")
    assert summary.loc["eee", "layers"] == 1 and summary.loc["eee", "max_layer"] == 0
    with pytest.raises(BadInputError, match="draw 7"):
        noise_table(draws, primary=7)
    with pytest.raises(BadInputError, match="lacks column"):
        noise_table(draws.drop(columns="draw"), primary=0)
    assert noise_table(draws.iloc[:0], primary=0).empty


def _study(tmp: Path, tiny: Path, **overrides: object) -> Path:
    spec = {
        "name": "tiny-noise",
        "output": str(tmp / "out"),
        "cache": str(tmp / "cache"),
        "corpus": {"source": "bundled", "n_sentences": 40, "seed": 0},
        "models": [str(tiny), f"{tiny}@perturb(alpha=5,seed=0)", f"{tiny}@perturb(alpha=20,seed=0)",
                   f"{tiny}@perturb(alpha=50,seed=0)", f"{tiny}@shuffle_emb(seed=0)"],
        "layers": "all",
        "measures": ["eee", "twonn", {"name": "pq_pp", "params": {"nbits": 4}}],
        "max_points": 300,
        "noise_seeds": [1],
        "tasks": [{"name": "bbc_topic", "max_train": 60, "max_eval": 30}],
        "downstream": {"mode": "probe", "seeds": [0, 1], "probe": {"classifier": "ridge"},
                       "learnability": LENIENT_LEARNABILITY},
        "analysis": {"holdout": [f"{tiny}@shuffle_emb(seed=0)"], "n_boot": 50},
    }
    spec.update(overrides)
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_study_measures_its_noise_and_reports_it(tmp_path: Path, tiny_bert_dir: Path) -> None:
    assert main(["--quiet", "run", str(_study(tmp_path, tiny_bert_dir))]) == 0
    out = tmp_path / "out"
    noise = pd.read_csv(out / "measure_noise.csv")
    assert list(noise.columns) == NOISE_COLUMNS
    assert set(noise["measure"]) == {"eee", "twonn", "pq_pp"} and sorted(noise["layer"].unique()) == [0, 1, 2]
    # four training models with two draws each; the held-out model is not drawn again
    assert (noise["n_models"] == 4).all() and (noise["n_draws"] == 2).all()

    # recomputed from the stores: the second draw is a max_points subsample with seed 1, measured with seed 1
    manifest = json.loads((out / "run.json").read_text())
    results = pd.read_csv(out / "results.csv")
    held = f"{tiny_bert_dir}@shuffle_emb(seed=0)"
    train = [m for m in manifest["models"] if m["spec"] != held]
    cache = Path(manifest["study"]["cache"]) / "activations"
    diffs = []
    for m in train:
        store = ActivationStore.open(cache / m["store"])
        X = store.cloud(2, max_points=300, seed=1)
        first = results.query("spec == @m['spec'] and layer == 2 and measure == 'eee'")["value"].iloc[0]
        diffs.append(first - la.compute("eee", X, seed=1))
    want_noise = np.sqrt(np.mean(np.square(diffs) / 2))
    row = noise.query("measure == 'eee' and layer == 2").iloc[0]
    assert row["noise_sd"] == pytest.approx(want_noise, rel=1e-9)
    spread = results.query("layer == 2 and measure == 'eee' and spec != @held")["value"].std(ddof=1)
    assert row["between_sd"] == pytest.approx(spread, rel=1e-9)
    assert row["noise_ratio"] == pytest.approx(want_noise / spread, rel=1e-9)
    assert 0 < row["noise_sd"] and np.isfinite(row["noise_ratio"])

    # the analysis carries it: a column of the correlations, the selected candidate's ratio
    corr = pd.read_csv(out / "correlations.csv")
    eee2 = corr.query("measure == 'eee' and layer == 2")
    assert eee2["noise_ratio"].to_numpy() == pytest.approx([row["noise_ratio"]] * len(eee2))
    selection = pd.read_csv(out / "selection.csv").set_index("target")
    best = selection.loc["average", "best"]
    measure, layer = best.rsplit("@", 1)[0], int(best.rsplit("@", 1)[1])
    assert selection.loc["average", "best_noise_ratio"] == pytest.approx(
        noise.loc[(noise["measure"] == measure) & (noise["layer"] == layer), "noise_ratio"].iloc[0])
    assert "noise" in manifest["timings_s"] and "measure_noise.csv" in manifest["outputs"]

    page = (out / "report.html").read_text()
    assert 'id="noise"' in page and 'id="noise-table"' in page
    assert "noise / spread" in page  # a column of the strongest correlations and the selection tables


def test_study_without_noise_seeds_writes_no_noise(tmp_path: Path, tiny_bert_dir: Path) -> None:
    assert main(["--quiet", "run", str(_study(tmp_path, tiny_bert_dir, noise_seeds=[], tasks=[]))]) == 0
    out = tmp_path / "out"
    assert not (out / "measure_noise.csv").exists()
    assert 'id="noise"' not in (out / "report.html").read_text()


def test_noise_seed_equal_to_the_study_seed_is_refused(tmp_path: Path, tiny_bert_dir: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(_study(tmp_path, tiny_bert_dir, noise_seeds=[0]))]) == 2
    assert "noise_seeds" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
