"""Alignment of two models' concepts over the identical occurrences (e.g. pre-trained vs. fine-tuned).

Everything derives from the sparse contingency table N (N_ab = occurrences in concept a of model A and
concept b of model B):

* θ-overlap at occurrence level (Durrani et al. 2022's alignment function, asymmetric): concept a is
  aligned when max_b N_ab / |a| > θ; reported as the share of A's concepts aligned (A→B) and of B's
  concepts (B→A).
* θ-overlap at word-type level (``qcri/multilingual-latent-concepts`` ``code/alignClusters.py``, Mousi
  et al. 2024, identity dictionary): concepts as sets of word types T(a); a is aligned when some b has

      |T(a) ∩ T(b)| / |T(a)| > θ,   |T(a)| > ``min_types``   and   |T(a)| / |T(b)| > ``size_ratio``.

  Without the last two constraints the measure is trivial: a concept of one word type shares 100 % of
  its types with whichever concept of B holds that type, at every θ (lexical concepts of A against a
  *random* partition of B read 1.00, and so does chance). The reference script takes both constraints
  as arguments and ships no values (its ``get_alignment.sh`` leaves them empty); the defaults here are
  ``min_types = 5`` (the reference's strict ``>``: at least 6 types; the same group's concept-label
  alignment, ``qcri/Latent_Concept_Analysis`` ``alignment.py``, requires "more than 5" types) and
  ``size_ratio = 0.6`` (Mousi et al. 2024 align two concepts only when "their sizes do not differ by
  more than 40 %": wording as quoted in a downstream copy of the script, not checked against the PDF;
  read in the reference's one-sided form, the other direction being implied by the overlap, since
  |T(b)| ≥ |T(a) ∩ T(b)| > θ|T(a)|). Measured on MiniLM vs its ``bbc_topic`` fine-tuned copy (300
  validation sentences, 1,484 occurrences, layers 0/3/6, θ = 0.9): ``size_ratio`` 0.4 instead of 0.6
  moves the type-level excess by ≤ 0.06 at K = 16 and 32 and by one concept in four at K = 4; dropping
  ``min_types`` moves it by up to 0.7 (the trivial one-type alignments come back). The share is over
  *all* of A's concepts (the reference counts source concepts with a non-empty set of aligned
  targets); ``type_eligible_a`` / ``type_eligible_b`` give the share of concepts with more than
  ``min_types`` types, the ceiling.
* symmetric scores: adjusted Rand index (Hubert & Arabie 1985), adjusted mutual information
  (Vinh, Epps & Bailey 2010, JMLR 11:2837; AMI = (MI − E[MI]) / (mean(H_A, H_B) − E[MI]), arithmetic
  mean, scikit-learn's ``adjusted_mutual_info_score``) and the pair-counting Jaccard index
  J = S / (S_A + S_B − S) with S = Σ C(N_ab, 2), S_A = Σ C(|a|, 2), S_B = Σ C(|b|, 2). Normalised
  MI is not reported: with hundreds of small concepts two unrelated partitions reach NMI ≈ 0.6, while
  AMI (like ARI) is 0 in expectation for them.

Chance baselines permute B's assignment over the occurrences (seeded), which keeps both models' concept
sizes, and average each score over the permutations. Every measure is reported as ``value``, ``chance``
and ``excess = value − chance`` (what the figures plot): a share of aligned concepts means little
without the share two unrelated partitions of the same sizes reach.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ...errors import BadInputError
from .label import exceeds

DEFAULT_THETAS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
#: type-level alignment: a source concept needs more than this many word types (reference: ``> types``)
DEFAULT_MIN_TYPES = 5
#: type-level alignment: |T(a)| / |T(b)| must exceed this (sizes differ by less than 40 %)
DEFAULT_SIZE_RATIO = 0.6


def contingency(a: np.ndarray, b: np.ndarray) -> sparse.csr_matrix:
    """Sparse (K_A, K_B) counts of occurrences per (concept of A, concept of B)."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    ai, bi = ai.ravel(), bi.ravel()
    return sparse.coo_matrix(
        (np.ones(ai.size, dtype=np.int64), (ai, bi)), shape=(ai.max() + 1, bi.max() + 1)
    ).tocsr()


def _pairs(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float((x * (x - 1) / 2).sum())


def pair_scores(N: sparse.csr_matrix) -> dict[str, float]:
    """ARI, AMI and pair-counting Jaccard from a contingency table."""
    from sklearn.metrics import adjusted_mutual_info_score

    n = float(N.sum())
    ra, cb = np.asarray(N.sum(1)).ravel(), np.asarray(N.sum(0)).ravel()
    S, SA, SB = _pairs(N.data), _pairs(ra), _pairs(cb)
    total = n * (n - 1) / 2
    expected = SA * SB / total if total else 0.0
    mx = (SA + SB) / 2
    ari = 1.0 if mx == expected else (S - expected) / (mx - expected)
    jac = S / (SA + SB - S) if SA + SB - S > 0 else 1.0
    coo = N.tocoo()  # the AMI depends on the table only: rebuild one labelling that realises it
    counts = coo.data.astype(np.int64)
    ami = adjusted_mutual_info_score(np.repeat(coo.row, counts), np.repeat(coo.col, counts))
    return {"ari": float(ari), "ami": float(ami), "jaccard": float(jac)}


def _overlap_shares(N: sparse.csr_matrix, thetas: Sequence[float]) -> dict[float, float]:
    size = np.asarray(N.sum(1)).ravel()
    best = N.max(axis=1).toarray().ravel()
    frac = best / np.maximum(size, 1)
    return {t: float(exceeds(frac, t).mean()) for t in thetas}


def _type_incidence(labels: np.ndarray, types: np.ndarray) -> sparse.csr_matrix:
    _, li = np.unique(labels, return_inverse=True)
    M = sparse.coo_matrix((np.ones(labels.size), (li.ravel(), types)), shape=(li.max() + 1, types.max() + 1)).tocsr()
    M.data[:] = 1.0  # a set of types: duplicates collapse
    return M


def type_overlap_shares(
    source: sparse.csr_matrix,
    target: sparse.csr_matrix,
    thetas: Sequence[float],
    *,
    min_types: int = DEFAULT_MIN_TYPES,
    size_ratio: float = DEFAULT_SIZE_RATIO,
) -> dict[float, float]:
    """Share of source concepts aligned at each θ, from type incidence matrices (concept × type, 0/1).

    Source concept a is aligned when some target concept b has |T(a) ∩ T(b)| / |T(a)| > θ,
    |T(a)| > ``min_types`` and |T(a)| / |T(b)| > ``size_ratio`` (see the module docstring).
    """
    n_src = np.asarray(source.sum(1)).ravel()
    n_tgt = np.asarray(target.sum(1)).ravel()
    shared = (source @ target.T).tocoo()
    rows, cols = shared.row, shared.col
    frac = shared.data / np.maximum(n_src[rows], 1)
    allowed = (n_src[rows] > min_types) & (n_src[rows] / np.maximum(n_tgt[cols], 1) > size_ratio)
    k = max(source.shape[0], 1)
    return {t: float(np.unique(rows[allowed & exceeds(frac, t)]).size / k) for t in thetas}


def align_concepts(
    a: np.ndarray,
    b: np.ndarray,
    words: Sequence[str] | np.ndarray,
    *,
    thetas: Sequence[float] = DEFAULT_THETAS,
    min_types: int = DEFAULT_MIN_TYPES,
    size_ratio: float = DEFAULT_SIZE_RATIO,
    n_perm: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """All alignment scores of two clusterings of the same occurrences, with chance baselines.

    Args:
        a, b: concept of every occurrence under model A and model B (same occurrences, same order).
        words: word type of every occurrence.
        thetas: θ values for the overlap shares.
        min_types, size_ratio: the type-level constraints (module docstring).
        n_perm: permutations of B for the chance column (0: no baseline).
        seed: seed of the permutations.

    Returns:
        DataFrame[measure, theta, value, chance, excess]; measures ``occ_a_to_b``, ``occ_b_to_a``,
        ``type_a_to_b``, ``type_b_to_a`` (one row per θ) and ``type_eligible_a``, ``type_eligible_b``,
        ``ari``, ``ami``, ``jaccard`` (θ = NaN). ``excess = value − chance`` (NaN without permutations).
    """
    if min_types < 0 or size_ratio < 0:
        raise BadInputError(f"min_types={min_types} and size_ratio={size_ratio} must be ≥ 0; 5 and 0.6 are the defaults.")
    a, b = np.asarray(a), np.asarray(b)
    words = np.asarray(words, dtype=object)
    if not (a.shape == b.shape == words.shape) or a.ndim != 1 or a.size < 2:
        raise BadInputError(
            f"the two clusterings and the words must label the same ≥ 2 occurrences (got {a.shape}, {b.shape}, "
            f"{words.shape}); cluster both models on shared_occurrences(...)."
        )
    _, types = np.unique(words.astype(str), return_inverse=True)
    types = types.ravel()

    def scores(bb: np.ndarray) -> dict[tuple[str, float], float]:
        N = contingency(a, bb)
        out: dict[tuple[str, float], float] = {}
        for t, v in _overlap_shares(N, thetas).items():
            out[("occ_a_to_b", t)] = v
        for t, v in _overlap_shares(N.T.tocsr(), thetas).items():
            out[("occ_b_to_a", t)] = v
        TA, TB = _type_incidence(a, types), _type_incidence(bb, types)
        for name, src, tgt in (("type_a_to_b", TA, TB), ("type_b_to_a", TB, TA)):
            shares = type_overlap_shares(src, tgt, thetas, min_types=min_types, size_ratio=size_ratio)
            for t, v in shares.items():
                out[(name, t)] = v
        out[("type_eligible_a", -1.0)] = float((np.asarray(TA.sum(1)).ravel() > min_types).mean())
        out[("type_eligible_b", -1.0)] = float((np.asarray(TB.sum(1)).ravel() > min_types).mean())
        for k, v in pair_scores(N).items():
            out[(k, -1.0)] = v  # no θ (NaN in the output; NaN keys never compare equal)
        return out

    observed = scores(b)
    chance: dict[tuple[str, float], list[float]] = {k: [] for k in observed}
    rng = np.random.default_rng(seed)
    for _ in range(n_perm):
        for k, v in scores(rng.permutation(b)).items():
            chance[k].append(v)
    df = pd.DataFrame([
        {"measure": m, "theta": np.nan if t < 0 else t, "value": v, "chance": float(np.mean(chance[(m, t)])) if n_perm else np.nan}
        for (m, t), v in observed.items()
    ])
    df["excess"] = df["value"] - df["chance"]
    return df


def alignment_curves(
    labels_a: Mapping[int, np.ndarray],
    labels_b: Mapping[int, np.ndarray],
    words: Sequence[str] | np.ndarray,
    **kw: object,
) -> pd.DataFrame:
    """:func:`align_concepts` for every layer present in both models; a ``layer`` column is added."""
    layers = sorted(set(labels_a) & set(labels_b))
    if not layers:
        raise BadInputError("the two models share no clustered layer; cluster the same layers of both.")
    frames = [align_concepts(labels_a[l], labels_b[l], words, **kw).assign(layer=l) for l in layers]  # type: ignore[arg-type]
    return pd.concat(frames, ignore_index=True)[["layer", "measure", "theta", "value", "chance", "excess"]]
