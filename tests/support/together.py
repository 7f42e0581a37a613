"""Two runs of the same command at once, both past their reads before either writes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest


def both_at_once(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, one_run: Callable[[], Any]) -> list:
    """Run `one_run` in two threads; each stops at `module.name` until the other has reached it too.

    `module.name` is the step after the reads (e.g. the fit before a new version is stored), so
    both runs have seen the same state before either writes. The results, in the order the runs
    ended; an exception in a run is raised here.
    """
    step, both_there = getattr(module, name), threading.Barrier(2, timeout=60)

    def together(*args, **kwargs):
        both_there.wait()
        return step(*args, **kwargs)

    monkeypatch.setattr(module, name, together)
    results: list = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(one_run())
        except BaseException as exc:  # collected: a thread's exception would not fail the test
            errors.append(exc)

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in runs), "a run did not finish"
    if errors:
        raise errors[0]
    return results
