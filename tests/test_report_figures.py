"""The report's figures: colours by family, seed twins as mean ± range, every layer kept, text large enough
to read at 100 %, labels that do not overprint, the files beside each figure; and a report built from a
synthetic study whose held-out model lacks the selected layer (said in place, not only in the log)."""

from __future__ import annotations

import re

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.text import Text

from latentatlas.pipeline.downstream import ModelScores
from latentatlas.report import figures
from latentatlas.report.html import FIGURES_DIR, MIN_CI_GROUPS, build_report
from latentatlas.stats.groups import model_group
from latentatlas.stats.relate import relate

SPECS = ["minilm", "minilm@perturb(alpha=2,seed=0)", "minilm@perturb(alpha=2,seed=1)",
         "minilm@perturb(alpha=10,seed=0)", "zoo:first_char(steps=150)"]


def _models(specs: list[str] = SPECS) -> pd.DataFrame:
    return pd.DataFrame({"spec": specs, "family": [s.split("@")[0] for s in specs],
                         "group": [model_group(s) for s in specs]})


def _results(specs: list[str] = SPECS, layers: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [{"spec": s, "layer": layer, "measure": m, "family": "spread", "value": float(rng.normal()),
             "n_points": 300}
            for s in specs for layer in range(layers) for m in ("acs", "eee")]
    return pd.DataFrame(rows)


def _texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_families_get_their_own_hue_and_twins_one_style() -> None:
    styles = figures.model_styles(_models())
    assert set(styles) == {"minilm", "minilm@perturb(alpha=2)", "minilm@perturb(alpha=10)", "zoo:first_char(steps=150)"}
    # the one zoo family is drawn in its palette colour; minilm's three groups in three shades of the first
    assert styles["zoo:first_char(steps=150)"].colour == mcolors.to_rgb(figures.PALETTE[1])
    minilm = [styles[g] for g in ("minilm", "minilm@perturb(alpha=2)", "minilm@perturb(alpha=10)")]
    assert len({s.colour for s in minilm}) == 3 and len({s.marker for s in minilm}) == 3
    hue = mcolors.rgb_to_hsv(mcolors.to_rgb(figures.PALETTE[0]))[0]
    for s in minilm:  # shades keep the hue
        assert mcolors.rgb_to_hsv(s.colour)[0] == pytest.approx(hue, abs=0.02)
    assert styles["minilm@perturb(alpha=2)"].n_models == 2
    assert styles["minilm@perturb(alpha=2)"].label == "minilm@perturb(alpha=2) (mean and range of 2)"
    assert styles["minilm"].label == "minilm"


def test_layer_profiles_draw_group_means_with_a_band_and_one_legend_outside() -> None:
    df = _results()
    fig, data = figures.layer_profiles(df, _models(), {"acs": False, "eee": True}, title="spread")
    # the data: one row per measure × model × layer, the model's own value
    assert len(data) == len(df)
    merged = data.merge(df, on=["measure", "spec", "layer"], suffixes=("", "_results"))
    np.testing.assert_array_equal(merged["value"], merged["value_results"])
    twins = data[(data["group"] == "minilm@perturb(alpha=2)") & (data["measure"] == "acs")]
    by_layer = twins.groupby("layer")["value"]
    np.testing.assert_allclose(twins.groupby("layer")["group_mean"].first(), by_layer.mean())
    ax_acs, ax_eee = [a for a in fig.axes if a.get_visible()][:2]
    assert ax_acs.get_ylabel() == "acs  (↑ less spread)" and ax_eee.get_ylabel() == "eee  (↑ more spread)"
    # four groups → four lines per panel, the twin mean among them; one band (the only twin group)
    ys = [line.get_ydata() for line in ax_acs.get_lines()]
    assert len(ys) == 4
    assert any(np.allclose(y, by_layer.mean().to_numpy()) for y in ys)
    assert sum(isinstance(c, PolyCollection) for c in ax_acs.collections) == 1
    # one legend, for the whole figure, right of every axes
    assert len(fig.legends) == 1 and all(a.get_legend() is None for a in fig.axes)
    fig.canvas.draw()
    legend_box = fig.legends[0].get_window_extent()
    assert all(legend_box.x0 >= a.get_window_extent().x1 - 1 for a in fig.axes if a.get_visible())
    assert min(t.get_fontsize() for t in _texts(fig)) >= figures.MIN_TEXT_PT


def test_correlation_heatmap_keeps_every_layer_and_puts_last_at_the_end() -> None:
    corr = pd.DataFrame({"measure": ["acs", "acs", "eee", "acs", "eee"], "layer": [1, 2, 1, -1, -1],
                         "pearson_r": [0.5, -0.2, 0.9, 0.1, 0.3], "q_value": [0.2, 0.5, 0.01, 0.9, 0.5]})
    fig, data = figures.correlation_heatmap(corr, ["acs", "eee"], [0, 1, 2, -1], title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "last"]
    assert len(data) == 2 * 4 and data["pearson_r"].isna().sum() == 3  # layer 0 of both, eee@2
    cells = [t.get_text() for t in ax.texts]
    assert cells == ["–", "0.50", "-0.20", "0.10", "–", "0.90*", "–", "0.30"]
    assert min(t.get_fontsize() for t in _texts(fig)) >= figures.MIN_TEXT_PT


def test_held_out_labels_never_overprint() -> None:
    n = 8
    models = pd.DataFrame({"spec": [f"h{i}" for i in range(n)] + ["a", "b", "c"], "family": "f",
                           "group": [f"h{i}" for i in range(n)] + ["a", "b", "c"],
                           "holdout": [True] * n + [False] * 3, "number": list(range(1, n + 1)) + [""] * 3,
                           "x": [0.50 + 0.001 * i for i in range(n)] + [0.0, 0.5, 1.0],
                           "y": [0.50 - 0.001 * i for i in range(n)] + [0.0, 0.4, 1.0]})
    fig, data = figures.score_scatter(models, figures.model_styles(models), x="x", y="y", band=None, train_mean=0.5,
                                      title="t", xlabel="x")
    fig.canvas.draw()
    boxes = [Text.get_window_extent(a) for a in fig.axes[0].texts]  # the number, not its leader line
    assert [a.get_text() for a in fig.axes[0].texts] == [str(i) for i in range(1, n + 1)]
    for i in range(n):
        for j in range(i + 1, n):
            assert not boxes[i].overlaps(boxes[j]), (i, j)
    assert len(data) == n + 3


def test_save_gives_png_svg_pdf_without_date_stamps() -> None:
    fig, _ = figures.layer_profiles(_results(), _models(), {}, title="x")
    first = figures.save(fig)
    fig, _ = figures.layer_profiles(_results(), _models(), {}, title="x")
    second = figures.save(fig)
    assert first["png"].startswith(b"\x89PNG") and first["pdf"].startswith(b"%PDF")
    assert b"<svg" in first["svg"][:400]
    assert first["svg"] == second["svg"] and first["pdf"] == second["pdf"]
    w, _ = figures.png_size(first["png"])
    assert figures.css_width(first["png"]) == round(w * 96 / figures.DPI)


# --------------------------------------------------------------------------------- a whole report
def _study() -> tuple[pd.DataFrame, ModelScores, dict, object]:
    """Eight training models (four of depth 4, four of depth 5) whose score follows acs at layer 3, and
    one shallow held-out model (layers 0-2): it has no value at layer 3."""
    rng = np.random.default_rng(1)
    train = [f"deep{i}" for i in range(8)]
    rows, score = [], {}
    for i, spec in enumerate(train):
        depth = 4 if i < 4 else 5
        for layer in range(depth + 1):
            for m in ("acs", "eee"):
                rows.append({"spec": spec, "layer": layer, "measure": m, "family": "spread",
                             "value": float(i if (m, layer) == ("acs", 3) else rng.normal()), "n_points": 300})
        score[spec] = 0.1 * i + 0.01 * rng.normal()
    for layer in range(3):
        for m in ("acs", "eee"):
            rows.append({"spec": "shallow", "layer": layer, "measure": m, "family": "spread",
                         "value": float(rng.normal()), "n_points": 250})
    score["shallow"] = 0.3
    df = pd.DataFrame(rows)
    table = pd.DataFrame({"spec": list(score), "average": list(score.values())})
    ms = ModelScores(table, ["average"])
    manifest = {"study": {"name": "synthetic", "max_points": 300, "seed": 0, "tasks": ["t"],
                          "downstream": {"mode": "probe", "seeds": [0], "probe": {"classifier": "logistic", "C": 1.0}},
                          "analysis": {"seed": 0, "n_boot": 50}, "corpus": {"seed": 0}},
                "models": [{"spec": s, "family": "deep" if s != "shallow" else "shallow",
                            "holdout": s == "shallow", "n_tokens": 300, "layers": [], "store": "x"} for s in score],
                "corpus": {"n_sentences": 10, "source": "synthetic"}, "timings_s": {"total": 1.0},
                "versions": {"python": "3"}, "started": "s", "finished": "f"}
    analysis = relate(df, table, pd.DataFrame(), targets=["average"], families={s: "deep" for s in train} | {"shallow": "shallow"},
                      holdout={"shallow"}, n_boot=50, n_permutations=200)
    return df, ms, manifest, analysis


def test_report_says_in_place_what_cannot_be_computed() -> None:
    df, ms, manifest, analysis = _study()
    assert analysis.selection_row("average")["best"] == "acs@3"
    report = build_report(df, manifest, model_scores=ms, analysis=analysis)
    page = report.page
    # the selected layer does not exist in the shallow held-out model: said in its row of the table
    assert "no prediction: the model has no value of acs at layer 3" in page
    # ... and it is predicted from the best measure that every held-out model has
    assert "the most correlated measure with a value for every held-out model" in page
    assert "Not drawn (no value of acs@3): 1 shallow." in page
    # eight training groups: bootstrap intervals are shown, no note says otherwise
    assert analysis.n_train_groups >= MIN_CI_GROUPS and 'id="ci-note"' not in page
    assert re.search(r"<td>-?\d\.\d\d \[-?\d\.\d\d, -?\d\.\d\d\]</td>", page)
    # the conclusion leads the analysis section
    analysis_at = page.index('id="analysis"')
    assert analysis_at < page.index('id="conclusion"') < page.index('id="selection"') < page.index('id="best-correlations"')
    # every figure has its three files; the heatmap keeps every layer, with "last" at the end
    stems = {p.rsplit(".", 1)[0] for p in report.files}
    for stem in stems:
        assert {f"{stem}.svg", f"{stem}.pdf", f"{stem}.csv"} <= set(report.files)
        assert stem.startswith(f"{FIGURES_DIR}/")
    heat = pd.read_csv(pd.io.common.BytesIO(report.files[f"{FIGURES_DIR}/correlation_average.csv"]))
    assert sorted(heat["layer"].unique()) == [-1, 0, 1, 2, 3, 4, 5]
    assert len(heat) == 2 * 7


def test_few_groups_show_no_interval_and_a_repeated_last_layer_is_not_drawn_twice() -> None:
    df, ms, manifest, _ = _study()
    keep = [f"deep{i}" for i in range(4)] + ["shallow"]  # four training models, all of depth 4
    df = df[df["spec"].isin(keep)]
    table = ms.table[ms.table["spec"].isin(keep)]
    analysis = relate(df, table, pd.DataFrame(), targets=["average"], families={}, holdout={"shallow"}, n_boot=50,
                      n_permutations=100)
    manifest["models"] = [m for m in manifest["models"] if m["spec"] in keep]
    report = build_report(df, manifest, model_scores=ModelScores(table, ["average"]), analysis=analysis)
    page = report.page
    assert "the training models form only 4 groups of related models" in page
    best = page[page.index('id="best-correlations"'):]
    best = best[: best.index("</table>")]
    assert "[" not in best
    # layer -1 is layer 4 for every training model: one column, not two; the shallow model is still predicted
    assert "repeats layer 4 here and is not shown again" in page
    heat = pd.read_csv(pd.io.common.BytesIO(report.files[f"{FIGURES_DIR}/correlation_average.csv"]))
    assert sorted(heat["layer"].unique()) == [0, 1, 2, 3, 4]
    assert "<td>-1</td>" not in best
    assert (analysis.fits["layer"] == -1).any() and "<td>-1</td>" in page[page.index('id="fits"'):]


def test_report_names_runs_that_stayed_at_baseline_and_a_missing_analysis() -> None:
    df, ms, manifest, _ = _study()
    manifest["study"]["downstream"]["mode"] = "finetune"
    scores = pd.DataFrame({"spec": ["deep0", "deep0", "deep1", "deep1"], "task": "t", "mode": "finetune",
                           "run_seed": [0, 1, 0, 1], "layer": 4, "metric": "score", "value": [0.5, 0.31, 0.5, 0.9]})
    baselines = pd.DataFrame({"task": ["t"], "metric": ["score"], "value": [0.5]})
    page = build_report(df, manifest, model_scores=ms, scores=scores, baselines=baselines).page
    # seed 0 of both models ended exactly at the majority-class baseline, seed 1 of deep0 below it
    assert "3 fine-tuning run(s) stayed at or below the majority-class baseline of their task (2 model(s))" in page
    assert "<li>deep0 on t (seed 0, 1)</li>" in page and "<li>deep1 on t (seed 0)</li>" in page
    # without an analysis (too few training models) the section says so instead of vanishing
    assert 'id="no-analysis"' in page and "this study has 8." in page
