"""Each stage of the study pipeline called on its own, on the tiny study of ``conftest.tiny_study``:
plan, corpus, extract, measure, downstream, analyse, report. Each stage's output is checked against what
the stage promises, with numbers recomputed by hand where there are numbers."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import latentatlas as la
from latentatlas.corpus import n_words
from latentatlas.downstream.encode import FeatureCache
from latentatlas.downstream.metrics import majority_baseline
from latentatlas.engine import LocalEngine
from latentatlas.errors import BadInputError, UnknownNameError
from latentatlas.io import file_sha256
from latentatlas.models import lazy_model, load_model
from latentatlas.pipeline.analyse import analyse_study
from latentatlas.pipeline.corpus import study_corpus
from latentatlas.pipeline.downstream import StudyScores, load_tasks
from latentatlas.pipeline.extract import ExtractedModel, extract_model
from latentatlas.pipeline.measure import Measured, measure_study
from latentatlas.pipeline.plan import StudyPlan, plan_study
from latentatlas.pipeline.report import RunLog, StudyOutputs, report_study
from latentatlas.settings import Study
from latentatlas.stats.relate import SEP


@pytest.fixture(scope="module")
def plan(tiny_study: Study) -> StudyPlan:
    return plan_study(tiny_study)


@pytest.fixture(scope="module")
def corpus(tiny_study: Study):  # type: ignore[no-untyped-def]
    return study_corpus(tiny_study.corpus)


@pytest.fixture(scope="module")
def extracted(tiny_study: Study, plan: StudyPlan, corpus: Any) -> list[ExtractedModel]:
    return [extract_model(lazy_model(s, cache_dir=tiny_study.cache), tiny_study, corpus, plan.holdout, progress=False)
            for s in plan.specs]


@pytest.fixture(scope="module")
def measured(tiny_study: Study, plan: StudyPlan, extracted: list[ExtractedModel]) -> Measured:
    return measure_study(extracted, plan.entries, tiny_study, LocalEngine())


@pytest.fixture(scope="module")
def tasks(tiny_study: Study) -> list[Any]:
    return load_tasks(tiny_study)


def _with(study: Study, **changes: Any) -> Study:
    """``study`` with fields replaced, validated again."""
    return Study.model_validate({**study.model_dump(), **changes})


def _scores(study: Study, specs: list[Any], tasks: list[Any]) -> StudyScores:
    scores = StudyScores()
    for spec in specs:
        scores.add_model(lazy_model(spec, cache_dir=study.cache), tasks, study)
    return scores


@pytest.fixture(scope="module")
def scored(tiny_study: Study, plan: StudyPlan, tasks: list[Any]) -> StudyScores:
    return _scores(tiny_study, plan.specs, tasks)


# -- plan --------------------------------------------------------------------------------------------------


def test_plan_stage_checks_every_name_before_any_work(tiny_study: Study, plan: StudyPlan) -> None:
    t = tiny_study.models[0]
    assert [str(s) for s in plan.specs] == tiny_study.models
    assert plan.holdout == {f"{t}@shuffle_emb(seed=0)"}
    assert [e.name for e in plan.entries] == ["eee", "twonn"]
    with pytest.raises(UnknownNameError, match="did you mean 'eee'"):
        plan_study(_with(tiny_study, measures=["eeee"]))
    with pytest.raises(BadInputError, match="not among the study's models"):
        plan_study(_with(tiny_study, analysis={"holdout": [f"{t}@perturb(alpha=1,seed=9)"]}))


# -- corpus ------------------------------------------------------------------------------------------------


def test_corpus_stage_is_the_seeded_filtered_sample(tiny_study: Study, corpus: Any) -> None:
    assert len(corpus) == 30 and len(set(corpus.sentences)) == 30
    assert all(4 <= n_words(s) <= 49 for s in corpus.sentences)  # Marbut's filter
    again = study_corpus(tiny_study.corpus)
    assert again.sentences == corpus.sentences and again.fingerprint() == corpus.fingerprint()
    other = study_corpus(tiny_study.corpus.model_copy(update={"seed": 1}))
    assert other.sentences != corpus.sentences


# -- extract -----------------------------------------------------------------------------------------------


def test_extract_stage_stores_every_layer_of_every_token(
    tiny_study: Study, plan: StudyPlan, corpus: Any, extracted: list[ExtractedModel], tiny_bert_dir: Path
) -> None:
    lm = load_model(str(tiny_bert_dir))
    n_tokens = sum(len(lm.tokenizer(s)["input_ids"]) for s in corpus.sentences)  # [CLS] and [SEP] kept
    for m in extracted:
        assert list(m.stores) == ["residual"] and m.store.layers == [0, 1, 2]
        assert m.store.n_tokens == n_tokens and m.family == str(tiny_bert_dir)
    assert [m.record()["holdout"] for m in extracted] == [False, False, False, True]
    assert len({m.store.key for m in extracted}) == 4  # each variant its own activations
    # the embeddings layer of the base model is the token embeddings plus positions, layer-normed: check one row
    X0 = extracted[0].store.cloud(0)
    ids = lm.tokenizer(corpus.sentences[0], return_tensors="pt")
    want = lm.model.embeddings(input_ids=ids["input_ids"])[0, 0].detach().numpy()
    assert extracted[0].store.layer(0).dtype == np.float16 == np.dtype(tiny_study.extraction.dtype)  # half precision
    np.testing.assert_array_equal(X0[0], want.astype(np.float16).astype(np.float32))
    # a second run finds every store cached and never loads the weights
    lazy = lazy_model(plan.specs[1], cache_dir=tiny_study.cache)
    again = extract_model(lazy, tiny_study, corpus, plan.holdout, progress=False)
    assert not lazy.loaded and again.store.key == extracted[1].store.key


# -- measure -----------------------------------------------------------------------------------------------


def test_measure_stage_equals_measuring_each_cloud_by_hand(
    tiny_study: Study, plan: StudyPlan, extracted: list[ExtractedModel], measured: Measured
) -> None:
    res = measured.results
    assert len(res) == 4 * 3 * 2 and set(measured.measure_times) == {"eee", "twonn"}
    assert list(res["spec"].unique()) == tiny_study.models  # study order
    for m in (extracted[0], extracted[3]):
        for layer in m.store.layers:
            X = m.store.cloud(layer, max_points=tiny_study.max_points, seed=tiny_study.seed)
            for name in ("eee", "twonn"):
                row = res[(res["spec"] == str(m.spec)) & (res["layer"] == layer) & (res["measure"] == name)]
                assert row["value"].item() == la.measure(X, name, seed=tiny_study.seed)
                assert row["n_points"].item() == min(m.store.n_tokens, 300) == X.shape[0]
    with pytest.raises(BadInputError, match="produced no results"):
        measure_study([], plan.entries, tiny_study, LocalEngine())


def test_measure_stage_values_do_not_depend_on_the_number_of_cores(
    tiny_study: Study, plan: StudyPlan, extracted: list[ExtractedModel], measured: Measured, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clouds are measured one per core; a run on one core (each with its own empty measure cache) gives
    the same table."""
    import latentatlas.pipeline.measure as measure_module

    monkeypatch.setattr(measure_module, "available_cores", lambda: 1)
    serial = measure_study(extracted, plan.entries, tiny_study.model_copy(update={"cache": str(tmp_path)}), LocalEngine())
    pd.testing.assert_frame_equal(serial.results, measured.results)


# -- downstream --------------------------------------------------------------------------------------------


def test_downstream_stage_scores_every_model_and_seed(
    tiny_study: Study, plan: StudyPlan, tasks: list[Any], scored: StudyScores
) -> None:
    tables, summary = scored.tables(tasks, tiny_study.downstream.learnability)
    scores = tables["scores"]
    assert set(tables) == {"scores", "model_scores", "baselines", "transfer", "task_summary"}
    official = scores[(scores["metric"] == "score") & (scores["layer"] == 2)]
    assert len(official) == 4 * 2  # models × seeds, at the last layer
    assert scored.score_layer == {str(s): 2 for s in plan.specs}
    mean = official.groupby("spec")["value"].mean()
    table = summary.table.set_index("spec")
    for spec in tiny_study.models:
        assert table.loc[spec, "bbc_topic"] == pytest.approx(mean[spec], abs=1e-12)
        assert table.loc[spec, "average"] == table.loc[spec, "bbc_topic"]  # the one (learnable) task
    base = tables["baselines"]
    majority = base[(base["baseline"] == "majority") & (base["metric"] == "score")]["value"].item()
    assert majority == majority_baseline(tasks[0])["score"]
    assert set(tables["transfer"]["method"]) == set(tiny_study.downstream.transferability)


def test_downstream_stage_ignores_features_pooled_another_way(
    tiny_study: Study, plan: StudyPlan, tasks: list[Any], scored: StudyScores, tmp_path: Path
) -> None:
    """An earlier run with mean pooling leaves mean-pooled features in the cache; the study's probe
    (halves pooling by default) must compute its own, not take those."""
    assert tiny_study.downstream.probe.sentence_pooling == "halves"
    study = _with(tiny_study, cache=str(tmp_path / "cache"))
    lm = load_model(plan.specs[0], cache_dir=study.cache)
    for split in (tasks[0].train, tasks[0].validation):
        FeatureCache(study.cache).get_or_compute(lm.model, lm.tokenizer, split, tasks[0].info, model_key=lm.fingerprint,
                                                 layers=[2], max_length=study.downstream.max_length,
                                                 sentence_pooling="mean")
    seeded = _scores(study, plan.specs[:1], tasks)
    fresh = [r for r in scored.scores if r["spec"] == str(plan.specs[0])]
    assert seeded.scores == fresh


# -- analyse -----------------------------------------------------------------------------------------------


def test_analyse_stage_relates_training_models_and_saves_the_predictor(
    tiny_study: Study, plan: StudyPlan, corpus: Any, extracted: list[ExtractedModel], measured: Measured,
    tasks: list[Any], scored: StudyScores, caplog: pytest.LogCaptureFixture,
) -> None:
    tables, summary = scored.tables(tasks, tiny_study.downstream.learnability)
    records = [m.record() for m in extracted]
    done = analyse_study(measured.results, summary, tables["transfer"], records, tiny_study, corpus, plan.entries)
    assert done.analysis is not None and {"correlations", "selection"} <= set(done.tables)
    corr = done.tables["correlations"]
    assert len(corr[corr["target"] == "average"]) == 2 * 3  # measures × layers
    predictor = done.documents["predictor.json"]
    assert predictor["training_models"] == tiny_study.models[:3] and predictor["measure"] in ("eee", "twonn")
    # the fitted line is the OLS of the score on the selected column over the three training models
    train = done.analysis.models[~done.analysis.models["holdout"]]
    column = f"{predictor['measure']}{SEP}{predictor['layer']}"
    slope, intercept = np.polyfit(train[column].to_numpy(float), train["average"].to_numpy(float), 1)
    assert predictor["fit"]["slope"] == pytest.approx(slope, rel=1e-9)
    assert predictor["fit"]["intercept"] == pytest.approx(intercept, rel=1e-9)
    # with two training models there is nothing to relate: no analysis, a warning, no predictor
    two = [{**r, "holdout": r["holdout"] or i == 0} for i, r in enumerate(records)]
    with caplog.at_level(logging.WARNING):
        none = analyse_study(measured.results, summary, tables["transfer"], two, tiny_study, corpus, plan.entries)
    assert none.analysis is None and none.tables == {} and none.documents == {}
    assert any("only 2 training models" in r.getMessage() for r in caplog.records)


# -- report ------------------------------------------------------------------------------------------------


def test_report_stage_writes_one_consistent_set(
    tiny_study: Study, corpus: Any, extracted: list[ExtractedModel], measured: Measured, tasks: list[Any],
    scored: StudyScores, tmp_path: Path,
) -> None:
    tables, summary = scored.tables(tasks, tiny_study.downstream.learnability)
    out = StudyOutputs(measured.results, measured.measure_times, tables=dict(tables), summary=summary,
                       documents={"note.json": {"a": 1}}, tasks=tasks, score_layers=scored.score_layer)
    run = RunLog()
    with run.stage("corpus", peak="corpus"):
        pass
    files, manifest = report_study(tmp_path / "out", tiny_study, corpus, [m.record() for m in extracted], out, run,
                                   "local")
    assert {"results.csv", "results.parquet", "scores.csv", "model_scores.csv", "report.html", "run.json",
            "note.json"} <= set(files)
    pd.testing.assert_frame_equal(pd.read_parquet(files["results.parquet"]), measured.results)
    written = json.loads(files["run.json"].read_text())
    assert written["outputs"] == {n: file_sha256(p) for n, p in files.items() if n != "run.json"}
    assert written["tasks"] == [{"name": "bbc_topic", "kind": "classification", "metric": "accuracy",
                                 "n_train": 40, "n_validation": 20, "suite": "offline"}]
    assert written["engine"] == "local" and set(written["peak_rss_mb_by_stage"]) == {"corpus"}
    assert {"corpus", "total", "report"} <= set(written["timings_s"]) and written["corpus"]["n_sentences"] == 30
    assert written["models"][3]["holdout"] is True and manifest["score_layers"] == scored.score_layer
