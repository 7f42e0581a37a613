"""Clopper-Pearson bounds, fixed-sequence threshold choice, and the gold a guarantee needs."""

from __future__ import annotations

import math
import sys

import pytest

from annotator.confidence.routing import (
    Choice,
    choose_threshold,
    clopper_pearson_interval,
    clopper_pearson_upper,
    gold_needed,
    min_testable,
)
from annotator.errors import AnnotatorError, InputError


def _binomial_cdf(errors: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(errors + 1))


@pytest.mark.parametrize("n", [1, 2, 10, 30, 100])
def test_upper_bound_with_no_errors_is_closed_form(n):
    # P(0 errors | p) = (1 - p)^n = delta  ->  p = 1 - delta^(1/n).
    assert clopper_pearson_upper(0, n, 0.05) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)


def test_upper_bound_figures_by_hand():
    # 0 of 10 at delta 0.05: 1 - 0.05^(1/10) = 1 - exp(ln 0.05 / 10) = 1 - exp(-0.299573) = 0.258866.
    assert clopper_pearson_upper(0, 10, 0.05) == pytest.approx(0.258866, abs=1e-6)
    # 1 of 2: P(X <= 1) = 1 - p^2 = delta -> p = sqrt(1 - delta); delta 0.19 -> sqrt(0.81) = 0.9.
    assert clopper_pearson_upper(1, 2, 0.19) == pytest.approx(0.9)
    # 2 of 3: P(X <= 2) = 1 - p^3 = delta -> p = (1 - delta)^(1/3); delta 0.488 -> 0.512^(1/3) = 0.8.
    assert clopper_pearson_upper(2, 3, 0.488) == pytest.approx(0.8)
    assert clopper_pearson_upper(0, 0, 0.05) == 1.0
    assert clopper_pearson_upper(7, 7, 0.05) == 1.0


@pytest.mark.parametrize(("errors", "n"), [(1, 20), (3, 40), (5, 12)])
def test_upper_bound_leaves_delta_in_the_binomial_tail(errors, n):
    # The bound u is the p at which seeing `errors` or fewer has probability delta.
    u = clopper_pearson_upper(errors, n, 0.1)
    assert _binomial_cdf(errors, n, u) == pytest.approx(0.1, abs=1e-9)


def test_two_sided_interval_by_hand():
    # 0 of 10 at 95%: lower 0; upper 1 - 0.025^(1/10) = 1 - exp(-0.368888) = 0.308497.
    low, high = clopper_pearson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.308497, abs=1e-6)
    # 10 of 10 mirrors it: lower 0.025^(1/10) = 0.691503, upper 1.
    assert clopper_pearson_interval(10, 10) == pytest.approx((0.691503, 1.0), abs=1e-6)
    # 1 of 2 at 80%, 0.1 in each tail: upper 1 - p^2 = 0.1 -> sqrt(0.9) = 0.948683;
    # lower 1 - (1 - p)^2 = 0.1 -> 1 - sqrt(0.9) = 0.051317.
    assert clopper_pearson_interval(1, 2, level=0.8) == pytest.approx((0.051317, 0.948683), abs=1e-6)
    assert clopper_pearson_interval(0, 0) == (0.0, 1.0)


def test_min_testable_by_hand():
    # (1 - risk)^n <= delta: 0.9^21 = 0.1094 > 0.1, 0.9^22 = 0.0985 <= 0.1 -> 22.
    assert min_testable(0.1, 0.1) == 22
    # 0.95^58 = 0.0510 > 0.05, 0.95^59 = 0.0485 -> 59.
    assert min_testable(0.05, 0.05) == 59


# 30 right at 0.9, one wrong at 0.8, 30 right at 0.7; risk 0.1, delta 0.1.
FIXED = ([0.9] * 30 + [0.8] + [0.7] * 30, [False] * 30 + [True] + [False] * 30)


def test_fixed_sequence_stops_at_the_first_failure():
    # Bound <= risk exactly when P(X <= errors | n, risk) <= delta.
    # t = 0.9: 0 of 30: 0.9^30 = 0.0424 <= 0.1, pass; bound 1 - 0.1^(1/30) = 1 - exp(-0.076753) = 0.073881.
    # t = 0.8: 1 of 31: 0.9^31 + 31 * 0.1 * 0.9^30 = 0.9^30 * (0.9 + 3.1) = 4 * 0.042391 = 0.1696 > 0.1: stop.
    # t = 0.7 would pass (1 of 61: 0.9^60 * (0.9 + 6.1) = 7 * 0.001797 = 0.0126) but comes after the stop.
    confidence, wrong = FIXED
    choice = choose_threshold(confidence, wrong, risk=0.1, delta=0.1)
    assert choice == Choice(threshold=0.9, accepted=30, errors=0, bound=pytest.approx(0.073881, abs=1e-6),
                            n=61, risk=0.1, delta=0.1, accept_share=pytest.approx(30 / 61))
    assert clopper_pearson_upper(1, 31, 0.1) > 0.1
    assert clopper_pearson_upper(1, 61, 0.1) <= 0.1   # the lower candidate would pass on its own


def test_all_candidates_passing_reach_the_lowest():
    # 40 right at 0.9, then 40 right at 0.6: 0 of 40 and 0 of 80 both pass (0.9^40 = 0.0148).
    choice = choose_threshold([0.9] * 40 + [0.6] * 40, [False] * 80, risk=0.1, delta=0.1)
    assert (choice.threshold, choice.accepted, choice.errors, choice.accept_share) == (0.6, 80, 0, 1.0)
    assert choice.bound == pytest.approx(1 - 0.1 ** (1 / 80))


def test_nothing_guaranteed_accepts_nothing():
    # 25 items, 5 wrong at the top: 5 of 25 (share 0.2) can never be bounded below risk 0.1.
    choice = choose_threshold([0.9] * 25, [True] * 5 + [False] * 20, risk=0.1, delta=0.1)
    assert choice == Choice(None, 0, 0, None, 25, 0.1, 0.1, 0.0)
    assert choose_threshold([], [], risk=0.1, delta=0.1) == Choice(None, 0, 0, None, 0, 0.1, 0.1, 0.0)


def test_candidates_too_small_to_ever_pass_are_not_tested():
    # A lone right item at 0.99 above FIXED: 0 of 1 gives 1 - 0.1 = 0.9 > risk whatever its label.
    # Tested (min_accepted=1), it stops the sequence before it begins; by default (22 items,
    # min_testable(0.1, 0.1)) it is skipped and 0.9 is reached: 0 of 31,
    # 1 - 0.1^(1/31) = 1 - exp(-2.302585 / 31) = 1 - exp(-0.074277) = 1 - 0.928415 = 0.071585.
    confidence, wrong = [0.99] + FIXED[0], [False] + FIXED[1]
    assert choose_threshold(confidence, wrong, 0.1, 0.1, min_accepted=1).threshold is None
    choice = choose_threshold(confidence, wrong, 0.1, 0.1)
    assert (choice.threshold, choice.accepted, choice.errors) == (0.9, 31, 0)
    assert choice.bound == pytest.approx(0.071585, abs=1e-6)


def test_ties_are_accepted_together():
    # Input order must not matter: the wrong 0.8 item is found wherever it sits.
    confidence, wrong = FIXED
    shuffled = list(zip(confidence, wrong, strict=True))[::-1]
    choice = choose_threshold([c for c, _ in shuffled], [w for _, w in shuffled], 0.1, 0.1)
    assert (choice.threshold, choice.accepted) == (0.9, 30)


def test_gold_needed_by_hand():
    # No errors: the fewest n with 0.9^n <= 0.1 is 22 (see test_min_testable_by_hand).
    assert gold_needed(0.0, risk=0.1, delta=0.1) == 22
    assert gold_needed(0.1, risk=0.1, delta=0.1) is None
    assert gold_needed(0.2, risk=0.1, delta=0.1) is None


def test_gold_needed_is_the_smallest_n():
    # Brute force over every n: the first whose bound passes with round(rate * n) errors.
    for rate, risk, delta in [(0.05, 0.1, 0.05), (0.13, 0.2, 0.05), (0.3, 0.4, 0.1)]:
        n = gold_needed(rate, risk, delta)
        assert clopper_pearson_upper(round(rate * n), n, delta) <= risk
        assert all(clopper_pearson_upper(round(rate * m), m, delta) > risk for m in range(1, n))
    # Beyond max_n: None.
    assert gold_needed(0.05, 0.1, 0.05, max_n=88) is None
    assert gold_needed(0.05, 0.1, 0.05, max_n=89) == 89


@pytest.mark.parametrize("call", [
    lambda: clopper_pearson_upper(3, 2, 0.05),
    lambda: clopper_pearson_upper(-1, 2, 0.05),
    lambda: clopper_pearson_upper(1, 2, 1.0),
    lambda: clopper_pearson_interval(1, 2, level=0),
    lambda: choose_threshold([0.9, 0.8], [False], 0.1, 0.1),
    lambda: choose_threshold([0.9], [False], 0.0, 0.1),
    lambda: choose_threshold([float("nan")], [False], 0.1, 0.1),
    lambda: choose_threshold([0.9], [False], 0.1, 0.1, min_accepted=0),
    lambda: gold_needed(1.5, 0.1, 0.1),
])
def test_bad_input_is_refused(call):
    with pytest.raises(InputError):
        call()


def test_without_scipy_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    with pytest.raises(AnnotatorError, match=r"pip install 'annotator\[calibrate\]'"):
        clopper_pearson_upper(1, 10, 0.05)
