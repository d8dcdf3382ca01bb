"""Matched nulls for the anchor fit: the same contexts f(x) under heads that carry no anchor by design.

A high held-out R² alone does not show an anchor. When predictions are spread out (high entropy) the
log partition function is nearly linear in f by smoothness alone: with logits l_w = ⟨v_w, f⟩ + b_w,

    log Z(f) ≈ log Σ_w e^{b_w} + ⟨v̄, f⟩ + ½ fᵀ Cov(v) f + …      (v̄, Cov: softmax(b)-weighted)

so a fit log Z ≈ ⟨v0, f⟩ + c explains most of the variance whenever f varies little against the
spread of the output embeddings, anchor or not: the random Gaussian head :func:`.synthetic.random_lm`
(nothing planted; vocabulary 1000, mean prediction entropy 6.90 nats) gives held-out R² 0.79 / 0.89 /
0.69 at k = 0 / 10 / 100, and its rotation null 0.81 / 0.91 / 0.73. The nulls replace the output matrix
W (V × d) and keep f(x):

* ``rotation``: W Q with Q a seeded Haar-random orthogonal d × d matrix (QR of a Gaussian matrix with
  the signs of R's diagonal moved into Q, Mezzadri 2007). Every row norm and inner product between
  words is kept (W Q Qᵀ Wᵀ = W Wᵀ), the bias too, but the orientation of the vocabulary relative to
  the directions in which f(x) varies is random. R_rot² is the R² that the head's geometry and the
  spread of f give with no alignment between them; an anchor in the sense of Wu, Lee & Ge (f varies
  in directions along which the bulk words' logits move together) must beat it. The rotation also
  moves the mean context, so its prediction entropy can differ from the real head's (it is reported
  beside it: on the 150-step zoo MLM 10.29 nats against 7.28, where f barely varies around its mean,
  ‖mean f‖² = 147 against a total variance of 0.07). A rotation that fixes the mean context (Haar in
  its orthogonal complement) matched the entropy (7.275 nats) and gave the same R² (1.000) there.
* ``resample``: the rows of W drawn with replacement (seeded), each with its own bias. log Z is a
  symmetric function of the rows, so this is a bootstrap of the vocabulary: it keeps every property
  of the row *distribution*, including an anchor carried by a component shared by all rows, and
  changes only the vocabulary's composition (duplicated and missing words, a noisier mean row). It is
  reported next to the real R² as a sensitivity check (how much R² depends on the particular word
  set), not used in the verdict: on the planted-anchor model its R² equals the real one (1.000).

Each null is drawn for ``n_seeds`` seeds and scored with the same split, ridge and k as the real head.
The verdict per k (with intercept): the anchor is *supported* when

    real R² ≥ min_r2   and   real R² − max over seeds of R²_rotation ≥ margin

(defaults 0.5 and 0.1): the anchor must explain most of the variation and beat every random rotation
by a clear margin, so the spread of the null over seeds enters through its maximum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ...errors import BadInputError
from ...registry import Registry
from ...settings import AnchorSettings
from .fit import DEFAULT_RIDGE, anchor_table, bulk_log_partition

#: Seeds per null head (their spread is reported and their maximum enters the verdict).
DEFAULT_NULL_SEEDS = AnchorSettings.model_fields["null_seeds"].default
#: How much the real held-out R² must exceed the largest rotation-null R².
DEFAULT_MARGIN = AnchorSettings.model_fields["null_margin"].default
#: The smallest real held-out R² that counts as an anchor at all.
DEFAULT_MIN_R2 = AnchorSettings.model_fields["min_r2"].default
#: Nulls that decide the verdict (see the module docstring for why ``resample`` does not).
VERDICT_NULLS: tuple[str, ...] = ("rotation",)

Head = tuple[np.ndarray, np.ndarray]


def haar_orthogonal(d: int, seed: int) -> np.ndarray:
    """A Haar-distributed random orthogonal d × d matrix: Q of the QR decomposition of a seeded standard
    Gaussian matrix, with column j multiplied by sign(R_jj) so the distribution is uniform."""
    if d < 1:
        raise BadInputError(f"a rotation needs dimension d >= 1, got {d}.")
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    signs = np.sign(np.diag(r))
    return q * np.where(signs == 0, 1.0, signs)


def rotated_head(weight: np.ndarray, bias: np.ndarray, seed: int) -> Head:
    """(W Q, b) with Q = :func:`haar_orthogonal` (d, seed): the vocabulary's Gram matrix W Wᵀ and the bias
    are unchanged."""
    W = np.asarray(weight, dtype=np.float64)
    return W @ haar_orthogonal(W.shape[1], seed), np.asarray(bias, dtype=np.float64).copy()


def resampled_head(weight: np.ndarray, bias: np.ndarray, seed: int) -> Head:
    """(W[i], b[i]) for V row indices i drawn uniformly with replacement (``default_rng(seed)``): each
    resampled word keeps its own bias."""
    W = np.asarray(weight, dtype=np.float64)
    idx = np.random.default_rng(seed).integers(0, W.shape[0], W.shape[0])
    return W[idx], np.asarray(bias, dtype=np.float64)[idx]


NULL_HEADS: Registry[Callable[[np.ndarray, np.ndarray, int], Head]] = Registry.of("null head", {
    "rotation": rotated_head,
    "resample": resampled_head,
})


def prediction_entropy(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """H(x) = −Σ_w p(w|x) log p(w|x) in nats for every row of logits (float64 log-softmax, so very peaked
    rows stay exact; words of probability 0 add 0)."""
    logp = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1)
    terms = torch.where(torch.isfinite(logp), logp.exp() * logp, torch.zeros_like(logp))
    return (-terms.sum(dim=1)).numpy()


def head_targets(
    features: np.ndarray, weight: np.ndarray, bias: np.ndarray, ks: Sequence[int], *, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """(Y, H): bulk log partition functions (n × len(ks)) and prediction entropies (n,) of the logits
    W f + b of every context, in float64 chunks of ``chunk`` contexts (memory: chunk × vocabulary)."""
    F = torch.as_tensor(features, dtype=torch.float64)
    W = torch.as_tensor(weight, dtype=torch.float64)
    b = torch.as_tensor(bias, dtype=torch.float64)
    ys, hs = [], []
    for i in range(0, F.shape[0], chunk):
        logits = F[i : i + chunk] @ W.T + b
        ys.append(bulk_log_partition(logits, ks))
        hs.append(prediction_entropy(logits))
    return np.concatenate(ys), np.concatenate(hs)


def null_scores(
    features: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    ks: Sequence[int],
    *,
    n_seeds: int = DEFAULT_NULL_SEEDS,
    nulls: Sequence[str] = tuple(NULL_HEADS),
    groups: np.ndarray | None = None,
    test_fraction: float = 0.3,
    seed: int = 0,
    ridge: float = DEFAULT_RIDGE,
) -> pd.DataFrame:
    """Held-out R² of the anchor fit under every null head, one row per (null, null_seed, k, intercept).

    The contexts, split (``groups``, ``test_fraction``, ``seed``), ridge and k are those of the real
    fit; null seed j draws head j of each kind (seeds ``seed·1000 + j``, so they differ from the split
    seed). Columns: null, null_seed, k, intercept, r2, mean_entropy_nats (of the null head).
    """
    if n_seeds < 1:
        raise BadInputError(f"null_seeds={n_seeds} must be at least 1 (3 or more to see the null's spread).")
    heads = {name: NULL_HEADS[name] for name in nulls}  # every name checked before any work
    records: list[dict[str, Any]] = []
    for name in nulls:
        for j in range(n_seeds):
            W, b = heads[name](weight, bias, seed * 1000 + j)
            Y, H = head_targets(features, W, b, ks)
            for row in anchor_table(features, Y, ks, test_fraction=test_fraction, seed=seed, ridge=ridge, groups=groups):
                records.append({"null": name, "null_seed": seed * 1000 + j, "k": row["k"],
                                "intercept": row["intercept"], "r2": row["r2"], "mean_entropy_nats": float(H.mean())})
    return pd.DataFrame.from_records(records)


def with_nulls(
    real: pd.DataFrame, nulls: pd.DataFrame, mean_entropy: float, *, margin: float = DEFAULT_MARGIN,
    min_r2: float = DEFAULT_MIN_R2,
) -> pd.DataFrame:
    """The real rows (one per k and intercept, R² in ``r2``) with the null columns beside them.

    Adds real_r2; null_<name>_r2 (mean over seeds), null_<name>_r2_sd (sample sd), null_<name>_r2_max,
    null_<name>_entropy_nats for every null; mean_entropy_nats (real head); r2_gap = real_r2 − the
    largest R² of the verdict nulls (:data:`VERDICT_NULLS`); beats_null = real_r2 ≥ min_r2 and
    r2_gap ≥ margin.
    """
    out = real.rename(columns={"r2": "real_r2"}).copy()
    out["mean_entropy_nats"] = float(mean_entropy)
    key = ["k", "intercept"]
    for name, sub in nulls.groupby("null", sort=False):
        g = sub.groupby(key)
        stats = pd.DataFrame({
            f"null_{name}_r2": g["r2"].mean(),
            f"null_{name}_r2_sd": g["r2"].std(ddof=1),
            f"null_{name}_r2_max": g["r2"].max(),
            f"null_{name}_entropy_nats": g["mean_entropy_nats"].mean(),
        }).reset_index()
        out = out.merge(stats, on=key, how="left")
    verdict_cols = [f"null_{n}_r2_max" for n in VERDICT_NULLS if f"null_{n}_r2_max" in out]
    if not verdict_cols:
        raise BadInputError(f"the verdict needs the {list(VERDICT_NULLS)} null; it was not computed.")
    out["r2_gap"] = out["real_r2"] - out[verdict_cols].max(axis=1)
    out["beats_null"] = (out["real_r2"] >= min_r2) & (out["r2_gap"] >= margin)
    return out


def anchor_verdict(
    table: pd.DataFrame, *, margin: float = DEFAULT_MARGIN, min_r2: float = DEFAULT_MIN_R2
) -> dict[str, Any]:
    """The verdict of one model from its rows with intercept (output of :func:`with_nulls`).

    ``anchor supported`` when every k beats the null, ``anchor supported at k = … only`` when some do,
    ``no anchor beyond the null`` when none does; the text gives the real and null R² per k.
    """
    rows = table[table["intercept"].astype(bool)].sort_values("k")
    if rows.empty:
        raise BadInputError("the verdict needs the fits with intercept; none was given.")
    passed = [int(k) for k, ok in zip(rows["k"], rows["beats_null"], strict=True) if ok]
    if len(passed) == len(rows):
        verdict = "anchor supported"
    elif passed:
        verdict = f"anchor supported at k = {', '.join(map(str, passed))} only"
    else:
        verdict = "no anchor beyond the null"
    parts = [
        f"k={int(r.k)}: R² {r.real_r2:.3f} vs rotation null {r.null_rotation_r2:.3f} ± {_sd(r.null_rotation_r2_sd)} "
        f"(max {r.null_rotation_r2_max:.3f})"
        for r in rows.itertuples()
    ]
    entropy = float(rows["mean_entropy_nats"].iloc[0])
    null_entropy = float(rows["null_rotation_entropy_nats"].mean())
    return {
        "verdict": verdict,
        "supported": len(passed) == len(rows),
        "supported_ks": passed,
        "mean_entropy_nats": entropy,
        "null_rotation_entropy_nats": null_entropy,
        "text": f"{verdict} (mean prediction entropy {entropy:.2f} nats, rotation null {null_entropy:.2f}; "
        + "; ".join(parts) + ")",
        "rule": verdict_rule(margin, min_r2),
    }


def verdict_rule(margin: float = DEFAULT_MARGIN, min_r2: float = DEFAULT_MIN_R2) -> str:
    """The verdict rule in words (for the report and the JSON)."""
    return (
        f"per k, with intercept: supported when held-out R² ≥ {min_r2:g} and R² − (largest R² over the "
        f"random-rotation null seeds) ≥ {margin:g}; the model's anchor is supported when every k is"
    )


def _sd(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3f}"


__all__ = [
    "DEFAULT_MARGIN", "DEFAULT_MIN_R2", "DEFAULT_NULL_SEEDS", "NULL_HEADS", "VERDICT_NULLS", "anchor_verdict",
    "haar_orthogonal", "head_targets", "null_scores", "prediction_entropy", "resampled_head", "rotated_head",
    "verdict_rule", "with_nulls",
]
