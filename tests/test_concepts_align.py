"""Model-to-model concept alignment: θ-overlap at occurrence and type level, ARI/NMI/Jaccard, chance."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score

from latentatlas.analyses.concepts.align import align_concepts, alignment_curves, pair_scores, contingency
from latentatlas.errors import BadInputError


def _value(df, measure: str, theta: float | None = None) -> float:  # type: ignore[no-untyped-def]
    rows = df[df["measure"] == measure]
    if theta is not None:
        rows = rows[np.isclose(rows["theta"], theta)]
    return float(rows["value"].iloc[0])


def test_pair_scores_against_sklearn_and_brute_force(rng: np.random.Generator) -> None:
    a, b = rng.integers(0, 6, 80), rng.integers(0, 4, 80)
    b[:40] = a[:40] % 4
    s = pair_scores(contingency(a, b))
    assert s["ari"] == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert s["ami"] == pytest.approx(adjusted_mutual_info_score(a, b), abs=1e-12)
    assert "nmi" not in s
    both = either = 0
    for i, j in combinations(range(80), 2):
        sa, sb = a[i] == a[j], b[i] == b[j]
        both += sa and sb
        either += sa or sb
    assert s["jaccard"] == pytest.approx(both / either, abs=1e-12)


def test_overlap_by_hand() -> None:
    # A: {0..9} one concept, {10..19} another. B splits A's first concept 9/1 and keeps the second whole.
    a = np.array([0] * 10 + [1] * 10)
    b = np.array([5] * 9 + [6] + [7] * 10)
    words = np.array(["x"] * 9 + ["y"] + list("abcdefghij"))
    df = align_concepts(a, b, words, thetas=[0.85, 0.95], n_perm=0, min_types=0, size_ratio=0.0)
    assert _value(df, "occ_a_to_b", 0.85) == 1.0  # 9/10 and 10/10 > 0.85
    assert _value(df, "occ_a_to_b", 0.95) == 0.5  # only the second
    assert _value(df, "occ_b_to_a", 0.95) == 1.0  # every B concept lies inside one A concept
    # types: A's first concept has types {x, y}; B's concept 5 has {x}: 1/2 shared
    assert _value(df, "type_a_to_b", 0.85) == 0.5
    assert _value(df, "type_b_to_a", 0.95) == 1.0
    assert df["chance"].isna().all() and df["excess"].isna().all()


def test_identical_and_chance(rng: np.random.Generator) -> None:
    a = rng.integers(0, 20, 2000)
    words = rng.integers(0, 300, 2000).astype(str)
    df = align_concepts(a, a.copy(), words, n_perm=3, seed=1)
    assert (df["value"] == 1.0).all()
    ari = df[df["measure"] == "ari"].iloc[0]
    assert abs(ari["chance"]) < 0.01  # a permuted assignment with the same sizes agrees by chance only
    assert _value(df, "occ_a_to_b", 0.5) == 1.0 and float(df[(df["measure"] == "occ_a_to_b") & (df["theta"] == 0.5)]["chance"].iloc[0]) == 0.0
    again = align_concepts(a, a.copy(), words, n_perm=3, seed=1)
    assert again.equals(df)


def test_curves_and_bad_input(rng: np.random.Generator) -> None:
    a = {0: rng.integers(0, 5, 50), 1: rng.integers(0, 5, 50), 3: rng.integers(0, 5, 50)}
    b = {0: a[0], 1: rng.integers(0, 5, 50)}
    words = rng.integers(0, 10, 50).astype(str)
    curves = alignment_curves(a, b, words, n_perm=1)
    assert sorted(curves["layer"].unique()) == [0, 1]
    assert float(curves[(curves["layer"] == 0) & (curves["measure"] == "ari")]["value"].iloc[0]) == 1.0
    with pytest.raises(BadInputError, match="same ≥ 2 occurrences"):
        align_concepts(a[0], a[0][:-1], words)
    with pytest.raises(BadInputError, match="share no clustered layer"):
        alignment_curves({0: a[0]}, {1: a[0]}, words)


def _lexical_demo(rng: np.random.Generator, types_per_concept: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """200 word types × 10 occurrences; A: lexical concepts (whole types, ``types_per_concept`` each);
    B: a random partition into as many concepts, unrelated to A."""
    words = np.repeat([f"w{i}" for i in range(200)], 10)
    a = np.repeat(np.arange(200) // types_per_concept, 10)
    b = rng.integers(0, 200 // types_per_concept, words.size)
    return a, b, words


@pytest.mark.parametrize("types_per_concept", [1, 8])
def test_type_level_lexical_vs_random_reads_no_excess(rng: np.random.Generator, types_per_concept: int) -> None:
    # the demo: without the reference's constraints, one-type concepts align with whatever B
    # concept holds their type (1.00 at every θ, and 1.00 by chance too)
    a, b, words = _lexical_demo(rng, types_per_concept)
    df = align_concepts(a, b, words, n_perm=3, seed=2)
    t = df[df["measure"] == "type_a_to_b"]
    assert len(t) == 6
    assert (t["value"] <= 0.05).all() and (t["excess"].abs() <= 0.05).all()
    occ = df[df["measure"] == "occ_a_to_b"]
    assert (occ["excess"].abs() <= 0.05).all()
    # the unconstrained measure is the trivial one of the issue
    loose = align_concepts(a, b, words, n_perm=1, min_types=0, size_ratio=0.0)
    if types_per_concept == 1:
        assert (loose[loose["measure"] == "type_a_to_b"]["value"] == 1.0).all()


def test_type_level_positive_control(rng: np.random.Generator) -> None:
    # B = A's 8-type lexical concepts with 3 % of occurrences moved at random: type-level A→B stays high
    a, _, words = _lexical_demo(rng, 8)
    b = a.copy()
    moved = rng.random(a.size) < 0.03
    b[moved] = rng.integers(0, 25, int(moved.sum()))
    df = align_concepts(a, b, words, n_perm=3, seed=2)
    t = df[(df["measure"] == "type_a_to_b") & np.isclose(df["theta"], 0.9)].iloc[0]
    assert t["value"] == 1.0 and t["chance"] == 0.0 and t["excess"] == 1.0
    assert _value(df, "type_eligible_a") == 1.0


def test_type_constraints_by_hand() -> None:
    # A concept 0: 6 types u..z (one occurrence each); B puts them all in concept 7 with 4 more types
    # (|T(b)| = 10: ratio 6/10 = 0.6, not > 0.6) -> not aligned; drop two of the extra types -> aligned.
    # A concept 1: 3 types, all in B concept 8 -> never aligned (3 ≤ min_types).
    words = np.array(list("uvwxyz") + list("abcd") + list("pqr"))
    a = np.array([0] * 6 + [2] * 4 + [1] * 3)
    b = np.array([7] * 10 + [8] * 3)
    df = align_concepts(a, b, words, thetas=[0.9], n_perm=0)
    assert _value(df, "type_a_to_b", 0.9) == 0.0
    b2 = np.array([7] * 8 + [9] * 2 + [8] * 3)
    df = align_concepts(a, b2, words, thetas=[0.9], n_perm=0)
    assert _value(df, "type_a_to_b", 0.9) == pytest.approx(1 / 3)  # concept 0 of the three
    assert _value(df, "type_eligible_a") == pytest.approx(1 / 3)
    assert _value(align_concepts(a, b2, words, thetas=[0.9], n_perm=0, min_types=2), "type_a_to_b", 0.9) == pytest.approx(2 / 3)
    with pytest.raises(BadInputError, match="min_types"):
        align_concepts(a, b, words, min_types=-1)


def test_ami_replaces_nmi_and_reads_zero_for_unrelated_partitions(rng: np.random.Generator) -> None:
    # many small concepts (the concepts' regime): NMI of two unrelated partitions is far from 0, AMI is not
    a, b = rng.integers(0, 300, 3000), rng.integers(0, 300, 3000)
    assert normalized_mutual_info_score(a, b) > 0.5
    df = align_concepts(a, b, rng.integers(0, 500, 3000).astype(str), n_perm=3, seed=0)
    assert "nmi" not in set(df["measure"])
    ami = df[df["measure"] == "ami"].iloc[0]
    assert abs(ami["value"]) < 0.02 and abs(ami["chance"]) < 0.02 and abs(ami["excess"]) < 0.02
    assert _value(align_concepts(a, a.copy(), a.astype(str), n_perm=0), "ami") == pytest.approx(1.0)
