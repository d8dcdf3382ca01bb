"""Correlation of geometry measures with downstream scores, with seeded percentile-bootstrap CIs.

Three coefficients, each with a two-sided p-value and a percentile bootstrap confidence interval:

* Pearson r = Σ(xᵢ−x̄)(yᵢ−ȳ) / √(Σ(xᵢ−x̄)² Σ(yᵢ−ȳ)²); p from t = r√((n−2)/(1−r²)) ~ t(n−2)
  (exact under bivariate normality; equals ``scipy.stats.pearsonr``).
* Spearman ρ = Pearson r of the average ranks; p from the same t(n−2) approximation
  (``scipy.stats.spearmanr``).
* Kendall τ_b = (n_c − n_d) / √((n₀ − n₁)(n₀ − n₂)), n₀ = n(n−1)/2 pairs, n₁ / n₂ pairs tied in x / y
  (Kendall 1945); p from ``scipy.stats.kendalltau`` (exact null distribution for small n without ties,
  normal approximation with tie correction otherwise).

Bootstrap (Efron & Tibshirani 1993, percentile method): draw B index vectors of length n with
replacement (``numpy.random.default_rng(seed).integers(0, n, (B, n))``), recompute each coefficient on the
resampled pairs, and report the (1−ci)/2 and (1+ci)/2 quantiles. A resample in which x or y is constant
has no correlation; it is skipped and counted. The same index matrix is reused for every (measure, layer,
target) of :func:`correlation_table`, so a table row equals :func:`correlations` on that row's data.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import BadInputError, UnknownNameError

log = logging.getLogger(__name__)

STATS = ("pearson", "spearman", "kendall")
"""Coefficient families, in output order; their value columns are ``pearson_r``, ``spearman_rho``, ``kendall_tau``."""

VALUE_COLUMN = {"pearson": "pearson_r", "spearman": "spearman_rho", "kendall": "kendall_tau"}

TABLE_COLUMNS = [
    "measure",
    "layer",
    "target",
    "n",
    *[c for s in STATS for c in (VALUE_COLUMN[s], f"{s}_lo", f"{s}_hi", f"{s}_p")],
]

_ELEMENT_BUDGET = 4_000_000
"""Largest intermediate array (elements) one bootstrap chunk may build; bounds memory for large n."""


# --------------------------------------------------------------------------------------------- kernels
def _pair_signs(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sign(a_i − a_j) over pairs i < j of the last axis, and the number of untied pairs."""
    n = a.shape[-1]
    i, j = np.triu_indices(n, k=1)
    s = np.sign(a[..., i] - a[..., j])
    return s, (s * s).sum(axis=-1)


def resample_weights(idx: np.ndarray, n: int) -> np.ndarray:
    """Multiplicities (S, n): how often each of the n pairs is drawn in each of the S resamples."""
    S = idx.shape[0]
    flat = (idx + n * np.arange(S)[:, None]).ravel()
    return np.bincount(flat, minlength=S * n).reshape(S, n).astype(float)


def _weighted_coefficients(X: np.ndarray, Y: np.ndarray, W: np.ndarray) -> dict[str, np.ndarray]:
    """Pearson, Spearman and Kendall τ_b of every x row with every y row on every resample.

    A resample is given by its multiplicities W[s] (summing to n), so nothing is gathered:
    * Pearson: weighted moments, r = (⟨xy⟩ − ⟨x⟩⟨y⟩)/√((⟨x²⟩ − ⟨x⟩²)(⟨y²⟩ − ⟨y⟩²)), ⟨·⟩ = Σᵤ Wᵤ(·)/n;
    * Spearman: the average rank of original point u in the resample is
      Σᵥ Wᵥ([xᵥ < xᵤ] + ½[xᵥ = xᵤ]) + ½ (mean (n+1)/2), then the weighted Pearson of the ranks;
    * Kendall: with Sₓ[u, v] = sign(xᵤ − xᵥ), n_c − n_d = ½ Σᵤᵥ WᵤWᵥ Sₓ[u,v] S_y[u,v] and the
      untied pair counts are ½ Σᵤᵥ WᵤWᵥ |Sₓ[u,v]| (0 exactly when the resample is constant).
    Returns (P, T, S) arrays, NaN where x or y is constant in that resample. W = ones((1, n)) gives
    the ordinary coefficients.
    """
    P, n = X.shape
    T = Y.shape[0]
    S = W.shape[0]
    Xc = X - X.mean(axis=1, keepdims=True)
    Yc = Y - Y.mean(axis=1, keepdims=True)
    # --- Kendall numerators and untied-pair counts from outer products of the weights
    Q = (W[:, :, None] * W[:, None, :]).reshape(S, n * n)
    Sx = np.sign(X[:, :, None] - X[:, None, :]).reshape(P, n * n)
    Sy = np.sign(Y[:, :, None] - Y[:, None, :]).reshape(T, n * n)
    ux = 0.5 * (np.abs(Sx) @ Q.T)  # (P, S)
    uy = 0.5 * (np.abs(Sy) @ Q.T)  # (T, S)
    num = np.stack([0.5 * ((Sx * Sy[t]) @ Q.T) for t in range(T)], axis=1)  # (P, T, S)
    degenerate = (ux[:, None, :] == 0) | (uy[None, :, :] == 0)
    # --- Pearson from weighted moments of the centred data
    mx, my = Xc @ W.T / n, Yc @ W.T / n
    vx = (Xc * Xc) @ W.T / n - mx * mx
    vy = (Yc * Yc) @ W.T / n - my * my
    cxy = ((Xc[:, None, :] * Yc[None, :, :]).reshape(P * T, n) @ W.T / n).reshape(P, T, S)
    cxy -= mx[:, None, :] * my[None, :, :]
    # --- Spearman: ranks of the original points within each resample, centred at (n+1)/2
    rank_x = ((X[:, None, :] < X[:, :, None]) + 0.5 * (X[:, None, :] == X[:, :, None])).reshape(P * n, n)
    rank_y = ((Y[:, None, :] < Y[:, :, None]) + 0.5 * (Y[:, None, :] == Y[:, :, None])).reshape(T * n, n)
    rx = (rank_x @ W.T).reshape(P, n, S) + 0.5 - (n + 1) / 2.0
    ry = (rank_y @ W.T).reshape(T, n, S) + 0.5 - (n + 1) / 2.0
    rxw = rx * W.T[None, :, :]
    cross = np.matmul(rxw.transpose(2, 0, 1), ry.transpose(2, 1, 0)).transpose(1, 2, 0)  # (P, T, S)
    sx = (rxw * rx).sum(axis=1)
    sy = ((ry * ry) * W.T[None, :, :]).sum(axis=1)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        out["pearson"] = cxy / np.sqrt(vx[:, None, :] * vy[None, :, :])
        out["spearman"] = cross / np.sqrt(sx[:, None, :] * sy[None, :, :])
        out["kendall"] = num / np.sqrt(ux[:, None, :] * uy[None, :, :])
    for k in out:
        out[k] = np.where(degenerate, np.nan, np.clip(out[k], -1.0, 1.0))  # rounding can leave |r| > 1
    return out


def _coefficients(X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    """The ordinary coefficients of every x row (P, n) with every y row (T, n), as (P, T) arrays."""
    got = _weighted_coefficients(X, Y, np.ones((1, X.shape[1])))
    return {k: v[:, :, 0] for k, v in got.items()}


def _t_pvalue(r: np.ndarray, n: int) -> np.ndarray:
    """Two-sided p of H0: ρ = 0 from t = r√((n−2)/(1−r²)) with n−2 degrees of freedom."""
    r = np.asarray(r, dtype=float)
    df = n - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt(df / ((1.0 - r) * (1.0 + r)))
    p = 2.0 * stats.t.sf(np.abs(t), df)
    return np.where(np.abs(r) >= 1.0, 0.0, p)


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """The (n_boot, n) matrix of resampling indices shared by every bootstrap of ``n`` pairs."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _bootstrap(
    X: np.ndarray, Y: np.ndarray, idx: np.ndarray, ci: float
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Percentile CIs of every coefficient for every (x row, y row): lo, hi of shape (P, T); skipped (P, T)."""
    P, n = X.shape
    T = Y.shape[0]
    B = idx.shape[0]
    W = resample_weights(idx, n)
    # chunk resamples and x rows so that the largest intermediate stays within the element budget
    s_chunk = max(1, min(B, _ELEMENT_BUDGET // (n * n)))
    p_chunk = max(1, min(P, _ELEMENT_BUDGET // max(n * s_chunk, T * s_chunk, n * n)))
    draws = {s: np.empty((P, T, B)) for s in STATS}
    for s0 in range(0, B, s_chunk):
        for p0 in range(0, P, p_chunk):
            got = _weighted_coefficients(X[p0 : p0 + p_chunk], Y, W[s0 : s0 + s_chunk])
            for s in STATS:
                draws[s][p0 : p0 + p_chunk, :, s0 : s0 + s_chunk] = got[s]
    q = [(1.0 - ci) / 2.0, (1.0 + ci) / 2.0]
    lo, hi = {}, {}
    skipped = np.isnan(draws["pearson"]).sum(axis=-1)
    for s in STATS:
        bounds = _nan_quantiles(draws[s], q)
        lo[s], hi[s] = bounds[0], bounds[1]
    return lo, hi, skipped


@functools.lru_cache(maxsize=32)
def _mahonian_cdf(n: int) -> np.ndarray:
    """CDF of the number of inversions of a uniform random permutation of n items (Kendall 1970).

    The generating function is Π_{k=1..n} (1 + q + ... + q^{k−1}) / k; this is the exact null
    distribution of the discordant-pair count without ties.
    """
    pmf = np.ones(1)
    for k in range(2, n + 1):
        c = np.concatenate([np.zeros(1), np.cumsum(pmf), np.full(k - 1, pmf.sum())])
        pmf = (c[1:] - np.concatenate([np.zeros(k - 1), c[: pmf.size]])) / k  # moving sum of k terms
    return np.cumsum(pmf)


def _tie_stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``a`` (R, n): Σt(t−1)/2, Σt(t−1)(t−2), Σt(t−1)(2t+5) over tie groups of size t."""
    srt = np.sort(a, axis=-1)
    new_group = np.concatenate([np.ones((a.shape[0], 1), bool), srt[:, 1:] != srt[:, :-1]], axis=1)
    ties = np.zeros((a.shape[0], 3))
    for r in range(a.shape[0]):
        starts = np.flatnonzero(new_group[r])
        t = np.diff(np.append(starts, a.shape[1])).astype(float)
        ties[r] = [(t * (t - 1) / 2).sum(), (t * (t - 1) * (t - 2)).sum(), (t * (t - 1) * (2 * t + 5)).sum()]
    return ties[:, 0], ties[:, 1], ties[:, 2]


def _kendall_pvalues(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Two-sided p of Kendall's τ for every row of X (P, n) with every row of Y (T, n), as scipy's 'auto'.

    Without ties and n ≤ 33 (or ≤ 1 discordant/concordant pair) the exact permutation distribution
    (:func:`_mahonian_cdf`); otherwise the normal approximation of n_c − n_d with the tie-corrected
    variance [m(2n+5) − Σx₁ − Σy₁]/18 + 2 t_x t_y / m + Σx₀ Σy₀ / (9m(n−2)), m = n(n−1) (Kendall 1970).
    """
    n = X.shape[1]
    sx, _ = _pair_signs(X)
    sy, _ = _pair_signs(Y)
    s = np.rint(sx @ sy.T)  # n_c − n_d (ties contribute 0)
    xt, x0, x1 = _tie_stats(X)
    yt, y0, y1 = _tie_stats(Y)
    tot = n * (n - 1) // 2
    untied_x = tot - xt[:, None]
    untied_y = tot - yt[None, :]
    m = n * (n - 1.0)
    var = (m * (2 * n + 5) - x1[:, None] - y1[None, :]) / 18 + 2 * xt[:, None] * yt[None, :] / m
    if n > 2:
        var = var + x0[:, None] * y0[None, :] / (9 * m * (n - 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2.0 * stats.norm.sf(np.abs(s) / np.sqrt(var))
    no_ties = (xt[:, None] == 0) & (yt[None, :] == 0)
    # without ties n_c − n_d = tot − 2 n_d
    dis = np.rint((tot - s) / 2).astype(np.int64)
    c = np.minimum(dis, tot - dis)
    exact = no_ties & ((n <= 33) | (c <= 1))
    if exact.any():
        cdf = _mahonian_cdf(n)
        p = np.where(exact, np.minimum(1.0, 2.0 * cdf[np.clip(c, 0, tot)]), p)
    return np.where((untied_x == 0) | (untied_y == 0), np.nan, np.clip(p, 0.0, 1.0))


def _nan_quantiles(a: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles (numpy's default linear interpolation) of the last axis ignoring NaN; NaN if all NaN.

    Vectorised replacement for ``np.nanquantile(a, q, axis=-1)`` (which loops in Python per row).
    """
    srt = np.sort(a, axis=-1)  # NaN sort last
    k = (~np.isnan(srt)).sum(axis=-1)
    out = []
    for qq in q:
        h = (k - 1) * qq
        lo = np.floor(h).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(k - 1, 0))
        lo = np.maximum(lo, 0)
        a_lo = np.take_along_axis(srt, lo[..., None], axis=-1)[..., 0]
        a_hi = np.take_along_axis(srt, hi[..., None], axis=-1)[..., 0]
        val = a_lo + (h - np.floor(h)) * (a_hi - a_lo)
        out.append(np.where(k > 0, val, np.nan))
    return np.stack(out)


def _check_boot(n_boot: int, ci: float) -> None:
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise BadInputError(f"n_boot={n_boot!r} must be a positive integer number of resamples, e.g. 2000.")
    if not 0.0 < ci < 1.0:
        raise BadInputError(f"ci={ci!r} must lie strictly between 0 and 1, e.g. 0.95.")


# ------------------------------------------------------------------------------------------ public API
def correlations(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
    x_name: str = "x",
    y_name: str = "y",
) -> dict[str, Any]:
    """Pearson r, Spearman ρ and Kendall τ_b of paired samples with p-values and bootstrap CIs.

    Formulas in the module docstring. Returns ``{"n", "pearson_r", "pearson_p", "pearson_lo",
    "pearson_hi", "spearman_rho", ..., "kendall_tau", ..., "n_boot", "n_boot_skipped", "ci"}``;
    ``n_boot_skipped`` counts resamples with a constant x or y, which are left out of the CIs.

    Raises:
        BadInputError: fewer than 3 pairs, unequal lengths, NaN/inf values, or a constant variable
            (named with ``x_name`` / ``y_name``).
    """
    _check_boot(n_boot, ci)
    xa = _as_vector(x, x_name)
    ya = _as_vector(y, y_name)
    if xa.size != ya.size:
        raise BadInputError(
            f"{x_name} has {xa.size} values but {y_name} has {ya.size}; pass paired samples of equal length."
        )
    if xa.size < 3:
        raise BadInputError(
            f"a correlation needs at least 3 pairs but got {xa.size}; add more observations (models)."
        )
    for arr, name in ((xa, x_name), (ya, y_name)):
        if np.ptp(arr) == 0:
            raise BadInputError(
                f"{name} is constant (every value is {arr[0]:g}); a correlation needs variation in both "
                f"variables: drop {name} or use observations where it varies."
            )
    X, Y = xa[None, :], ya[None, :]
    point = _coefficients(X, Y)
    lo, hi, skipped = _bootstrap(X, Y, bootstrap_indices(xa.size, n_boot, seed), ci)
    n = xa.size
    out: dict[str, Any] = {"n": n}
    for s in STATS:
        value = float(point[s][0, 0])
        out[VALUE_COLUMN[s]] = value
        out[f"{s}_p"] = float(_kendall_pvalues(X, Y)[0, 0]) if s == "kendall" else float(_t_pvalue(value, n))
        out[f"{s}_lo"] = float(lo[s][0, 0])
        out[f"{s}_hi"] = float(hi[s][0, 0])
    out.update(n_boot=int(n_boot), n_boot_skipped=int(skipped[0, 0]), ci=float(ci))
    if out["n_boot_skipped"]:
        log.info("%d of %d bootstrap resamples had a constant variable and were skipped",
                 out["n_boot_skipped"], n_boot)
    return out


def correlation_table(
    geometry: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    targets: Sequence[str],
    key: str = "spec",
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Correlate every (measure, layer) with every target across models; one row per triple.

    Args:
        geometry: the long results table, columns ``key``, ``layer``, ``measure``, ``value`` (one row
            per model x layer x measure).
        scores: one row per model (column ``key``) and one numeric column per target.
        targets: the score columns to correlate with.
        key: column identifying a model in both tables.
        n_boot, ci, seed: bootstrap size, CI level, seed of the shared index matrix.

    Returns:
        A DataFrame with columns :data:`TABLE_COLUMNS`. Models are those present in both tables with a
        finite target; a (measure, layer) with a missing or non-finite value for one of them, or with a
        constant value, gets NaN statistics (logged), not an error.

    Raises:
        BadInputError: missing columns, duplicated (model, layer, measure) rows or models in ``scores``,
            non-numeric targets, or fewer than 3 models in common.
    """
    _check_boot(n_boot, ci)
    targets = list(targets)
    if not targets:
        raise BadInputError("no targets given; pass targets=[...] naming score columns to correlate with.")
    _require_columns(geometry, [key, "layer", "measure", "value"], "geometry table")
    _require_columns(scores, [key, *targets], "scores table")
    if scores[key].duplicated().any():
        dup = sorted(map(str, scores.loc[scores[key].duplicated(), key].unique()))
        raise BadInputError(f"scores table lists model(s) {dup} more than once; keep one row per {key}.")
    dup_geo = geometry.duplicated([key, "layer", "measure"])
    if dup_geo.any():
        first = geometry.loc[dup_geo, [key, "layer", "measure"]].iloc[0].tolist()
        raise BadInputError(
            f"geometry table has {int(dup_geo.sum())} duplicated (model, layer, measure) rows, e.g. {first}; "
            "keep one value per model, layer and measure (filter by params or seed first)."
        )
    score_values = {}
    for t in targets:
        col = pd.to_numeric(scores[t], errors="coerce")
        if col.isna().sum() > scores[t].isna().sum():
            raise BadInputError(f"target column {t!r} holds non-numeric values; it must contain scores.")
        score_values[t] = col.to_numpy(dtype=float)
    in_geometry = set(geometry[key].tolist())
    models = [m for m in scores[key].tolist() if m in in_geometry]
    if len(models) < len(scores):
        log.info("%d model(s) of the scores table have no geometry rows and are left out",
                 len(scores) - len(models))
    wide = geometry.pivot(index=["measure", "layer"], columns=key, values="value").sort_index()
    pos = {m: i for i, m in enumerate(scores[key].tolist())}
    frames = []
    # targets with the same set of finite models share one bootstrap
    groups: dict[tuple[Any, ...], list[str]] = {}
    for t in targets:
        ok = tuple(m for m in models if np.isfinite(score_values[t][pos[m]]))
        groups.setdefault(ok, []).append(t)
    for ok_models, group in groups.items():
        if len(ok_models) < 3:
            raise BadInputError(
                f"target(s) {group} have finite scores for {len(ok_models)} model(s) that also appear in "
                f"the geometry table (need at least 3); check that the {key!r} values match in both tables."
            )
        X = wide.reindex(columns=list(ok_models)).to_numpy(dtype=float)
        Y = np.array([[score_values[t][pos[m]] for m in ok_models] for t in group])
        frames.append(_table_block(wide.index, X, Y, group, n_boot, ci, seed))
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["measure", "layer", "target"], kind="stable").reset_index(drop=True)[TABLE_COLUMNS]


def _table_block(
    index: pd.MultiIndex, X: np.ndarray, Y: np.ndarray, targets: list[str], n_boot: int, ci: float, seed: int
) -> pd.DataFrame:
    n = X.shape[1]
    for t, row in zip(targets, Y):
        if np.ptp(row) == 0:
            log.warning("target %r is constant over the %d models; its correlations are NaN", t, n)
    usable = np.isfinite(X).all(axis=1) & (np.ptp(np.where(np.isfinite(X), X, 0.0), axis=1) > 0)
    for (measure, layer), ok in zip(index, usable):
        if not ok:
            log.warning("%s at layer %s is constant or missing for some of the %d models; its correlations "
                        "are NaN", measure, layer, n)
    Xu = X[usable]
    P, T = X.shape[0], Y.shape[0]
    result = {c: np.full((P, T), np.nan) for c in TABLE_COLUMNS[4:]}
    if Xu.shape[0]:
        point = _coefficients(Xu, Y)
        lo, hi, skipped = _bootstrap(Xu, Y, bootstrap_indices(n, n_boot, seed), ci)
        if skipped.any():
            log.info("bootstrap: up to %d of %d resamples skipped (constant variable)", int(skipped.max()), n_boot)
        for s in STATS:
            v = point[s]
            result[VALUE_COLUMN[s]][usable] = v
            result[f"{s}_lo"][usable] = lo[s]
            result[f"{s}_hi"][usable] = hi[s]
            p = _kendall_pvalues(Xu, Y) if s == "kendall" else _t_pvalue(v, n)
            result[f"{s}_p"][usable] = p
    measures = np.repeat(index.get_level_values("measure").to_numpy(), T)
    layers = np.repeat(index.get_level_values("layer").to_numpy(), T)
    frame = pd.DataFrame({"measure": measures, "layer": layers, "target": np.tile(targets, P), "n": n})
    for c, v in result.items():
        frame[c] = v.reshape(-1)
    return frame


# ------------------------------------------------------------------------------------------- helpers
def _as_vector(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be numeric; got non-numeric values.") from None
    if arr.ndim != 1:
        raise BadInputError(f"{name} must be 1-D but has shape {arr.shape}; pass one value per observation.")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise BadInputError(
            f"{name} has {int(bad.sum())} NaN/inf value(s) (positions {np.flatnonzero(bad)[:10].tolist()}); "
            "drop those observations or fill them in."
        )
    return arr


def _require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    for c in columns:
        if c not in df.columns:
            raise UnknownNameError(
                f"column of the {what}", str(c), map(str, df.columns),
                hint=f"(its columns are {', '.join(map(str, df.columns))}).",
            )
