"""From a draft's raw signal to a probability of being right, fitted on gold.

A raw signal (a log-probability, a share of agreeing samples, a share of grounded
spans) is first put on [0, 1] by `signal_to_unit`. `fit_isotonic` fits a monotone
map from that number to the share of right drafts (scikit-learn's
IsotonicRegression) and keeps only its breakpoints: a `CalibrationMap` is plain
JSON data and is applied with numpy alone, so reading confidences never needs
scikit-learn.

`cross_fit` gives every gold item a probability from a map that never saw it
(k folds; with `groups`, the items of one task stay in one fold), and
`evaluate_field` compares the raw signal with those out-of-sample probabilities.
Below MIN_ITEMS gold items (or fewer items or tasks than folds) there is too
little gold: `cross_fit` returns None and callers keep the uncalibrated signal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .metrics import as_numbers, auroc, brier, ece, paired, require

MIN_ITEMS = 30
"""Fewer gold items than this: no calibration, the raw signal stands."""

UNIT_SIGNALS = ("agreement", "grounded")
"""Signal name prefixes that are already shares in [0, 1]; "logprob..." signals are exponentiated."""


@dataclass(frozen=True)
class CalibrationMap:
    """A monotone map from a signal in [0, 1] to a probability of being right.

    `xs` and `ys` are the breakpoints IsotonicRegression kept (X_thresholds_,
    y_thresholds_); between them the map is linear, outside them flat (clipped),
    exactly as IsotonicRegression(out_of_bounds="clip").predict. `n` counts the
    gold items it was fitted on.
    """

    signal: str
    xs: list[float]
    ys: list[float]
    n: int

    def __post_init__(self) -> None:
        xs = [float(v) for v in self.xs]
        ys = [float(v) for v in self.ys]
        if not xs or len(xs) != len(ys):
            raise InputError(f"calibration map for {self.signal!r} has {len(xs)} xs and {len(ys)} ys; "
                             "they must be equally many and at least one: fit the map again")
        if not all(map(math.isfinite, xs + ys)) or min(ys) < 0 or max(ys) > 1:
            raise InputError(f"calibration map for {self.signal!r} holds a value that is not a finite "
                             "number or a probability outside [0, 1]; fit the map again")
        if any(b < a for a, b in zip(xs, xs[1:], strict=False)) or any(
                b < a for a, b in zip(ys, ys[1:], strict=False)):
            raise InputError(f"calibration map for {self.signal!r} is not non-decreasing; fit the map again")
        if int(self.n) < 1:
            raise InputError(f"calibration map for {self.signal!r} counts {self.n} gold items; fit the map again")
        object.__setattr__(self, "xs", xs)
        object.__setattr__(self, "ys", ys)
        object.__setattr__(self, "n", int(self.n))

    def apply(self, x: float) -> float:
        """The probability of being right for a signal value (linear between breakpoints, clipped outside)."""
        if not math.isfinite(x):
            raise InputError(f"signal {self.signal!r} value {x!r} is not a finite number; fix the signal")
        return float(np.interp(x, self.xs, self.ys))

    def apply_many(self, values: Sequence[float]) -> list[float]:
        """`apply` for many values at once."""
        arr = as_numbers(values, self.signal or "values")
        return [float(v) for v in np.interp(arr, self.xs, self.ys)]

    def to_json(self) -> dict:
        """Plain JSON data: {"signal", "xs", "ys", "n"}."""
        return {"signal": self.signal, "xs": list(self.xs), "ys": list(self.ys), "n": self.n}

    @classmethod
    def from_json(cls, data: dict | str) -> CalibrationMap:
        """The map back from `to_json()`'s data (or that data dumped to a JSON string)."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise InputError(f"calibration map is not valid JSON ({exc}); fit the map again") from None
        if not isinstance(data, dict) or set(data) != {"signal", "xs", "ys", "n"}:
            raise InputError("calibration map must be an object with exactly signal, xs, ys and n; "
                             "fit the map again")
        if not isinstance(data["xs"], list) or not isinstance(data["ys"], list) or not isinstance(data["n"], int):
            raise InputError("calibration map's xs and ys must be lists and n a whole number; fit the map again")
        return cls(signal=str(data["signal"]), xs=data["xs"], ys=data["ys"], n=data["n"])


def signal_to_unit(name: str, value: float) -> float:
    """A raw signal on [0, 1]: "logprob..." signals as exp(value), "agreement..." and
    "grounded..." shares as they are; the result clipped to [0, 1]."""
    value = float(value)
    logprob = name.startswith("logprob")
    if not logprob and not name.startswith(UNIT_SIGNALS):
        raise InputError(f"unknown signal {name!r}; signals are named logprob..., agreement... or grounded...")
    if not (math.isfinite(value) or (logprob and value == -math.inf)):
        raise InputError(f"signal {name!r} is {value}, not a finite number; drop the item or fix the signal")
    if logprob:
        value = math.exp(min(value, 0.0))
    return min(max(value, 0.0), 1.0)


def fit_isotonic(x: Sequence[float], right: Sequence[bool], signal: str = "") -> CalibrationMap:
    """The monotone non-decreasing map from signal x in [0, 1] to the share right, fitted on all of them."""
    xs, ys = paired(x, right, "x")
    if not xs.size:
        raise InputError(f"no gold items to calibrate {signal or 'the signal'} on; pull gold first")
    isotonic = require("sklearn.isotonic", "calibration")
    model = isotonic.IsotonicRegression(increasing=True, y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(xs, ys.astype(float))
    # Float noise from the pooled means must not leave [0, 1].
    ys_fit = np.clip(model.y_thresholds_, 0.0, 1.0)
    return CalibrationMap(signal=signal, xs=model.X_thresholds_.tolist(), ys=ys_fit.tolist(), n=int(xs.size))


def _folds(n: int, k: int, seed: int, groups: Sequence[Hashable] | None):
    selection = require("sklearn.model_selection", "cross-fitting")
    if groups is None:
        return selection.KFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(n))
    codes: dict = {}
    ids = np.array([codes.setdefault(g, len(codes)) for g in groups])
    return selection.GroupKFold(n_splits=k).split(np.zeros(n), groups=ids)


def cross_fit(x: Sequence[float], right: Sequence[bool], k: int = 5, seed: int = 0,
              groups: Sequence[Hashable] | None = None) -> list[float] | None:
    """Out-of-sample probabilities: each item's from the map fitted on the other k-1 folds.

    Folds: KFold shuffled with `seed`; with `groups` (one key per item, e.g. its
    task) GroupKFold, so the items of one group are never on both sides (its split
    is deterministic and ignores `seed`). An item's own label never reaches its own
    probability, nor do the labels of the others in its fold. None (too little gold:
    keep the raw signal) with fewer than MIN_ITEMS items, fewer items than folds, or
    fewer distinct groups than folds.
    """
    xs, ys = paired(x, right, "x")
    if not isinstance(k, int) or k < 2:
        raise InputError(f"k must be a whole number of folds of at least 2, not {k!r}")
    if groups is not None and len(groups) != len(xs):
        raise InputError(f"groups has {len(groups)} items but x has {len(xs)}; pass one group per item")
    if len(xs) < max(MIN_ITEMS, k) or (groups is not None and len(set(groups)) < k):
        return None
    out = np.empty(len(xs))
    for train, test in _folds(len(xs), k, seed, groups):
        out[test] = fit_isotonic(xs[train], ys[train]).apply_many(xs[test])
    return out.tolist()


def evaluate_field(x: Sequence[float], right: Sequence[bool], k: int = 5, seed: int = 0,
                   groups: Sequence[Hashable] | None = None) -> dict:
    """The raw signal x (in [0, 1]) against its cross-fitted probabilities on one field's gold.

    Keys: n, auroc (of the raw signal), ece_before, ece_after, brier_before,
    brier_after and calibrated; with too little gold, calibrated is False and the
    "after" figures repeat the "before" ones.
    """
    xs, ys = paired(x, right, "x")
    before = {"ece": ece(xs, ys), "brier": brier(xs, ys)}
    probs = cross_fit(xs, ys, k=k, seed=seed, groups=groups)
    after = before if probs is None else {"ece": ece(probs, ys), "brier": brier(probs, ys)}
    return {"n": int(xs.size), "auroc": auroc(xs, ys),
            "ece_before": before["ece"], "ece_after": after["ece"],
            "brier_before": before["brier"], "brier_after": after["brier"],
            "calibrated": probs is not None}


__all__ = ["MIN_ITEMS", "CalibrationMap", "cross_fit", "evaluate_field", "fit_isotonic", "signal_to_unit"]
