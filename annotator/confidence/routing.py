"""Which drafts may skip review: a confidence threshold with a stated risk bound on gold.

Learn-then-Test by fixed-sequence testing (as in Trust or Escalate, Jung et al.,
ICLR 2025). The candidate thresholds are the distinct confidences of the gold
items, from high to low. At each candidate t the accepted items are those with
confidence >= t, and the exact (Clopper-Pearson) upper bound of their error rate
at level 1 - delta is compared with the allowed `risk`. The sequence goes on while
the bound is within the risk and stops at the first candidate beyond it; a lower
candidate is never taken after a stop, even when its own bound would pass: that
is what makes the guarantee hold for the chosen threshold, not only for each
candidate alone. With probability at least 1 - delta over the gold, the error
rate among the drafts the threshold accepts is at most `risk`.

Candidates accepting fewer items than could ever pass (even with no errors) are
not tested: they fail whatever their labels, so testing them could only stop
the sequence before it begins. Which they are depends on counts, risk and delta,
never on labels (`min_accepted` overrides it; 1 tests every candidate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .metrics import as_labels, as_numbers, require


def _check_level(name: str, value: float) -> float:
    value = float(value)
    if not 0 < value < 1:
        raise InputError(f"{name} must lie strictly between 0 and 1, not {value}")
    return value


def _upper(errors: np.ndarray, n: np.ndarray, delta: float) -> np.ndarray:
    """Clopper-Pearson upper bounds at level 1 - delta, element-wise (1.0 where errors == n)."""
    stats = require("scipy.stats", "the risk bound")
    open_ = errors < n
    bound = np.ones(len(n), dtype=float)
    bound[open_] = stats.beta.ppf(1 - delta, errors[open_] + 1, n[open_] - errors[open_])
    return bound


def _check_counts(errors: int, n: int) -> None:
    try:
        whole = not isinstance(errors, bool) and not isinstance(n, bool) and int(errors) == errors \
            and int(n) == n and 0 <= errors <= n
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise InputError(f"need whole counts with 0 <= errors <= n, not errors={errors!r}, n={n!r}")


def clopper_pearson_upper(errors: int, n: int, delta: float) -> float:
    """The exact one-sided upper confidence bound, at level 1 - delta, of a binomial proportion
    with `errors` out of `n` (1.0 when n == 0 or errors == n)."""
    _check_counts(errors, n)
    delta = _check_level("delta", delta)
    return float(_upper(np.array([int(errors)]), np.array([int(n)]), delta)[0])


def clopper_pearson_interval(errors: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact two-sided interval, at `level`, of a binomial proportion ((0.0, 1.0) when n == 0)."""
    _check_counts(errors, n)
    alpha = 1 - _check_level("level", level)
    stats = require("scipy.stats", "the confidence interval")
    errors, n = int(errors), int(n)
    low = 0.0 if errors == 0 else float(stats.beta.ppf(alpha / 2, errors, n - errors + 1))
    high = 1.0 if errors == n else float(stats.beta.ppf(1 - alpha / 2, errors + 1, n - errors))
    return low, high


def min_testable(risk: float, delta: float) -> int:
    """The fewest accepted items whose bound can be within `risk` at all: with no errors the bound
    is 1 - delta**(1/n), within risk once (1 - risk)**n <= delta."""
    risk, delta = _check_level("risk", risk), _check_level("delta", delta)
    n = max(1, math.ceil(math.log(delta) / math.log1p(-risk)))
    while n > 1 and clopper_pearson_upper(0, n - 1, delta) <= risk:
        n -= 1
    while clopper_pearson_upper(0, n, delta) > risk:
        n += 1
    return n


@dataclass(frozen=True)
class Choice:
    """The chosen threshold (None: nothing can be guaranteed, accept nothing) and its gold figures:
    the accepted items, their errors and error bound, out of `n` gold items."""

    threshold: float | None
    accepted: int
    errors: int
    bound: float | None
    n: int
    risk: float
    delta: float
    accept_share: float


def choose_threshold(confidence: Sequence[float], wrong: Sequence[bool], risk: float, delta: float,
                     min_accepted: int | None = None) -> Choice:
    """The lowest threshold reached by fixed-sequence testing (see the module docstring).

    `wrong[i]` is True when gold item i's draft was wrong. `min_accepted` (default:
    `min_testable(risk, delta)`) skips candidates that accept fewer items.
    """
    conf, bad = as_numbers(confidence, "confidence"), as_labels(wrong, "wrong")
    if len(conf) != len(bad):
        raise InputError(f"confidence has {len(conf)} items but wrong has {len(bad)}; pass one of each per item")
    risk, delta = _check_level("risk", risk), _check_level("delta", delta)
    floor = min_testable(risk, delta) if min_accepted is None else int(min_accepted)
    if floor < 1:
        raise InputError(f"min_accepted must be at least 1, not {min_accepted!r}")
    n = len(conf)
    order = np.argsort(-conf, kind="stable")
    ranked, cum_errors = conf[order], np.cumsum(bad[order])
    # The last position of each distinct confidence, high to low: everything up to it is accepted.
    last = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], n > 0])
    last = last[last + 1 >= floor]
    accepted, errors = last + 1, cum_errors[last]
    bounds = _upper(errors, accepted, delta)
    failed = np.flatnonzero(bounds > risk)
    passed = int(failed[0]) if failed.size else len(bounds)
    if passed == 0:
        return Choice(None, 0, 0, None, n, risk, delta, 0.0)
    i = passed - 1
    return Choice(threshold=float(ranked[last[i]]), accepted=int(accepted[i]), errors=int(errors[i]),
                  bound=float(bounds[i]), n=n, risk=risk, delta=delta, accept_share=int(accepted[i]) / n)


def gold_needed(error_rate: float, risk: float, delta: float, max_n: int = 1_000_000) -> int | None:
    """The fewest accepted items n whose bound, with round(error_rate * n) errors, is within `risk`:
    how much gold a threshold needs at this error rate. None when error_rate >= risk or no n up to
    `max_n` is enough.

    The error count steps up with n, so the bound is not monotone in n; but among the n sharing
    one error count it falls as n grows. Only the last n of each count is tested, in order; the
    first count that passes there holds the answer, found by bisection.
    """
    if not 0 <= error_rate <= 1:
        raise InputError(f"error_rate must lie in [0, 1], not {error_rate}")
    risk, delta = _check_level("risk", risk), _check_level("delta", delta)
    if error_rate >= risk:
        return None
    first = min_testable(risk, delta)
    start, size = first, 256
    while start <= max_n:
        stop = min(start + size, max_n + 1)
        ns = np.arange(start, stop + 1)  # one past the block, to see where an error count ends
        es = np.rint(error_rate * ns).astype(np.int64)  # rint rounds half to even, as round() does
        ends = np.flatnonzero((es[1:] > es[:-1]) | (ns[:-1] == max_n))
        passing = np.flatnonzero(_upper(es[ends], ns[ends], delta) <= risk)
        if passing.size:
            return _first_passing(error_rate, first, int(ns[ends[passing[0]]]), risk, delta)
        start, size = stop, min(size * 2, 65_536)
    return None


def _first_passing(error_rate: float, low: int, high: int, risk: float, delta: float) -> int:
    """The smallest n in [low, high] whose bound passes, given that passing is monotone there."""
    while low < high:
        mid = (low + high) // 2
        if clopper_pearson_upper(round(error_rate * mid), mid, delta) <= risk:
            high = mid
        else:
            low = mid + 1
    return low


__all__ = ["Choice", "choose_threshold", "clopper_pearson_interval", "clopper_pearson_upper",
           "gold_needed", "min_testable"]
