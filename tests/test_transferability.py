"""LogME and H-score against direct computations, scipy optimisation, invariances and synthetic signal."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from latentatlas.downstream.transferability import (
    TRANSFERABILITY,
    hscore,
    logme,
    logme_details,
    transferability,
)
from latentatlas.errors import BadInputError


def direct_log_evidence(F: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log p(y | α, β) / n with y ~ N(0, β⁻¹I + α⁻¹FFᵀ) (w integrated out), by a dense Gaussian."""
    n = len(y)
    cov = np.eye(n) / beta + F @ F.T / alpha
    return float(stats.multivariate_normal(np.zeros(n), cov, allow_singular=True).logpdf(y)) / n


def _regression_data(rng: np.random.Generator, n: int, d: int, noise: float):
    F = rng.normal(size=(n, d))
    return F, F @ rng.normal(size=d) + noise * rng.normal(size=n)


@pytest.mark.parametrize(("n", "d", "noise"), [(40, 5, 0.5), (30, 30, 1.0), (8, 20, 3.0), (8, 20, 0.5)])
def test_logme_is_the_maximum_evidence(rng: np.random.Generator, n: int, d: int, noise: float) -> None:
    F, y = _regression_data(rng, n, d, noise)
    res = logme_details(F, y, regression=True)
    a, b = res.alpha[0], res.beta[0]
    # the closed form used internally equals the dense Gaussian evidence at the returned (α, β)
    assert res.score == pytest.approx(direct_log_evidence(F, y, a, b), abs=1e-9)

    def neg(t: np.ndarray) -> float:
        return -direct_log_evidence(F, y, float(np.exp(t[0])), float(np.exp(t[1])))

    for start in ([0.0, 0.0], [np.log(a) + 1, np.log(b) - 1]):
        opt = optimize.minimize(neg, x0=start, method="Nelder-Mead",
                                options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 4000})
        assert res.score >= -opt.fun - 1e-9  # nothing the search finds beats the fixed point
    # a small step in any direction lowers the evidence (local maximum; at the β cap only β ↓ is a step)
    for da, db in [(1e-3, 0), (-1e-3, 0), (0, -1e-3), (0, 1e-3)]:
        assert direct_log_evidence(F, y, a * np.exp(da), b * np.exp(db)) <= res.score + 1e-12


def _evidence_by_formula(F: np.ndarray, y: np.ndarray, alpha: float, beta: float, *, drop_null_term: bool) -> float:
    """L(α, β)/n by the dense formula; ``drop_null_term`` sums log|A| over the non-zero σ only (the
    reference package's fixed-point code), leaving out (d − k)·log α."""
    n, d = F.shape
    A = alpha * np.eye(d) + beta * F.T @ F
    m = beta * np.linalg.solve(A, F.T @ y)
    sigma = np.linalg.svd(F, compute_uv=False) ** 2
    sigma = sigma[sigma > 1e-10 * sigma.max()]
    logdet = np.log(alpha + beta * sigma).sum() if drop_null_term else np.linalg.slogdet(A)[1]
    L = (0.5 * n * np.log(beta) + 0.5 * d * np.log(alpha) - 0.5 * n * np.log(2 * np.pi)
         - 0.5 * beta * np.sum((F @ m - y) ** 2) - 0.5 * alpha * m @ m - 0.5 * logdet)
    return float(L / n)


def test_logme_keeps_the_null_space_term_when_n_at_most_d(rng: np.random.Generator) -> None:
    """n ≤ d: ours is the full evidence, including the (d − k)·log α of A's d − k eigenvalues equal to α."""
    n, d = 6, 15
    F, y = _regression_data(rng, n, d, 0.5)
    res = logme_details(F, y, regression=True)
    a, b = res.alpha[0], res.beta[0]
    full = _evidence_by_formula(F, y, a, b, drop_null_term=False)
    assert res.score == pytest.approx(full, abs=1e-9)
    assert res.score == pytest.approx(direct_log_evidence(F, y, a, b), abs=1e-9)
    # the reference package's value at the same (α, β): ours + (d − k)/(2n)·log α, k = n here
    dropped = _evidence_by_formula(F, y, a, b, drop_null_term=True)
    assert dropped - res.score == pytest.approx((d - n) / (2 * n) * np.log(a), abs=1e-9)
    assert abs(dropped - res.score) > 0.1
    # ours does not depend on the feature scale; the dropped-term value moves by (d − k)/n·log c
    c = 10.0
    scaled = logme_details(c * F, y, regression=True)
    assert scaled.score == pytest.approx(res.score, abs=1e-9)
    assert scaled.alpha[0] == pytest.approx(a * c**2, rel=1e-6)
    dropped_scaled = _evidence_by_formula(c * F, y, scaled.alpha[0], scaled.beta[0], drop_null_term=True)
    assert dropped_scaled - dropped == pytest.approx((d - n) / n * np.log(c), abs=1e-6)


def test_logme_interior_optimum_matches_search(rng: np.random.Generator) -> None:
    F, y = _regression_data(rng, 40, 5, 0.5)
    res = logme_details(F, y, regression=True)
    opt = optimize.minimize(lambda t: -direct_log_evidence(F, y, np.exp(t[0]), np.exp(t[1])), x0=[0.0, 0.0],
                            method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
    assert np.exp(opt.x) == pytest.approx([res.alpha[0], res.beta[0]], rel=1e-5)


def test_logme_classification_is_mean_over_one_hot_targets(rng: np.random.Generator) -> None:
    F = rng.normal(size=(30, 4))
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, 30)]
    res = logme_details(F, labels)
    onehot = (labels[:, None] == np.array(["a", "b", "c"])[None, :]).astype(float)
    per_class = [direct_log_evidence(F, onehot[:, c], res.alpha[c], res.beta[c]) for c in range(3)]
    assert res.evidence == pytest.approx(per_class, abs=1e-9)
    assert res.score == pytest.approx(np.mean(per_class), abs=1e-9)
    assert logme(F, labels) == res.score


def test_logme_invariances(rng: np.random.Generator) -> None:
    F = rng.normal(size=(60, 6))
    y = rng.integers(0, 3, 60)
    base = logme(F, y)
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert logme(F @ Q, y) == pytest.approx(base, abs=1e-9)  # isotropic prior: rotation invariant
    assert logme(7.5 * F, y) == pytest.approx(base, abs=1e-9)  # α absorbs the scale
    perm = rng.permutation(60)
    assert logme(F[perm], y[perm]) == pytest.approx(base, abs=1e-9)
    assert logme(F, (y + 1) % 3) == pytest.approx(base, abs=1e-9)  # class names do not matter
    Fr, yr = _regression_data(rng, 50, 4, 1.0)
    # y -> c·y rescales the Gaussian: log p drops by n·log c, LogME by log c
    assert logme(Fr, 3.0 * yr, regression=True) == pytest.approx(logme(Fr, yr, regression=True) - np.log(3.0), abs=1e-9)


def _classes(rng: np.random.Generator, strength: float, n: int = 400, d: int = 20):
    y = rng.integers(0, 4, n)
    centres = rng.normal(size=(4, d))
    return strength * centres[y] + rng.normal(size=(n, d)), y


def test_more_informative_features_score_higher() -> None:
    scores = {"logme": [], "hscore": []}
    for strength in (0.0, 0.3, 1.0, 3.0):
        F, y = _classes(np.random.default_rng(1), strength)
        scores["logme"].append(logme(F, y))
        scores["hscore"].append(hscore(F, y))
    for name, values in scores.items():
        assert values == sorted(values), name
    F, _ = _regression_data(np.random.default_rng(2), 300, 5, 0.1)
    y_good = F[:, 0] + 0.1 * np.random.default_rng(3).normal(size=300)
    y_bad = np.random.default_rng(3).normal(size=300)
    assert logme(F, y_good, regression=True) > logme(F, y_bad, regression=True)


def test_hscore_direct_and_invariant(rng: np.random.Generator) -> None:
    F = rng.normal(size=(80, 5)) + np.arange(5)
    y = rng.integers(0, 3, 80)
    F[:, 1] += y
    g = np.stack([F[y == c].mean(axis=0) for c in range(3)])[y]  # E[f | y] per example
    direct = np.trace(np.linalg.pinv(np.cov(F, rowvar=False)) @ np.cov(g, rowvar=False))
    assert hscore(F, y, shrinkage=None) == pytest.approx(direct, rel=1e-10)
    A = rng.normal(size=(5, 5)) + 3 * np.eye(5)
    assert hscore(F @ A + 4.0, y, shrinkage=None) == pytest.approx(direct, rel=1e-8)
    # singular covariance: pseudo-inverse ignores the duplicated direction
    dup = np.column_stack([F, F[:, 1]])
    assert hscore(dup, y, shrinkage=None) == pytest.approx(direct, rel=1e-8)


def test_hscore_default_is_shrunk_and_has_no_null_floor_growing_with_width() -> None:
    """Random features, 5 random classes, n = 2,000: the unshrunk H-score sits at its null floor
    (C − 1)·d/n (0.128 at d = 64, 0.768 at d = 384); the default Ledoit-Wolf form stays near 0."""
    rng = np.random.default_rng(0)
    n, c = 2000, 5
    y = rng.integers(0, c, n)
    for d in (64, 384):
        F = rng.normal(size=(n, d))
        floor = (c - 1) * d / n
        assert hscore(F, y, shrinkage=None) == pytest.approx(floor, rel=0.1)
        assert transferability("hscore_unshrunk", F, y) == hscore(F, y, shrinkage=None)
        assert hscore(F, y) == hscore(F, y, shrinkage="ledoit_wolf")
        assert abs(hscore(F, y)) < 0.01
        assert transferability("hscore", F, y) == hscore(F, y)


def test_hscore_shrinkage(rng: np.random.Generator) -> None:
    from sklearn.covariance import LedoitWolf

    F = rng.normal(size=(50, 8)) * np.geomspace(0.1, 10, 8)  # anisotropic: Ledoit-Wolf picks 0 < a < 1
    y = rng.integers(0, 2, 50)
    F[:, 0] += y
    Fc = F - F.mean(axis=0)
    cov = Fc.T @ Fc / 50
    g = np.stack([Fc[y == c].mean(axis=0) for c in range(2)])[y]
    G = g.T @ g / 50
    a = 0.3
    shrunk = (1 - a) * cov + a * np.trace(cov) / 8 * np.eye(8)
    assert hscore(F, y, shrinkage=a) == pytest.approx((1 - a) * np.trace(np.linalg.solve(shrunk, G)), rel=1e-10)
    lw = LedoitWolf(assume_centered=True).fit(Fc).shrinkage_
    assert 0.0 < lw < 1.0
    shrunk = (1 - lw) * cov + lw * np.trace(cov) / 8 * np.eye(8)
    expected = (1 - lw) * np.trace(np.linalg.solve(shrunk, G))
    assert hscore(F, y, shrinkage="ledoit_wolf") == pytest.approx(expected, rel=1e-8)
    assert hscore(F, y, shrinkage=0.0) == pytest.approx(hscore(F, y, shrinkage=None), rel=1e-10)


def test_registry_and_errors(rng: np.random.Generator) -> None:
    F = rng.normal(size=(30, 3))
    y = rng.integers(0, 2, 30)
    assert set(TRANSFERABILITY) == {"logme", "hscore", "hscore_unshrunk"}
    assert transferability("logme", F, y) == logme(F, y)
    assert transferability("hscore", F, y) == hscore(F, y)
    assert TRANSFERABILITY["logme"].regression and not TRANSFERABILITY["hscore"].regression
    assert not TRANSFERABILITY["hscore_unshrunk"].regression
    with pytest.raises(BadInputError, match="H-score needs class labels"):
        transferability("hscore", F, rng.normal(size=30), regression=True)
    with pytest.raises(BadInputError, match="non-integer"):
        hscore(F, rng.normal(size=30))
    with pytest.raises(BadInputError, match="did you mean 'logme'"):
        transferability("logm", F, y)
    with pytest.raises(BadInputError, match="at least 2 classes"):
        logme(F, np.zeros(30, dtype=int))
    with pytest.raises(BadInputError, match="NaN"):
        logme(np.full((30, 3), np.nan), y)
    with pytest.raises(BadInputError, match="one class label per example"):
        hscore(F, y[:10])
    with pytest.raises(BadInputError, match="2-D"):
        logme(F[:, 0], y)
    with pytest.raises(BadInputError, match="shrinkage"):
        hscore(F, y, shrinkage="oas")
