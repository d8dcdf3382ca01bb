"""Analysis: correlations (scipy, explicit bootstrap loops), OLS (closed forms), LOO (refit loop), prediction."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from latentatlas.stats import (
    FACTOR_SUFFIX,
    JOINT,
    MODEL_KEYS,
    TABLE_COLUMNS,
    analyse,
    correlation_table,
    correlations,
    fit_ols,
    holdout_mask,
    loo,
    predict_holdout,
    read_table,
)
from latentatlas.errors import BadInputError

# ------------------------------------------------------------------------------------- correlations


def _explicit_bootstrap(x: np.ndarray, y: np.ndarray, n_boot: int, seed: int, ci: float):
    """Reference: loop over resamples with scipy, skipping constant resamples."""
    idx = np.random.default_rng(seed).integers(0, x.size, size=(n_boot, x.size))
    draws: dict[str, list[float]] = {"pearson": [], "spearman": [], "kendall": []}
    skipped = 0
    for row in idx:
        xb, yb = x[row], y[row]
        if np.ptp(xb) == 0 or np.ptp(yb) == 0:
            skipped += 1
            continue
        draws["pearson"].append(stats.pearsonr(xb, yb).statistic)
        draws["spearman"].append(stats.spearmanr(xb, yb).statistic)
        draws["kendall"].append(stats.kendalltau(xb, yb).statistic)
    q = [(1 - ci) / 2, (1 + ci) / 2]
    return {k: np.quantile(v, q) for k, v in draws.items()}, skipped


@pytest.mark.parametrize("ties", [False, True])
def test_correlations_match_scipy_and_explicit_bootstrap(rng: np.random.Generator, ties: bool) -> None:
    x = rng.normal(size=15)
    y = 0.6 * x + rng.normal(size=15)
    if ties:
        x, y = np.round(x), np.round(2 * y)
    got = correlations(x, y, n_boot=300, ci=0.9, seed=7)
    assert got["n"] == 15
    assert got["pearson_r"] == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert got["pearson_p"] == pytest.approx(stats.pearsonr(x, y).pvalue, rel=1e-9)
    assert got["spearman_rho"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert got["spearman_p"] == pytest.approx(stats.spearmanr(x, y).pvalue, rel=1e-9)
    assert got["kendall_tau"] == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    assert got["kendall_p"] == pytest.approx(stats.kendalltau(x, y).pvalue, rel=1e-9)
    ref, skipped = _explicit_bootstrap(x, y, 300, 7, 0.9)
    assert got["n_boot_skipped"] == skipped
    for s in ("pearson", "spearman", "kendall"):
        assert [got[f"{s}_lo"], got[f"{s}_hi"]] == pytest.approx(list(ref[s]), abs=1e-12)


def test_kendall_pvalue_large_n_and_exact_small_n(rng: np.random.Generator) -> None:
    for n in (4, 9, 33, 40):
        x = rng.normal(size=n)
        y = x + rng.normal(size=n)
        assert correlations(x, y, n_boot=5)["kendall_p"] == pytest.approx(stats.kendalltau(x, y).pvalue, rel=1e-9)


def test_degenerate_resamples_are_skipped_and_counted() -> None:
    x = np.array([0.0, 0.0, 0.0, 1.0])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    got = correlations(x, y, n_boot=400, seed=3)
    ref, skipped = _explicit_bootstrap(x, y, 400, 3, 0.95)
    assert 0 < skipped == got["n_boot_skipped"]  # P(no '1' drawn) = (3/4)^4 ≈ 0.32
    assert [got["pearson_lo"], got["pearson_hi"]] == pytest.approx(list(ref["pearson"]))


def test_correlations_seeded() -> None:
    x, y = np.arange(10.0), np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3.0])
    a = correlations(x, y, n_boot=200, seed=1)
    assert a == correlations(x, y, n_boot=200, seed=1)
    assert a["pearson_lo"] != correlations(x, y, n_boot=200, seed=2)["pearson_lo"]


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([1.0, 2.0], [2.0, 1.0], "at least 3 pairs"),
        ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], "NaN/inf"),
        ([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0], "x is constant"),
        ([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], "y is constant"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], "equal length"),
    ],
)
def test_correlations_bad_input(x: list[float], y: list[float], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        correlations(x, y, n_boot=10)


def test_correlations_names_the_constant_variable() -> None:
    with pytest.raises(BadInputError, match="'eee@3' is constant|eee@3 is constant"):
        correlations([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], x_name="eee@3")


def _long_tables(rng: np.random.Generator, n_models: int = 8):
    specs = [f"m{i}" for i in range(n_models)]
    rows = []
    for s in specs:
        for layer in (0, 3):
            for m in ("eee", "iso", "flat"):
                rows.append({"spec": s, "layer": layer, "measure": m, "value": rng.normal() if m != "flat" else 1.0})
    geo = pd.DataFrame(rows)
    geo = geo[~((geo["spec"] == "m2") & (geo["measure"] == "iso") & (geo["layer"] == 3))]  # missing value
    scores = pd.DataFrame({"spec": specs[::-1], "cola": rng.normal(size=n_models), "avg": rng.normal(size=n_models)})
    return geo, scores


def test_correlation_table_rows_equal_correlations(rng: np.random.Generator) -> None:
    geo, scores = _long_tables(rng)
    tab = correlation_table(geo, scores, targets=["cola", "avg"], n_boot=150, seed=4)
    assert list(tab.columns) == TABLE_COLUMNS
    assert len(tab) == 3 * 2 * 2
    for _, row in tab.iterrows():
        sub = geo[(geo["measure"] == row["measure"]) & (geo["layer"] == row["layer"])].set_index("spec")["value"]
        if row["measure"] == "flat" or (row["measure"] == "iso" and row["layer"] == 3):
            assert math.isnan(row["pearson_r"]) and math.isnan(row["kendall_hi"])
            continue
        order = scores["spec"]  # the table uses the scores' model order
        ref = correlations(sub.reindex(order).to_numpy(), scores[row["target"]].to_numpy(), n_boot=150, seed=4)
        for c in TABLE_COLUMNS[3:]:
            assert row[c] == pytest.approx(ref[c], abs=1e-12), c


def test_correlation_table_errors(rng: np.random.Generator) -> None:
    geo, scores = _long_tables(rng)
    with pytest.raises(BadInputError, match="did you mean 'cola'"):
        correlation_table(geo, scores, targets=["colaa"], n_boot=10)
    with pytest.raises(BadInputError, match="duplicated"):
        correlation_table(pd.concat([geo, geo.iloc[:1]]), scores, targets=["cola"], n_boot=10)
    other = scores.assign(spec=[f"x{i}" for i in range(len(scores))])
    with pytest.raises(BadInputError, match="need at least 3"):
        correlation_table(geo, other, targets=["cola"], n_boot=10)


# ------------------------------------------------------------------------------------------- OLS
@pytest.fixture
def frame(rng: np.random.Generator) -> pd.DataFrame:
    n = 24
    g = np.array(["b", "a", "c"] * 8)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    y = 1.0 + 2.0 * x1 - 0.5 * x2 + (g == "b") * 0.7 - (g == "c") * 0.3 + 0.2 * rng.normal(size=n)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g": g, "name": [f"r{i}" for i in range(n)]})


def test_simple_ols_closed_form(frame: pd.DataFrame) -> None:
    x, y = frame["x1"].to_numpy(), frame["y"].to_numpy()
    fit = fit_ols(frame, "y", ["x1"])
    sxx = ((x - x.mean()) ** 2).sum()
    slope = ((x - x.mean()) * (y - y.mean())).sum() / sxx
    intercept = y.mean() - slope * x.mean()
    assert fit.coef_dict() == pytest.approx({"intercept": intercept, "x1": slope})
    assert list(fit.coef) == pytest.approx(list(np.polyfit(x, y, 1)[::-1]))
    rss = ((y - intercept - slope * x) ** 2).sum()
    n = len(y)
    s2 = rss / (n - 2)
    assert fit.se[1] == pytest.approx(math.sqrt(s2 / sxx))
    assert fit.se[0] == pytest.approx(math.sqrt(s2 * (1 / n + x.mean() ** 2 / sxx)))
    r = stats.pearsonr(x, y)
    assert fit.r2 == pytest.approx(r.statistic**2)
    assert fit.p[1] == pytest.approx(r.pvalue)  # slope t-test == correlation t-test
    assert fit.adj_r2 == pytest.approx(1 - (1 - r.statistic**2) * (n - 1) / (n - 2))
    assert fit.df_resid == n - 2 and fit.n == n


def test_factor_only_gives_group_means(frame: pd.DataFrame) -> None:
    fit = fit_ols(frame, "y", [], factor="g")
    means = frame.groupby("g")["y"].mean()
    assert fit.names == ("intercept", "g[b]", "g[c]")  # sorted levels, 'a' is the reference
    assert fit.coef == pytest.approx([means["a"], means["b"] - means["a"], means["c"] - means["a"]])


def test_ols_with_factor_matches_normal_equations(frame: pd.DataFrame) -> None:
    fit = fit_ols(frame, "y", ["x1", "x2"], factor="g")
    g = frame["g"].to_numpy()
    X = np.column_stack([np.ones(len(frame)), frame["x1"], frame["x2"], g == "b", g == "c"]).astype(float)
    y = frame["y"].to_numpy()
    XtX_inv = np.linalg.inv(X.T @ X)
    beta = XtX_inv @ X.T @ y
    resid = y - X @ beta
    s2 = resid @ resid / (len(y) - 5)
    assert fit.coef == pytest.approx(beta)
    assert fit.se == pytest.approx(np.sqrt(s2 * np.diag(XtX_inv)))
    assert fit.t == pytest.approx(beta / np.sqrt(s2 * np.diag(XtX_inv)))
    assert fit.leverage == pytest.approx(np.diag(X @ XtX_inv @ X.T))
    assert fit.coef_dict()["g[b]"] == pytest.approx(0.7, abs=0.3)


def test_ols_bad_designs(frame: pd.DataFrame) -> None:
    with pytest.raises(BadInputError, match="single level"):
        fit_ols(frame.assign(g="a"), "y", ["x1"], factor="g")
    with pytest.raises(BadInputError, match="rank-deficient"):
        fit_ols(frame.assign(x3=2 * frame["x1"] + 1), "y", ["x1", "x3"])
    with pytest.raises(BadInputError, match="needs at least 4 rows"):
        fit_ols(frame.iloc[:3], "y", ["x1", "x2"])
    with pytest.raises(BadInputError, match="non-numeric"):
        fit_ols(frame, "y", ["name"])


@pytest.mark.parametrize("factor", [None, "g"])
def test_loo_shortcut_equals_refit_loop(frame: pd.DataFrame, factor: str | None) -> None:
    mse, mae, pred = loo(frame, "y", ["x1", "x2"], factor=factor)
    ref = []
    for i in range(len(frame)):
        fit = fit_ols(frame.drop(index=i), "y", ["x1", "x2"], factor=factor)
        ref.append(fit.predict(frame.iloc[[i]])[0])
    ref = np.array(ref)
    assert pred == pytest.approx(ref)
    err = frame["y"].to_numpy() - ref
    assert mse == pytest.approx(np.mean(err**2)) and mae == pytest.approx(np.mean(np.abs(err)))


def test_loo_errors(frame: pd.DataFrame) -> None:
    with pytest.raises(BadInputError, match="needs at least 5 rows"):
        loo(frame.iloc[:4], "y", ["x1", "x2"])
    lone = frame.copy()
    lone.loc[0, "g"] = "z"  # the only row of level z has leverage 1
    with pytest.raises(BadInputError, match="leverage 1"):
        loo(lone, "y", ["x1"], factor="g")


def test_predict_holdout(frame: pd.DataFrame) -> None:
    train, test = frame.iloc[:18], frame.iloc[18:].copy()
    test.loc[test.index[0], "y"] = np.nan
    res = predict_holdout(train, test, "y", ["x1"], factor="g")
    b = res.fit.coef_dict()
    g = test["g"].to_numpy()
    by_hand = b["intercept"] + b["x1"] * test["x1"] + b["g[b]"] * (g == "b") + b["g[c]"] * (g == "c")
    assert res.predicted == pytest.approx(by_hand.to_numpy())
    ok = test["y"].notna().to_numpy()
    assert np.isnan(res.actual[0]) and np.isnan(res.error[0])
    assert res.mse == pytest.approx(np.mean((by_hand[ok] - test["y"][ok]) ** 2))
    assert res.mae == pytest.approx(np.mean(np.abs(by_hand[ok] - test["y"][ok])))
    with pytest.raises(BadInputError, match=r"level\(s\) \['q'\]"):
        predict_holdout(train, test.assign(g="q"), "y", ["x1"], factor="g")


# ---------------------------------------------------------------------------------------- analyse
def test_analyse_keys_and_values(frame: pd.DataFrame) -> None:
    frame = frame.assign(hold=["yes" if i % 6 == 0 else "" for i in range(len(frame))])
    frame.loc[0, "y"] = np.nan  # a held-out row without a target
    res = analyse(frame, "y", ["x1", "x2"], factor="g", holdout="hold", id_col="name")
    assert set(res["models"]) == {"x1", "x2", JOINT, "x1" + FACTOR_SUFFIX, "x2" + FACTOR_SUFFIX, JOINT + FACTOR_SUFFIX}
    assert res["n_train"] == 20 and res["n_holdout"] == 4
    train = frame[frame["hold"] == ""]
    for key, m in res["models"].items():
        assert set(MODEL_KEYS) <= set(m), key
        assert m["n_train"] == 20
    single = res["models"]["x1"]
    assert single["pearson_r"] == pytest.approx(stats.pearsonr(train["x1"], train["y"]).statistic)
    assert single["logo_mse"] == pytest.approx(loo(train, "y", ["x1"]).mse)
    assert single["coef"] == pytest.approx(fit_ols(train, "y", ["x1"]).coef_dict())
    joint = res["models"][JOINT]
    assert joint["pearson_r"] == pytest.approx(math.sqrt(joint["r2"]))  # multiple R
    preds = single["predictions"]
    assert [p["id"] for p in preds] == ["r0", "r6", "r12", "r18"]
    assert preds[0]["actual"] is None and preds[0]["error"] is None
    assert preds[1]["error"] == pytest.approx(preds[1]["predicted"] - frame.loc[6, "y"])
    assert single["holdout_mse"] == pytest.approx(np.mean([p["error"] ** 2 for p in preds[1:]]))


def test_analyse_errors(frame: pd.DataFrame) -> None:
    with pytest.raises(BadInputError, match="did you mean 'x1'"):
        analyse(frame, "y", ["x11"])
    missing = frame.copy()
    missing.loc[[3, 5], "x1"] = np.nan
    with pytest.raises(BadInputError, match=r"missing in 2 of 24 training rows \(3, 5\)"):
        analyse(missing, "y", ["x1"])
    with pytest.raises(BadInputError, match="constant"):
        analyse(frame.assign(k=1.0), "y", ["k"])
    with pytest.raises(BadInputError, match=r"needs at least 6 training rows \(parameters \+ 2\)"):
        analyse(frame.iloc[:5], "y", ["x1"], factor="g")
    # a joint model too large for the rows is left out (said in notes); the single predictors stand
    res = analyse(frame.iloc[:6], "y", ["x1", "x2"], factor="g")
    assert JOINT + FACTOR_SUFFIX not in res["models"] and "x1" + FACTOR_SUFFIX in res["models"]
    assert res["notes"] == ["'joint + factor' left out: 5 parameters are too many for 6 training rows in 6 groups"]
    with pytest.raises(BadInputError, match="not numeric"):
        analyse(frame, "y", ["name"])


def test_holdout_mask_values() -> None:
    s = pd.Series([1, "0", "TRUE", "no", None, "holdout", True, "", 0.0], name="h")
    assert holdout_mask(s).tolist() == [True, False, True, False, False, True, True, False, False]
    with pytest.raises(BadInputError, match="neither true nor false"):
        holdout_mask(pd.Series(["maybe"], name="h"))


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet"])
def test_read_table_formats(tmp_path: Path, frame: pd.DataFrame, ext: str) -> None:
    path = tmp_path / f"t{ext}"
    if ext == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, sep="," if ext == ".csv" else "\t", index=False)
    pd.testing.assert_frame_equal(read_table(path), frame, check_dtype=False)


def test_read_table_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        read_table(tmp_path / "no.csv")
    with pytest.raises(BadInputError, match="unsupported extension"):
        read_table(tmp_path / "t.xlsx")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(BadInputError, match="could not be read"):
        read_table(bad)


def _geometry(specs_layers: dict[str, tuple[int, dict[int, float]]]) -> pd.DataFrame:
    rows = [{"spec": spec, "layer": layer, "measure": "m", "value": v}
            for spec, (_, values) in specs_layers.items() for layer, v in values.items()]
    return pd.DataFrame(rows)


def test_relate_compares_models_of_different_depth_at_their_last_layer() -> None:
    from latentatlas.stats.relate import LAST, relate, with_last_layer

    # five 3-layer training models whose average is 2·m(last) + 1, and one 2-layer held-out model
    deep = {f"deep{i}": (3, {0: 0.1 * i, 1: 0.3 * i ** 2, 2: float(i)}) for i in range(5)}
    shallow = {"shallow": (2, {0: 0.05, 1: 7.0})}
    geometry = _geometry({**deep, **shallow})
    scores = pd.DataFrame({"spec": [*deep, "shallow"], "average": [2.0 * i + 1 for i in range(5)] + [15.0]})
    same_depth = _geometry(deep)
    assert with_last_layer(same_depth).equals(same_depth)  # nothing added when the depths agree
    res = relate(geometry, scores, pd.DataFrame(), targets=["average"], families={}, holdout={"shallow"}, n_boot=20)
    fits = res.fits.set_index("layer")
    # layer 2 is fitted on the training models although the held-out model has no layer 2
    assert fits.loc[2, "r2"] == pytest.approx(1.0) and fits.loc[LAST, "r2"] == pytest.approx(1.0)
    held = res.holdout.set_index("layer")
    assert 2 not in held.index
    # at LAST the shallow model is predicted from its own last layer (7.0), exactly
    assert held.loc[LAST, "predicted"] == pytest.approx(15.0) and held.loc[LAST, "actual"] == 15.0
    assert res.models.set_index("spec").loc["shallow", "m@-1"] == 7.0
    # held-out errors say over how many models they were taken
    assert fits.loc[2, "n_holdout"] == 0 and fits.loc[LAST, "n_holdout"] == 1 and fits.loc[LAST, "n_train"] == 5


# ------------------------------------------------------------------------------ groups of related models
def test_model_group_drops_only_the_variant_seed() -> None:
    from latentatlas.stats.groups import model_group
    from latentatlas.models import ModelSpec

    twins = ["minilm@perturb(alpha=10,seed=0)", "minilm@perturb(alpha=10,seed=1)",
             str(ModelSpec.parse("minilm@perturb(seed=2, alpha=10)"))]
    assert {model_group(s) for s in twins} == {"minilm@perturb(alpha=10)"}
    assert model_group("minilm@perturb(alpha=2,seed=0)") != model_group("minilm@perturb(alpha=10,seed=0)")
    assert model_group("minilm") == "minilm" != model_group("minilm@perturb(alpha=10,seed=0)")
    assert model_group("minilm@random_init(seed=3)") == "minilm@random_init()"
    # a zoo base is one pre-training run: its seed and steps stay (the schedule depends on steps)
    assert model_group("zoo:mlm(steps=150,seed=1)") == model_group("zoo:mlm(seed=1,steps=150)") == "zoo:mlm(seed=1,steps=150)"
    assert model_group("zoo:mlm(seed=1)") != model_group("zoo:mlm(seed=2)")
    assert model_group("zoo:mlm(seed=1)@perturb(alpha=5,seed=4)") == "zoo:mlm(seed=1)@perturb(alpha=5)"
    # a nested source spec keeps its own seed; only the outer variant's seed goes
    assert (model_group("minilm@swap_emb(source=minilm@perturb(alpha=1,seed=7))")
            == "minilm@swap_emb(source=minilm@perturb(alpha=1,seed=7))")
    assert model_group("  my label ") == "my label"


def test_group_codes_and_families() -> None:
    from latentatlas.stats.groups import family_of_groups, group_codes

    codes = group_codes(["b", "a", "b", "c"], 4)
    assert codes.tolist() == [0, 1, 0, 2]
    assert group_codes(None, 3).tolist() == [0, 1, 2]
    assert family_of_groups(codes, ["x", "y", "x", "y"]).tolist() == [0, 1, 1]
    with pytest.raises(BadInputError, match="group 'b' has models in two families"):
        family_of_groups(codes, ["x", "y", "z", "y"], ["b", "a", "b", "c"])
    with pytest.raises(BadInputError, match="no group label"):
        group_codes(["a", None], 2)


# ------------------------------------------------------------------------------------------------ LOGO
@pytest.mark.parametrize("factor", [None, "g"])
def test_logo_equals_explicit_leave_group_out_refit(frame: pd.DataFrame, factor: str | None) -> None:
    from latentatlas.stats.cv import logo

    groups = np.array([f"G{i // 3}" for i in range(len(frame))])  # 8 groups of 3 rows
    rng = np.random.default_rng(5)
    groups = groups[rng.permutation(len(frame))]  # groups not contiguous
    res = logo(frame, "y", ["x1", "x2"], factor=factor, groups=groups)
    ref = np.empty(len(frame))
    for g in np.unique(groups):
        out = groups == g
        fit = fit_ols(frame[~out], "y", ["x1", "x2"], factor=factor)
        ref[out] = fit.predict(frame[out])
    assert res.predictions == pytest.approx(ref, rel=1e-10)
    err = frame["y"].to_numpy() - ref
    assert res.mse == pytest.approx(np.mean(err**2)) and res.mae == pytest.approx(np.mean(np.abs(err)))
    assert res.n_groups == 8
    # one row per group is leave-one-out
    single = logo(frame, "y", ["x1", "x2"], factor=factor)
    assert single.predictions == pytest.approx(loo(frame, "y", ["x1", "x2"], factor=factor).predictions)


def test_logo_undefined_and_too_few_rows(frame: pd.DataFrame) -> None:
    from latentatlas.stats.cv import logo

    groups = np.where(frame["g"] == "c", "only-c", frame["name"])  # every 'c' row in one group
    with pytest.raises(BadInputError, match=r"undefined for group\(s\) \['only-c'\]"):
        logo(frame, "y", ["x1"], factor="g", groups=groups)
    assert np.isfinite(logo(frame, "y", ["x1"], groups=groups).mse)  # without the factor it is defined
    with pytest.raises(BadInputError, match=r"needs at least 12 rows \(parameters \+ 1 \+ the largest group, 9"):
        logo(frame.iloc[:10], "y", ["x1"], groups=["a"] * 9 + ["b"])


def test_analyse_cross_validates_by_group(frame: pd.DataFrame) -> None:
    from latentatlas.stats.cv import logo

    frame = frame.assign(run=[f"run{i // 2}" for i in range(len(frame))])
    res = analyse(frame, "y", ["x1"], groups="run", selection=False)
    assert res["cv"] == "leave-one-group-out" and res["n_groups"] == 12 and res["group_col"] == "run"
    assert res["models"]["x1"]["logo_mse"] == pytest.approx(logo(frame, "y", ["x1"], groups=frame["run"]).mse)
    assert res["models"]["x1"]["logo_mse"] != pytest.approx(loo(frame, "y", ["x1"]).mse)


# ------------------------------------------------------------------------------------------ q-values
def test_bh_qvalues_known_answers() -> None:
    from latentatlas.stats.multiple import bh_qvalues

    # hand-computed: sorted p 0.005, 0.01, 0.03, 0.04, 0.2 -> m·p/i 0.025, 0.025, 0.05, 0.05, 0.2
    assert bh_qvalues([0.01, 0.04, 0.03, 0.005, 0.20]) == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.2])
    # Benjamini & Hochberg (1995) §4: 15 p-values, FDR 0.05 rejects the four smallest
    p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719,
         0.6528, 0.7590, 1.0]
    q = bh_qvalues(p)
    assert (q <= 0.05).sum() == 4
    by_hand = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0298 * 15 / 7, 0.0298 * 15 / 7, 0.0645, 0.0765,
               0.486, 0.4262 * 15 / 11, 0.5719 * 15 / 12, 0.6528 * 15 / 13, 0.7590 * 15 / 14, 1.0]
    assert q == pytest.approx(by_hand, rel=1e-12)
    # R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "BH") is 0.05 five times
    assert bh_qvalues([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05] * 5)
    # NaN is not a test: kept, and not counted in m
    got = bh_qvalues(np.array([[0.01, np.nan], [0.04, 0.03]]))
    assert np.isnan(got[0, 1]) and got[1] == pytest.approx([0.04, 0.04]) and got[0, 0] == pytest.approx(0.03)
    with pytest.raises(BadInputError, match="outside"):
        bh_qvalues([0.5, 1.5])


def test_group_level_pvalues_respect_twins() -> None:
    from latentatlas.stats.multiple import bh_qvalues, group_level_pvalues

    X, y, groups = _twin_noise(3, n_groups=6)
    p, G = group_level_pvalues(X, y, groups)
    assert G == 6
    Xg = np.stack([X[groups == g].mean(axis=0) for g in range(6)])
    yg = np.array([y[groups == g].mean() for g in range(6)])
    assert p[:5] == pytest.approx([stats.pearsonr(Xg[:, j], yg).pvalue for j in range(5)], rel=1e-9)
    # one row per group: the ordinary Pearson p
    single, _ = group_level_pvalues(X[:, :5], y)
    assert single == pytest.approx([stats.pearsonr(X[:, j], y).pvalue for j in range(5)], rel=1e-9)
    # on twin noise, the row-level t-test treats twins as independent and finds 'discoveries'
    row_p = np.array([stats.pearsonr(X[:, j], y).pvalue for j in range(X.shape[1])])
    assert (bh_qvalues(row_p) < 0.1).sum() > 0 and (bh_qvalues(p) < 0.1).sum() == 0


# ----------------------------------------------------------------------- selection: permutation null
def _twin_noise(seed: int, n_groups: int = 4, n_candidates: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pure noise in twin groups: the twins of a group share a level in every column and in the target."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), 2)
    X = rng.normal(size=(n_groups, n_candidates))[groups] + 0.3 * rng.normal(size=(2 * n_groups, n_candidates))
    y = rng.normal(size=n_groups)[groups] + 0.3 * rng.normal(size=2 * n_groups)
    return X, y, groups


def test_max_abs_r_on_noise_is_large_but_not_significant() -> None:
    from latentatlas.stats.selection import max_abs_r_test

    X, y, groups = _twin_noise(3)
    res = max_abs_r_test(X, y, groups=groups, n_permutations=1000, seed=0)
    r = np.array([stats.pearsonr(X[:, j], y).statistic for j in range(X.shape[1])])
    assert res.max_abs_r == pytest.approx(np.abs(r).max()) and res.best == int(np.argmax(np.abs(r)))
    assert res.max_abs_r > 0.85  # the best of 200 noise columns over 8 models looks strong ...
    assert res.p_family_wise > 0.5  # ... and the search explains it
    assert res.n_distinct_permutations == 24 and res.n_permutations == 1000


def test_max_abs_r_p_is_calibrated_on_noise() -> None:
    """Under the null the family-wise p is uniform over the 24 group permutations: on 60 noise tables
    p < 0.05 about as often as 1 in 24 (the table of seed 0 is such a case: p = 0.036)."""
    from latentatlas.stats.selection import max_abs_r_test

    ps = np.array([max_abs_r_test(*_twin_noise(s)[:2], groups=_twin_noise(s)[2], n_permutations=500).p_family_wise
                   for s in range(60)])
    assert (ps < 0.05).mean() < 0.1 and 0.35 < np.median(ps) < 0.65 and (ps > 0.5).mean() > 0.4


def test_max_abs_r_finds_the_real_predictor() -> None:
    from latentatlas.stats.selection import max_abs_r_test

    rng = np.random.default_rng(1)
    X = rng.normal(size=(24, 200))
    y = X[:, 37] + 0.5 * rng.normal(size=24)
    res = max_abs_r_test(X, y, n_permutations=1000, seed=0)
    assert res.best == 37 and res.p_family_wise < 0.01
    assert res.p_family_wise == pytest.approx(1 / 1001)


def test_permuted_targets_move_group_levels_within_families() -> None:
    from latentatlas.stats.selection import permuted_targets

    y = np.array([1.0, 1.2, 5.0, 5.4, 9.0, 2.0, 3.0])
    groups = ["a", "a", "b", "b", "c", "d", "e"]
    families = ["F", "F", "F", "F", "F", "H", "H"]
    Yp = permuted_targets(y, 300, groups=groups, families=families, seed=3)
    means = {"a": 1.1, "b": 5.2, "c": 9.0, "d": 2.0, "e": 3.0}
    dev = y - np.array([means[g] for g in groups])
    level = Yp - dev  # each model keeps its deviation; what moves is its group's level
    assert level[:, 0] == pytest.approx(level[:, 1]) and level[:, 2] == pytest.approx(level[:, 3])
    for row in level:  # family F's groups exchange F's levels, family H's exchange H's
        assert sorted(np.round(row[[0, 2, 4]], 9)) == [1.1, 5.2, 9.0]
        assert sorted(np.round(row[[5, 6]], 9)) == [2.0, 3.0]
    assert len({tuple(np.round(r, 9)) for r in level}) == 3 * 2 * 1 * 2  # 3! · 2! distinct permutations
    # one model per group and one family: an ordinary permutation of the target
    plain = permuted_targets(y, 50, seed=1)
    assert all(sorted(r) == pytest.approx(sorted(y)) for r in plain)


def test_group_permutation_p_matches_exact_enumeration() -> None:
    import itertools

    from latentatlas.stats.selection import max_abs_r_test

    X, y, groups = _twin_noise(4, n_groups=5, n_candidates=3)
    means = np.bincount(groups, weights=y) / 2
    dev = y - means[groups]

    def max_r(t: np.ndarray) -> float:
        return max(abs(stats.pearsonr(X[:, j], t).statistic) for j in range(X.shape[1]))

    observed = max_r(y)
    null = [max_r(means[list(p)][groups] + dev) for p in itertools.permutations(range(5))]
    exact = np.mean(np.array(null) >= observed - 1e-12)
    res = max_abs_r_test(X, y, groups=groups, n_permutations=20000, seed=2)
    assert res.max_abs_r == pytest.approx(observed)
    assert res.p_family_wise == pytest.approx(exact, abs=0.01)


def test_permuting_rows_of_twins_understates_the_null() -> None:
    """Why groups are permuted as units: treating twins as independent rows narrows the null of max |r|."""
    from latentatlas.stats.selection import max_abs_r_test

    X, y, groups = _twin_noise(2, n_groups=6)
    by_group = max_abs_r_test(X, y, groups=groups, n_permutations=2000, seed=0)
    by_row = max_abs_r_test(X, y, groups=None, n_permutations=2000, seed=0)
    assert np.quantile(by_group.null, 0.95) > np.quantile(by_row.null, 0.95) + 0.02
    assert by_group.p_family_wise > by_row.p_family_wise


def test_max_abs_r_test_bad_input() -> None:
    from latentatlas.stats.selection import max_abs_r_test

    X = np.arange(12.0).reshape(6, 2) ** 2
    with pytest.raises(BadInputError, match="target is constant"):
        max_abs_r_test(X, np.ones(6))
    with pytest.raises(BadInputError, match="every candidate column is constant"):
        max_abs_r_test(np.ones((6, 2)), np.arange(6.0))
    with pytest.raises(BadInputError, match="n_permutations=0"):
        max_abs_r_test(X, np.arange(6.0), n_permutations=0)


# --------------------------------------------------------------------------------------- nested CV
def test_nested_cv_with_one_candidate_is_logo_of_its_fit(frame: pd.DataFrame) -> None:
    from latentatlas.stats.cv import logo, nested_cv

    groups = [f"G{i % 6}" for i in range(len(frame))]
    got = nested_cv(frame[["x1"]].to_numpy(), frame["y"].to_numpy(), ["x1"], groups)
    assert got.predicted == pytest.approx(logo(frame, "y", ["x1"], groups=groups).predictions, rel=1e-10)
    assert got.chosen == {"x1": 6} and got.n_groups == 6
    pg, ag = got.group_means()
    assert got.spearman == pytest.approx(stats.spearmanr(pg, ag).statistic)
    assert got.kendall == pytest.approx(stats.kendalltau(pg, ag).statistic)
    y = frame["y"].to_numpy()
    base = np.array([y[np.array(groups) != g].mean() for g in groups])
    assert got.baseline_mse == pytest.approx(np.mean((base - y) ** 2))


def test_nested_cv_selects_inside_each_fold() -> None:
    """The choice is remade without the left-out group: equal to an explicit loop of select-then-fit."""
    from latentatlas.stats.cv import nested_cv

    X, y, groups = _twin_noise(7, n_groups=6, n_candidates=30)
    got = nested_cv(X, y, [f"c{j}" for j in range(30)], groups)
    ref = np.empty(y.size)
    picks = []
    for g in range(6):
        tr = groups != g
        r = [abs(stats.pearsonr(X[tr, j], y[tr]).statistic) for j in range(30)]
        j = int(np.argmax(r))
        picks.append(f"c{j}")
        slope, icept = np.polyfit(X[tr, j], y[tr], 1)
        ref[~tr] = icept + slope * X[~tr, j]
    assert got.predicted == pytest.approx(ref, rel=1e-9)
    assert got.chosen == {k: picks.count(k) for k in picks}
    assert len(set(picks)) > 1  # on noise the folds disagree


def test_nested_cv_known_truth_and_noise() -> None:
    from latentatlas.stats.cv import nested_cv

    names = [f"c{j}" for j in range(200)]
    rng = np.random.default_rng(11)
    X = rng.normal(size=(24, 200))
    y = X[:, 5] + 0.3 * rng.normal(size=24)  # noise variance 0.09
    truth = nested_cv(X, y, names, n_permutations=200, seed=0)
    assert truth.chosen == {"c5": 24}
    assert truth.mse < 0.15 and truth.mse < 0.2 * truth.baseline_mse
    assert truth.spearman > 0.85 and truth.p_spearman < 0.01 and truth.p_mse < 0.01
    # pure noise: no better than predicting the mean, rank correlation at chance
    rhos, ratios = [], []
    for s in range(30):
        rng = np.random.default_rng(100 + s)
        noise = nested_cv(rng.normal(size=(24, 200)), rng.normal(size=24), names)
        rhos.append(noise.spearman)
        ratios.append(noise.mse / noise.baseline_mse)
    assert abs(np.mean(rhos)) < 0.2 and np.median(ratios) > 1.0


def test_nested_cv_needs_four_groups() -> None:
    from latentatlas.stats.cv import nested_cv

    X, y, groups = _twin_noise(0, n_groups=3, n_candidates=5)
    with pytest.raises(BadInputError, match="at least 4 groups of models .* form 3"):
        nested_cv(X, y, list("abcde"), groups)
    assert nested_cv(X, y, list("abcde"), None).n_groups == 6


# ------------------------------------------------------------------------------- within families
def _two_families(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three families far apart in both x and y (pooled r high), with a weak relation inside each."""
    rng = np.random.default_rng(seed)
    fam = np.repeat(["A", "B", "C"], [6, 5, 7])
    offset = {"A": 0.0, "B": 5.0, "C": 10.0}
    base = np.array([offset[f] for f in fam])
    x = base + rng.normal(size=fam.size)
    y = base + 0.3 * (x - base) + rng.normal(size=fam.size)
    groups = np.array([f"{f}{i // 2}" for i, f in enumerate(fam)])  # pairs, never across families
    return x, y, fam, groups


def test_partial_r_is_the_correlation_of_residuals_on_family_dummies() -> None:
    from latentatlas.stats.within import partial_correlation, within_family

    x, y, fam, _ = _two_families()
    D = np.column_stack([np.ones(fam.size), fam == "B", fam == "C"]).astype(float)
    rx = x - D @ np.linalg.lstsq(D, x, rcond=None)[0]
    ry = y - D @ np.linalg.lstsq(D, y, rcond=None)[0]
    got = within_family(x[None], y[None], fam)
    assert got["partial_r"][0, 0] == pytest.approx(stats.pearsonr(rx, ry).statistic, abs=1e-12)
    assert partial_correlation(x, y, D[:, 1:]) == pytest.approx(got["partial_r"][0, 0], abs=1e-12)
    assert stats.pearsonr(x, y).statistic > got["partial_r"][0, 0] + 0.1  # much of the pooled r is the families
    # within_rho: ranks inside each family, centred per family, then Pearson
    rx_rank = np.concatenate([stats.rankdata(x[fam == f]) - (np.sum(fam == f) + 1) / 2 for f in "ABC"])
    ry_rank = np.concatenate([stats.rankdata(y[fam == f]) - (np.sum(fam == f) + 1) / 2 for f in "ABC"])
    assert got["within_rho"][0, 0] == pytest.approx(stats.pearsonr(rx_rank, ry_rank).statistic, abs=1e-12)
    # one family: the pooled coefficients
    one = within_family(x[None], y[None], None)
    assert one["partial_r"][0, 0] == pytest.approx(stats.pearsonr(x, y).statistic)
    assert one["within_rho"][0, 0] == pytest.approx(stats.spearmanr(x, y).statistic)


def test_family_blocked_bootstrap_resamples_groups_within_families() -> None:
    from latentatlas.stats.within import family_block_resamples, within_family, within_family_bootstrap

    x, y, fam, groups = _two_families(1)
    for rows in family_block_resamples(groups, fam, fam.size, 50, seed=3):
        drawn = groups[rows]
        for f in "ABC":  # every family keeps its number of groups; a group's rows stay together
            kept = [g for g in np.unique(groups) if g.startswith(f)]
            n_drawn = sum(np.sum(drawn == g) / np.sum(groups == g) for g in kept)
            assert n_drawn == len(kept)
    got = within_family_bootstrap(x[None], y[None], families=fam, groups=groups, n_boot=400, seed=0)
    point = within_family(x[None], y[None], fam)
    assert got["partial_r"][0, 0] == pytest.approx(point["partial_r"][0, 0]) and got["n_families"] == 3
    assert got["partial_r_lo"][0, 0] < got["partial_r"][0, 0] < got["partial_r_hi"][0, 0]
    assert got["within_rho_lo"][0, 0] < got["within_rho_hi"][0, 0]
    # percentile CI by an explicit loop over the same resamples
    draws = [within_family(x[None, r], y[None, r], fam[r])["partial_r"][0, 0]
             for r in family_block_resamples(groups, fam, fam.size, 400, seed=0)]
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert [got["partial_r_lo"][0, 0], got["partial_r_hi"][0, 0]] == pytest.approx([lo, hi])
    again = within_family_bootstrap(x[None], y[None], families=fam, groups=groups, n_boot=400, seed=0)
    assert again["partial_r_lo"][0, 0] == got["partial_r_lo"][0, 0]


# --------------------------------------------------------------------- geometry vs label-aware baselines
def test_compare_families_says_which_wins() -> None:
    from latentatlas.stats.contest import COLUMNS, compare_families, paired_difference
    from latentatlas.stats.cv import nested_cv

    rng = np.random.default_rng(3)
    n = 20
    truth = rng.normal(size=n)
    y = truth + 0.1 * rng.normal(size=n)
    geometry = rng.normal(size=(n, 50))  # noise candidates
    groups = np.repeat(np.arange(10), 2)
    table = compare_families("task", y, {"geometry": (geometry, [f"g{j}" for j in range(50)]),
                                         "logme": (truth[:, None], ["logme:task"])},
                             groups=groups, n_boot=500, seed=0)
    assert list(table.columns) == COLUMNS and list(table["predictor"]) == ["geometry", "logme"]
    row = table.set_index("predictor").loc["logme"]
    assert row["vs"] == "geometry" and row["mse_diff_lo"] > 0 and row["spearman_diff_hi"] < 0
    assert row["verdict"].startswith("logme wins (lower nested-CV error")
    # the differences are geometry minus the baseline on the same folds
    a = nested_cv(geometry, y, [f"g{j}" for j in range(50)], groups)
    b = nested_cv(truth[:, None], y, ["logme:task"], groups)
    assert row["mse_diff"] == pytest.approx(a.mse - b.mse) and row["spearman_diff"] == pytest.approx(a.spearman - b.spearman)
    same = paired_difference(b, b, n_boot=50)
    assert same["mse_diff"] == 0 and same["mse_diff_lo"] == 0 and same["spearman_diff_hi"] == 0


def test_verdict_wording() -> None:
    from latentatlas.stats.contest import verdict

    tie = {"mse_diff": 0.01, "mse_diff_lo": -0.02, "mse_diff_hi": 0.03, "spearman_diff": 0.1,
           "spearman_diff_lo": -0.3, "spearman_diff_hi": 0.4}
    assert verdict("geometry", "hscore", tie).startswith("no clear winner between geometry and hscore")
    geo = {**tie, "mse_diff_lo": -0.05, "mse_diff_hi": -0.01}
    assert verdict("geometry", "hscore", geo).startswith("geometry wins (lower nested-CV error")
    ranks = {**tie, "spearman_diff_lo": -0.6, "spearman_diff_hi": -0.1}
    assert verdict("geometry", "hscore", ranks).startswith("hscore wins (better nested-CV ranking")
    assert verdict("geometry", "hscore", {**geo, **{k: ranks[k] for k in ranks if "spearman" in k}}).startswith("mixed")
    assert verdict("geometry", "hscore", geo, n_groups=4).endswith("only 4 left-out groups, so the intervals are rough")
    assert "rough" not in verdict("geometry", "hscore", geo, n_groups=10)


# --------------------------------------------------------------------------------------- relate
def _study_tables(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, str], dict[str, str]]:
    """Twelve training models in seven groups (a base, five perturbation strengths with two seeds, one
    other base) and one held-out model; 'good' at layer 1 drives the score, the rest is noise; LogME of
    task 'a' is the task score plus a little noise, H-score is noise."""
    from latentatlas.stats.groups import model_group

    rng = np.random.default_rng(seed)
    specs = ["m", "other"] + [f"m@perturb(alpha={a},seed={s})" for a in (1, 2, 4, 8, 16) for s in (0, 1)] + ["held"]
    level = {model_group(s): rng.normal() for s in specs}
    latent = np.array([level[model_group(s)] + 0.2 * rng.normal() for s in specs])
    rows = []
    for spec, z in zip(specs, latent):
        for layer in (0, 1, 2):
            rows.append({"spec": spec, "layer": layer, "measure": "good", "value": z + (0.1 if layer != 1 else 0.02) * rng.normal()})
            for m in ("n1", "n2", "n3"):
                rows.append({"spec": spec, "layer": layer, "measure": m, "value": rng.normal()})
    geometry = pd.DataFrame(rows)
    a = 0.5 + 0.1 * latent + 0.01 * rng.normal(size=len(specs))
    b = 0.3 + 0.05 * latent + 0.01 * rng.normal(size=len(specs))
    scores = pd.DataFrame({"spec": specs, "a": a, "b": b, "average": (a + b) / 2})
    transfer = pd.DataFrame(
        [{"spec": s, "task": t, "layer": 2, "method": "logme", "value": (a[i] if t == "a" else b[i]) + 0.001 * rng.normal()}
         for i, s in enumerate(specs) for t in ("a", "b")]
        + [{"spec": s, "task": t, "layer": 2, "method": "hscore", "value": rng.normal()} for s in specs for t in ("a", "b")]
    )
    families = {s: ("other" if s == "other" else "m") for s in specs}
    groups = {s: model_group(s) for s in specs}
    return geometry, scores, transfer, families, groups


def test_relate_groups_selection_and_baselines() -> None:
    from latentatlas.stats.cv import logo
    from latentatlas.stats.multiple import bh_qvalues
    from latentatlas.stats.relate import relate
    from latentatlas.stats.within import within_family

    geometry, scores, transfer, families, groups = _study_tables()
    res = relate(geometry, scores, transfer, targets=["a", "b", "average"], families=families, holdout={"held"},
                 groups=groups, n_boot=200, n_permutations=300, seed=0)
    models = res.models.set_index("spec")
    assert models.loc["m@perturb(alpha=4,seed=1)", "group"] == "m@perturb(alpha=4)" and res.cv == "leave-one-group-out"
    train = res.models[~res.models["holdout"]]
    assert train["group"].nunique() == 7

    # fits: leave-one-group-out, equal to the explicit computation
    fit = res.fits[(res.fits["measure"] == "good") & (res.fits["layer"] == 1) & (res.fits["target"] == "a")
                   & (res.fits["kind"] == "alone")].iloc[0]
    assert "loo_mse" not in res.fits.columns and fit["n_groups"] == 7
    assert fit["logo_mse"] == pytest.approx(logo(train, "a", ["good@1"], groups=train["group"].to_numpy()).mse)

    # correlations: q over the whole table, within-family r
    corr = res.correlations
    assert corr["q_value"].to_numpy() == pytest.approx(bh_qvalues(corr["p_group"].to_numpy()), nan_ok=True)
    row = corr[(corr["measure"] == "good") & (corr["layer"] == 1) & (corr["target"] == "a")].iloc[0]
    means = train.groupby("group")[["good@1", "a"]].mean()
    assert row["p_group"] == pytest.approx(stats.pearsonr(means["good@1"], means["a"]).pvalue)
    assert list(corr.columns[corr.columns.get_loc("pearson_p"):][:3]) == ["pearson_p", "p_group", "q_value"]
    want = within_family(train[["good@1"]].to_numpy().T, train[["a"]].to_numpy().T, train["family"].to_numpy())
    assert row["partial_r"] == pytest.approx(want["partial_r"][0, 0]) and row["n_families"] == 2
    assert row["partial_r_lo"] <= row["partial_r"] <= row["partial_r_hi"]

    # selection per target: the real column found, its search cost small, nested CV honest
    sel = res.selection.set_index("target")
    assert list(sel.index) == ["a", "b", "average"]
    for t in sel.index:
        assert sel.loc[t, "best"] in {"good@0", "good@1", "good@2"} and sel.loc[t, "candidates"] == 12
        assert sel.loc[t, "p_family_wise"] < 0.05 and sel.loc[t, "nested_n_groups"] == 7
        assert sel.loc[t, "nested_spearman"] > 0.5 and sel.loc[t, "nested_mse"] < sel.loc[t, "mean_only_mse"]

    # geometry vs LogME / H-score on the same folds, with a verdict per baseline
    tr = res.transfer
    assert set(zip(tr["task"], tr["predictor"])) == {(t, p) for t in "ab" for p in ("geometry", "logme", "hscore")}
    hs = tr[(tr["task"] == "a") & (tr["predictor"] == "hscore")].iloc[0]
    assert hs["vs"] == "geometry" and hs["verdict"].startswith("geometry wins")
    assert tr[(tr["task"] == "a") & (tr["predictor"] == "geometry")].iloc[0]["verdict"] == "reference"
    assert tr["nested_mse"].notna().all() and (tr["candidates"] == [12, 1, 1, 12, 1, 1]).all()


def test_relate_with_too_few_groups_reports_why() -> None:
    from latentatlas.stats.relate import relate

    geometry, scores, transfer, families, _ = _study_tables()
    keep = {"m", "other", "m@perturb(alpha=1,seed=0)", "m@perturb(alpha=1,seed=1)", "held"}
    res = relate(geometry[geometry["spec"].isin(keep)], scores[scores["spec"].isin(keep)],
                 transfer[transfer["spec"].isin(keep)], targets=["a"], families=families, holdout={"held"},
                 groups={"m@perturb(alpha=1,seed=0)": "p1", "m@perturb(alpha=1,seed=1)": "p1"}, n_boot=50,
                 n_permutations=50)
    sel = res.selection.iloc[0]
    assert np.isnan(sel["nested_mse"]) and "at least 4 groups" in sel["note"] and np.isfinite(sel["p_family_wise"])
    assert res.transfer["verdict"].str.startswith("no nested CV").all()
