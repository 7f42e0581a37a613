"""Many requests in flight on one thread: coroutines on an event loop, their results finished as they come.

Drafting waits on the LLM server almost all the time. One event loop keeps every request
in flight without a thread each, so the CPU a draft costs is not spent handing the GIL
between threads. Results are finished (stored) on the same thread, and flushed (committed)
once per round of results that came in together.

Ctrl-C: the first stops sending and waits for the requests in flight (their answers are
paid for: they are finished like the others); the second gives up on them.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import signal
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

YOUNG_COLLECTION_EVERY = 10_000
"""Allocations between collections of the youngest generation while the loop runs (Python's default: 700).
Each request makes thousands of short-lived objects; collecting them less often is about a tenth more
drafts a second at 64 requests in flight (BENCHMARKS.md)."""

T = TypeVar("T")
R = TypeVar("R")


def run_on_loop(work: Callable[[T], Awaitable[R]], items: Iterable[T], max_in_flight: int,
                finish: Callable[[R], None], *, flush: Callable[[], None] | None = None,
                stop_sending: Callable[[], None] | None = None,
                on_interrupt: Callable[[int], None] | None = None,
                before_close: Callable[[], Awaitable[None]] | None = None) -> int | None:
    """Await `work(item)` for every item, at most `max_in_flight` at once, on a new event loop on this thread.

    Each result goes to `finish` as it comes; `flush()` follows each round of them. Returns None
    when every item is done. On Ctrl-C (SIGINT, when this is the main thread) `stop_sending()`
    is called, `on_interrupt(running)` hears how many are still running, nothing more starts,
    and the running ones are awaited and finished: it returns 0, or how many a second Ctrl-C
    abandoned. An exception from `work` or `finish` also stops new work; it is raised once the
    running ones are finished. `before_close()` runs on the loop at the end (close clients).
    """
    if max_in_flight < 1:
        raise ValueError("max_in_flight must be at least 1")
    bounded = _Bounded(work, iter(items), max_in_flight, finish, flush or (lambda: None),
                       stop_sending or (lambda: None), on_interrupt or (lambda running: None))
    loop = asyncio.new_event_loop()
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], YOUNG_COLLECTION_EVERY), *thresholds[1:])
    handles_sigint = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if handles_sigint else None
    try:
        if handles_sigint:
            loop.add_signal_handler(signal.SIGINT, bounded.interrupt)
        return loop.run_until_complete(bounded.run(before_close))
    finally:
        if handles_sigint:
            loop.remove_signal_handler(signal.SIGINT)
            signal.signal(signal.SIGINT, previous)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        gc.set_threshold(*thresholds)


class _Bounded(Generic[T, R]):
    """The state of one `run_on_loop` (all of it touched on the loop's thread only)."""

    def __init__(self, work: Callable[[T], Awaitable[R]], items: Any, max_in_flight: int,
                 finish: Callable[[R], None], flush: Callable[[], None], stop_sending: Callable[[], None],
                 on_interrupt: Callable[[int], None]) -> None:
        self.work, self.items, self.max_in_flight = work, items, max_in_flight
        self.finish, self.flush, self.stop_sending, self.on_interrupt = finish, flush, stop_sending, on_interrupt
        self.running: set[asyncio.Task] = set()
        self.error: BaseException | None = None
        self.interrupts = 0
        self.abandoned = 0
        self._flush_due = False
        self._over: asyncio.Event | None = None

    async def run(self, before_close: Callable[[], Awaitable[None]] | None) -> int | None:
        self._over = asyncio.Event()
        try:
            self._start_more()
            await self._over.wait()
            if self.running:  # abandoned by a second Ctrl-C
                await asyncio.gather(*list(self.running), return_exceptions=True)
            self._flush()
        finally:
            if before_close is not None:
                await before_close()
        if self.error is not None:
            raise self.error
        return None if self.interrupts == 0 else self.abandoned

    def _start_more(self) -> None:
        """Start items up to the bound (none once stopping); the run is over when nothing runs."""
        if self.error is None and self.interrupts == 0:
            loop = asyncio.get_running_loop()
            try:
                for item in itertools.islice(self.items, self.max_in_flight - len(self.running)):
                    task = loop.create_task(self.work(item))
                    task.add_done_callback(self._done)
                    self.running.add(task)
            except Exception as exc:  # reading the items failed: stop like a failed item
                self._fail(exc)
        if not self.running and self._over is not None:
            self._over.set()

    def _done(self, task: asyncio.Task) -> None:
        self.running.discard(task)
        if not task.cancelled():
            if task.exception() is not None:
                self._fail(task.exception())
            else:
                try:
                    self.finish(task.result())
                except Exception as exc:
                    self._fail(exc)
                self._flush_soon()
        self._start_more()

    def _flush_soon(self) -> None:
        """Flush once after the results that are done in this round of the loop."""
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        try:
            self.flush()
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            self.stop_sending()

    def interrupt(self) -> None:
        """SIGINT: the first stops sending and waits; the second abandons what is running."""
        self.interrupts += 1
        if self.interrupts == 1:
            self.stop_sending()
            self.on_interrupt(sum(not t.done() for t in self.running))
        else:
            self.abandoned = sum(not t.done() for t in self.running)
            for task in self.running:
                task.cancel()
            if self._over is not None:
                self._over.set()
        if not self.running and self._over is not None:
            self._over.set()
