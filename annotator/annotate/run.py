"""An annotate run: pending sentences -> drafts in flight on one event loop -> one stored row per finished draft."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from ..errors import InputError
from ..llm import LLMClient
from ..llm.cache import cached_response
from ..llm.limiter import AdaptiveLimiter
from ..locks import hold
from ..prompts import Prompt, register_prompt
from ..schema import Schema
from ..store import DraftStatus, now
from .drafter import Drafter, ModeResolver, Outcome
from .jobs import Selection, count_pending, pending_jobs
from .loop import run_on_loop
from .writes import DraftWriter


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


def record_schema(db: sqlite_utils.Database, schema: Schema) -> None:
    """Keep the JSON schema the drafts' `schema_hash` stands for (first name wins)."""
    with db.atomic():
        db.execute("INSERT OR IGNORE INTO schemas (hash, name, json_schema, created_at) VALUES (?, ?, ?, ?)",
                   [schema.hash, schema.name, json.dumps(schema.json_schema), now()])


def remembered_mode(db: sqlite_utils.Database, model: str) -> str | None:
    """The structured-output mode that last worked for the model."""
    row = db.execute("SELECT mode FROM llm_modes WHERE model = ?", [model]).fetchone()
    return row[0] if row else None


def remember_mode(db: sqlite_utils.Database, model: str, mode: str) -> None:
    """Start the model's next run in `mode`."""
    with db.atomic():
        db.execute("INSERT INTO llm_modes (model, mode, updated_at) VALUES (?, ?, ?) "
                   "ON CONFLICT(model) DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at",
                   [model, mode, now()])


def remembered_logprobs(db: sqlite_utils.Database, server: str, model: str) -> bool:
    """Whether to ask this server for the model's log-probabilities (not once it refused them)."""
    return db.execute("SELECT 1 FROM llm_logprobs_refused WHERE server = ? AND model = ?",
                      [server, model]).fetchone() is None


def remember_no_logprobs(db: sqlite_utils.Database, server: str, model: str) -> None:
    """The server refused the model's log-probabilities: later runs to it stop asking."""
    with db.atomic():
        db.execute("INSERT OR REPLACE INTO llm_logprobs_refused (server, model, refused_at) VALUES (?, ?, ?)",
                   [server, model, now()])


def annotate(db: sqlite_utils.Database, client: LLMClient, schema: Schema, prompt: Prompt, *,
             mode: str = "auto", concurrency: int = 4, limit: int | None = None, max_reasks: int = 2,
             on_start: Callable[[int], None] | None = None,
             on_done: Callable[[dict], None] | None = None,
             on_interrupt: Callable[[int], None] | None = None, retry_invalid: bool = False,
             selection: Selection | None = None, adaptive: bool = True) -> RunReport:
    """Draft every pending sentence; each finished draft is committed at once.

    A sentence is pending when it has no ok or invalid draft for (schema, prompt, model)
    made with the client's run settings (or before they were recorded). On Ctrl-C no
    request is sent or retried any more; `on_interrupt(running)` hears how many are
    still out, and their answers are stored as they come (a second Ctrl-C gives up
    on them: `report.abandoned`). `selection` sets the context window, boilerplate,
    redrafting and retrieved examples (`jobs.Selection`; default: a plain run).

    With `adaptive`, `concurrency` is a ceiling: the requests in flight follow the
    server's rate limits (halved on 429, paced on x-ratelimit headers; see `limiter`).
    """
    if concurrency < 1:
        raise InputError("--concurrency must be at least 1")
    if _in_event_loop():
        raise InputError("annotate() runs its own event loop and cannot run inside another one (a notebook cell); "
                         "call it from a thread that opens its own database: asyncio.to_thread or the CLI")
    selection = selection or Selection()
    family = selection.examples.family_pattern(client.run_key) if selection.examples else client.run_key
    scope = f"annotate {schema.hash} {prompt.version} {client.model} {family}"
    with hold(db, scope, f"drafting with {client.model}, prompt {prompt.version}"):
        return _annotate(db, client, schema, prompt, mode=mode, concurrency=concurrency, limit=limit,
                         max_reasks=max_reasks, on_start=on_start, on_done=on_done, on_interrupt=on_interrupt,
                         retry_invalid=retry_invalid, selection=selection, adaptive=adaptive)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _annotate(db: sqlite_utils.Database, client: LLMClient, schema: Schema, prompt: Prompt, *, mode: str,
              concurrency: int, limit: int | None, max_reasks: int, on_start: Callable[[int], None] | None,
              on_done: Callable[[dict], None] | None, on_interrupt: Callable[[int], None] | None,
              retry_invalid: bool, selection: Selection, adaptive: bool = True) -> RunReport:
    register_prompt(db, prompt)
    record_schema(db, schema)
    writer = DraftWriter(db)
    report = RunReport(replayed=writer.replay())  # answers a locked database kept out last time
    total = count_pending(db, schema, prompt, client.model, client.run_key, retry_invalid, selection)
    report.pending = min(total, limit) if limit is not None else total
    if on_start:
        on_start(report.pending)
    remembered = remembered_mode(db, client.model)
    resolver = ModeResolver(mode, remembered)
    report.mode = resolver.mode
    if report.pending == 0:
        return report
    asked_logprobs = client.logprobs = client.logprobs and remembered_logprobs(db, client.server, client.model)

    def finish(outcome: Outcome | None) -> None:
        if outcome is None:  # the run stopped before this sentence's request went out
            return
        writer.write(outcome)
        report.count(outcome.row)
        if on_done:
            on_done(outcome.row)

    # Cache lookups read through the writer's own connection: it sees the answers of this round too.
    drafter = Drafter(client, schema, prompt, resolver, lambda key: cached_response(db, key), max_reasks)
    calls_before = client.calls
    jobs = pending_jobs(db, schema, prompt, client.model, client.run_key, limit, retry_invalid, selection)
    limiter, gate_before = AdaptiveLimiter(concurrency) if adaptive else None, client.gate
    client.gate = limiter or gate_before
    stopped_before = client.stopping.is_set()

    try:
        abandoned = run_on_loop(drafter.adraft, jobs, concurrency, finish, flush=writer.flush,
                                stop_sending=client.stopping.set, on_interrupt=on_interrupt,
                                before_close=client.aclose)
        report.interrupted, report.abandoned = abandoned is not None, abandoned or 0
    finally:
        client.gate = gate_before
        if not stopped_before:
            client.stopping.clear()  # the stop was this run's
        if limiter is not None:
            report.throttled, report.lowest_in_flight = limiter.stats.throttled, int(limiter.stats.lowest)
        report.mode = resolver.mode
        report.llm_calls = client.calls - calls_before
    if writer.spilled:
        writer.replay()  # DatabaseBusy (one line) if the database is still locked: the side file stays
    if resolver.mode in report.ok_modes and resolver.mode != remembered:
        remember_mode(db, client.model, resolver.mode)
    if asked_logprobs and not client.logprobs:
        remember_no_logprobs(db, client.server, client.model)
    return report
