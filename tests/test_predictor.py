"""predictor.json and `latentatlas score-model`: the study's fitted line applied to a model it never saw."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from conftest import LENIENT_LEARNABILITY
from latentatlas.cli import main
from latentatlas.stats.predictor import fit_predictor


def test_fit_predictor_line_and_prediction_interval() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, 3.1, 4.9, 7.2, 8.8])
    fit = fit_predictor(x, y, column="m@1", target="score")
    slope, intercept = np.polyfit(x, y, 1)
    assert fit.slope == pytest.approx(slope) and fit.intercept == pytest.approx(intercept)
    resid = y - (intercept + slope * x)
    s = math.sqrt(resid @ resid / 3)
    yhat, lo, hi = fit.predict(6.0)
    half = stats.t.ppf(0.975, 3) * s * math.sqrt(1 + 1 / 5 + (6.0 - 2.0) ** 2 / 10.0)
    assert yhat == pytest.approx(intercept + 6 * slope)
    assert (lo, hi) == (pytest.approx(yhat - half), pytest.approx(yhat + half))
    assert fit.extrapolates(6.0) and not fit.extrapolates(2.5)
    assert fit_predictor(x, y, column="m@1", target="score").to_json() == fit.to_json()


@pytest.fixture(scope="module")
def study_out(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("predictor_study")
    tiny = str(tiny_bert_dir)
    spec = {
        "name": "predictor", "output": str(tmp / "out"), "cache": str(tmp / "cache"),
        "corpus": {"source": "bundled", "n_sentences": 40, "seed": 0},
        "models": [tiny, *(f"{tiny}@perturb(alpha={a},seed=0)" for a in (5, 20, 40, 60, 80))],
        "layers": "all", "measures": ["eee", "isoscore"], "max_points": 400,
        "tasks": [{"name": "bbc_topic", "max_train": 60, "max_eval": 30}],
        "downstream": {"mode": "probe", "seeds": [0], "probe": {"classifier": "ridge"},
                       "learnability": LENIENT_LEARNABILITY},
        "analysis": {"n_boot": 20},
    }
    (tmp / "study.yaml").write_text(yaml.safe_dump(spec))
    assert main(["--quiet", "run", str(tmp / "study.yaml")]) == 0
    return tmp


def test_run_writes_a_predictor_that_refits_the_training_models(study_out: Path) -> None:
    pred = json.loads((study_out / "out" / "predictor.json").read_text())
    models = pd.read_csv(study_out / "out" / "models.csv")
    selection = pd.read_csv(study_out / "out" / "selection.csv").set_index("target")
    column = f"{pred['measure']}@{pred['layer']}"
    assert column == selection.loc["average", "best"] == pred["fit"]["column"]
    assert pred["target"] == "average" and len(pred["training_models"]) == 6
    x, y = models[column].to_numpy(), models["average"].to_numpy()
    slope, intercept = np.polyfit(x, y, 1)
    assert pred["fit"]["slope"] == pytest.approx(slope) and pred["fit"]["intercept"] == pytest.approx(intercept)
    assert (pred["fit"]["x_min"], pred["fit"]["x_max"]) == (pytest.approx(x.min()), pytest.approx(x.max()))
    assert pred["corpus"]["n_sentences"] == 40 and len(pred["corpus"]["fingerprint"]) == 64
    assert set(pred["nested_cv"]) >= {"mse", "spearman", "n_groups"}


def test_score_model_predicts_a_new_model_from_its_measure(
    study_out: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import latentatlas as la
    from latentatlas.models import load_model
    from latentatlas.pipeline.corpus import study_corpus
    from latentatlas.settings import CorpusSpec
    from latentatlas.store import open_store

    new = f"{tiny_bert_dir}@perturb(alpha=30,seed=5)"
    trained = f"{tiny_bert_dir}@perturb(alpha=40,seed=0)"
    argv = ["--quiet", "score-model", new, trained, "--predictor", str(study_out / "out" / "predictor.json"),
            "--cache", str(study_out / "cache"), "--json"]
    capsys.readouterr()
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    pred = json.loads((study_out / "out" / "predictor.json").read_text())
    fit = pred["fit"]
    by_spec = {r["spec"]: r for r in out["models"]}
    # the new model: its measure computed independently, then the line
    corpus = study_corpus(CorpusSpec(source="bundled", n_sentences=40, seed=0))
    store, lm = open_store(load_model(new, cache_dir=study_out / "cache"), corpus.sentences,
                           cache=study_out / "cache", progress=False)
    layer = pred["layer"] if pred["layer"] >= 0 else lm.num_layers
    X = store.cloud(layer, max_points=400, seed=0)
    value = la.compute(pred["measure"], X, seed=0)
    row = by_spec[new]
    assert row["value"] == pytest.approx(value)
    assert row["predicted"] == pytest.approx(fit["intercept"] + fit["slope"] * value)
    assert row["lower"] < row["predicted"] < row["upper"]
    assert row["extrapolates"] == (not fit["x_min"] <= value <= fit["x_max"])
    # a training model gets back its own measure value from the study's table
    models = pd.read_csv(study_out / "out" / "models.csv").set_index("spec")
    assert by_spec[trained]["value"] == pytest.approx(models.loc[trained, fit["column"]])


@pytest.mark.parametrize("break_it", ["format", "version", "fingerprint", "missing"])
def test_score_model_refuses_an_incompatible_predictor(
    study_out: Path, tiny_bert_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], break_it: str
) -> None:
    pred = json.loads((study_out / "out" / "predictor.json").read_text())
    expect = {"format": "has format 99", "version": "incompatible with", "fingerprint": "different fingerprint",
              "missing": "does not exist"}[break_it]
    if break_it == "format":
        pred["format"] = 99
    elif break_it == "version":
        pred["latentatlas"] = "99.0.0"
    elif break_it == "fingerprint":
        pred["corpus"]["fingerprint"] = "0" * 64
    path = tmp_path / "predictor.json"
    if break_it != "missing":
        path.write_text(json.dumps(pred))
    cache = tmp_path / "cache"
    code = main(["--quiet", "score-model", f"{tiny_bert_dir}@perturb(alpha=30,seed=5)", "--predictor", str(path),
                 "--cache", str(cache)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and expect in err, err
    assert not cache.exists()  # refused before any work
