"""How well a confidence tells right drafts from wrong ones: AUROC, ECE, Brier, reliability bins.

Every function takes a confidence per item and whether the item was right (bool
or 0/1), both of the same length. Probabilities must lie in [0, 1]; AUROC only
ranks, so its scores may be any finite numbers (log-probabilities included).

ECE and the reliability diagram use `bins` EQUAL-COUNT bins: the items sorted by
probability (a stable sort, so equal probabilities keep their input order) are
split into `bins` groups whose sizes differ by at most one (numpy.array_split),
the larger groups first. Equal probabilities may therefore straddle two bins.
With fewer items than bins, the empty bins are left out.

Empty input: `auroc`, `ece` and `brier` return None, `reliability` an empty list.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from ..errors import AnnotatorError, InputError

EXTRA = "pip install 'annotator[calibrate]'"


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional numerical library; AnnotatorError naming the extra when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise AnnotatorError(f"{purpose} needs {top}, which is not installed; {EXTRA}") from exc


def as_labels(right: Sequence[bool] | np.ndarray, name: str = "right") -> np.ndarray:
    """`right` (or `wrong`) as a 1-D bool array; InputError unless every value is a bool or 0/1."""
    arr = np.asarray(right)
    if arr.ndim != 1:
        raise InputError(f"{name} must be a flat sequence of true/false values; pass one value per item")
    if arr.size and arr.dtype != bool:
        try:
            values = arr.astype(float)
        except (TypeError, ValueError):
            raise InputError(f"{name} holds values that are not true/false; pass bools or 0/1") from None
        if not np.all((values == 0) | (values == 1)):
            raise InputError(f"{name} holds values other than true/false; pass bools or 0/1")
        arr = values == 1
    return arr.astype(bool)


def as_numbers(values: Sequence[float] | np.ndarray, name: str = "scores", unit: bool = False) -> np.ndarray:
    """`values` as a 1-D float array; InputError on NaN or infinity, and outside [0, 1] when `unit`."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} holds values that are not numbers; pass one number per item") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be a flat sequence of numbers; pass one number per item")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} holds NaN or infinite values; drop those items or fix their signal")
    if unit and arr.size and (arr.min() < 0 or arr.max() > 1):
        raise InputError(f"{name} holds values outside [0, 1]; pass probabilities (see signal_to_unit)")
    return arr


def paired(values, right, name: str = "probs", unit: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Checked (values, right) arrays of the same length."""
    x, y = as_numbers(values, name, unit), as_labels(right)
    if len(x) != len(y):
        raise InputError(f"{name} has {len(x)} items but right has {len(y)}; pass one of each per item")
    return x, y


def auroc(scores: Sequence[float], right: Sequence[bool]) -> float | None:
    """Area under the ROC curve of the scores against right/wrong: the chance that a right item
    scores above a wrong one (ties count one half). None when only one class (or nothing) is present."""
    x, y = paired(scores, right, "scores", unit=False)
    if y.all() or not y.any():
        return None
    metrics = require("sklearn.metrics", "AUROC")
    return float(metrics.roc_auc_score(y, x))


def _bins(p: np.ndarray, bins: int) -> list[np.ndarray]:
    if not isinstance(bins, int | np.integer) or isinstance(bins, bool) or bins < 1:
        raise InputError(f"bins must be a whole number of at least 1, not {bins!r}")
    order = np.argsort(p, kind="stable")
    return [group for group in np.array_split(order, bins) if group.size]


def reliability(probs: Sequence[float], right: Sequence[bool], bins: int = 10) -> list[dict]:
    """The reliability diagram: per equal-count bin, low to high, the mean probability
    (`predicted`), the share right (`observed`) and the item count (`n`)."""
    p, y = paired(probs, right)
    if not p.size:
        return []
    return [{"predicted": float(p[g].mean()), "observed": float(y[g].mean()), "n": int(g.size)}
            for g in _bins(p, bins)]


def ece(probs: Sequence[float], right: Sequence[bool], bins: int = 10) -> float | None:
    """Expected calibration error over equal-count bins: sum of (n_bin / n) * |mean prob - share right|."""
    rows = reliability(probs, right, bins)
    if not rows:
        return None
    n = sum(row["n"] for row in rows)
    return float(sum(row["n"] / n * abs(row["predicted"] - row["observed"]) for row in rows))


def brier(probs: Sequence[float], right: Sequence[bool]) -> float | None:
    """Brier score: the mean squared difference between the probability and 1 (right) or 0 (wrong)."""
    p, y = paired(probs, right)
    if not p.size:
        return None
    return float(np.mean((p - y) ** 2))
