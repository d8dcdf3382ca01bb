"""A whole study with downstream tasks on tiny random BERTs: probes, baselines, analysis, report, and
the study-level bad inputs (exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from latentatlas.cli import main


def _study(tmp_path: Path, tiny_bert_dir: Path, **overrides) -> Path:
    spec = {
        "name": "tiny-downstream",
        "output": str(tmp_path / "out"),
        "cache": str(tmp_path / "cache"),
        "corpus": {"source": "bundled", "n_sentences": 40, "seed": 0},
        "models": [
            str(tiny_bert_dir),
            f"{tiny_bert_dir}@perturb(alpha=5,seed=0)",
            f"{tiny_bert_dir}@perturb(alpha=20,seed=0)",
            f"{tiny_bert_dir}@perturb(alpha=50,seed=0)",
            f"{tiny_bert_dir}@shuffle_emb(seed=0)",
        ],
        "layers": "all",
        "measures": ["eee", "isoscore", "acs"],
        "max_points": 500,
        "tasks": [
            {"name": "bbc_topic", "max_train": 60, "max_eval": 30},
            {"name": "bbc_order", "max_train": 60, "max_eval": 30},
        ],
        # tiny random BERTs on 60 examples are at chance (the default learnability rule leaves every task out
        # and skips the analysis); a permissive rule keeps both tasks so the analysis runs
        "downstream": {"mode": "probe", "seeds": [0, 1], "probe_layers": "all", "probe": {"classifier": "ridge"},
                       "learnability": {"min_margin": -1.0, "n_seed_sd": 0.0, "spread_ratio": 0.0}},
        "analysis": {"holdout": [f"{tiny_bert_dir}@shuffle_emb(seed=0)"], "n_boot": 50},
    }
    spec.update(overrides)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """The output folder of one tiny study with tasks (run once for this module)."""
    tmp = tmp_path_factory.mktemp("tiny_study")
    assert main(["--quiet", "run", str(_study(tmp, tiny_bert_dir))]) == 0
    return tmp / "out"


def test_study_with_tasks_writes_scores_analysis_and_report(tiny_run: Path, tiny_bert_dir: Path) -> None:
    out = tiny_run
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["task"]) == {"bbc_topic", "bbc_order"}
    assert set(scores["run_seed"]) == {0, 1} and set(scores["layer"]) == {0, 1, 2}
    official = scores[scores["metric"] == "score"]
    assert len(official) == 5 * 2 * 2 * 3  # models × tasks × seeds × probe layers

    summary = pd.read_csv(out / "model_scores.csv").set_index("spec")
    last = official[official["layer"] == 2].groupby(["spec", "task"])["value"].mean().unstack()
    for spec, row in summary.iterrows():  # the model's score is the mean over seeds at the last layer
        assert row["bbc_topic"] == pytest.approx(last.loc[spec, "bbc_topic"])
        assert row["average"] == pytest.approx((row["bbc_topic"] + row["bbc_order"]) / 2)

    baselines = pd.read_csv(out / "baselines.csv")
    assert set(baselines["task"]) == {"bbc_topic", "bbc_order"} and set(baselines["baseline"]) == {"majority"}
    learn = pd.read_csv(out / "task_summary.csv").set_index("task")
    assert learn["learnable"].all() and learn.loc["bbc_topic", "n_models"] == 5
    transfer = pd.read_csv(out / "transfer.csv")
    assert set(transfer["method"]) == {"logme", "hscore"} and len(transfer) == 5 * 2 * 2

    corr = pd.read_csv(out / "correlations.csv")
    assert set(corr["target"]) == {"bbc_topic", "bbc_order", "average"}
    assert (corr["n"].dropna() == 4).all()  # four training models; the held-out one never enters a fit
    held = pd.read_csv(out / "holdout_predictions.csv")
    assert set(held["spec"]) == {f"{tiny_bert_dir}@shuffle_emb(seed=0)"}
    models = pd.read_csv(out / "models.csv")
    assert models.set_index("spec")["holdout"].sum() == 1
    row = held.iloc[0]  # the prediction is the training fit evaluated at the held-out model's value
    train = models[~models["holdout"]]
    col = f"{row['measure']}@{row['layer']}"
    if row["kind"] == "alone":
        import numpy as np

        slope, intercept = np.polyfit(train[col], train[row["target"]], 1)
        x = models.loc[models["holdout"], col].iloc[0]
        assert row["predicted"] == pytest.approx(intercept + slope * x, rel=1e-6, abs=1e-9)

    page = (out / "report.html").read_text()
    for anchor in ('id="downstream"', 'id="analysis"', 'id="correlation-heatmap"', 'id="scores"', 'id="transfer"',
                   'id="task-signal"', 'id="task-learnability"'):
        assert anchor in page
    # the random tiny BERT's probes stay at the majority-class baseline of bbc_topic (0.3): said under the scores
    base = pd.read_csv(out / "baselines.csv").query("metric == 'score'").set_index("task")["value"]
    low = official[(official["layer"] == 2) & (official["value"] <= official["task"].map(base) + 1e-9)]
    assert len(low) and f"{len(low)} probe run(s) ended at or below the majority-class baseline" in page
    assert f"{Path(str(tiny_bert_dir)).name} on bbc_topic (seed 0, 1)" in page
    assert "Every task is averaged." in page
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["score_layers"] == {spec: 2 for spec in summary.index}
    assert {"features", "probe", "analysis", "downstream"} <= set(manifest["timings_s"])
    assert manifest["tasks"][0]["name"] == "bbc_topic"
    assert "downstream" in manifest["peak_rss_mb_by_stage"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"tasks": ["bbc_topik"]}, "unknown task 'bbc_topik'"),
        ({"analysis": {"holdout": ["minilm@random_init(seed=3)"]}}, "not among the study's models"),
        ({"tasks": ["bbc_topic", "bbc_topic"]}, "twice"),
        ({"downstream": {"mode": "finetune", "finetune": {"batch_size": 30, "per_device_batch_size": 8}}},
         "multiple of per_device_batch_size"),
        ({"tasks": [{"name": "rte", "data_dir": "/nonexistent/glue"}]}, "GLUE"),
    ],
)
def test_bad_study_exits_2_and_writes_nothing(tmp_path: Path, tiny_bert_dir: Path, capsys: pytest.CaptureFixture[str],
                                              override: dict, message: str) -> None:
    code = main(["--quiet", "run", str(_study(tmp_path, tiny_bert_dir, **override))])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_every_figure_has_svg_pdf_and_the_data_it_plots(tiny_run: Path) -> None:
    """figures/<name>.{svg,pdf,csv} for every figure of the page, and each CSV holds the numbers of the
    output tables it was drawn from."""
    out = tiny_run
    page = (out / "report.html").read_text()
    folder = out / "figures"
    stems = {p.stem for p in folder.iterdir()}
    assert {"profiles_spread", "correlation_average", "correlation_bbc_topic", "correlation_bbc_order",
            "correlation_curves_average", "scatter_average", "scatter_bbc_topic", "scatter_bbc_order"} <= stems
    for stem in stems:
        assert (folder / f"{stem}.svg").read_bytes().lstrip().startswith(b"<?xml")
        assert (folder / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
        assert len(pd.read_csv(folder / f"{stem}.csv")) > 0
        assert f'href="figures/{stem}.svg"' in page and f'href="figures/{stem}.csv"' in page
    assert page.count("data:image/png;base64,") == len(stems)

    results = pd.read_csv(out / "results.csv")
    profiles = pd.read_csv(folder / "profiles_spread.csv")  # one row per measure × model × layer
    assert len(profiles) == len(results) == 3 * 5 * 3
    both = profiles.merge(results, on=["measure", "spec", "layer"], suffixes=("", "_results"))
    assert len(both) == len(results) and (both["value"] == both["value_results"]).all()

    corr = pd.read_csv(out / "correlations.csv")
    for target in ("average", "bbc_topic", "bbc_order"):
        heat = pd.read_csv(folder / f"correlation_{target}.csv")
        # every layer, and no duplicated column -1: the models have equal depths
        assert sorted(heat["layer"].unique()) == [0, 1, 2] and len(heat) == 3 * 3
        ref = corr[corr["target"] == target].set_index(["measure", "layer"])["pearson_r"]
        got = heat.set_index(["measure", "layer"])["pearson_r"]
        pd.testing.assert_series_equal(got.sort_index(), ref.sort_index(), check_names=False)

    models = pd.read_csv(out / "models.csv").set_index("spec")
    selection = pd.read_csv(out / "selection.csv").set_index("target")
    for target in ("average", "bbc_topic"):
        scatter = pd.read_csv(folder / f"scatter_{target}.csv").set_index("spec")
        best = selection.loc[target, "best"]
        assert len(scatter) == 5
        assert scatter["x"].to_dict() == pytest.approx(models.loc[scatter.index, best].to_dict())
        assert scatter["y"].to_dict() == pytest.approx(models.loc[scatter.index, target].to_dict())
        assert scatter.loc[scatter["holdout"], "number"].tolist() == [1]


def test_fits_and_held_out_tables_show_the_two_references(tiny_run: Path) -> None:
    fits = pd.read_csv(tiny_run / "fits.csv")
    for col in ("mean_logo_mse", "nearest_logo_mse", "mean_holdout_mse", "nearest_holdout_mse"):
        assert fits[col].notna().all(), col
    models = pd.read_csv(tiny_run / "models.csv")
    held = pd.read_csv(tiny_run / "holdout_predictions.csv")
    train = models[~models["holdout"]]
    for target, g in held.groupby("target"):
        assert g["mean_predicted"].to_numpy() == pytest.approx(train[target].mean())
        assert set(g["nearest_spec"]) <= set(train["spec"])
    page = (tiny_run / "report.html").read_text()
    assert "training mean" in page and "nearest training model" in page
    assert "beat predicting the training mean" in page


def _chromium() -> tuple[str, str] | None:
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def test_report_renders_in_headless_chromium(tiny_run: Path, tmp_path: Path) -> None:
    """Open the report in a real headless browser at 100 %: every figure decodes and is shown at its own
    size (not scaled down), no table is wider than the page, the analysis leads with the conclusion, the
    nested cross-validation and the family-wise p; a screenshot of the whole page goes to ``tmp_path``."""
    found = _chromium()
    if found is None:
        pytest.skip("headless Chromium and chromedriver are not installed (.ci/run installs them with apt)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = found
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900",
                 "--force-device-scale-factor=1"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    try:
        drv.get((tiny_run / "report.html").resolve().as_uri())
        height = drv.execute_script("return document.documentElement.scrollHeight")
        drv.set_window_size(1280, height + 200)
        assert drv.save_screenshot(str(tmp_path / "report.png"))
        assert (tmp_path / "report.png").stat().st_size > 10_000
        images = drv.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight,"
            " i.getBoundingClientRect().width]);"
        )
        assert len(images) >= 9
        for alt, complete, width, height, shown in images:
            assert complete and width > 50 and height > 50, alt
            assert abs(shown - width * 96 / 144) <= 1, (alt, shown, width)  # real size: text ≥ 8 px
        page_width = drv.execute_script("return document.body.clientWidth")
        widths = drv.execute_script(
            "return Array.from(document.querySelectorAll('table, figure')).map(t => [t.id, t.scrollWidth]);")
        for ident, width in widths:
            assert width <= page_width, (ident, width, page_width)
        ids = drv.execute_script("return Array.from(document.querySelectorAll('[id]')).map(e => e.id);")
        for needed in ("downstream", "analysis", "conclusion", "selection", "correlation-heatmap", "scores",
                       "transfer", "models", "methods", "study-yaml", "ci-note", "at-baseline", "holdout-eee-1"):
            assert needed in ids, needed
        # the analysis section leads with the conclusion, then nested CV and family-wise p, then the rest
        lead = drv.execute_script("return document.getElementById('analysis').nextElementSibling.id")
        assert lead == "conclusion"
        first = drv.execute_script("return document.querySelector('#conclusion p').innerText")
        assert first.startswith("No measure beats chance after selection (family-wise p = ")
        assert "nested-CV MSE" in first
        order = drv.execute_script(
            "const ids = ['conclusion', 'selection', 'holdout', 'correlation-heatmap', 'best-correlations', 'fits'];"
            "return ids.map(i => document.getElementById(i).getBoundingClientRect().top);")
        assert order == sorted(order)
        headers = drv.execute_script(
            "return Array.from(document.querySelectorAll('#selection th')).map(h => h.innerText);")
        assert headers[:4] == ["target", "candidates", "nested-CV MSE", "training-mean MSE"]
        rows = drv.execute_script(
            "return Object.fromEntries(['scores', 'transfer', 'best-correlations', 'fits', 'selection'].map("
            "id => [id, document.querySelectorAll('#' + id + ' tbody tr').length]));"
        )
        assert rows["scores"] == 5 + 1  # five models and the majority baseline
        assert rows["selection"] == 3  # the average first, then each task
        assert rows["transfer"] > 0 and rows["best-correlations"] > 0 and rows["fits"] > 0
        # four training groups: no bootstrap interval anywhere in the correlation table
        best = drv.execute_script("return document.getElementById('best-correlations').innerText")
        assert "[" not in best
        assert drv.execute_script("return document.querySelectorAll('figure.scatter').length") == 3
    finally:
        drv.quit()


def test_study_in_finetune_mode(tmp_path: Path, tiny_bert_dir: Path) -> None:
    """Fine-tuning mode end to end: one run per (model, task, seed), cached, resumable, throughput kept."""
    path = _study(
        tmp_path, tiny_bert_dir,
        models=[str(tiny_bert_dir), f"{tiny_bert_dir}@perturb(alpha=5,seed=0)", f"{tiny_bert_dir}@perturb(alpha=50,seed=0)"],
        measures=["acs"],
        tasks=[{"name": "bbc_topic", "max_train": 32, "max_eval": 16}],
        downstream={"mode": "finetune", "seeds": [0],
                    "finetune": {"batch_size": 8, "per_device_batch_size": 8, "epochs": 1, "max_length": 32}},
        analysis={"holdout": [], "n_boot": 20},
    )
    assert main(["--quiet", "run", str(path)]) == 0
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert set(scores["mode"]) == {"finetune"}
    assert (scores.loc[scores["metric"] == "examples_per_s", "value"] > 0).all()
    runs = list((tmp_path / "cache" / "finetune").glob("*/result.json"))
    assert len(runs) == 3
    # the fine-tuned encoder is a model folder, usable as a model spec
    from latentatlas.models import load_model

    tuned = load_model(str(runs[0].parent / "model"))
    assert tuned.num_layers == 2
    mtimes = {p: p.stat().st_mtime_ns for p in runs}
    assert main(["--quiet", "run", str(path)]) == 0  # rerun: every fine-tuning run is reused
    assert {p: p.stat().st_mtime_ns for p in runs} == mtimes
    assert pd.read_csv(tmp_path / "out" / "scores.csv").equals(scores)


def test_glue_task_with_a_bad_file_exits_2(tmp_path: Path, tiny_bert_dir: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    rte = tmp_path / "glue" / "RTE"
    rte.mkdir(parents=True)
    (rte / "train.tsv").write_text("index\tsentence1\tlabel\n0\tA man sleeps.\tentailment\n")
    (rte / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tmaybe\n")
    code = main(["--quiet", "run", str(_study(tmp_path, tiny_bert_dir, tasks=[{"name": "rte", "data_dir": str(tmp_path / "glue")}]))])
    err = capsys.readouterr().err
    assert code == 2 and "sentence2" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_default_rule_leaves_tasks_at_chance_out_and_tasks_command_shows_why(
        tiny_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Under the default rule both tasks of the tiny study are at chance: `latentatlas tasks --results`
    recomputes the verdict from scores.csv (with the study's own, permissive rule) and the library call
    with the default rule says why each task would be left out."""
    from latentatlas.downstream.learnability import LearnabilityRule, results_summary

    strict = results_summary(tiny_run, rule=LearnabilityRule()).set_index("task")
    assert not strict["learnable"].any()
    assert "from the majority baseline" in strict.loc["bbc_topic", "reason"]
    official = pd.read_csv(tiny_run / "scores.csv").query("metric == 'score' and layer == 2")
    topic = official[official["task"] == "bbc_topic"].groupby("spec")["value"].mean()
    assert strict.loc["bbc_topic", "best"] == pytest.approx(topic.max())
    assert strict.loc["bbc_topic", "best_spec"] == topic.idxmax()
    assert strict.loc["bbc_topic", "baseline_majority"] == strict.loc["bbc_topic", "baseline"]
    assert main(["tasks", "--suite", "offline", "--results", str(tiny_run)]) == 0
    out = capsys.readouterr().out
    assert "best" in out and "seed SD" in out and out.count(": averaged") == 2  # the study's own rule
    assert main(["tasks", "--suite", "offline", "--results", str(tiny_run), "--json"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert listed["bbc_topic"]["best"] == pytest.approx(topic.max()) and "bbc_pos" in listed
    assert "best" not in listed["bbc_pos"]  # not in the study
    assert main(["tasks", "--results", str(tiny_run.parent)]) == 2
    assert "scores.csv" in capsys.readouterr().err


def test_tasks_command_baselines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--baselines computes each offline task's baselines (small sizes here: spaCy on a few sentences)."""
    pytest.importorskip("spacy", reason="bbc_pos needs the optional 'nlp' extra")
    from latentatlas.downstream import tasks as registry

    real = registry.load_task
    monkeypatch.setattr(registry, "load_task", lambda name, **kw: real(name, max_train=40, max_eval=20, **kw))
    assert main(["tasks", "--suite", "offline", "--baselines", "--cache", str(tmp_path), "--json"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert listed["bbc_pair"]["baseline_majority"] == 0.5 and listed["bbc_order"]["baseline_majority"] == 0.0
    assert "baseline_per_word_majority" not in listed["bbc_topic"]
    pos = listed["bbc_pos"]
    assert pos["baseline_per_word_majority"] > pos["baseline_majority"] > 0


def test_tasks_command_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--json"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert set(listed) >= {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli",
                           "bbc_topic", "bbc_pos", "bbc_pair", "bbc_order"}
    assert listed["cola"]["metric"] == "mcc" and listed["stsb"]["kind"] == "regression"
    assert listed["mrpc"]["metric"] == "acc_f1" and listed["bbc_pos"]["kind"] == "tagging"
    assert main(["tasks", "--suite", "offline", "--json"]) == 0
    assert {t["suite"] for t in json.loads(capsys.readouterr().out)} == {"offline"}
    assert main(["tasks", "--suite", "gleu"]) == 2
    assert "did you mean 'glue'" in capsys.readouterr().err


# ---------------------------------------------------------------- the learnability rule, on synthetic scores

def _scores(task: str, values: dict[str, list[float]]) -> pd.DataFrame:
    """Per-model, per-seed official scores of one task (spec, task, run_seed, value)."""
    return pd.DataFrame([{"spec": m, "task": task, "run_seed": s, "value": v}
                         for m, vs in values.items() for s, v in enumerate(vs)])


def test_learnability_rule_on_synthetic_score_tables() -> None:
    from latentatlas.downstream.learnability import task_learnability

    official = pd.concat([
        # clearly learnable: models spread 0.3..0.9, seeds ±0.01, baseline 0.2
        _scores("good", {"a": [0.89, 0.91], "b": [0.69, 0.71], "c": [0.49, 0.51], "d": [0.29, 0.31]}),
        # at chance: every model at the 0.5 baseline
        _scores("chance", {"a": [0.51, 0.53], "b": [0.49, 0.50], "c": [0.48, 0.52], "d": [0.50, 0.47]}),
        # well above the baseline, but the models differ by seed noise only
        _scores("noise", {"a": [0.85, 0.75], "b": [0.76, 0.86], "c": [0.84, 0.74], "d": [0.75, 0.85]}),
        # 8 points above the baseline, but noisy seeds: below 3 seed SDs
        _scores("noisy", {"a": [0.62, 0.54], "b": [0.30, 0.34], "c": [0.10, 0.14], "d": [0.40, 0.46]}),
    ])
    table = task_learnability(official, {"good": 0.2, "chance": 0.5, "noise": 0.2, "noisy": 0.5}).set_index("task")
    good = table.loc["good"]
    assert bool(good["learnable"]) and good["reason"] == ""
    assert good["best_spec"] == "a" and good["best"] == pytest.approx(0.9) and good["worst_spec"] == "d"
    assert good["margin"] == pytest.approx(0.7) and good["seed_sd"] == pytest.approx(np.sqrt(2e-4))
    assert good["model_sd"] == pytest.approx(np.std([0.9, 0.7, 0.5, 0.3], ddof=1))
    assert not table.loc["chance", "learnable"] and "from the majority baseline" in table.loc["chance", "reason"]
    noise = table.loc["noise"]
    assert noise["margin"] == pytest.approx(0.61) and noise["seed_sd"] == pytest.approx(np.sqrt(0.005))
    assert not noise["learnable"] and "seed noise" in noise["reason"] and "baseline" not in noise["reason"]
    noisy = table.loc["noisy"]
    assert noisy["margin"] == pytest.approx(0.08) and not noisy["learnable"]
    assert "below 3 seed SDs" in noisy["reason"] and "from the majority baseline" not in noisy["reason"]
    # one seed: the seed-noise criteria cannot be checked, and the reason says so
    one = task_learnability(_scores("t", {"a": [0.9], "b": [0.3]}), {"t": 0.2}).iloc[0]
    assert one["learnable"] and np.isnan(one["seed_sd"]) and "not checked: one seed" in one["reason"]
    assert not task_learnability(_scores("t", {"a": [0.9, 0.8]}), {}).iloc[0]["learnable"]  # no baseline


def test_model_scores_average_only_learnable_tasks() -> None:
    from latentatlas.pipeline.downstream import model_scores

    official = pd.concat([
        _scores("good", {"a": [0.89, 0.91], "b": [0.69, 0.71], "c": [0.49, 0.51]}),
        _scores("chance", {"a": [0.51, 0.53], "b": [0.49, 0.50], "c": [0.48, 0.52]}),
    ])
    scores = official.assign(mode="probe", layer=3, metric="score")
    baselines = pd.DataFrame({"task": ["good", "chance"], "metric": "score", "value": [0.2, 0.5],
                              "baseline": "majority"})
    summary = model_scores(scores, {"a": 3, "b": 3, "c": 3}, baselines)
    table = summary.table.set_index("spec")
    assert table.loc["a", "average"] == pytest.approx(0.9)  # 'chance' left out
    assert table.loc["a", "chance"] == pytest.approx(0.52)  # but still reported
    assert summary.targets == ["good", "average"]
    assert list(summary.left_out) == ["chance"]
    everything = model_scores(scores, {"a": 3, "b": 3, "c": 3})  # no baselines: nothing judged
    assert everything.table.set_index("spec").loc["a", "average"] == pytest.approx((0.9 + 0.52) / 2)
    none = model_scores(scores[scores["task"] == "chance"], {"a": 3, "b": 3, "c": 3}, baselines)
    assert none.table["average"].isna().all() and none.targets == ["average"]
