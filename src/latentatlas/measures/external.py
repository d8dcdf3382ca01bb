"""Breadth through scikit-dimension: its global intrinsic-dimension estimators that latentatlas does not
implement, registered as ``skdim_*`` measures when the package is installed (``pip install
'latentatlas[oracles]'``; the test extra has it).

Each measure hands the cloud it is given (in a study: the same seeded ``max_points`` subsample every other
measure sees, float32 as every latentatlas cloud, converted to float64) to the scikit-dimension estimator
and returns its ``dimension_``; nothing is re-implemented.
The neighbour-based estimators (DANCo, ESS, TLE, CorrInt) get the distinct points, as latentatlas' own
TwoNN and MLE do: duplicates give zero distances and undefined log-ratios.

Cost. Some estimators are slow in pure Python: on a loaded 2-core machine, ESS took 2.5 s on 500 points
(k = 10) and 6 minutes on 1000 points at its own default k = 100; DANCoFit about 15 s on 500 points;
FisherS and TLE seconds on 2000 points and O(n²) time beyond. Each therefore takes ``n_points``: when the
cloud has more rows, a seeded subsample of that many (without replacement, store order kept) is measured;
``n_points=None`` measures every row. The defaults (500 for ESS and DANCo, 2000 for FisherS and TLE, 5000
for CorrInt, all rows for lPCA) keep one cloud under about a minute. The ``skdim_*`` measures are not part
of ``measures: all``; name them.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from .cloud import PointCloud, as_cloud
from .registry import Choice, Int, Real, measure

#: Whether scikit-dimension is installed (its estimators are registered only then).
AVAILABLE = importlib.util.find_spec("skdim") is not None

PACKAGE = "scikit-dimension"
_SKDIM = "scikit-dimension (Bac, Mirkes, Gorban, Tyukin & Zinovyev 2021, Entropy 23:1368)"


def subsample(X: np.ndarray | PointCloud, n_points: int | None, seed: int, *, distinct: bool) -> np.ndarray:
    """The rows the estimator sees: the distinct points (neighbour-based estimators), then a seeded
    subsample of ``n_points`` rows when there are more (sorted, so in the cloud's order)."""
    cloud = as_cloud(X)
    if distinct:
        cloud = cloud.distinct()
    data = np.asarray(cloud.X, dtype=np.float64)
    if n_points is not None and data.shape[0] > n_points:
        rows = np.sort(np.random.default_rng(seed).choice(data.shape[0], size=n_points, replace=False))
        data = data[rows]
    return data


def _id() -> Any:
    import skdim.id

    return skdim.id


def _register() -> None:
    common: dict[str, Any] = {"family": "dimension", "higher_means_spread": True, "source": PACKAGE}

    @measure("skdim_danco", reference=f"Ceruti et al. 2014 (DANCo), Pattern Recognit. 47:2569; {_SKDIM}",
             min_points=lambda p: int(p.get("k", 10)) + 2,
             params={"k": Int(2), "ver": Choice("DANCoFit", "DANCo", "MIND_MLk", "MIND_MLi"),
                     "n_points": Int(20, none_ok=True)}, **common)
    def skdim_danco(X: np.ndarray | PointCloud, *, k: int = 10, ver: str = "DANCoFit", fractal: bool = True,
                    n_points: int | None = 500, seed: int = 0) -> float:
        """DANCo intrinsic dimension (scikit-dimension's ``DANCo``): the dimension whose calibration
        statistics (nearest-neighbour distance ratios and angle concentration) are closest in KL divergence
        to the data's.

        ``ver="DANCoFit"`` (default) reads the calibration from scikit-dimension's precomputed table
        (k = 10, 20 ≤ n ≤ 5000, candidate dimensions 1..min(d, 100)); ``"DANCo"`` simulates it for every
        candidate dimension up to d (slow for wide clouds); ``"MIND_MLk"``/``"MIND_MLi"`` are the
        calibration-free estimators. ``fractal``: a non-integer estimate (spline minimum of the KL curve).
        Distinct points; seeded subsample of ``n_points`` (see the module for the cost).
        """
        data = subsample(X, n_points, seed, distinct=True)
        D = min(data.shape[1], 100) if ver == "DANCoFit" else None
        est = _id().DANCo(k=k, D=D, ver=ver, fractal=fractal, random_state=seed)
        return float(est.fit(data).dimension_)

    @measure("skdim_ess", reference=f"Johnsson, Soneson & Fontes 2015 (ESS), IEEE TPAMI 37:196; {_SKDIM}",
             min_points=lambda p: int(p.get("k", 10)) + 1,
             params={"k": Int(3), "ver": Choice("a", "b"), "n_points": Int(10, none_ok=True)}, **common)
    def skdim_ess(X: np.ndarray | PointCloud, *, k: int = 10, ver: str = "a", n_points: int | None = 500,
                  seed: int = 0) -> float:
        """Expected simplex skewness (scikit-dimension's ``ESS``): each point's local dimension from the
        skewness of the simplices its ``k`` nearest neighbours span, averaged over the points.

        ``k`` = 10 here (scikit-dimension's default of 100 neighbours costs minutes per thousand points).
        Distinct points; seeded subsample of ``n_points``.
        """
        data = subsample(X, n_points, seed, distinct=True)
        return float(_id().ESS(ver=ver, random_state=seed).fit(data, n_neighbors=k).dimension_)

    @measure("skdim_fishers", reference=f"Albergante, Bac & Zinovyev 2019 (Fisher separability), IJCNN; {_SKDIM}",
             min_points=3, params={"conditional_number": Real(1), "n_points": Int(3, none_ok=True)}, **common)
    def skdim_fishers(X: np.ndarray | PointCloud, *, conditional_number: float = 10.0, project_on_sphere: bool = True,
                      n_points: int | None = 2000, seed: int = 0) -> float:
        """Fisher-separability dimension (scikit-dimension's ``FisherS``): the dimension of the uniform
        sphere whose points are linearly (Fisher) separable from the rest as often as the data's.

        The data are centred, whitened on the principal components whose variance is at least
        1/``conditional_number`` of the largest, and (``project_on_sphere``) projected on the unit sphere.
        Seeded subsample of ``n_points`` (O(n²) pairs).
        """
        data = subsample(X, n_points, seed, distinct=False)
        est = _id().FisherS(conditional_number=conditional_number, project_on_sphere=int(project_on_sphere))
        return float(est.fit(data).dimension_)

    @measure("skdim_tle", reference=f"Amsaleg et al. 2019 (tight local estimation), ICDE; {_SKDIM}",
             min_points=lambda p: int(p.get("k", 20)) + 1,
             params={"k": Int(3), "epsilon": Real(0), "n_points": Int(10, none_ok=True)}, **common)
    def skdim_tle(X: np.ndarray | PointCloud, *, k: int = 20, epsilon: float = 1e-4, n_points: int | None = 2000,
                  seed: int = 0) -> float:
        """Tight local intrinsic-dimension estimate (scikit-dimension's ``TLE``): each point's
        maximum-likelihood local dimension from all pairwise distances within its ``k``-neighbourhood,
        averaged over the points.

        Distinct points; seeded subsample of ``n_points``.
        """
        data = subsample(X, n_points, seed, distinct=True)
        return float(_id().TLE(epsilon=epsilon).fit(data, n_neighbors=k).dimension_)

    @measure("skdim_corrint", reference=f"Grassberger & Procaccia 1983 (correlation dimension), Physica D 9:189; {_SKDIM}",
             min_points=lambda p: int(p.get("k2", 20)) + 1,
             params={"k1": Int(1), "k2": Int(2), "n_points": Int(10, none_ok=True)}, **common)
    def skdim_corrint(X: np.ndarray | PointCloud, *, k1: int = 10, k2: int = 20, n_points: int | None = 5000,
                      seed: int = 0) -> float:
        """Correlation dimension (scikit-dimension's ``CorrInt``): the slope of log C(r) between the radii
        of the ``k1``-th and ``k2``-th nearest neighbours, C(r) the share of point pairs closer than r.

        Distinct points; seeded subsample of ``n_points``.
        """
        if k2 <= k1:
            from ..errors import BadInputError

            raise BadInputError(f"skdim_corrint.k2={k2} must be larger than k1={k1}.")
        data = subsample(X, n_points, seed, distinct=True)
        return float(_id().CorrInt(k1=k1, k2=k2).fit(data).dimension_)

    @measure("skdim_lpca", reference=f"Fukunaga & Olsen 1971 (PCA dimension) and the variants of {_SKDIM}",
             min_points=3,
             params={"ver": Choice("FO", "Fan", "maxgap", "ratio", "participation_ratio", "Kaiser", "broken_stick"),
                     "alpha": Real(0, 1), "n_points": Int(3, none_ok=True)}, **common)
    def skdim_lpca(X: np.ndarray | PointCloud, *, ver: str = "FO", alpha: float = 0.05, n_points: int | None = None,
                   seed: int = 0) -> float:
        """PCA dimension (scikit-dimension's ``lPCA`` on the whole cloud): with ``ver="FO"`` (Fukunaga &
        Olsen) the number of eigenvalues larger than ``alpha`` times the largest; other ``ver`` are
        scikit-dimension's gap, ratio, Kaiser and broken-stick rules (``alpha`` is FO's and ratio's
        threshold).

        All rows by default.
        """
        data = subsample(X, n_points, seed, distinct=False)
        est = _id().lPCA(ver=ver, alphaFO=alpha, alphaRatio=alpha, verbose=False)
        return float(est.fit(data).dimension_)


if AVAILABLE:
    _register()

__all__ = ["AVAILABLE", "PACKAGE", "subsample"]
