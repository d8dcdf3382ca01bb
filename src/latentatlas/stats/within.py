"""Correlation inside model families, and a bootstrap that resamples groups within families.

A pooled correlation across families can come entirely from the families differing (Simpson's paradox):
every MiniLM variant may sit above every miniature BERT in both a measure and the score while, inside
each family, the two are unrelated. Two figures isolate the within-family association:

* ``partial_r``: the Pearson correlation of x and y after removing each family's mean,
  r = Σᵢ (xᵢ − x̄_{f(i)})(yᵢ − ȳ_{f(i)}) / √(Σᵢ (xᵢ − x̄_{f(i)})² Σᵢ (yᵢ − ȳ_{f(i)})²).
  This is at once the pooled within-family Pearson r and the partial correlation of x and y controlling
  for family (the correlation of the residuals of x and of y after least squares on an intercept and
  family dummies, which are exactly the deviations from the family means); it is one number, reported once.
* ``within_rho``: its rank analogue: x and y are ranked inside each family (average ranks for ties),
  the ranks centred on their family's mean rank, and the Pearson r of those taken.

With a single family they equal the pooled Pearson r and Spearman ρ. A family with one model
contributes nothing (its deviations are 0).

Intervals: a family-blocked percentile bootstrap. Each resample draws, inside every family, as many
groups of related models as the family has, with replacement, and takes all rows of the drawn groups
(families are fixed strata, groups are the resampled units, rows of a group stay together). A resample
in which x or y has no within-family variation is skipped. Seeded: ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from ..errors import BadInputError
from .correlate import _nan_quantiles
from .cv import group_folds
from .groups import family_of_groups, group_codes

log = logging.getLogger(__name__)

WITHIN_STATS = ("partial_r", "within_rho")


def partial_correlation(x: np.ndarray, y: np.ndarray, covariates: np.ndarray) -> float:
    """Pearson r of the residuals of x and y after least squares on [1, covariates] (n × k)."""
    C = np.column_stack([np.ones(len(x)), np.asarray(covariates, dtype=float).reshape(len(x), -1)])
    rx = x - C @ np.linalg.lstsq(C, x, rcond=None)[0]
    ry = y - C @ np.linalg.lstsq(C, y, rcond=None)[0]
    return float(rx @ ry / np.sqrt((rx @ rx) * (ry @ ry)))


def _demean(A: np.ndarray, fam: np.ndarray) -> np.ndarray:
    """Rows of A (R, n) minus their mean within each family code of ``fam`` (n,)."""
    F = int(fam.max()) + 1
    onehot = np.eye(F)[fam]  # (n, F)
    means = (A @ onehot) / onehot.sum(axis=0)
    return A - means[:, fam]


def _within_ranks(A: np.ndarray, fam: np.ndarray) -> np.ndarray:
    """Average ranks of each row of A (R, n) computed inside each family."""
    out = np.empty_like(A, dtype=float)
    for f in np.unique(fam):
        cols = np.flatnonzero(fam == f)
        out[:, cols] = stats.rankdata(A[:, cols], axis=1)
    return out


def _pearson_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson-type r = ΣaB/√(Σa²Σb²) of every (already centred) row of A with every row of B; NaN when
    a row is all zero (no variation)."""
    na = np.sqrt((A * A).sum(axis=1))
    nb = np.sqrt((B * B).sum(axis=1))
    tol_a = 1e-12 * np.maximum(1.0, np.abs(A).max(axis=1, initial=0.0))
    tol_b = 1e-12 * np.maximum(1.0, np.abs(B).max(axis=1, initial=0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (A @ B.T) / np.outer(na, nb)
    r[(na <= tol_a)[:, None] | (nb <= tol_b)[None, :]] = np.nan
    return np.clip(r, -1.0, 1.0)


def within_family(X: np.ndarray, Y: np.ndarray, families: Sequence[Any] | np.ndarray | None) -> dict[str, np.ndarray]:
    """``partial_r`` and ``within_rho`` (module docstring) of every row of X (P, n) with every row of
    Y (T, n), as (P, T) arrays; ``families``: one label per column (None: one family)."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    fam = group_codes(families, X.shape[1]) if families is not None else np.zeros(X.shape[1], dtype=np.int64)
    return _within(X, Y, fam)


def _within(X: np.ndarray, Y: np.ndarray, fam: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "partial_r": _pearson_rows(_demean(X, fam), _demean(Y, fam)),
        "within_rho": _pearson_rows(_demean(_within_ranks(X, fam), fam), _demean(_within_ranks(Y, fam), fam)),
    }


def family_block_resamples(
    groups: Sequence[Any] | np.ndarray | None,
    families: Sequence[Any] | np.ndarray | None,
    n: int,
    n_boot: int,
    seed: int,
) -> list[np.ndarray]:
    """Row indices of ``n_boot`` family-blocked resamples: in every family, its groups drawn with
    replacement (as many as it has), all rows of each drawn group taken."""
    codes = group_codes(groups, n)
    group_family = family_of_groups(codes, families, groups)
    folds = group_folds(codes)
    rng = np.random.default_rng(seed)
    draws = []
    for f in np.unique(group_family):
        members = np.flatnonzero(group_family == f)
        draws.append(members[rng.integers(0, members.size, size=(n_boot, members.size))])
    drawn = np.concatenate(draws, axis=1)  # (B, G): group codes of each resample
    return [np.concatenate([folds[g] for g in row]) for row in drawn]


def within_family_bootstrap(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    families: Sequence[Any] | np.ndarray | None = None,
    groups: Sequence[Any] | np.ndarray | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Point values and family-blocked percentile CIs of ``partial_r`` and ``within_rho`` for every
    (row of X, row of Y): keys ``partial_r``, ``partial_r_lo``, ``partial_r_hi``, ``within_rho``, ...
    (arrays (P, T)) and ``n_families``.

    Raises:
        BadInputError: n_boot < 1, ci outside (0, 1), or a group spanning two families.
    """
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise BadInputError(f"n_boot={n_boot!r} must be a positive integer number of resamples, e.g. 1000.")
    if not 0.0 < ci < 1.0:
        raise BadInputError(f"ci={ci!r} must lie strictly between 0 and 1, e.g. 0.95.")
    X = np.atleast_2d(np.asarray(X, dtype=float))
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    n = X.shape[1]
    fam = group_codes(families, n) if families is not None else np.zeros(n, dtype=np.int64)
    family_of_groups(group_codes(groups, n), fam, groups)  # a group must lie inside one family
    point = _within(X, Y, fam)
    draws = {s: np.empty((*point[s].shape, n_boot)) for s in WITHIN_STATS}
    for b, rows in enumerate(family_block_resamples(groups, fam, n, n_boot, seed)):
        got = _within(X[:, rows], Y[:, rows], fam[rows])
        for s in WITHIN_STATS:
            draws[s][..., b] = got[s]
    q = [(1.0 - ci) / 2.0, (1.0 + ci) / 2.0]
    out: dict[str, Any] = {"n_families": int(fam.max()) + 1}
    for s in WITHIN_STATS:
        lo, hi = _nan_quantiles(draws[s], q)
        out[s], out[f"{s}_lo"], out[f"{s}_hi"] = point[s], lo, hi
    return out
