"""`latentatlas predict` on Marbut's published tables (reference/marbut.md §2.5) and on bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentatlas.stats import MODEL_KEYS
from latentatlas.cli import main

# Transcribed from reference/marbut.md §2.5 (facts: published values).
# Non-standard models: model, architecture dummy, GLUE, PQ-PP, AQ-PP, AQ-PD-EEE, EEE, VRM, IsoScore
NON_STANDARD = """\
chin,bert-base,0.684,1.0129,1.0219,0.907,0.799,0.654,0.057
germ,bert-base,0.703,1.0112,1.0774,0.750,0.877,0.510,0.005
shuffle_index,bert-base,0.681,1.0171,1.0321,0.836,0.836,0.741,0.011
untrained,bert-base,0.557,1.0385,1.0499,0.586,0.641,0.353,0.206
fc,roberta,0.767,1.0165,1.0419,0.877,0.906,0.902,0.033
mlm,roberta,0.798,1.0362,1.0787,0.742,0.664,0.334,0.097
asci,roberta,0.752,1.0458,1.0643,0.836,0.870,0.796,0.011
rand,roberta,0.564,1.0690,1.1075,0.852,0.918,0.733,0.015
roberta_sinha,roberta,0.841,1.0687,1.0474,0.679,0.663,0.374,0.122
shuffle_corp,roberta,0.623,1.0538,1.0415,0.665,0.624,0.296,0.065
shuffle_sent,roberta,0.776,1.0425,1.0390,0.743,0.782,0.551,0.040
bert-small,bert-small,0.780,1.0125,1.0244,0.727,0.565,0.252,0.217
untrained_w_emb,bert-base,0.557,1.0405,1.1080,0.817,0.797,0.570,0.072
"""
# Perturbed BERT-base: model, alpha, GLUE-9 (the average Marbut used), AQ-PP, PQ-PP, AQ-PD, EEE, VRM, IsoScore
PERTURBED_BERT_BASE = """\
bb_0_1,0,0.770,1.0387,1.0173,0.729,0.656,0.310,0.087
bb_1_1,1,0.769,1.0232,1.0238,0.726,0.653,0.352,0.107
bb_3_1,3,0.607,1.0308,1.0285,0.965,0.814,0.676,0.068
bb_5_1,5,0.526,1.0194,1.0562,0.969,0.688,0.427,0.193
bb_5_2,5,0.520,1.0183,1.0564,0.970,0.667,0.397,0.219
bb_10_1,10,0.455,1.0219,1.0358,0.969,0.786,0.607,0.111
bb_18_1,18,0.397,1.0279,1.0298,0.951,0.883,0.876,0.055
"""
MEASURES = ["PQ-PP", "AQ-PP", "AQ-PD-EEE", "EEE", "VRM", "IsoScore"]


def marbut_frame() -> pd.DataFrame:
    alt = pd.read_csv(io.StringIO(NON_STANDARD), header=None, names=["model", "family", "GLUE", *MEASURES])
    alt["holdout"] = "yes"
    bb = pd.read_csv(
        io.StringIO(PERTURBED_BERT_BASE), header=None,
        names=["model", "alpha", "GLUE", "AQ-PP", "PQ-PP", "AQ-PD-EEE", "EEE", "VRM", "IsoScore"],
    )
    bb["family"] = "bert-base"
    bb["holdout"] = 0
    return pd.concat([bb.drop(columns="alpha"), alt], ignore_index=True)[
        ["model", "family", "GLUE", *MEASURES, "holdout"]
    ]


@pytest.fixture
def marbut_csv(tmp_path: Path) -> Path:
    path = tmp_path / "marbut.csv"
    marbut_frame().to_csv(path, index=False)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_marbut_glue_on_aq_pp(capsys: pytest.CaptureFixture[str], marbut_csv: Path) -> None:
    code, out, err = run_cli(
        capsys, "-q", "predict", str(marbut_csv), "--target", "GLUE", "--predictor", "AQ-PP",
        "--holdout-col", "holdout", "--id-col", "model", "--json",
    )
    assert code == 0, err
    res = json.loads(out)
    assert res["n_train"] == 7 and res["n_holdout"] == 13 and res["target"] == "GLUE"
    m = res["models"]["AQ-PP"]
    assert set(MODEL_KEYS) <= set(m)

    # independent closed forms on the 7 perturbed BERT-base rows
    bb = pd.read_csv(io.StringIO(PERTURBED_BERT_BASE), header=None).to_numpy()
    x, y = bb[:, 3].astype(float), bb[:, 2].astype(float)
    n = len(x)
    sxy = ((x - x.mean()) * (y - y.mean())).sum()
    sxx = ((x - x.mean()) ** 2).sum()
    syy = ((y - y.mean()) ** 2).sum()
    slope = sxy / sxx
    intercept = y.mean() - slope * x.mean()
    r = sxy / np.sqrt(sxx * syy)
    assert m["coef"]["AQ-PP"] == pytest.approx(slope, rel=1e-10)
    assert m["coef"]["intercept"] == pytest.approx(intercept, rel=1e-10)
    assert m["pearson_r"] == pytest.approx(r, rel=1e-10)
    assert m["r2"] == pytest.approx(r * r, rel=1e-10)
    rss = ((y - intercept - slope * x) ** 2).sum()
    assert m["se"]["AQ-PP"] == pytest.approx(np.sqrt(rss / (n - 2) / sxx), rel=1e-10)
    assert m["n_train"] == 7

    # leave-one-out by explicit refits with numpy.polyfit
    loo_err = []
    for i in range(n):
        keep = np.arange(n) != i
        b1, b0 = np.polyfit(x[keep], y[keep], 1)
        loo_err.append(y[i] - (b0 + b1 * x[i]))
    assert m["logo_mse"] == pytest.approx(np.mean(np.square(loo_err)), rel=1e-9)
    assert m["logo_mae"] == pytest.approx(np.mean(np.abs(loo_err)), rel=1e-9)

    # held-out non-standard models
    alt = pd.read_csv(io.StringIO(NON_STANDARD), header=None)
    preds = {p["id"]: p for p in m["predictions"]}
    assert list(preds) == alt[0].tolist()
    for name, glue, aq in zip(alt[0], alt[2], alt[4]):
        p = preds[name]
        assert set(p) == {"id", "predicted", "actual", "error"}
        assert p["predicted"] == pytest.approx(intercept + slope * aq, rel=1e-10)
        assert p["actual"] == pytest.approx(glue)
        assert p["error"] == pytest.approx(intercept + slope * aq - glue, rel=1e-9, abs=1e-12)
    errs = intercept + slope * alt[4].to_numpy() - alt[2].to_numpy()
    assert m["holdout_mse"] == pytest.approx(np.mean(errs**2), rel=1e-10)
    assert m["holdout_mae"] == pytest.approx(np.mean(np.abs(errs)), rel=1e-10)


def test_marbut_joint_and_readable_output(capsys: pytest.CaptureFixture[str], marbut_csv: Path) -> None:
    code, out, err = run_cli(
        capsys, "-q", "predict", str(marbut_csv), "-t", "GLUE", "-p", "AQ-PP", "-p", "EEE",
        "--holdout-col", "holdout",
    )
    assert code == 0, err
    assert "held-out predictions" in out and "joint" in out and "germ" in out and "AQ-PP" in out
    code, out, _ = run_cli(
        capsys, "-q", "predict", str(marbut_csv), "-t", "GLUE", "-p", "AQ-PP", "-p", "EEE",
        "--holdout-col", "holdout", "--json",
    )
    assert set(json.loads(out)["models"]) == {"AQ-PP", "EEE", "joint"}


def test_factor_on_pooled_rows(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Fit on 19 pooled rows with the architecture factor; the JSON carries the factor terms."""
    path = tmp_path / "pooled.tsv"
    df = marbut_frame().drop(columns="holdout")
    df.loc[df["model"] == "bert-small", "family"] = "small"
    df.loc[df["model"] == "germ", "family"] = "small"
    df.to_csv(path, sep="\t", index=False)
    code, out, err = run_cli(capsys, "-q", "predict", str(path), "-t", "GLUE", "-p", "AQ-PP", "--factor",
                             "family", "--json")
    assert code == 0, err
    m = json.loads(out)["models"]["AQ-PP + factor"]
    assert set(m["coef"]) == {"intercept", "AQ-PP", "family[roberta]", "family[small]"}
    assert m["predictions"] == [] and m["holdout_mse"] is None
    assert m["note"] is None and m["logo_mse"] > 0
    df.loc[df["model"] == "germ", "family"] = "bert-base"  # 'small' now has a single row: LOO undefined
    df.to_csv(path, sep="\t", index=False)
    code, out, _ = run_cli(capsys, "-q", "predict", str(path), "-t", "GLUE", "-p", "AQ-PP", "--factor", "family",
                           "--json")
    assert code == 0
    models = json.loads(out)["models"]
    assert models["AQ-PP + factor"]["logo_mse"] is None and "['bert-small']" in models["AQ-PP + factor"]["note"]
    assert models["AQ-PP"]["logo_mse"] > 0 and models["AQ-PP"]["note"] is None
    code, out, _ = run_cli(capsys, "-q", "predict", str(path), "-t", "GLUE", "-p", "AQ-PP", "--factor", "family")
    assert code == 0 and "leverage 1" in out


def _write(tmp_path: Path, df: pd.DataFrame, name: str = "t.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "args", "message"),
    [
        (None, ["-t", "GLEU", "-p", "AQ-PP"], "unknown target column 'GLEU'; did you mean 'GLUE'"),
        (None, ["-t", "GLUE", "-p", "AQ_PP"], "did you mean 'AQ-PP'"),
        (lambda d: d.assign(**{"AQ-PP": d["AQ-PP"].where(d["model"] != "bb_3_1")}),
         ["-t", "GLUE", "-p", "AQ-PP"], "missing in 1 of 7 training rows (bb_3_1)"),
        (lambda d: d.assign(**{"AQ-PP": d["AQ-PP"].astype(str).where(d["model"] != "bb_5_1", "high")}),
         ["-t", "GLUE", "-p", "AQ-PP"], "is not numeric"),
        (lambda d: d.assign(flat=1.0), ["-t", "GLUE", "-p", "flat"], "'flat' is constant"),
        (lambda d: d[(d["holdout"] == "yes") | d["model"].isin(["bb_0_1", "bb_1_1", "bb_3_1"])],
         ["-t", "GLUE", "-p", "AQ-PP"], "needs at least 4 training rows (parameters + 2) but there are 3"),
        (None, ["-t", "GLUE", "-p", "AQ-PP", "--factor", "family"], "single level 'bert-base'"),
        (lambda d: d.assign(holdout=d["holdout"].replace({"yes": "perhaps"})),
         ["-t", "GLUE", "-p", "AQ-PP"], "holdout flag 'perhaps'"),
    ],
)
def test_predict_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, edit, args: list[str], message: str
) -> None:
    df = marbut_frame()
    path = _write(tmp_path, edit(df) if edit else df)
    code, out, err = run_cli(capsys, "predict", str(path), *args, "--holdout-col", "holdout", "--json")
    assert code == 2
    assert out == ""
    assert message in err
    assert err.startswith("latentatlas: error:") and err.count("\n") == 1


def test_predict_unseen_level(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    df = marbut_frame()
    df.loc[df["model"].isin(["bb_0_1", "bb_5_1", "bb_18_1"]), "family"] = "roberta"
    df = df[~((df["holdout"] == "yes") & (df["family"] == "roberta"))]
    path = _write(tmp_path, df)
    code, _, err = run_cli(capsys, "predict", str(path), "-t", "GLUE", "-p", "AQ-PP", "--factor", "family",
                           "--holdout-col", "holdout")
    assert code == 2 and "level(s) ['bert-small']" in err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("absent.csv", None, "does not exist"), ("t.parquet", "garbage", "could not be read"),
     ("t.xlsx", "x", "unsupported extension")],
)
def test_predict_bad_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    code, out, err = run_cli(capsys, "predict", str(path), "-t", "GLUE", "-p", "AQ-PP")
    assert code == 2 and out == "" and message in err


# ----------------------------------------------------------------------- groups and the cost of search
def _noise_table(seed: int = 3) -> pd.DataFrame:
    """8 models in 4 twin groups, 200 noise predictor columns: the twins share a level in every column."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(4), 2)
    X = rng.normal(size=(4, 200))[groups] + 0.3 * rng.normal(size=(8, 200))
    y = rng.normal(size=4)[groups] + 0.3 * rng.normal(size=8)
    df = pd.DataFrame(X, columns=[f"noise_{j}" for j in range(200)])
    df.insert(0, "model", [f"m{g}_seed{i % 2}" for i, g in enumerate(groups)])
    df.insert(1, "run", [f"run{g}" for g in groups])
    df.insert(2, "score", y)
    return df


def _signal_table(seed: int = 1) -> pd.DataFrame:
    """24 models, one real predictor ('real') among 200 noise columns."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(24, 200)), columns=[f"noise_{j}" for j in range(200)])
    df.insert(0, "model", [f"m{i}" for i in range(24)])
    df.insert(1, "real", rng.normal(size=24))
    df.insert(2, "score", df["real"] + 0.5 * rng.normal(size=24))
    return df


def test_noise_table_best_r_is_large_and_not_significant(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _write(tmp_path, _noise_table())
    code, out, err = run_cli(capsys, "-q", "predict", str(path), "-t", "score", "--predictors", "noise_*",
                             "--group-col", "run", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["cv"] == "leave-one-group-out" and res["n_groups"] == 4 and res["group_col"] == "run"
    sel = res["selection"]
    assert set(sel) >= {"candidates", "best", "max_abs_r", "p_family_wise", "n_permutations", "nested_cv"}
    assert sel["n_candidates"] == 200 and sel["n_permutations"] == 1000 and len(sel["candidates"]) == 200
    assert sel["max_abs_r"] > 0.85 and sel["p_family_wise"] > 0.5
    assert abs(res["models"][sel["best"]]["pearson_r"]) == pytest.approx(sel["max_abs_r"])
    ncv = sel["nested_cv"]
    assert {"mse", "mae", "spearman", "kendall", "n_groups"} <= set(ncv) and ncv["n_groups"] == 4
    assert ncv["mse"] > ncv["baseline_mse"]  # the search does not beat predicting the mean
    assert all(m["q_value"] is not None and m["q_value"] > 0.5 for k, m in res["models"].items() if k != "joint")
    assert res["models"]["noise_0"]["logo_mse"] > 0 and "loo_mse" not in res["models"]["noise_0"]


def test_signal_table_finds_the_real_predictor(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = _write(tmp_path, _signal_table())
    code, out, err = run_cli(capsys, "-q", "predict", str(path), "-t", "score", "--predictors", "noise_*",
                             "-p", "real", "--json")
    assert code == 0, err
    res = json.loads(out)
    sel = res["selection"]
    assert sel["best"] == "real" and sel["p_family_wise"] < 0.01 and sel["n_candidates"] == 201
    assert sel["candidates"][0] == "real" and res["n_groups"] == 24
    assert sel["nested_cv"]["spearman"] > 0.7 and sel["nested_cv"]["chosen"] == {"real": 24}
    assert sel["nested_cv"]["mse"] < 0.5 * sel["nested_cv"]["baseline_mse"]
    assert res["models"]["real"]["q_value"] < 0.01
    assert "joint" not in res["models"] and "'joint' left out" in res["notes"][0]
    # the readable summary leads with the nested CV and the family-wise p
    code, out, _ = run_cli(capsys, "-q", "predict", str(path), "-t", "score", "--predictors", "noise_*", "-p", "real")
    assert code == 0 and out.startswith("honest estimate (nested leave-one-group-out")
    assert "family-wise p = 0.000999" in out.splitlines()[3]


def test_dropna_drops_rows_and_reports_them(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    df = marbut_frame()
    df.loc[df["model"] == "bb_3_1", "AQ-PP"] = np.nan
    df.loc[df["model"] == "germ", "EEE"] = np.nan
    path = _write(tmp_path, df)
    args = ["-q", "predict", str(path), "-t", "GLUE", "-p", "AQ-PP", "-p", "EEE", "--holdout-col", "holdout",
            "--id-col", "model", "--json"]
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert "missing in 1 of 7 training rows (bb_3_1); 2 of 20 rows have a missing value" in err and "--dropna" in err
    code, out, err = run_cli(capsys, *args, "--dropna")
    assert code == 0, err
    res = json.loads(out)
    assert res["n_dropped"] == 2 and res["dropped"] == ["bb_3_1", "germ"] and res["n_train"] == 6
    assert res["n_holdout"] == 12 and res["n_rows"] == 20
    ref = marbut_frame()
    ref = ref[~ref["model"].isin(["bb_3_1", "germ"])]
    code, out2, _ = run_cli(capsys, "-q", "predict", str(_write(tmp_path, ref, "ref.csv")), "-t", "GLUE", "-p", "AQ-PP",
                            "-p", "EEE", "--holdout-col", "holdout", "--id-col", "model", "--json")
    assert json.loads(out2)["models"] == res["models"]  # as if the rows had never been there


@pytest.mark.parametrize(
    ("edit", "args", "message"),
    [
        (None, ["--predictors", "zz*"], "--predictors 'zz*' matches no predictor column"),
        (None, [], "no predictor given; name at least one numeric column with --predictor or --predictors"),
        (None, ["--predictors", "*"], "predictor column 'family' is not numeric"),
        (lambda d: d.assign(run="same"), ["-p", "AQ-PP", "--group-col", "run"],
         "group column 'run' has one value ('same') in all 7 training rows"),
        (lambda d: d.assign(run=["r0", "r0", "r1", "r1", "r2", "r2", "r2"] + ["x"] * 13),
         ["-p", "AQ-PP", "--group-col", "run"], "nested cross-validation needs at least 4 groups of models"),
        (None, ["-p", "AQ-PP", "--group-col", "runs"], "unknown group column 'runs'"),
        (lambda d: d.assign(**{"AQ-PP": d["AQ-PP"].where(~d["model"].isin(["bb_0_1", "bb_1_1"]))}),
         ["-p", "AQ-PP"], "missing in 2 of 7 training rows (bb_0_1, bb_1_1)"),
        (None, ["-p", "AQ-PP", "--n-permutations", "0"], "n_permutations=0 must be a positive integer"),
    ],
)
def test_predict_bad_selection_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, edit, args: list[str], message: str
) -> None:
    df = marbut_frame()
    path = _write(tmp_path, edit(df) if edit else df)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run_cli(capsys, "predict", str(path), "-t", "GLUE", *args, "--holdout-col", "holdout",
                             "--id-col", "model", "--json")
    assert code == 2 and out == ""
    assert message in err, err
    assert err.startswith("latentatlas: error:") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_seed_twins_as_one_group_on_marbuts_series(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """bb_5_1 and bb_5_2 are two seeds of alpha = 5: left out together, PQ-PP's error grows 4.6-fold."""
    bb = pd.read_csv(io.StringIO(PERTURBED_BERT_BASE), header=None,
                     names=["model", "alpha", "GLUE", "AQ-PP", "PQ-PP", "AQ-PD-EEE", "EEE", "VRM", "IsoScore"])
    path = _write(tmp_path, bb)
    args = ["-q", "predict", str(path), "-t", "GLUE", "-p", "PQ-PP", "-p", "AQ-PP", "--id-col", "model", "--json"]
    code, out, _ = run_cli(capsys, *args)
    rows = json.loads(out)
    code2, out2, _ = run_cli(capsys, *args, "--group-col", "alpha")
    assert code == code2 == 0
    grouped = json.loads(out2)
    assert rows["n_groups"] == 7 and grouped["n_groups"] == 6
    x, y, alpha = bb["PQ-PP"].to_numpy(), bb["GLUE"].to_numpy(), bb["alpha"].to_numpy()
    # explicit refit without the whole alpha group, predicting its rows
    err = np.concatenate([y[alpha == a] - np.polyval(np.polyfit(x[alpha != a], y[alpha != a], 1), x[alpha == a])
                          for a in np.unique(alpha)])
    assert grouped["models"]["PQ-PP"]["logo_mse"] == pytest.approx(np.mean(err**2), rel=1e-9)
    ratio = grouped["models"]["PQ-PP"]["logo_mse"] / rows["models"]["PQ-PP"]["logo_mse"]
    assert ratio == pytest.approx(4.58, abs=0.01)
    assert grouped["models"]["AQ-PP"]["logo_mse"] / rows["models"]["AQ-PP"]["logo_mse"] == pytest.approx(1.00, abs=0.01)
