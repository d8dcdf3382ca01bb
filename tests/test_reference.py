"""The two reference predictors beside every fit (training mean, nearest training model) and the OLS
prediction band of the report's scatter plots: known answers and explicit refits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from latentatlas.errors import BadInputError
from latentatlas.stats.reference import (
    prediction_band,
    reference_logo,
    reference_predictions,
)
from latentatlas.stats.relate import relate


def test_reference_predictions_known_answer() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([1.0, 2.0, 3.0, 10.0])
    ref = reference_predictions(x, y, np.array([2.9, -5.0, 1.5]))
    assert ref.mean.tolist() == [4.0, 4.0, 4.0]
    # 2.9 is nearest to 3 (score 10); -5 to 0 (score 1); 1.5 is as near to 1 as to 2: the mean of 2 and 3
    assert ref.nearest_value.tolist() == [10.0, 1.0, 2.5]
    assert ref.nearest.tolist() == [3, 0, 1]


def test_reference_logo_leaves_out_whole_groups() -> None:
    x = np.array([0.0, 0.1, 1.0, 2.0, 3.0])
    y = np.array([1.0, 1.2, 2.0, 3.0, 4.0])
    groups = ["a", "a", "b", "c", "d"]
    mean, nearest = reference_logo(x, y, groups)
    # group a (rows 0, 1) is predicted from b, c, d only: mean 3, nearest x = 1 (score 2)
    assert mean[:2].tolist() == [3.0, 3.0] and nearest[:2].tolist() == [2.0, 2.0]
    # row 2 (x = 1) from a, c, d: mean (1 + 1.2 + 3 + 4) / 4; nearest is x = 0.1 (|0.9| < |1.0|)
    assert mean[2] == pytest.approx(9.2 / 4) and nearest[2] == 1.2
    # row 3 (x = 2) is as near to x = 1 (score 2) as to x = 3 (score 4): their mean
    assert nearest[3] == 3.0
    # explicit refit for every row (ties averaged)
    for i in range(5):
        keep = np.array([g != groups[i] for g in groups])
        assert mean[i] == pytest.approx(y[keep].mean())
        d = np.abs(x[keep] - x[i])
        assert nearest[i] == pytest.approx(y[keep][d == d.min()].mean())
    with pytest.raises(BadInputError, match="2 groups"):
        reference_logo(x, y, ["a"] * 5)


def test_prediction_band_matches_the_textbook_formula() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=12)
    y = 2.0 * x + rng.normal(size=12)
    grid = np.array([-2.0, 0.0, 1.5])
    fit, lo, hi = prediction_band(x, y, grid, level=0.9)
    lr = stats.linregress(x, y)
    np.testing.assert_allclose(fit, lr.intercept + lr.slope * grid)
    resid = y - (lr.intercept + lr.slope * x)
    s = np.sqrt((resid**2).sum() / 10)
    half = stats.t.ppf(0.95, 10) * s * np.sqrt(1 + 1 / 12 + (grid - x.mean()) ** 2 / ((x - x.mean()) ** 2).sum())
    np.testing.assert_allclose(hi - fit, half)
    np.testing.assert_allclose(fit - lo, half)
    with pytest.raises(BadInputError, match="3 rows"):
        prediction_band(np.ones(5), y[:5], grid)


def _study_tables(n_train: int = 8, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    specs = [f"m{i}" for i in range(n_train)] + ["h0", "h1"]
    x = rng.normal(size=len(specs))
    score = 0.5 * x + rng.normal(scale=0.3, size=len(specs))
    geometry = pd.DataFrame({"spec": specs, "layer": 1, "measure": "acs", "value": x})
    scores = pd.DataFrame({"spec": specs, "average": score})
    return geometry, scores


def test_fits_and_holdout_tables_carry_both_references() -> None:
    geometry, scores = _study_tables()
    an = relate(geometry, scores, pd.DataFrame(), targets=["average"], families={}, holdout={"h0", "h1"},
                n_boot=20, n_permutations=50)
    fit = an.fits[(an.fits["kind"] == "alone")].iloc[0]
    train = an.models[~an.models["holdout"]]
    x, y = train["acs@1"].to_numpy(), train["average"].to_numpy()
    mean, nearest = reference_logo(x, y, train["group"].to_numpy())
    assert fit["mean_logo_mse"] == pytest.approx(np.mean((mean - y) ** 2))
    assert fit["nearest_logo_mse"] == pytest.approx(np.mean((nearest - y) ** 2))
    # with every model its own group the mean-only LOGO error is the selection table's mean-only MSE
    assert fit["mean_logo_mse"] == pytest.approx(an.selection.iloc[0]["mean_only_mse"])
    held = an.holdout[an.holdout["kind"] == "alone"].set_index("spec")
    assert held["mean_predicted"].tolist() == pytest.approx([y.mean()] * 2)
    for spec in ("h0", "h1"):
        xh = an.models.set_index("spec").loc[spec, "acs@1"]
        j = int(np.argmin(np.abs(x - xh)))
        assert held.loc[spec, "nearest_predicted"] == pytest.approx(y[j])
        assert held.loc[spec, "nearest_spec"] == train["spec"].iloc[j]
    actual = held["actual"].to_numpy()
    assert fit["mean_holdout_mse"] == pytest.approx(np.mean((held["mean_predicted"].to_numpy() - actual) ** 2))
    assert fit["nearest_holdout_mse"] == pytest.approx(np.mean((held["nearest_predicted"].to_numpy() - actual) ** 2))
    assert {"mean_logo_mse", "nearest_holdout_mse"} <= set(an.tables()["fits"].columns)
