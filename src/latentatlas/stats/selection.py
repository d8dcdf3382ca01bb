"""What picking the best of many candidates costs: a permutation null of the maximum |r|.

Reporting the (measure, layer) with the largest |Pearson r| out of P candidates is a search; with many
candidates and few models the largest |r| of pure noise is large. The family-wise p-value compares the
observed maximum with its distribution under "the target is unrelated to every candidate", obtained by
permuting the target and recomputing the whole candidate table each time (Westfall & Young 1993, the
single-step max-T procedure):

    p_FW = (1 + #{b : max_j |r_j^(b)| ≥ max_j |r_j|}) / (1 + B)

(Phipson & Smyth 2010: the observed labelling counts as one permutation, so p is never 0.)

How the target is permuted when models come in groups of related models: **group means are permuted
among groups, and each model keeps its own deviation from its group's mean**,

    y_i^(b) = ȳ_{π(g(i))} + (y_i − ȳ_{g(i)}),   π a random permutation of the groups,

with π restricted to permute groups within the same family when families are given (so every family
keeps its own set of group-level scores). Why this choice:

* groups are the exchangeable units: two seed twins share their level, so under the null their level
  must move together. Permuting rows would treat twins as independent and give a null max |r| that is
  too small, hence a p-value that is too small (a test shows it);
* it works for groups of any size (a base model alone, seed pairs, a series of checkpoints), where
  swapping whole target vectors could only exchange groups of equal size and would leave a group of a
  unique size fixed forever;
* each model's within-group deviation stays with its own geometry, so any within-group association is
  kept in every permutation: the test is about the group level only and is conservative for it;
* with one model per group it is the ordinary permutation of the target.

The statistic is the row-level |Pearson r| of the candidate table itself (the same r as the correlation
table), so ``max_abs_r`` is the reported best. Computation is one matrix product: the columns of the
candidate matrix standardised once (Z, n × P) times the B standardised permuted targets (B × n) gives
every |r| of every permutation at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BadInputError
from .groups import family_of_groups, group_codes

log = logging.getLogger(__name__)

N_PERMUTATIONS = 1000
"""Default number of permutations (p resolution 1/1001)."""

PERMUTATION = "group means permuted among groups within family; each model keeps its deviation from its group mean"
"""The permutation scheme, in words (recorded next to the p-value)."""


@dataclass(frozen=True)
class MaxRTest:
    """Best candidate and the family-wise p-value of its |r|; ``null``: the B permuted maxima."""

    best: int
    r: float
    max_abs_r: float
    p_family_wise: float
    n_permutations: int
    n_distinct_permutations: float
    null: np.ndarray = field(repr=False)


def standardise_columns(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns centred and scaled to unit norm (so Zᵀz is Pearson r), and a mask of usable (non-constant)
    columns; constant columns are all zeros in Z."""
    Xc = X - X.mean(axis=0)
    norm = np.sqrt((Xc * Xc).sum(axis=0))
    usable = norm > 1e-12 * np.maximum(1.0, np.abs(X).max(axis=0))
    return np.where(usable, Xc / np.where(usable, norm, 1.0), 0.0), usable


def permuted_targets(
    y: np.ndarray,
    n_permutations: int,
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    families: Sequence[Any] | np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """The (B, n) matrix of permuted targets ȳ_{π(g(i))} + (yᵢ − ȳ_{g(i)}), π within families (see the
    module docstring). Seeded: ``numpy.random.default_rng(seed)``."""
    y = np.asarray(y, dtype=float)
    codes = group_codes(groups, y.size)
    fam = family_of_groups(codes, families, groups)
    means = np.bincount(codes, weights=y) / np.bincount(codes)
    dev = y - means[codes]
    G = means.size
    rng = np.random.default_rng(seed)
    perm = np.tile(np.arange(G), (n_permutations, 1))
    for f in np.unique(fam):
        members = np.flatnonzero(fam == f)
        if members.size > 1:
            perm[:, members] = members[rng.permuted(np.tile(np.arange(members.size), (n_permutations, 1)), axis=1)]
    return means[perm][:, codes] + dev[None, :]


def n_distinct(group_family: np.ndarray) -> float:
    """How many distinct group permutations the scheme has: Π over families of (groups in it)!."""
    return float(np.prod([math.factorial(int(c)) for c in np.bincount(group_family)], dtype=float))


def max_abs_r_test(
    X: np.ndarray,
    y: np.ndarray,
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    families: Sequence[Any] | np.ndarray | None = None,
    n_permutations: int = N_PERMUTATIONS,
    seed: int = 0,
) -> MaxRTest:
    """The candidate with the largest |Pearson r| with ``y`` and the permutation p of that maximum.

    Args:
        X: (n, P) candidate columns, finite (constant columns are never chosen and count as r = 0).
        y: (n,) target, finite and not constant.
        groups, families: one label per row (None: each row its own group / one family).
        n_permutations: B, at least 1.
        seed: seed of the permutations.

    Raises:
        BadInputError: shapes disagree, non-finite values, a constant target, no usable candidate,
            B < 1, or a group spanning two families.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise BadInputError(f"n_permutations={n_permutations!r} must be a positive integer, e.g. 1000.")
    if X.ndim != 2 or X.shape[0] != y.size:
        raise BadInputError(f"candidates of shape {X.shape} do not match a target of {y.size} rows.")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise BadInputError("the permutation test needs finite candidates and target; drop missing values first.")
    if np.ptp(y) == 0:
        raise BadInputError("the target is constant; there is no correlation to test.")
    Z, usable = standardise_columns(X)
    if not usable.any():
        raise BadInputError("every candidate column is constant; there is nothing to select.")
    r = Z.T @ standardise_columns(y[:, None])[0][:, 0]
    best = int(np.argmax(np.where(usable, np.abs(r), -1.0)))
    observed = float(abs(r[best]))
    Yp = permuted_targets(y, n_permutations, groups=groups, families=families, seed=seed)
    Yc = Yp - Yp.mean(axis=1, keepdims=True)
    norm = np.sqrt((Yc * Yc).sum(axis=1, keepdims=True))
    null = np.abs((Yc / np.where(norm > 0, norm, 1.0)) @ Z).max(axis=1)  # every |r| of every permutation, max
    # the identity permutation reproduces the observed maximum up to rounding: count it as reached
    hits = int((null >= observed * (1.0 - 1e-12)).sum())
    codes = group_codes(groups, y.size)
    distinct = n_distinct(family_of_groups(codes, families, groups))
    if distinct < n_permutations:
        log.info("only %g distinct group permutations: the %d permutations repeat them; p >= %.3g",
                 distinct, n_permutations, 1.0 / distinct)
    return MaxRTest(
        best=best, r=float(r[best]), max_abs_r=observed, p_family_wise=(1 + hits) / (1 + n_permutations),
        n_permutations=int(n_permutations), n_distinct_permutations=distinct, null=null,
    )
