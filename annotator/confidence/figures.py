"""Calibration figures of an ItemPool, out of sample: per field, per span label, and the whole draft.

Each field (and each label of a span field) is calibrated on its own signal
(`items.choose_signal`), put on [0, 1] by `signal_to_unit`. Its figures compare
that raw value with probabilities cross-fitted on the gold at hand (k folds, the
items of one task in one fold): AUROC of the raw value against right/wrong, ECE
(10 equal-count bins) and Brier before and after. With too little gold (fewer than
MIN_ITEMS items, or fewer tasks than folds) the raw value stands: the "after"
figures repeat the "before" ones and `calibrated` is False.

A draft's confidence is the product of its fields' probabilities (each field's
out-of-sample probability, or its raw value where it was not calibrated; a span or
relation field: the product over its drafted items, 1 with none). The whole draft
is right when every field is; that product is calibrated the same way.

Without scikit-learn (`fitting=False`) only the figures that need none exist:
ECE and Brier before; the others are None.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from .calibration import CalibrationMap, cross_fit, evaluate_field, fit_isotonic, signal_to_unit
from .items import Item, ItemPool, choose_signal
from .metrics import brier, ece, reliability

FOLDS = 5
DRAFT_SIGNAL = "fields_product"
"""The whole draft's signal: the product of its fields' probabilities."""
CALIBRATION_KEYS = ("n", "signal", "auroc", "ece_before", "ece_after", "brier_before", "brier_after")


def fitting_available() -> bool:
    """scikit-learn is installed (the `calibrate` extra)."""
    return importlib.util.find_spec("sklearn") is not None


@dataclass
class Assessed:
    """One field's (or label's, or the whole draft's) calibration on the gold at hand."""

    signal: str
    x: list[float]
    """The raw signal of every item, on [0, 1]."""
    right: list[bool]
    probs: list[float]
    """Every item's out-of-sample probability; the raw value where not calibrated."""
    figures: dict
    calibrated: bool

    @property
    def n(self) -> int:
        return len(self.x)

    def calibration(self) -> dict:
        """Exactly n, signal, auroc, ece_before, ece_after, brier_before, brier_after (None: no such figure)."""
        return {"n": self.n, "signal": self.signal, **{k: self.figures[k] for k in CALIBRATION_KEYS[2:]}}

    def reliability(self) -> dict:
        """The diagram's bins: `before` of the raw signal, `after` of the out-of-sample probabilities (None
        when not calibrated)."""
        return {"before": reliability(self.x, self.right),
                "after": reliability(self.probs, self.right) if self.calibrated else None}

    def fitted_map(self) -> CalibrationMap | None:
        """The map fitted on all these items (None when not calibrated)."""
        return fit_isotonic(self.x, self.right, signal=self.signal) if self.calibrated else None


def assess_values(x: Sequence[float], right: Sequence[bool], groups: Sequence[Hashable], signal: str,
                  k: int = FOLDS, fitting: bool = True) -> Assessed:
    """Figures of raw values in [0, 1] against right/wrong, cross-fitted in `k` folds by group."""
    x, right = [float(v) for v in x], [bool(r) for r in right]
    if not fitting:
        figures = {"auroc": None, "ece_before": ece(x, right), "ece_after": None,
                   "brier_before": brier(x, right), "brier_after": None}
        return Assessed(signal, x, right, list(x), figures, False)
    figures = evaluate_field(x, right, k=k, groups=list(groups))
    probs = cross_fit(x, right, k=k, groups=list(groups)) if figures["calibrated"] else None
    return Assessed(signal, x, right, probs if probs is not None else list(x), figures, probs is not None)


def assess_items(items: Sequence[Item], k: int = FOLDS, fitting: bool = True) -> Assessed:
    """Figures of one field's (or label's) items on their chosen signal."""
    signal = choose_signal(items)
    x = [signal_to_unit(signal, item.signals[signal]) for item in items]
    return assess_values(x, [item.right for item in items], [item.group for item in items], signal, k, fitting)


@dataclass
class PoolFigures:
    """Every field's, every span label's and the whole draft's calibration."""

    fields: dict[str, Assessed]
    labels: dict[str, dict[str, Assessed]]
    draft: Assessed

    def uncalibrated(self) -> list[str]:
        """Fields and labels ("field LABEL") that keep their raw signal, in order."""
        names = [name for name, a in self.fields.items() if not a.calibrated]
        names += [f"{name} {label}" for name, by_label in self.labels.items()
                  for label, a in by_label.items() if not a.calibrated]
        return names


def assess_pool(pool: ItemPool, k: int = FOLDS, fitting: bool = True) -> PoolFigures:
    """Calibrate every field and span label of the pool, then the whole draft on its fields' product."""
    fields = {name: assess_items(items, k, fitting) for name, items in pool.fields.items()}
    labels = {name: {label: assess_items(items, k, fitting) for label, items in sorted(by_label.items())}
              for name, by_label in pool.labels.items()}
    products = [math.prod(p for name, (a, b) in place.slices.items() for p in fields[name].probs[a:b])
                for place in pool.drafts]
    draft = assess_values(products, [place.right for place in pool.drafts], [place.group for place in pool.drafts],
                          DRAFT_SIGNAL, k, fitting)
    return PoolFigures(fields, labels, draft)


def draft_right(figures: PoolFigures) -> dict:
    """Exactly {"auroc", "ece_after"} of the whole draft."""
    return {"auroc": figures.draft.figures["auroc"], "ece_after": figures.draft.figures["ece_after"]}


__all__ = ["CALIBRATION_KEYS", "DRAFT_SIGNAL", "FOLDS", "Assessed", "PoolFigures", "assess_items", "assess_pool",
           "assess_values", "draft_right", "fitting_available"]
