"""Analysis: correlations (scipy, explicit bootstrap loops), OLS (closed forms), LOO (refit loop), prediction."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from latentatlas.analysis import (
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
    assert single["loo_mse"] == pytest.approx(loo(train, "y", ["x1"]).mse)
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
    with pytest.raises(BadInputError, match=r"needs at least 7 training rows \(parameters \+ 2\)"):
        analyse(frame.iloc[:6], "y", ["x1", "x2"], factor="g")
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
    from latentatlas.analysis.relate import LAST, relate, with_last_layer

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
