"""Polar concepts: concepts whose occurrences come from one output class well beyond its prior.

Durrani et al. (2022, EMNLP, arXiv:2210.12696, RQ3) call a concept *polar* towards class c when at
least θ of its occurrences come from class-c inputs (ConceptX's purity rule with the task label repeated
on every token). A raw purity threshold is biased with imbalanced classes, so a polar pair must pass
both: purity k/n > ``min_purity`` (default θ = 0.9, compared as everywhere in the package, see
:func:`.label.exceeds`) **and** a one-sided test of enrichment against the class prior, corrected for
the false discovery rate over the layer.

Every occurrence carries the class of the input it comes from: the gold label, or a model's prediction
on that input. The occurrences of one input are therefore not independent draws: a concept holding 30
tokens of one sentence has 30 "class-c occurrences" from one labelled unit. The test therefore counts
**units** (``units``: the input of every occurrence, normally its sentence): for a concept C that holds
occurrences of n distinct units, k of them class c, among the N units of the layer's occurrences of
which N_c are class c (prior π_c = N_c / N):

* ``hypergeometric``: p = P(X ≥ k), X ~ Hypergeometric(N, N_c, n) (the concept's units are a sample
  without replacement from the layer's N units: Fisher's exact test, one-sided);
* ``binomial``: p = P(X ≥ k), X ~ Binomial(n, π_c) (units drawn independently with the prior).

Without ``units`` every occurrence is its own unit (token level); that is only valid when no two
occurrences share an input, and with sentence labels it gives q-values far too small. Purity stays at
occurrence level (Durrani's notion); ``size``/``count`` are occurrences, ``n_units``/``unit_count`` units.
Units of a concept are counted once whichever of their tokens fall into it; a finer null (permuting the
labels across sentences) would also model how many tokens a sentence contributes, at the cost of a
permutation per test resolution step.

Benjamini & Hochberg (1995, JRSS B 57:289) control the FDR over the m tests of one layer (every
(concept, class) pair of concepts with at least ``min_size`` occurrences):

    q_(i) = min_{j ≥ i} min(1, m · p_(j) / j)     (p sorted ascending, rank j)

A pair is polar when q ≤ α (default 0.05) and its occurrence purity exceeds ``min_purity``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ...errors import BadInputError
from ...registry import Registry
from .label import DEFAULT_THETA, exceeds

log = logging.getLogger(__name__)

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_PURITY = DEFAULT_THETA  # Durrani et al.: ≥ θ of the occurrences carry the class (here > θ)


def class_counts(concepts: np.ndarray, classes: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Contingency of concepts × classes: (concept ids, (K, n_classes) int64 counts)."""
    concepts = np.asarray(concepts)
    classes = np.asarray(classes)
    if concepts.shape != classes.shape or concepts.ndim != 1:
        raise BadInputError(
            f"{classes.size} class labels for {concepts.size} occurrences; give the class of the input of "
            "every clustered occurrence, in the same order."
        )
    if classes.size and (classes.min() < 0 or classes.max() >= n_classes):
        raise BadInputError(
            f"class ids must lie in [0, {n_classes}) (got {classes.min()}..{classes.max()}); pass the task's "
            "class ids, not names."
        )
    ids, inv = np.unique(concepts, return_inverse=True)
    M = np.zeros((ids.size, n_classes), dtype=np.int64)
    np.add.at(M, (inv.ravel(), classes.astype(np.int64)), 1)
    return ids, M


def unit_counts(
    concepts: np.ndarray, classes: np.ndarray, units: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct units per concept and class: (concept ids, (K, C) unit counts, (C,) units per class).

    A unit (an input sentence) counts once in a concept however many of its occurrences fall in it;
    the class totals count every unit of the layer once. Every occurrence of a unit must carry the same
    class (the label of its input).
    """
    concepts, classes, units = np.asarray(concepts), np.asarray(classes).astype(np.int64), np.asarray(units)
    if units.shape != concepts.shape:
        raise BadInputError(
            f"{units.size} units for {concepts.size} occurrences; give the sentence of every occurrence, in order."
        )
    uid, uinv = np.unique(units, return_inverse=True)
    uinv = uinv.ravel()
    unit_class = np.full(uid.size, -1, dtype=np.int64)
    unit_class[uinv] = classes
    if (unit_class[uinv] != classes).any():
        raise BadInputError(
            "occurrences of one sentence carry different classes; a unit's class is its input's label, so give "
            "one class per sentence (the gold or predicted label of that sentence)."
        )
    ids, cinv = np.unique(concepts, return_inverse=True)
    pairs = np.unique(np.stack([cinv.ravel(), uinv]), axis=1)
    M = np.zeros((ids.size, n_classes), dtype=np.int64)
    np.add.at(M, (pairs[0], unit_class[pairs[1]]), 1)
    return ids, M, np.bincount(unit_class, minlength=n_classes).astype(np.int64)


def _totals(counts: np.ndarray, class_totals: np.ndarray | None) -> np.ndarray:
    return counts.sum(0, keepdims=True) if class_totals is None else np.asarray(class_totals, dtype=np.int64)[None, :]


def binomial_pvalues(counts: np.ndarray, class_totals: np.ndarray | None = None) -> np.ndarray:
    """One-sided P(X ≥ k) with X ~ Binomial(n_concept, π_class), π = class totals / their sum (default:
    the column totals of ``counts``)."""
    from scipy.stats import binom

    counts = np.asarray(counts, dtype=np.int64)
    n = counts.sum(1, keepdims=True)
    totals = _totals(counts, class_totals)
    return binom.sf(counts - 1, n, totals / max(int(totals.sum()), 1))


def hypergeometric_pvalues(counts: np.ndarray, class_totals: np.ndarray | None = None) -> np.ndarray:
    """One-sided P(X ≥ k) with X ~ Hypergeometric(N, N_class, n_concept) (one-sided Fisher test); N_class
    = ``class_totals`` (default: the column totals of ``counts``), N their sum."""
    from scipy.stats import hypergeom

    counts = np.asarray(counts, dtype=np.int64)
    n = counts.sum(1, keepdims=True)
    totals = _totals(counts, class_totals)
    return hypergeom.sf(counts - 1, int(totals.sum()), totals, n)


#: test name -> f((K, C) counts, class totals) -> (K, C) one-sided p-values of enrichment
TESTS: Registry[Callable[..., np.ndarray]] = Registry.of("polarity test", {
    "hypergeometric": hypergeometric_pvalues,
    "binomial": binomial_pvalues,
})


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q-values), same shape as ``p``: q_(i) = min_{j≥i} min(1, m p_(j) / j)."""
    p = np.asarray(p, dtype=np.float64)
    flat = p.ravel()
    if flat.size == 0:
        return p.copy()
    if np.isnan(flat).any() or (flat < 0).any() or (flat > 1).any():
        raise BadInputError("p-values must lie in [0, 1] without NaN; check the test that produced them.")
    m = flat.size
    order = np.argsort(flat, kind="stable")
    scaled = flat[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1.0)
    return q.reshape(p.shape)


def polar_concepts(
    concepts: np.ndarray,
    classes: np.ndarray,
    class_names: Sequence[str],
    *,
    words: Sequence[str] | np.ndarray | None = None,
    units: np.ndarray | None = None,
    test: str = "hypergeometric",
    alpha: float = DEFAULT_ALPHA,
    min_size: int = 5,
    min_purity: float = DEFAULT_MIN_PURITY,
    n_examples: int = 8,
) -> pd.DataFrame:
    """Every tested (concept, class) pair of one layer, with its p-value, BH q-value and polarity.

    Args:
        concepts: concept id of every occurrence.
        classes: class id (0..C−1) of the input each occurrence comes from (gold or predicted).
        class_names: names of the C classes.
        words: word type of every occurrence (for ``examples``: the most frequent words of the concept).
        units: the input (sentence id) of every occurrence: the test counts distinct units (module
            docstring). None: every occurrence is its own unit (token level).
        test: ``hypergeometric`` or ``binomial`` (:data:`TESTS`).
        alpha: FDR level.
        min_size: concepts with fewer occurrences are not tested (and not counted in the correction).
        min_purity: a polar pair must also have occurrence purity k/n > this (default θ = 0.9).
        n_examples: example words per concept.

    Returns:
        DataFrame[concept, class, class_name, size, count, purity, prior, enrichment, n_units, unit_count,
        unit_prior, p, q, polar, examples] sorted by q; one row per (tested concept, class). ``prior`` is
        the occurrence share of the class, ``unit_prior`` its share of units (the test's prior).
    """
    pvalues = TESTS[test]
    if not 0 < alpha < 1:
        raise BadInputError(f"alpha={alpha} must lie in (0, 1); 0.05 is usual.")
    n_classes = len(class_names)
    ids, M = class_counts(concepts, classes, n_classes)
    size = M.sum(1)
    total = int(M.sum())
    prior = M.sum(0) / max(total, 1)
    if units is None:
        U, unit_totals = M, M.sum(0)
    else:
        _, U, unit_totals = unit_counts(concepts, classes, units, n_classes)
    unit_prior = unit_totals / max(int(unit_totals.sum()), 1)
    P = pvalues(U, unit_totals)
    tested = size >= min_size
    q = np.full(M.shape, np.nan)
    q[tested] = benjamini_hochberg(P[tested])
    rows_k, rows_c = np.nonzero(np.broadcast_to(tested[:, None], M.shape))
    purity = M / np.maximum(size, 1)[:, None]
    examples: dict[int, str] = {}
    if words is not None:
        w = pd.Series(np.asarray(words, dtype=object).astype(str))
        if w.size != np.asarray(concepts).size:
            raise BadInputError(f"{w.size} words for {np.asarray(concepts).size} occurrences; pass one word per occurrence.")
        top = (
            pd.DataFrame({"concept": np.asarray(concepts), "word": w})
            .groupby(["concept", "word"]).size().rename("n").reset_index()
            .sort_values(["concept", "n", "word"], ascending=[True, False, True])
        )
        for cid, grp in top.groupby("concept", sort=False):
            examples[cid] = " ".join(grp["word"].head(n_examples))
    out = pd.DataFrame({
        "concept": ids[rows_k],
        "class": rows_c.astype(np.int64),
        "class_name": np.asarray(class_names, dtype=object)[rows_c],
        "size": size[rows_k],
        "count": M[rows_k, rows_c],
        "purity": purity[rows_k, rows_c],
        "prior": prior[rows_c],
        "enrichment": purity[rows_k, rows_c] / np.maximum(prior[rows_c], 1e-300),
        "n_units": U.sum(1)[rows_k],
        "unit_count": U[rows_k, rows_c],
        "unit_prior": unit_prior[rows_c],
        "p": P[rows_k, rows_c],
        "q": q[rows_k, rows_c],
    })
    out["polar"] = (out["q"] <= alpha) & exceeds(out["purity"].to_numpy(), min_purity)
    out["examples"] = [examples.get(c, "") for c in out["concept"]]
    return out.sort_values(["q", "p", "concept", "class"], kind="stable").reset_index(drop=True)


def polarity_by_layer(
    concepts_by_layer: Mapping[int, np.ndarray],
    sources: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    **kw: object,
) -> pd.DataFrame:
    """:func:`polar_concepts` for every layer and every label source (e.g. ``gold``, ``predicted``).

    ``sources[name]`` is the class of every occurrence under that labelling. Columns ``layer`` and
    ``source`` are added.
    """
    frames = []
    for layer, labels in sorted(concepts_by_layer.items()):
        for source, classes in sources.items():
            frames.append(polar_concepts(labels, classes, class_names, **kw).assign(layer=layer, source=source))  # type: ignore[arg-type]
    if not frames:
        raise BadInputError("no layer or no label source to test; cluster at least one layer and give gold labels.")
    df = pd.concat(frames, ignore_index=True)
    front = ["layer", "source"]
    return df[front + [c for c in df.columns if c not in front]]


def polarity_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Polar concepts per (layer, source, class) (and their occurrences) from :func:`polarity_by_layer`."""
    keys = [k for k in ("model", "layer", "source") if k in table.columns]
    polar = table.loc[table["polar"]]
    per_class = (
        polar.groupby(keys + ["class_name"]).agg(n_polar=("concept", "nunique"), occurrences=("size", "sum"))
        .reset_index()
    )
    tested = table.groupby(keys)["concept"].nunique().rename("n_tested").reset_index()
    any_polar = polar.groupby(keys)["concept"].nunique().rename("n_polar_concepts").reset_index()
    summary = tested.merge(any_polar, on=keys, how="left").fillna({"n_polar_concepts": 0})
    summary["n_polar_concepts"] = summary["n_polar_concepts"].astype(np.int64)
    summary["fraction_polar"] = summary["n_polar_concepts"] / summary["n_tested"].clip(lower=1)
    return summary.merge(
        per_class.pivot_table(index=keys, columns="class_name", values="n_polar", fill_value=0)
        .add_prefix("polar_").reset_index() if len(per_class) else summary[keys],
        on=keys, how="left",
    ).fillna(0)
