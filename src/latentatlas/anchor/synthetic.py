"""Synthetic log-linear models for validating the anchor fit: one with a planted anchor, one without.

*Anchored*: contexts f = f_fixed + g with g drawn in a subspace S (dim s < d) and output embeddings
v_w = v0 + a_w, where v0 ∈ S and a_w = a_w^⊥ + η·a_w^S has only a small (η) component in S. Then
⟨v_w, f⟩ = ⟨v0, g⟩ + ⟨v0, f_fixed⟩ + ⟨a_w, f⟩, and for η = 0 every logit is shifted by the same
⟨v0, g⟩, so log Z_bulk(f) = ⟨v0, g⟩ + const for every k (the word order does not change): the anchor
exists by construction and the fit with intercept recovers v0.

*No anchor*: output embeddings come in ± pairs (v_w, −v_w) and contexts are centred Gaussians, so
log Z(f) = Σ log 2cosh-like terms is an even function of f and its best linear predictor is constant:
held-out R² ≈ 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticLM:
    """Contexts F (n × d), decoder W (V × d), bias b (V,), and the planted anchor (None if there is none)."""

    features: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    v0: np.ndarray | None

    def logits(self) -> np.ndarray:
        return self.features @ self.weight.T + self.bias


def anchored_lm(
    n: int = 2000, d: int = 24, vocab: int = 500, *, subspace: int = 8, leak: float = 0.0, seed: int = 0
) -> SyntheticLM:
    """A log-linear model whose bulk log partition is ⟨v0, f⟩ + const (exactly for ``leak`` = 0)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    S, P = basis[:, :subspace], basis[:, subspace:]
    v0 = S @ rng.standard_normal(subspace)
    f_fixed = P @ rng.standard_normal(d - subspace)
    g = rng.standard_normal((n, subspace)) @ S.T
    a = rng.standard_normal((vocab, d - subspace)) @ P.T + leak * rng.standard_normal((vocab, subspace)) @ S.T
    return SyntheticLM(features=f_fixed + g, weight=v0 + a, bias=np.zeros(vocab), v0=v0)


def anchorless_lm(n: int = 2000, d: int = 24, vocab: int = 500, *, scale: float = 1.0, seed: int = 0) -> SyntheticLM:
    """A log-linear model with ± paired output embeddings and centred contexts: no linear anchor."""
    rng = np.random.default_rng(seed)
    half = scale * rng.standard_normal((vocab // 2, d)) / np.sqrt(d)
    return SyntheticLM(
        features=rng.standard_normal((n, d)), weight=np.vstack([half, -half]), bias=np.zeros(2 * (vocab // 2)), v0=None
    )
