"""Multiple-comparison correction: Benjamini–Hochberg q-values, and the group-level p-values they use.

For m finite p-values sorted p₍₁₎ ≤ … ≤ p₍ₘ₎ (Benjamini & Hochberg 1995; the q-value is the adjusted
p-value of R's ``p.adjust(method = "BH")`` and statsmodels' ``fdr_bh``):

    q₍ᵢ₎ = min_{j ≥ i} min(1, m · p₍ⱼ₎ / j)

Rejecting every hypothesis with q ≤ α controls the false discovery rate at α for independent or
positively dependent tests. Missing (NaN) p-values are not tests: they keep NaN and do not count in m.

Which p-values: the t-test p of a Pearson r assumes independent rows. Related models (seed twins) are
not, and on twin noise that p is far too small. :func:`group_level_pvalues` tests the association at
the level of groups instead: the Pearson r of the group means of x and y over the G groups, with
t = r√((G−2)/(1−r²)) ~ t(G−2). With one model per group it is the ordinary Pearson p. (Per-candidate
permutation p-values would respect groups too, but their resolution 1/(B+1) makes the BH q of a few
hundred candidates useless: with 200 candidates and 1,000 permutations no q can fall below 0.2.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BadInputError
from .correlate import _t_pvalue
from .groups import group_codes


def bh_qvalues(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values of ``p`` (any shape), NaN where ``p`` is NaN; formula in the module
    docstring.

    Raises:
        BadInputError: a finite p-value outside [0, 1].
    """
    arr = np.asarray(p, dtype=float)
    flat = arr.reshape(-1)
    ok = np.isfinite(flat)
    vals = flat[ok]
    if ((vals < 0) | (vals > 1)).any():
        bad = vals[(vals < 0) | (vals > 1)][0]
        raise BadInputError(f"p-value {bad:g} is outside [0, 1]; pass probabilities.")
    out = np.full(flat.shape, np.nan)
    m = vals.size
    if m:
        order = np.argsort(vals, kind="stable")
        scaled = vals[order] * m / np.arange(1, m + 1)
        q_sorted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
        q = np.empty(m)
        q[order] = q_sorted
        out[ok] = q
    return out.reshape(arr.shape)


def group_level_pvalues(
    X: np.ndarray, y: np.ndarray, groups: Sequence[Any] | np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Two-sided p of the Pearson r between the group means of each column of X (n, P) and of y (n,),
    with G − 2 degrees of freedom (module docstring), and G. NaN for a column constant over the group
    means, and everywhere when G < 3."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    codes = group_codes(groups, y.size)
    G = int(codes.max()) + 1 if codes.size else 0
    if G < 3:
        return np.full(X.shape[1], np.nan), G
    size = np.bincount(codes)
    Xg = np.stack([np.bincount(codes, weights=col) for col in X.T], axis=1) / size[:, None]
    yg = np.bincount(codes, weights=y) / size
    Xc = Xg - Xg.mean(axis=0)
    yc = yg - yg.mean()
    den = np.sqrt((Xc * Xc).sum(axis=0) * (yc @ yc))
    ok = den > 1e-12 * np.maximum(1.0, np.abs(Xg).max(axis=0) * np.abs(yg).max())
    r = np.where(ok, (Xc.T @ yc) / np.where(ok, den, 1.0), np.nan)
    return np.where(ok, _t_pvalue(np.clip(r, -1.0, 1.0), G), np.nan), G
