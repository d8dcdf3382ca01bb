"""Spread / isotropy measures of a point cloud (Marbut et al. 2023, 2024; Rudman et al. 2022).

Every measure is registered in :mod:`latentatlas.measures.registry`; see each docstring for the formula.
"""

from __future__ import annotations

import numpy as np

from .cloud import PointCloud, as_cloud
from .registry import measure


def eee_from_eigenvalues(eigenvalues: np.ndarray) -> float:
    """Eigenspectrum early enrichment of a spectrum λ₁ ≥ … ≥ λ_D (Marbut et al. 2023, §1.3 of the notes).

    Sᵢ = Σ_{j≤i} λⱼ, Rᵢ = i·S_D/D (uniform reference), EEE = ∫₀^{D−1}(S − R) dx / (S_D·D/2), with the
    integral taken by the trapezoid rule over x = 0…D−1. 0 means isotropic (all λ equal); values near
    1 mean all variance lies on the first principal component.
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1]
    D = lam.size
    total = lam.sum()
    if D < 2 or total <= 0:
        return 0.0
    S = np.cumsum(lam)
    R = np.arange(1, D + 1) * total / D
    return float(np.trapezoid(S - R) / (total * D / 2.0))


@measure(
    "eee",
    family="spread",
    reference="Marbut, McKinney-Bock & Wheeler 2023 (ICML), EEE; Marbut et al. 2024",
    higher_means_spread=False,
    min_points=3,
)
def eee(X: np.ndarray | PointCloud) -> float:
    """Eigenspectrum early enrichment (EEE) of the PCA spectrum; 0 = isotropic, → 1 = one direction.

    EEE = ∫(Sᵢ − Rᵢ)/(S_D·D/2) with Sᵢ the cumulative PCA eigenvalues and Rᵢ = i·S_D/D.
    """
    return eee_from_eigenvalues(as_cloud(X).eigenvalues())
