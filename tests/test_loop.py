"""run_on_loop: the bound on work in flight, results on the caller's thread, errors and Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from annotator.annotate.loop import run_on_loop


def counted_items(n: int, finished: list, outstanding: list[int]):
    """range(n), noting how many items were taken and not finished each time one more is taken."""
    for i in range(n):
        outstanding.append(i + 1 - len(finished))
        yield i


def test_at_most_max_in_flight_run_at_once_and_results_are_finished_on_the_caller_thread() -> None:
    outstanding: list[int] = []
    finished: list[int] = []

    async def work(i: int) -> int:
        await asyncio.sleep(0.001 * (i % 3))
        return i * i

    def finish(result: int) -> None:
        assert threading.current_thread() is threading.main_thread()
        finished.append(result)

    assert run_on_loop(work, counted_items(50, finished, outstanding), 8, finish) is None
    assert sorted(finished) == [i * i for i in range(50)]
    # The 9th item is only taken once one of the first 8 is finished; the bound is reached.
    assert outstanding[:8] == [1, 2, 3, 4, 5, 6, 7, 8] and max(outstanding) == 8


def test_results_that_come_in_together_are_flushed_once() -> None:
    finished: list[int] = []
    flushes: list[int] = []

    async def work(i: int) -> int:
        return i  # all four are done in the same round of the loop

    run_on_loop(work, range(4), 4, finished.append, flush=lambda: flushes.append(len(finished)))
    assert finished == [0, 1, 2, 3] and flushes[0] == 4


def test_an_error_stops_new_work_and_is_raised_after_the_running_results_are_finished() -> None:
    finished: list[int] = []
    stops: list[bool] = []

    async def work(i: int) -> int:
        if i == 1:
            raise ValueError("one")
        await asyncio.sleep(0.05)  # 0, 2 and 3 are running when 1 fails
        return i

    with pytest.raises(ValueError, match="one"):
        run_on_loop(work, range(10), 4, finished.append, stop_sending=lambda: stops.append(True))
    assert sorted(finished) == [0, 2, 3] and stops == [True]


def test_first_ctrl_c_stops_starting_and_waits_for_the_running_second_abandons_them() -> None:
    finished: list[int] = []
    told: list[int] = []

    async def work(i: int) -> int:
        if i == 0:
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        await asyncio.sleep(0.3)
        return i

    assert run_on_loop(work, range(10), 3, finished.append, on_interrupt=told.append) == 0
    assert sorted(finished) == [0, 1, 2] and told == [3]

    finished.clear()

    async def slow(i: int) -> int:
        if i == 0:
            for delay in (0.05, 0.3):
                threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)).start()
        await asyncio.sleep(30)
        return i

    assert run_on_loop(slow, range(10), 2, finished.append) == 2
    assert finished == []
    # Ctrl-C is Python's own again afterwards.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
