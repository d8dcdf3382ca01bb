"""Label-aware transferability scores of frozen features: LogME and H-score (the baselines to beat).

Both take features F (n × d, one row per example; computed in float64) and the task's labels y, and
need one eigendecomposition of a d × d (or n × n) matrix, so 10⁴ × 384 features take well under a second.
Registered by name in :data:`TRANSFERABILITY`; :func:`transferability` dispatches and validates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import BadInputError, UnknownNameError
from ..registry import Registry

log = logging.getLogger(__name__)

_LOG_2PI = float(np.log(2.0 * np.pi))
_CAP = 1e12
"""LogME bounds: β ≤ _CAP / mean(y²) and α ≤ _CAP · β · σ_max (see :func:`logme_details`)."""


# ------------------------------------------------------------------------------------------ validation
def _features(F: Any) -> np.ndarray:
    X = np.asarray(F, dtype=np.float64)
    if X.ndim != 2:
        raise BadInputError(f"features must be a 2-D (n_examples, n_dims) array but have shape {X.shape}.")
    if X.shape[0] < 2 or X.shape[1] < 1:
        raise BadInputError(f"features have shape {X.shape}; a transferability score needs at least 2 examples.")
    if not np.isfinite(X).all():
        raise BadInputError("features contain NaN/inf values; check the encoder output (e.g. fp16 overflow).")
    return X


def _class_ids(y: Any, n: int, method: str) -> tuple[np.ndarray, int]:
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise BadInputError(
            f"{method} needs one class label per example: got labels of shape {labels.shape} for {n} examples."
        )
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or not np.all(labels == np.round(labels)):
            raise BadInputError(
                f"{method} needs class labels but y holds non-integer values; for a regression target pass "
                "regression=True (LogME) or use another method."
            )
    classes, ids = np.unique(labels, return_inverse=True)
    if classes.size < 2:
        raise BadInputError(f"{method} needs at least 2 classes but every example has label {classes[0]!r}.")
    return ids.reshape(-1), int(classes.size)


def _real_targets(y: Any, n: int) -> np.ndarray:
    try:
        Y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError("regression targets must be numeric.") from None
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] != n:
        raise BadInputError(f"regression targets have shape {np.shape(y)} but the features have {n} examples.")
    if not np.isfinite(Y).all():
        raise BadInputError("regression targets contain NaN/inf values; drop or fill those examples.")
    return Y


# ------------------------------------------------------------------------------------------------ LogME
class LogMEResult(NamedTuple):
    """LogME and its per-target maximisers: ``score`` = mean of ``evidence``; arrays have one entry per target."""

    score: float
    alpha: np.ndarray
    beta: np.ndarray
    evidence: np.ndarray


def _spectrum(F: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """σ (squared singular values of F), z² (squared coordinates of each target on F's left singular
    vectors, per target) and the squared norm of each target's part outside F's column space.

    n > d: eigendecomposition of the d × d Gram matrix FᵀF = VΣ²Vᵀ, z = Σ⁻¹Vᵀ(FᵀY);
    n ≤ d: thin SVD F = UΣVᵀ, z = UᵀY. Directions with σ ≤ σ_max·max(n, d)·ε are treated as σ = 0.
    """
    n, d = F.shape
    if n > d:
        sigma, V = np.linalg.eigh(F.T @ F)
        sigma = np.clip(sigma, 0.0, None)
        tol = sigma.max() * max(n, d) * np.finfo(float).eps
        W = V.T @ (F.T @ Y)
        keep = sigma > tol
        z2 = np.zeros_like(W)
        z2[keep] = W[keep] ** 2 / sigma[keep, None]
        sigma = np.where(keep, sigma, 0.0)
        # least-squares residual, computed directly (‖y‖² − Σz² would cancel when y is nearly in span)
        resid = Y - F @ (V[:, keep] @ (W[keep] / sigma[keep, None]))
        outside = (resid * resid).sum(axis=0)
    else:  # U is an orthonormal basis of Rⁿ: nothing lies outside it
        U, s, _ = np.linalg.svd(F, full_matrices=False)
        sigma = s * s
        tol = sigma.max() * max(n, d) * np.finfo(float).eps
        sigma = np.where(sigma > tol, sigma, 0.0)
        z2 = (U.T @ Y) ** 2
        outside = np.zeros(Y.shape[1])
    return sigma, z2, outside


def _evidence_terms(
    alpha: np.ndarray, beta: np.ndarray, sigma: np.ndarray, z2: np.ndarray, outside: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n − γ, ‖m‖² and ‖Fm − y‖² at (α, β) for every target (columns of z2).

    n − γ = (n − k) + Σᵢ α/(α + βσᵢ) (k = len(σ)) is summed directly, without cancellation when βσ ≫ α.
    """
    denom = alpha[None, :] + beta[None, :] * sigma[:, None]  # (k, C)
    n_minus_gamma = (n - sigma.size) + (alpha[None, :] / denom).sum(axis=0)
    mm = (beta[None, :] ** 2 * sigma[:, None] * z2 / denom**2).sum(axis=0)
    res = (alpha[None, :] ** 2 * z2 / denom**2).sum(axis=0) + outside
    return n_minus_gamma, mm, res


def _log_evidence(
    alpha: np.ndarray, beta: np.ndarray, sigma: np.ndarray, z2: np.ndarray, outside: np.ndarray, n: int, d: int
) -> np.ndarray:
    _, mm, res = _evidence_terms(alpha, beta, sigma, z2, outside, n)
    logdet = np.log(alpha[None, :] + beta[None, :] * sigma[:, None]).sum(axis=0) + (d - sigma.size) * np.log(alpha)
    return (
        0.5 * n * np.log(beta) + 0.5 * d * np.log(alpha) - 0.5 * n * _LOG_2PI
        - 0.5 * beta * res - 0.5 * alpha * mm - 0.5 * logdet
    )


def logme_details(
    F: Any, y: Any, *, regression: bool = False, tol: float = 1e-10, max_iter: int = 10_000
) -> LogMEResult:
    """LogME with the maximising α, β and the per-target evidence (see :func:`logme`)."""
    X = _features(F)
    n, d = X.shape
    if regression:
        Y = _real_targets(y, n)
    else:
        ids, c = _class_ids(y, n, "LogME")
        Y = np.zeros((n, c))
        Y[np.arange(n), ids] = 1.0
    sigma, z2, outside = _spectrum(X, Y)
    C = Y.shape[1]
    alpha = np.ones(C)
    beta = np.ones(C)
    # The supremum can lie at the boundary (e.g. n ≤ d: noise-free interpolation, β → ∞; features
    # orthogonal to y: α → ∞). Caps keep the iteration finite; the evidence there is within ~1e-12 of it.
    mean_square = np.maximum((Y * Y).mean(axis=0), np.finfo(float).tiny)
    beta_max = _CAP / mean_square
    tiny = np.finfo(float).tiny
    previous, done = (alpha, beta), False
    for _ in range(max_iter):
        n_minus_gamma, mm, res = _evidence_terms(alpha, beta, sigma, z2, outside, n)
        gamma = n - n_minus_gamma
        new_beta = np.clip(n_minus_gamma / np.maximum(res, tiny), tiny, beta_max)
        new_alpha = np.clip(gamma / np.maximum(mm, tiny), tiny, _CAP * new_beta * max(sigma.max(), tiny))
        done = bool((np.abs(new_alpha - alpha) <= tol * new_alpha).all()
                    and (np.abs(new_beta - beta) <= tol * new_beta).all())
        previous, (alpha, beta) = (alpha, beta), (new_alpha, new_beta)
        if done:
            break
    evidence = _log_evidence(alpha, beta, sigma, z2, outside, n, d) / n
    if not done:
        # MacKay's iteration converges linearly and crawls where the evidence is flat in α or β: the
        # parameters may still move while the evidence, the reported number, no longer does
        drift = float(np.abs(evidence - _log_evidence(*previous, sigma, z2, outside, n, d) / n).max())
        (log.debug if drift <= 1e-9 * max(1.0, float(np.abs(evidence).max())) else log.warning)(
            "LogME fixed point stopped after %d iterations with α, β still moving; last change of the "
            "evidence per example %.2e", max_iter, drift)
    return LogMEResult(float(evidence.mean()), alpha, beta, evidence)


def logme(F: Any, y: Any, *, regression: bool = False) -> float:
    """LogME (You, Liu, Wang & Long, ICML 2021): the maximum log marginal evidence per example.

    For each target t (the one-hot column of each class, or each real target column for regression)
    a Bayesian linear model y_t = F w + ε, w ~ N(0, α⁻¹I), ε ~ N(0, β⁻¹I) has evidence

        L(α, β) = n/2 log β + d/2 log α − n/2 log 2π − β/2 ‖Fm − y‖² − α/2 ‖m‖² − 1/2 log|A|,
        A = αI + βFᵀF,  m = βA⁻¹Fᵀy,

    maximised by MacKay's fixed point γ = Σᵢ βσᵢ/(α + βσᵢ), α ← γ/‖m‖², β ← (n − γ)/‖Fm − y‖²
    (σᵢ: eigenvalues of FᵀF, from one decomposition of F, see :func:`_spectrum`). LogME = mean over
    targets of max L / n. Features are used as given (no centring, no bias), as in the paper. Higher is
    better; only differences between models on the same task are meaningful.

    **Differs from the reference package when n ≤ d.** log|A| sums log(α + βσᵢ) over all d eigenvalues
    of FᵀF, including the d − k zero ones (k = rank F ≤ min(n, d)), which contribute (d − k)·log α.
    The reference fixed-point code (thuml/LogME, ``LogME._fit_fixed_point``) sums over the k non-zero
    singular values only and so drops that term: its value is ours + (d − k)/(2n)·log α. Both share
    the maximiser (α = γ/‖m‖² is the stationary point of the full evidence), so only the reported
    number differs, and only when k < d: always for n ≤ d (few examples, wide features), and for
    rank-deficient features. Ours is the evidence as defined (it equals the Gaussian density of y
    under N(0, β⁻¹I + α⁻¹FFᵀ)) and, like it, does not change when the features are rescaled; the
    reference value moves by (d − k)/n·log c when F becomes cF (α scales by 1/c²). The reference
    also stops after at most 11 iterations and adds 1e-5 to ‖m‖² and ‖Fm − y‖², which makes
    small differences for n > d too.
    """
    return logme_details(F, y, regression=regression).score


# ---------------------------------------------------------------------------------------------- H-score
def hscore(F: Any, y: Any, *, shrinkage: float | str | None = "ledoit_wolf") -> float:
    """H-score (Bao, Li, Huang, Zheng, Liu & Tao, ICIP 2019): tr(cov(f)⁻¹ cov(E[f | y])).

    cov(f) = Σ is the feature covariance over examples; cov(E[f | y]) = Σ_c p_c (μ_c − μ)(μ_c − μ)ᵀ is
    the covariance of the class-conditional means (p_c: class frequency). Both use the same
    normalisation, so ddof cancels. Higher is better.

    ``shrinkage``:
      * ``"ledoit_wolf"`` (default): the regularised H-score of Ibrahim, Ponomareva & Mazumder (ICLR
        2022), used by TransformerRanker: (1 − a)·tr(Σ_a⁻¹ cov(E[f | y])) with
        Σ_a = (1 − a)Σ + a·(tr Σ/d)·I and a the Ledoit–Wolf shrinkage coefficient
        (``sklearn.covariance.ledoit_wolf_shrinkage``);
      * ``None`` (the paper's definition, registered as ``hscore_unshrunk``): Σ⁻¹ is the Moore–Penrose
        pseudo-inverse (eigenvalues ≤ λ_max·d·ε dropped); invariant to any invertible linear map of the
        features;
      * a float a in [0, 1]: the shrunk form with a fixed coefficient (a = 1 gives 0; a = 0 equals ``None`` when Σ has full rank).

    Why shrinkage by default: the unshrunk form has a null floor. For features independent of the
    labels, n examples and C classes, the sample class means scatter by chance and
    E[H] ≈ (C − 1)·d / n, which grows with the model's width: on isotropic Gaussian features with
    n = 2,000 and 5 balanced random classes it is 0.127 at d = 64 and 0.755 at d = 384, while the
    Ledoit–Wolf form gives 0.005 and 0.0002. A wide model would otherwise look more transferable for
    being wide. The floor is not zero on strongly anisotropic features (scales spread 100× over the
    dimensions: 0.085 and 0.40 against unshrunk 0.127 and 0.755), where Ledoit–Wolf shrinks less.
    Classification only: regression targets raise a :class:`BadInputError`.
    """
    X = _features(F)
    n, d = X.shape
    ids, c = _class_ids(y, n, "H-score")
    mu = X.mean(axis=0)
    Xc = X - mu
    cov = (Xc.T @ Xc) / n
    counts = np.bincount(ids, minlength=c).astype(float)
    means = np.zeros((c, d))
    np.add.at(means, ids, Xc)
    means /= counts[:, None]  # class means minus the overall mean
    lam, V = np.linalg.eigh(cov)
    lam = np.clip(lam, 0.0, None)
    proj2 = (means @ V) ** 2  # (c, d): squared coordinates of the class means on the eigenvectors
    weights = counts / n
    if shrinkage is None:
        keep = lam > lam.max() * d * np.finfo(float).eps
        return float((weights @ proj2[:, keep] / lam[keep]).sum())
    a = _shrinkage_coefficient(Xc, shrinkage)
    shrunk = (1.0 - a) * lam + a * lam.sum() / d
    if not (shrunk > 0).all():
        raise BadInputError(
            f"H-score with shrinkage {shrinkage!r} has a singular covariance (constant features); "
            "use a shrinkage coefficient above 0 or check the features."
        )
    return float((1.0 - a) * (weights @ proj2 / shrunk).sum())


def _shrinkage_coefficient(Xc: np.ndarray, shrinkage: float | str) -> float:
    if isinstance(shrinkage, str):
        if shrinkage != "ledoit_wolf":
            raise UnknownNameError("H-score shrinkage", shrinkage, ["ledoit_wolf"], hint="or pass a float in [0, 1].")
        from sklearn.covariance import ledoit_wolf_shrinkage

        return float(ledoit_wolf_shrinkage(Xc, assume_centered=True))
    a = float(shrinkage)
    if not 0.0 <= a <= 1.0:
        raise BadInputError(f"H-score shrinkage {shrinkage!r} must lie in [0, 1] or be 'ledoit_wolf'.")
    return a


# --------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class TransferabilityMethod:
    """A registered transferability score: ``fn(F, y, regression=...) -> float``, higher is better."""

    name: str
    fn: Callable[..., float]
    regression: bool
    reference: str
    summary: str


def _hscore_entry(F: Any, y: Any, *, regression: bool = False, shrinkage: str | None = "ledoit_wolf") -> float:
    if regression:
        raise BadInputError(
            "H-score needs class labels (it measures between-class variance) and is undefined for a "
            "regression task; use logme for regression."
        )
    return hscore(F, y, shrinkage=shrinkage)


def _hscore_unshrunk_entry(F: Any, y: Any, *, regression: bool = False) -> float:
    return _hscore_entry(F, y, regression=regression, shrinkage=None)


TRANSFERABILITY: Registry[TransferabilityMethod] = Registry.of("transferability method", {
    "logme": TransferabilityMethod(
        "logme", logme, regression=True,
        reference="You, Liu, Wang & Long, LogME: Practical Assessment of Pre-trained Models for Transfer "
        "Learning, ICML 2021",
        summary="maximum log marginal evidence per example of a Bayesian linear model, features -> labels",
    ),
    "hscore": TransferabilityMethod(
        "hscore", _hscore_entry, regression=False,
        reference="Bao et al., An Information-Theoretic Approach to Transferability in Task Transfer "
        "Learning, ICIP 2019; shrinkage: Ibrahim, Ponomareva & Mazumder, ICLR 2022",
        summary="tr(cov_LW(f)^-1 cov(E[f|y])): between-class variance relative to the Ledoit-Wolf shrunk "
        "feature covariance (no null floor growing with width)",
    ),
    "hscore_unshrunk": TransferabilityMethod(
        "hscore_unshrunk", _hscore_unshrunk_entry, regression=False,
        reference="Bao et al., An Information-Theoretic Approach to Transferability in Task Transfer "
        "Learning, ICIP 2019",
        summary="tr(cov(f)^-1 cov(E[f|y])) with the pseudo-inverse, as published; null floor ~(C-1)d/n",
    ),
})
"""Transferability methods by name."""


def transferability(name: str, F: Any, y: Any, *, regression: bool = False) -> float:
    """Score features ``F`` (n × d) against labels ``y`` with the registered method ``name``.

    Raises:
        UnknownNameError: ``name`` is not in :data:`TRANSFERABILITY` (close names suggested).
        BadInputError: malformed features or labels, or a classification-only method on regression.
    """
    return float(TRANSFERABILITY[name].fn(F, y, regression=regression))
