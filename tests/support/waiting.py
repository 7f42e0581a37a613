"""Waiting for a condition with a deadline: the one way a test waits on something another thread or process does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(query: Callable[[], T], deadline: float = 30.0, every: float = 0.02) -> T:
    """Poll until `query()` is truthy and return its value; fail once `deadline` seconds have passed.

    The deadline only bounds a wait that would otherwise hang: a test never asserts how long it took.
    """
    give_up = time.monotonic() + deadline
    while True:
        value = query()
        if value:
            return value
        assert time.monotonic() < give_up, f"not within {deadline} s"
        time.sleep(every)
