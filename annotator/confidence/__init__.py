"""Confidence of drafts, field by field, and which drafts may skip review: pure numbers in and out.

    metrics.py      how well a confidence separates right drafts from wrong ones:
                    auroc, ece (equal-count bins), brier, reliability (the diagram's bins)
    calibration.py  raw signal -> probability of being right: signal_to_unit puts a signal
                    on [0, 1], fit_isotonic fits a CalibrationMap (plain JSON, applied with
                    numpy alone), cross_fit gives out-of-sample probabilities on the gold,
                    evaluate_field compares the signal before and after
    routing.py      a threshold with a risk bound: choose_threshold (fixed-sequence testing
                    with Clopper-Pearson bounds), clopper_pearson_upper / _interval,
                    gold_needed (how much gold a guarantee takes at a given error rate)
    signals.py      a draft's raw signals: the log-probability of each value's tokens, each
                    span's and relation's, the share of K sampled answers that agree
    items.py        drafts against gold as right-or-wrong items with their signals: per
                    field, per span label, and the whole draft (ItemPool)
    figures.py      a pool's figures, out of sample: each field's chosen signal
                    cross-fitted, and the whole draft on the product of its fields'
    apply.py        a new draft's confidence from a stored calibration: per field, span,
                    relation, and the whole draft
    calibrate.py    the SQLite edge of `annotator calibrate`: a project's human gold in,
                    its maps stored as numbered versions (`calibrations`)
    route.py        the SQLite edge of `annotator route`: a threshold chosen on the
                    calibrated gold, stored as numbered versions (`routings`)
    audit.py        what the latest routing did and its blind audit against the guarantee
                    (eval, status and push --route read it)

Apart from calibrate.py, route.py and audit.py nothing here reads SQLite, and nothing speaks HTTP.
scikit-learn and scipy are optional (`pip install 'annotator[calibrate]'`),
imported only by the functions that fit, score or bound; applying a stored
CalibrationMap needs neither.
"""

from __future__ import annotations

from .calibration import (
    MIN_ITEMS,
    CalibrationMap,
    cross_fit,
    evaluate_field,
    fit_isotonic,
    signal_to_unit,
)
from .metrics import auroc, brier, ece, reliability
from .routing import (
    Choice,
    choose_threshold,
    clopper_pearson_interval,
    clopper_pearson_upper,
    gold_needed,
    min_testable,
)

__all__ = [
    "MIN_ITEMS", "CalibrationMap", "Choice", "auroc", "brier", "choose_threshold", "clopper_pearson_interval",
    "clopper_pearson_upper", "cross_fit", "ece", "evaluate_field", "fit_isotonic", "gold_needed",
    "min_testable", "reliability", "signal_to_unit",
]
