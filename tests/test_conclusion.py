"""The plain-words conclusion of a selection row: which of its four cases the numbers fall in, and the caveat."""

from __future__ import annotations

import pytest

from latentatlas.stats.summary import caveat, conclusion


def _row(**over) -> dict:
    row = {"target": "average", "candidates": 69, "best": "aq_pp@3", "best_r": 0.62, "p_family_wise": 0.41,
           "nested_mse": 0.012, "mean_only_mse": 0.010, "nested_n_groups": 7, "chosen": "aq_pp@3 (5), eee@2 (2)",
           "note": None}
    row.update(over)
    return row


def test_nothing_survives_selection() -> None:
    text = conclusion(_row())
    assert text.startswith("No measure beats chance after selection (family-wise p = 0.41)")
    assert "aq_pp@3 (r = 0.62)" in text and "69" in text
    assert "nested-CV MSE 0.012 vs 0.01 for the training mean" in text


def test_survives_and_predicts() -> None:
    text = conclusion(_row(p_family_wise=0.004, nested_mse=0.006))
    assert text.startswith("aq_pp@3 predicts average of left-out models better than the training mean")
    assert "(nested-CV MSE 0.006 vs 0.01 for the training mean)" in text
    assert "survives the search over 69 candidates (family-wise p = 0.004)" in text


@pytest.mark.parametrize(
    ("over", "start"),
    [
        ({"p_family_wise": 0.01}, "The correlation of aq_pp@3 with average (r = 0.62) survives the search"),
        ({"nested_mse": 0.005}, "Picking and fitting the best measure predicts average of left-out models better"),
    ],
)
def test_one_of_two(over: dict, start: str) -> None:
    assert conclusion(_row(**over)).startswith(start)


def test_at_the_threshold_the_correlation_survives() -> None:
    assert "survives" in conclusion(_row(p_family_wise=0.05)) and "No measure" not in conclusion(_row(p_family_wise=0.05))


def test_without_nested_cv_or_selection() -> None:
    text = conclusion(_row(nested_mse=float("nan"), note="no nested CV: only 3 groups"))
    assert "whether it predicts new models is not known (no nested CV: only 3 groups)" in text
    assert conclusion(_row(best=None, note="no selection: a constant target")) == (
        "No conclusion about average: no selection: a constant target.")


def test_caveat_names_few_groups_unstable_choice_and_reach() -> None:
    text = caveat(_row(), n_holdout=8)
    assert text.startswith("Caveat: only 7 groups of related models")
    assert "the folds picked 2 different measures" in text
    assert "the 8 held-out model(s) below test how far it carries" in text
    calm = caveat(_row(nested_n_groups=12, chosen="aq_pp@3 (12)"))
    assert calm == "Caveat: it holds for models like the training ones."
