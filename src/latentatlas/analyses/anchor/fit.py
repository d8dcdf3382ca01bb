"""Anchor-vector measures (Wu, Lee & Ge, NeurIPS 2023): pure functions, arrays in, numbers out.

A log-linear language model predicts p(w|x) = exp(l_w) / Z(x) with logits l = W f(x) + b. Wu, Lee & Ge
assume an *anchor vector* v0 with

    log Z_bulk(x) = log Σ_{w ∈ bulk(x)} exp(l_w(x)) ≈ ⟨v0, f(x)⟩        (bulk = all but the top-k words)

so that log p(w|x) − log p(bulk|x) ≈ ⟨v_w − v0, f(x)⟩ for the likely words. The functions here compute
the bulk log partition function for a sweep of k, fit v0 by ridge regression (with or without an
intercept c) on training contexts, and score it on held-out contexts against the constant-partition-
function baseline of Arora et al. (predict the training mean of log Z_bulk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ...errors import BadInputError
from ...settings import AnchorSettings

#: Ridge strength relative to tr(FᵀF)/d (see ../shared/reference/topology_anchor.md §2.3 step 4).
DEFAULT_RIDGE = AnchorSettings.model_fields["ridge"].default


def bulk_log_partition(logits: torch.Tensor | np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """log Σ_{w ∉ top-k(x)} exp(l_w(x)) for every context (row) and every k; shape (n, len(ks)).

    k = 0 gives the full log Z(x). The top-max(k) words of each row are found once (``torch.topk``); for
    each k their logits are set to −∞ and the rest summed with log-sum-exp (float64), which stays exact
    even when the top words hold almost all the mass (no subtraction of partition functions).
    """
    t = torch.as_tensor(logits, dtype=torch.float64)
    if t.ndim != 2:
        raise BadInputError(f"logits must be a 2-D (contexts × vocabulary) array, got shape {tuple(t.shape)}.")
    vocab = t.shape[1]
    bad = [k for k in ks if not 0 <= int(k) < vocab]
    if bad:
        raise BadInputError(
            f"bulk sizes k={bad} leave no word in the bulk of a {vocab}-word vocabulary; use 0 <= k < {vocab}."
        )
    top = torch.topk(t, max(int(k) for k in ks), dim=1).indices if max(ks) > 0 else None
    out = np.empty((t.shape[0], len(ks)))
    for j, k in enumerate(ks):
        masked = t if k == 0 else t.scatter(1, top[:, : int(k)], float("-inf"))
        out[:, j] = torch.logsumexp(masked, dim=1).numpy()
    return out


def head_log_partition(
    features: np.ndarray, weight: np.ndarray, bias: np.ndarray, ks: Sequence[int], *, chunk: int = 256
) -> np.ndarray:
    """:func:`bulk_log_partition` of the logits W f + b of every context (row of ``features``), in float64
    chunks of ``chunk`` contexts (memory: chunk × vocabulary)."""
    F = torch.as_tensor(features, dtype=torch.float64)
    W = torch.as_tensor(weight, dtype=torch.float64)
    b = torch.as_tensor(bias, dtype=torch.float64)
    return np.concatenate([bulk_log_partition(F[i : i + chunk] @ W.T + b, ks) for i in range(0, F.shape[0], chunk)])


@dataclass(frozen=True)
class AnchorFit:
    """A fitted anchor: y ≈ F v0 + c (c = 0 without intercept)."""

    v0: np.ndarray
    intercept: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float64) @ self.v0 + self.intercept


def fit_anchor(
    features: np.ndarray, y: np.ndarray, *, intercept: bool, ridge: float = DEFAULT_RIDGE
) -> AnchorFit:
    """Ridge regression v0 = argmin Σ_i (y_i − ⟨v0, f_i⟩ − c)² + λ‖v0‖², λ = ridge · tr(FᵀF)/d.

    With ``intercept`` the features and targets are centred first (c is not penalised); without it
    c = 0 and the fit is through the origin, as in the anchor assumption log Z_bulk ≈ ⟨v0, f⟩.
    """
    F = np.asarray(features, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if F.ndim != 2 or y.shape != (F.shape[0],):
        raise BadInputError(f"features must be (n, d) and y (n,), got {F.shape} and {y.shape}.")
    if F.shape[0] < 2:
        raise BadInputError(f"fitting an anchor needs at least 2 training contexts, got {F.shape[0]}; use more.")
    if ridge < 0:
        raise BadInputError(f"ridge={ridge} must be >= 0.")
    f_mean = F.mean(axis=0) if intercept else np.zeros(F.shape[1])
    y_mean = float(y.mean()) if intercept else 0.0
    Fc, yc = F - f_mean, y - y_mean
    gram = Fc.T @ Fc
    lam = ridge * float(np.trace(gram)) / F.shape[1]
    v0 = np.linalg.lstsq(gram + lam * np.eye(F.shape[1]), Fc.T @ yc, rcond=None)[0]
    return AnchorFit(v0=v0, intercept=y_mean - float(f_mean @ v0))


def heldout_scores(fit: AnchorFit, features: np.ndarray, y: np.ndarray, train_mean: float) -> dict[str, float]:
    """Held-out MSE of the anchor, MSE of the constant baseline (training mean), and R² = 1 − ratio.

    R² > 0 means ⟨v0, f⟩ (+ c) explains the variation of log Z_bulk over contexts better than a constant
    partition function; R² ≈ 0 means no anchor beyond the constant.
    """
    y = np.asarray(y, dtype=np.float64)
    mse = float(np.mean((fit.predict(features) - y) ** 2))
    mse_const = float(np.mean((y - train_mean) ** 2))
    r2 = 1.0 - mse / mse_const if mse_const > 0 else float("nan")
    return {"mse": mse, "mse_const": mse_const, "r2": r2}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b) = ⟨a, b⟩ / (‖a‖ ‖b‖); NaN if either vector is zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / den) if den > 0 else float("nan")


def split_contexts(n: int, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of n contexts into sorted train and held-out index arrays."""
    if not 0.0 < test_fraction < 1.0:
        raise BadInputError(f"test_fraction={test_fraction} must lie strictly between 0 and 1.")
    n_test = int(round(n * test_fraction))
    if n_test < 2 or n - n_test < 2:
        raise BadInputError(
            f"{n} contexts are too few to split into training and held-out sets (fraction {test_fraction}); "
            "use more sentences (--n-sentences)."
        )
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def split_groups(groups: np.ndarray, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of contexts by group (sentence): sorted train and held-out index arrays.

    The distinct group ids are split with :func:`split_contexts` (``test_fraction`` of the groups go to
    held-out), and every context follows its group, so no group has contexts on both sides. With one
    context per group this is exactly ``split_contexts(n)``.
    """
    g = np.asarray(groups)
    if g.ndim != 1:
        raise BadInputError(f"groups must be a 1-D array of group ids, got shape {g.shape}.")
    ids, inverse = np.unique(g, return_inverse=True)
    try:
        _, test_ids = split_contexts(ids.size, test_fraction=test_fraction, seed=seed)
    except BadInputError:
        raise BadInputError(
            f"{ids.size} sentences are too few to split into training and held-out sentences (fraction "
            f"{test_fraction}); use more sentences (--n-sentences)."
        ) from None
    held = np.isin(inverse, test_ids)
    return np.flatnonzero(~held), np.flatnonzero(held)


def anchor_table(
    features: np.ndarray,
    y: np.ndarray,
    ks: Sequence[int],
    *,
    test_fraction: float = 0.3,
    seed: int = 0,
    ridge: float = DEFAULT_RIDGE,
    out_embeddings: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> list[dict[str, float]]:
    """Fit and score the anchor for every k (columns of ``y``) with and without intercept.

    Rows hold k, intercept, n_train, n_test, mse, mse_const, r2, cos(v0, mean f) (mean over training
    contexts), ‖v0‖, and ‖v0‖ relative to the median output-embedding norm when ``out_embeddings`` (W)
    is given. With ``groups`` (the sentence of every context) the split is by group
    (:func:`split_groups`), otherwise by context (:func:`split_contexts`).
    """
    F = np.asarray(features, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(F.shape[0], len(ks))
    if groups is None:
        train, test = split_contexts(F.shape[0], test_fraction=test_fraction, seed=seed)
    else:
        if len(groups) != F.shape[0]:
            raise BadInputError(f"groups has {len(groups)} entries for {F.shape[0]} contexts; give one per context.")
        train, test = split_groups(groups, test_fraction=test_fraction, seed=seed)
    mean_f = F[train].mean(axis=0)
    w_norm = float(np.median(np.linalg.norm(out_embeddings, axis=1))) if out_embeddings is not None else np.nan
    rows = []
    for j, k in enumerate(ks):
        for with_c in (True, False):
            fit = fit_anchor(F[train], Y[train, j], intercept=with_c, ridge=ridge)
            scores = heldout_scores(fit, F[test], Y[test, j], float(Y[train, j].mean()))
            v_norm = float(np.linalg.norm(fit.v0))
            rows.append({
                "k": int(k),
                "intercept": with_c,
                "n_train": int(train.size),
                "n_test": int(test.size),
                **scores,
                "cos_v0_mean_f": cosine(fit.v0, mean_f),
                "v0_norm": v_norm,
                "v0_norm_rel": v_norm / w_norm if w_norm > 0 else float("nan"),
                "y_mean": float(Y[:, j].mean()),
                "y_std": float(Y[:, j].std()),
            })
    return rows
