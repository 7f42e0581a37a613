"""Calibration maps: isotonic fit, plain-JSON maps applied without scikit-learn, cross-fitting."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from annotator.confidence.calibration import (
    MIN_ITEMS,
    CalibrationMap,
    cross_fit,
    evaluate_field,
    fit_isotonic,
    signal_to_unit,
)
from annotator.errors import AnnotatorError, InputError


def _noisy(n: int, seed: int) -> tuple[list[float], list[bool]]:
    """n signals in [0, 1], each right with probability equal to its signal."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    return x.round(3).tolist(), (rng.uniform(0, 1, n) < x).tolist()


def test_fit_isotonic_pools_adjacent_violators_by_hand():
    # Right 0, 1, 0, 1 at x 0.1..0.4: 1 then 0 violate the order and pool to 0.5, 0.5,
    # so the fit is 0, 0.5, 0.5, 1 at 0.1, 0.2, 0.3, 0.4.
    cal = fit_isotonic([0.1, 0.2, 0.3, 0.4], [False, True, False, True], signal="agreement")
    assert cal.xs == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert cal.ys == pytest.approx([0.0, 0.5, 0.5, 1.0])
    assert (cal.signal, cal.n) == ("agreement", 4)
    # Linear between breakpoints: halfway from 0 (at 0.1) to 0.5 (at 0.2) is 0.25; outside, clipped.
    assert cal.apply(0.15) == pytest.approx(0.25)
    assert cal.apply(0.25) == pytest.approx(0.5)
    assert cal.apply(0.0) == 0.0
    assert cal.apply(1.0) == 1.0


def test_fit_on_one_signal_value_is_its_share_right():
    # Four items all at 0.5, one right: the map is flat at 1/4 everywhere.
    cal = fit_isotonic([0.5] * 4, [True, False, False, False])
    assert (cal.xs, cal.ys) == ([0.5], [0.25])
    assert cal.apply(0.0) == cal.apply(0.9) == 0.25


def test_map_is_monotone_and_within_unit():
    x, right = _noisy(200, seed=3)
    cal = fit_isotonic(x, right)
    assert all(b >= a for a, b in zip(cal.ys, cal.ys[1:], strict=False))
    grid = [cal.apply(v) for v in np.linspace(-0.5, 1.5, 401)]
    assert all(b >= a for a, b in zip(grid, grid[1:], strict=False))
    assert min(grid) >= 0.0 and max(grid) <= 1.0
    assert cal.apply_many([0.1, 0.9]) == [cal.apply(0.1), cal.apply(0.9)]


def test_map_json_round_trip():
    cal = fit_isotonic(*_noisy(60, seed=1), signal="logprob_field")
    data = cal.to_json()
    assert set(data) == {"signal", "xs", "ys", "n"}
    assert CalibrationMap.from_json(json.loads(json.dumps(data))) == cal
    assert CalibrationMap.from_json(json.dumps(data)) == cal


@pytest.mark.parametrize("data", [
    {"signal": "s", "xs": [0.1, 0.2], "ys": [0.6, 0.4], "n": 5},     # decreasing
    {"signal": "s", "xs": [0.3, 0.2], "ys": [0.4, 0.6], "n": 5},     # xs out of order
    {"signal": "s", "xs": [0.1, 0.2], "ys": [0.4], "n": 5},          # lengths differ
    {"signal": "s", "xs": [0.1], "ys": [1.5], "n": 5},               # not a probability
    {"signal": "s", "xs": [], "ys": [], "n": 5},                      # empty
    {"signal": "s", "xs": [0.1], "ys": [0.5]},                        # n missing
    "{not json",
])
def test_broken_maps_are_refused(data):
    with pytest.raises(InputError):
        CalibrationMap.from_json(data)


def test_applying_a_stored_map_needs_no_scikit_learn(monkeypatch):
    for name in ("sklearn", "sklearn.isotonic", "sklearn.model_selection", "sklearn.metrics", "scipy.stats"):
        monkeypatch.setitem(sys.modules, name, None)
    cal = CalibrationMap.from_json({"signal": "grounded", "xs": [0.2, 0.6], "ys": [0.1, 0.5], "n": 40})
    # 0.4 is halfway from 0.2 to 0.6: halfway from 0.1 to 0.5 = 0.3.
    assert cal.apply(0.4) == pytest.approx(0.3)
    with pytest.raises(AnnotatorError, match=r"pip install 'annotator\[calibrate\]'"):
        fit_isotonic([0.1, 0.9], [False, True])


def test_signal_to_unit():
    assert signal_to_unit("logprob", np.log(0.5)) == pytest.approx(0.5)     # exp(ln 0.5)
    assert signal_to_unit("logprob_min", 0.0) == 1.0                         # exp(0)
    assert signal_to_unit("logprob", 0.2) == 1.0                             # exp(0.2) > 1, clipped
    assert signal_to_unit("logprob", float("-inf")) == 0.0                   # exp(-inf)
    assert signal_to_unit("agreement", 0.75) == 0.75
    assert signal_to_unit("grounded", 1.2) == 1.0
    assert signal_to_unit("agreement_k5", -0.1) == 0.0
    with pytest.raises(InputError, match="unknown signal"):
        signal_to_unit("reasks", 1)
    with pytest.raises(InputError):
        signal_to_unit("agreement", float("nan"))


def test_too_little_gold_gives_none():
    x, right = _noisy(MIN_ITEMS, seed=2)
    assert MIN_ITEMS == 30
    assert cross_fit(x[:-1], right[:-1]) is None
    assert len(cross_fit(x, right)) == MIN_ITEMS
    # More folds than items, or fewer tasks than folds, is too little gold as well.
    assert cross_fit(x, right, k=31) is None
    assert cross_fit(x, right, k=5, groups=[i % 4 for i in range(MIN_ITEMS)]) is None


def test_cross_fit_is_reproducible_and_probabilities():
    x, right = _noisy(50, seed=4)
    first = cross_fit(x, right, seed=7)
    assert first == cross_fit(x, right, seed=7)
    assert all(0.0 <= p <= 1.0 for p in first)


def test_an_items_own_label_never_reaches_its_own_probability():
    # Flipping item i's label changes the maps fitted for the OTHER folds (i is in their
    # training data), never the map that scores i's own fold. So p[i] must stay put, and
    # (to show labels are used at all) other items' values move.
    x, right = _noisy(40, seed=5)
    base = cross_fit(x, right, k=5, seed=0)
    moved_others = 0
    for i in range(0, len(x), 2):
        flipped = list(right)
        flipped[i] = not flipped[i]
        probs = cross_fit(x, flipped, k=5, seed=0)
        assert probs[i] == base[i], f"item {i}'s probability depends on its own label"
        moved_others += any(p != b for j, (p, b) in enumerate(zip(probs, base, strict=True)) if j != i)
    assert moved_others > len(x) // 4


def test_groups_keep_a_tasks_items_in_one_fold():
    # 40 items in 10 tasks of 4, a task's items far apart (item i is in task i % 10). With
    # groups, flipping one item's label leaves every item of its task unchanged (they share its
    # fold). Without groups the tasks are split across folds, and for some item a task-mate's
    # probability moves. One item per task is flipped.
    x, right = _noisy(40, seed=6)
    task = [i % 10 for i in range(40)]
    base = cross_fit(x, right, groups=task)
    plain = cross_fit(x, right)
    mate_moved_without_groups = False
    for i in range(10):
        flipped = list(right)
        flipped[i] = not flipped[i]
        with_groups, without = cross_fit(x, flipped, groups=task), cross_fit(x, flipped)
        mates = [j for j in range(40) if task[j] == task[i]]
        assert [with_groups[j] for j in mates] == [base[j] for j in mates]
        mate_moved_without_groups |= any(without[j] != plain[j] for j in mates if j != i)
    assert mate_moved_without_groups


def test_evaluate_field_by_hand():
    # 20 wrong items at 0.2, 20 right at 0.8. Before: equal-count bins of 4 hold one value each;
    # every bin's gap is 0.2 (0.2 vs 0, 0.8 vs 1) -> ECE 0.2; Brier = 0.2^2 = 0.04 for all.
    # Every training set (32 of 40) holds both values, so each fold's map sends 0.2 -> 0 and
    # 0.8 -> 1: after, ECE 0 and Brier 0. AUROC: every right item above every wrong -> 1.
    x = [0.2, 0.8] * 20
    right = [False, True] * 20
    report = evaluate_field(x, right)
    assert report == pytest.approx({"n": 40, "auroc": 1.0, "ece_before": 0.2, "ece_after": 0.0,
                                    "brier_before": 0.04, "brier_after": 0.0, "calibrated": True})


def test_evaluate_field_with_too_little_gold_keeps_before():
    # 0.9, 0.9, 0.1, 0.1 with right 1, 0, 0, 0: Brier = (0.01 + 0.81 + 0.01 + 0.01) / 4 = 0.21.
    # Ten bins over four items: four bins of one; gaps 0.1, 0.9, 0.1, 0.1 -> ECE = 1.2 / 4 = 0.3.
    # AUROC: the right 0.9 beats both 0.1s (2) and ties the wrong 0.9 (1/2): 2.5 / 3.
    report = evaluate_field([0.9, 0.9, 0.1, 0.1], [True, False, False, False])
    assert report == pytest.approx({"n": 4, "auroc": 2.5 / 3, "ece_before": 0.3, "ece_after": 0.3,
                                    "brier_before": 0.21, "brier_after": 0.21, "calibrated": False})


def test_evaluate_field_refuses_raw_log_probabilities():
    with pytest.raises(InputError, match="signal_to_unit"):
        evaluate_field([-0.1, -2.0], [True, False])
