"""An annotate run: pending sentences -> drafts in flight on one event loop -> one stored row per finished draft."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import sqlite_utils

from ..errors import InputError
from ..llm.client import LLMClient
from ..llm.limiter import AdaptiveLimiter
from ..prompts import Prompt
from ..schema import Schema
from ..store import DraftStatus
from .drafter import Outcome
from .jobs import count_pending, pending_jobs
from .loop import run_on_loop
from .prepare import RunOptions, drafting_lock, prepare_run
from .writes import DraftWriter, has_failed_drafts


@dataclass
class RunReport:
    """What an annotate run did."""

    pending: int = 0
    done: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dropped_spans: int = 0
    interrupted: bool = False
    abandoned: int = 0  # requests still running when a second Ctrl-C gave up on them
    mode: str | None = None
    ok_modes: set[str] = field(default_factory=set)  # the modes that made at least one ok draft
    replayed: int = 0  # drafts a locked database kept out of the last run, stored at the start of this one
    throttled: int = 0  # replies that were 429 (rate limited)
    lowest_in_flight: int | None = None  # the fewest requests in flight the rate limits brought the run down to

    def count(self, row: dict[str, Any]) -> None:
        """Add one stored draft."""
        self.done += 1
        self.by_status[row["status"]] = self.by_status.get(row["status"], 0) + 1
        if not row["cached"]:
            self.prompt_tokens += row["prompt_tokens"]
            self.completion_tokens += row["completion_tokens"]
        self.dropped_spans += row["n_dropped"] or 0
        if row["status"] == DraftStatus.OK:
            self.ok_modes.add(row["mode"])


def annotate(db: sqlite_utils.Database, client: LLMClient, schema: Schema, prompt: Prompt,
             options: RunOptions | None = None, *, on_start: Callable[[int], None] | None = None,
             on_done: Callable[[dict], None] | None = None, on_interrupt: Callable[[int], None] | None = None,
             **loose: Any) -> RunReport:
    """Draft every pending sentence as `options` say; each finished draft is committed at once.

    A sentence is pending when it has no ok or invalid draft for (schema, prompt, model)
    made with the client's run settings (or before they were recorded). On Ctrl-C no
    request is sent or retried any more; `on_interrupt(running)` hears how many are
    still out, and their answers are stored as they come (a second Ctrl-C gives up
    on them: `report.abandoned`).

    `options`' fields may also be given one by one (`annotate(..., concurrency=8)`), or
    both: the loose ones win.
    """
    options = replace(options or RunOptions(), **loose)
    if _in_event_loop():
        raise InputError("annotate() runs its own event loop and cannot run inside another one (a notebook cell); "
                         "call it from a thread that opens its own database: asyncio.to_thread or the CLI")
    with drafting_lock(db, client, schema, prompt, options.selection):
        return _annotate(db, client, schema, prompt, options, on_start=on_start, on_done=on_done,
                         on_interrupt=on_interrupt)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _annotate(db: sqlite_utils.Database, client: LLMClient, schema: Schema, prompt: Prompt, options: RunOptions, *,
              on_start: Callable[[int], None] | None, on_done: Callable[[dict], None] | None,
              on_interrupt: Callable[[int], None] | None) -> RunReport:
    run = prepare_run(db, client, schema, prompt, options)
    writer = DraftWriter(db)
    report = RunReport(replayed=writer.replay(), mode=run.resolver.mode)  # answers a locked database kept last time
    writer.drop_superseded = has_failed_drafts(db, schema.hash, prompt.version, client.model)
    total = count_pending(db, schema, prompt, client.model, client.run_key, options.retry_invalid, options.selection)
    report.pending = min(total, options.limit) if options.limit is not None else total
    if on_start:
        on_start(report.pending)
    if report.pending == 0:
        return report

    def finish(outcome: Outcome | None) -> None:
        if outcome is None:  # the run stopped before this sentence's request went out
            return
        writer.write(outcome)
        report.count(outcome.row)
        if on_done:
            on_done(outcome.row)

    calls_before = client.calls
    jobs = pending_jobs(db, schema, prompt, client.model, client.run_key, options.limit, options.retry_invalid,
                        options.selection)
    limiter, gate_before = AdaptiveLimiter(options.concurrency) if options.adaptive else None, client.gate
    client.gate = limiter or gate_before
    stopped_before = client.stopping.is_set()
    try:
        abandoned = run_on_loop(run.drafter.adraft, jobs, options.concurrency, finish, flush=writer.flush,
                                stop_sending=client.stopping.set, on_interrupt=on_interrupt,
                                before_close=client.aclose)
        report.interrupted, report.abandoned = abandoned is not None, abandoned or 0
    finally:
        client.gate = gate_before
        if not stopped_before:
            client.stopping.clear()  # the stop was this run's
        if limiter is not None:
            report.throttled, report.lowest_in_flight = limiter.stats.throttled, int(limiter.stats.lowest)
        report.mode = run.resolver.mode
        report.llm_calls = client.calls - calls_before
    if writer.spilled:
        writer.replay()  # DatabaseBusy (one line) if the database is still locked: the side file stays
    run.remember(db, client, report.ok_modes)
    return report
