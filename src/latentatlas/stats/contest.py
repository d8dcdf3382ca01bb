"""Label-free geometry against label-aware baselines (LogME, H-score) on equal terms.

Each predictor family (``geometry``: every ``measure@layer`` column; ``logme`` / ``hscore``: their
column(s) for the task) goes through the same procedure, :func:`~latentatlas.stats.cv.nested_cv`
with the same leave-one-group-out folds: the best candidate of the family is chosen on the training
groups only, fitted by OLS and used to predict the left-out group. A family with one candidate has
nothing to choose; geometry pays for its search inside the folds instead of being reported at its
after-the-fact best.

Difference of two families A − B (:func:`paired_difference`), paired over the same left-out groups:
ΔMSE = MSE_A − MSE_B (rows) and Δρ = ρ_A − ρ_B (Spearman of predicted vs actual group means), with a
percentile bootstrap that draws the G left-out groups with replacement (the same draws for A and B, so
the pairing is kept; ``numpy.random.default_rng(seed)``). A resample in which the predicted or actual
group means are constant has no ρ and is skipped.

Verdict (:func:`verdict`): a family wins when the interval of ΔMSE excludes 0 (lower MSE is better);
when it includes 0, the interval of Δρ decides (higher ρ is better); when both include 0, there is no
clear winner. Conflicting intervals (one family better on MSE, the other on ρ) are reported as mixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BadInputError
from .correlate import _nan_quantiles
from .cv import NestedCVResult, _row_spearman, nested_cv

COLUMNS = [
    "task", "predictor", "candidates", "n_groups", "nested_mse", "nested_mae", "nested_spearman",
    "nested_kendall", "mean_only_mse", "p_spearman", "p_mse", "chosen", "vs", "mse_diff", "mse_diff_lo", "mse_diff_hi",
    "spearman_diff", "spearman_diff_lo", "spearman_diff_hi", "verdict",
]
"""Columns of :func:`compare_families`; the diffs are ``vs`` − ``predictor`` (the reference minus this)."""


def paired_difference(
    a: NestedCVResult, b: NestedCVResult, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """ΔMSE = MSE_a − MSE_b and Δρ = ρ_a − ρ_b with group-bootstrap percentile CIs (module docstring).

    Raises:
        BadInputError: the two results are not on the same rows and groups.
    """
    if a.codes.shape != b.codes.shape or (a.codes != b.codes).any() or not np.array_equal(a.actual, b.actual):
        raise BadInputError("paired comparison needs two nested CVs of the same rows and groups.")
    codes = a.codes
    G = int(codes.max()) + 1
    size = np.bincount(codes, minlength=G).astype(float)
    sse_a = np.bincount(codes, weights=(a.predicted - a.actual) ** 2, minlength=G)
    sse_b = np.bincount(codes, weights=(b.predicted - b.actual) ** 2, minlength=G)
    pa, actual = a.group_means()
    pb, _ = b.group_means()
    idx = np.random.default_rng(seed).integers(0, G, size=(n_boot, G))
    n_rows = size[idx].sum(axis=1)
    d_mse = (sse_a[idx].sum(axis=1) - sse_b[idx].sum(axis=1)) / n_rows
    d_rho = _row_spearman(pa[idx], actual[idx]) - _row_spearman(pb[idx], actual[idx])
    q = [(1.0 - ci) / 2.0, (1.0 + ci) / 2.0]
    (mlo, mhi), (rlo, rhi) = _nan_quantiles(d_mse, q), _nan_quantiles(d_rho, q)
    return {
        "mse_diff": a.mse - b.mse, "mse_diff_lo": float(mlo), "mse_diff_hi": float(mhi),
        "spearman_diff": a.spearman - b.spearman, "spearman_diff_lo": float(rlo), "spearman_diff_hi": float(rhi),
    }


FEW_GROUPS = 10
"""Below this many left-out groups a verdict says that its bootstrap intervals are rough (with G groups
there are only C(2G−1, G) distinct resamples: 35 for G = 4)."""


def verdict(name_a: str, name_b: str, diff: Mapping[str, float], ci: float = 0.95, n_groups: int | None = None) -> str:
    """Plain words: which of A and B predicts better, from the intervals of A − B (module docstring);
    with fewer than :data:`FEW_GROUPS` groups the sentence ends with that caveat."""
    caveat = (f"; only {n_groups} left-out groups, so the intervals are rough"
              if n_groups is not None and n_groups < FEW_GROUPS else "")
    return _verdict(name_a, name_b, diff, ci) + caveat


def _verdict(name_a: str, name_b: str, diff: Mapping[str, float], ci: float) -> str:
    level = f"{100 * ci:g}%"
    mse_lo, mse_hi = diff["mse_diff_lo"], diff["mse_diff_hi"]
    rho_lo, rho_hi = diff["spearman_diff_lo"], diff["spearman_diff_hi"]
    by_mse = name_a if mse_hi < 0 else name_b if mse_lo > 0 else None
    by_rho = name_a if rho_lo > 0 else name_b if rho_hi < 0 else None
    mse_txt = f"MSE difference {diff['mse_diff']:.3g} [{mse_lo:.3g}, {mse_hi:.3g}]"
    rho_txt = f"Spearman difference {diff['spearman_diff']:.2f} [{rho_lo:.2f}, {rho_hi:.2f}]"
    if by_mse and by_rho and by_mse != by_rho:
        return (f"mixed: {by_mse} has the lower error, {by_rho} ranks models better ({mse_txt}; {rho_txt}; "
                f"{name_a} − {name_b}, {level} intervals)")
    winner = by_mse or by_rho
    if winner is None:
        return (f"no clear winner between {name_a} and {name_b}: both {level} intervals include 0 "
                f"({mse_txt}; {rho_txt}; {name_a} − {name_b})")
    basis = "lower nested-CV error" if by_mse else "better nested-CV ranking"
    return f"{winner} wins ({basis}; {mse_txt}; {rho_txt}; {name_a} − {name_b}, {level} intervals)"


def compare_families(
    task: str,
    y: np.ndarray,
    candidates: Mapping[str, tuple[np.ndarray, Sequence[str]]],
    *,
    groups: Sequence[Any] | np.ndarray | None = None,
    families: Sequence[Any] | np.ndarray | None = None,
    reference: str = "geometry",
    n_boot: int = 1000,
    n_permutations: int = 0,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per predictor family: its nested-CV MSE / MAE / Spearman / Kendall on the same folds and,
    for every family other than ``reference``, ΔMSE and Δρ (reference − family) with paired group-bootstrap
    intervals and a verdict. ``candidates``: family name → ((n, P) finite matrix, P names).

    With ``n_permutations`` > 0 each family's nested CV also gets permutation p-values of its ρ and MSE
    (:func:`~.cv.nested_cv`). A family whose nested CV is impossible (too few groups) gets NaN figures and
    the reason as verdict.
    """
    results: dict[str, NestedCVResult | str] = {}
    for name, (X, names) in candidates.items():
        try:
            results[name] = nested_cv(X, y, list(names), groups, families=families, n_permutations=n_permutations,
                                      seed=seed)
        except BadInputError as exc:
            results[name] = str(exc)
    rows = []
    ref = results.get(reference)
    for name, res in results.items():
        row: dict[str, Any] = {c: np.nan for c in COLUMNS}
        row.update(task=task, predictor=name, candidates=len(candidates[name][1]), vs=None, chosen=None, verdict=None)
        if isinstance(res, str):
            row["verdict"] = f"no nested CV: {res}"
            rows.append(row)
            continue
        row.update(n_groups=res.n_groups, nested_mse=res.mse, nested_mae=res.mae, nested_spearman=res.spearman,
                   nested_kendall=res.kendall, mean_only_mse=res.baseline_mse, p_spearman=res.p_spearman,
                   p_mse=res.p_mse,
                   chosen=", ".join(f"{k} ({v})" for k, v in res.chosen.items()))
        if name != reference and isinstance(ref, NestedCVResult):
            diff = paired_difference(ref, res, n_boot=n_boot, ci=ci, seed=seed)
            row.update(vs=reference, **diff, verdict=verdict(reference, name, diff, ci, n_groups=res.n_groups))
        elif name == reference:
            row["verdict"] = "reference"
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
