"""AUROC, ECE, Brier and reliability bins of a confidence against right/wrong, figures by hand."""

from __future__ import annotations

import sys

import pytest

from annotator.confidence.metrics import auroc, brier, ece, reliability
from annotator.errors import AnnotatorError, InputError


def test_auroc_counts_pairs():
    # Right items score 0.9, 0.7, 0.6; wrong ones 0.8, 0.5. Of the 3 * 2 = 6 (right, wrong) pairs
    # the right one scores higher in: (0.9, 0.8), (0.9, 0.5), (0.7, 0.5), (0.6, 0.5) = 4 -> 4/6.
    assert auroc([0.9, 0.8, 0.7, 0.6, 0.5], [True, False, True, True, False]) == pytest.approx(4 / 6)


def test_auroc_ties_count_half_and_scores_need_not_be_probabilities():
    # Log-probabilities: right -0.1 and -2.0, wrong -2.0 and -3.0. Pairs: (-0.1, -2.0) 1,
    # (-0.1, -3.0) 1, (-2.0, -2.0) tie 1/2, (-2.0, -3.0) 1 -> 3.5 / 4.
    assert auroc([-0.1, -2.0, -2.0, -3.0], [1, 1, 0, 0]) == pytest.approx(3.5 / 4)


def test_auroc_is_none_with_one_class_or_nothing():
    assert auroc([0.2, 0.9], [True, True]) is None
    assert auroc([0.2, 0.9], [False, False]) is None
    assert auroc([], []) is None


def test_ece_with_two_equal_bins():
    # Sorted by prob: bin 1 = 0.1, 0.2, 0.3 (right 0, 0, 1): mean prob 0.2, share right 1/3,
    # gap 0.1333; bin 2 = 0.6, 0.8, 0.9 (right 1, 1, 0): mean 2.3/3 = 0.7667, share 2/3, gap 0.1.
    # ECE = 3/6 * 0.13333 + 3/6 * 0.1 = 0.116667. Input given unsorted.
    probs = [0.8, 0.1, 0.9, 0.3, 0.2, 0.6]
    right = [True, False, False, True, False, True]
    assert ece(probs, right, bins=2) == pytest.approx(0.5 * (2 / 15) + 0.5 * 0.1)


def test_ece_with_unequal_bins_puts_the_larger_first():
    # 5 items in 2 bins: sizes 3 and 2 (array_split). Sorted: 0.1 (0), 0.3 (1), 0.5 (0) | 0.7 (1), 0.9 (1).
    # Bin 1: mean 0.3, share 1/3, gap 1/30; bin 2: mean 0.8, share 1, gap 0.2.
    # ECE = 3/5 * 1/30 + 2/5 * 0.2 = 0.02 + 0.08 = 0.1.
    assert ece([0.9, 0.1, 0.5, 0.3, 0.7], [1, 0, 0, 1, 1], bins=2) == pytest.approx(0.1)


def test_ece_equal_probabilities_straddle_bins_in_input_order():
    # Four items at 0.5, right 1, 1, 0, 0; a stable sort keeps that order: bin 1 = (1, 1) share 1,
    # gap 0.5; bin 2 = (0, 0) share 0, gap 0.5 -> ECE 0.5 (one bin of all four would give 0).
    assert ece([0.5] * 4, [1, 1, 0, 0], bins=2) == pytest.approx(0.5)
    assert ece([0.5] * 4, [1, 1, 0, 0], bins=1) == pytest.approx(0.0)


def test_ece_perfect_and_more_bins_than_items():
    # Every prob 0 or 1 and matching: each bin's gap is 0. Ten bins over three items: three bins of one.
    assert ece([1.0, 0.0, 1.0], [1, 0, 1]) == 0.0
    assert [row["n"] for row in reliability([1.0, 0.0, 1.0], [1, 0, 1])] == [1, 1, 1]


def test_reliability_rows_are_the_ece_bins():
    # Same items as test_ece_with_two_equal_bins: (0.2, 1/3, 3) and (2.3/3, 2/3, 3).
    rows = reliability([0.8, 0.1, 0.9, 0.3, 0.2, 0.6], [1, 0, 0, 1, 0, 1], bins=2)
    assert [row["n"] for row in rows] == [3, 3]
    assert rows[0]["predicted"] == pytest.approx(0.2)
    assert rows[0]["observed"] == pytest.approx(1 / 3)
    assert rows[1]["predicted"] == pytest.approx(2.3 / 3)
    assert rows[1]["observed"] == pytest.approx(2 / 3)


def test_brier_on_four_items():
    # (1.0 - 1)^2 + (0.8 - 0)^2 + (0.4 - 1)^2 + (0.0 - 0)^2 = 0 + 0.64 + 0.36 + 0 = 1.0; / 4 = 0.25.
    assert brier([1.0, 0.8, 0.4, 0.0], [True, False, True, False]) == pytest.approx(0.25)


def test_empty_input():
    assert ece([], []) is None
    assert brier([], []) is None
    assert reliability([], []) == []


@pytest.mark.parametrize("call", [
    lambda: ece([0.2, 0.3], [True]),
    lambda: brier([0.2], [True, False]),
    lambda: auroc([0.2], [True, False]),
    lambda: brier([1.2, 0.3], [True, False]),
    lambda: ece([-0.1, 0.3], [True, False]),
    lambda: brier([float("nan"), 0.3], [True, False]),
    lambda: auroc([float("inf"), 0.3], [True, False]),
    lambda: brier([0.2, 0.3], [1, 2]),
    lambda: brier([0.2, 0.3], ["yes", "no"]),
    lambda: ece([0.2, 0.3], [True, False], bins=0),
    lambda: ece([0.2, 0.3], [True, False], bins=2.5),
])
def test_bad_input_is_refused(call):
    with pytest.raises(InputError):
        call()


def test_auroc_without_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)
    with pytest.raises(AnnotatorError, match=r"pip install 'annotator\[calibrate\]'"):
        auroc([0.9, 0.1], [True, False])
    # The rest needs numpy alone: 1 - 0.9 and 0.1 - 0 give (0.01 + 0.01) / 2.
    assert brier([0.9, 0.1], [True, False]) == pytest.approx(0.01)
