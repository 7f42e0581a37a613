"""Draft annotations: pending sentences -> LLM -> validated, grounded drafts in SQLite."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils
from pydantic import ValidationError

from .errors import InputError
from .llm import (
    MODES,
    Completion,
    FatalLLMError,
    LLMClient,
    ModeRejected,
    TransportFailed,
    cache_key,
    parse_json,
)
from .prompts import Prompt, context_for
from .schema import Schema
from .spans import ground
from .store import content_id, dumps, now

PAGE = 500
CONTEXT_WINDOW = 4  # earlier sentences read for a sentence's context (context_for keeps the last 3)


@dataclass
class Job:
    """One sentence to draft, with its context."""

    sentence_id: str
    text: str
    headline: str | None
    context: list[str]


@dataclass
class Outcome:
    """A finished draft row plus the cache entries to store with it."""

    row: dict[str, Any]
    cache_entries: list[dict[str, Any]]


@dataclass
class Prepared:
    """A sentence's first request, built before it is dispatched: mode, messages, params, cache key and hit."""

    mode: str
    messages: list[dict]
    params: dict[str, Any]
    key: str
    hit: str | None


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
    mode: str | None = None


class ModeResolver:
    """The structured-output mode in use; in auto mode it falls back when the server refuses one."""

    def __init__(self, requested: str, remembered: str | None) -> None:
        if requested != "auto" and requested not in MODES:
            raise InputError(f"unknown mode {requested!r}; use auto, {', '.join(MODES)}")
        self.auto = requested == "auto"
        self.mode = remembered if (self.auto and remembered in MODES) else (MODES[0] if self.auto else requested)
        self._lock = threading.Lock()

    def fallback(self, failed: str, reason: str) -> str:
        """Move past a refused mode (once, however many threads saw the refusal)."""
        with self._lock:
            if self.mode == failed:
                if not self.auto:
                    raise FatalLLMError(f"the LLM server refused --mode {failed} ({reason}); use --mode auto")
                index = MODES.index(failed)
                if index + 1 >= len(MODES):
                    raise FatalLLMError(f"the LLM server refused every structured-output mode ({reason})")
                self.mode = MODES[index + 1]
            return self.mode


class Drafter:
    """Drafts one sentence: cache, transport, bounded re-ask on invalid output, grounding."""

    def __init__(self, client: LLMClient, schema: Schema, prompt: Prompt, resolver: ModeResolver,
                 cache_lookup: Callable[[str], str | None], max_reasks: int = 2) -> None:
        self.client, self.schema, self.prompt, self.resolver = client, schema, prompt, resolver
        self.cache_lookup = cache_lookup
        self.max_reasks = max_reasks
        self.llm_schema = schema.llm_json_schema()

    def prepare(self, job: Job) -> Prepared:
        """The first request for a sentence in the current mode, and its cached answer if any."""
        mode = self.resolver.mode
        messages = self.prompt.messages(self.schema, job.text, job.headline, job.context,
                                        include_schema=mode == "prompt")
        params = self.client.params(mode, messages, self.llm_schema)
        key = cache_key(params)
        return Prepared(mode, messages, params, key, self.cache_lookup(key))

    def _complete(self, mode: str, messages: list[dict], entries: list[dict],
                  prepared: Prepared | None = None) -> Completion:
        """A cached answer, or a fresh one that is queued for the cache."""
        if prepared is not None and prepared.mode == mode and prepared.messages is messages:
            params, key = prepared.params, prepared.key
            # Looked up again if it missed: an identical request may have finished in the meantime.
            hit = prepared.hit if prepared.hit is not None else self.cache_lookup(key)
        else:
            params = self.client.params(mode, messages, self.llm_schema)
            key = cache_key(params)
            hit = self.cache_lookup(key)
        if hit is not None:
            return Completion.from_cache(hit)
        completion = self.client.send(params)
        entries.append({"key": key, "model": self.client.model, "mode": mode,
                        "response": completion.to_cache(), "created_at": now()})
        return completion

    def draft(self, job: Job, prepared: Prepared | None = None) -> Outcome:
        """Run the whole exchange for one sentence; never raises except on fatal errors."""
        entries: list[dict] = []
        base = {"sentence_id": job.sentence_id, "schema_name": self.schema.name, "schema_hash": self.schema.hash,
                "prompt_version": self.prompt.version, "model": self.client.model}
        row = {"id": content_id("draft", *base.values()), **base, "status": "failed", "error": None,
               "data": None, "spans": None, "dropped_spans": None, "n_dropped": 0, "raw": None, "attempts": 0,
               "prompt_tokens": 0, "completion_tokens": 0, "latency_ms": 0, "cached": 1, "created_at": now()}
        mode = self.resolver.mode  # not prepared.mode: the mode may have fallen back since it was prepared
        while True:
            if prepared is not None and prepared.mode == mode:
                messages = prepared.messages
            else:
                messages = self.prompt.messages(self.schema, job.text, job.headline, job.context,
                                                include_schema=mode == "prompt")
            try:
                self._exchange(mode, messages, job, row, entries, prepared)
                break
            except ModeRejected as exc:
                mode = self.resolver.fallback(mode, str(exc))
            except TransportFailed as exc:
                row.update(status="failed", error=f"transport: {exc}")
                break
        row["mode"] = mode
        return Outcome(row, entries)

    def _exchange(self, mode: str, messages: list[dict], job: Job, row: dict, entries: list[dict],
                  prepared: Prepared | None = None) -> None:
        """Ask, validate, re-ask with the error (bounded), then ground the spans."""
        for _ in range(self.max_reasks + 1):
            completion = self._complete(mode, messages, entries, prepared)
            row["attempts"] += 1
            row["prompt_tokens"] += completion.prompt_tokens
            row["completion_tokens"] += completion.completion_tokens
            row["latency_ms"] += completion.latency_ms
            row["cached"] = int(row["cached"] and completion.cached)
            row["raw"] = completion.content
            try:
                value = parse_json(completion.content)
                instance = self.schema.model.model_validate(value)
            except json.JSONDecodeError as exc:
                cut = " (the reply was cut off: keep it shorter)" if completion.finish_reason == "length" else ""
                problem = f"the reply is not valid JSON: {exc.msg} at position {exc.pos}{cut}"
            except ValidationError as exc:
                problem = "the JSON does not match the schema: " + "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:10])
            else:
                self._ground(instance.model_dump(mode="json"), job.text, row)
                return
            row.update(status="invalid", error=problem)
            messages = [*messages, {"role": "assistant", "content": completion.content},
                        {"role": "user", "content": f"Your reply was rejected: {problem}. "
                                                    "Reply again with only the corrected JSON object."}]

    def _ground(self, data: dict, sentence: str, row: dict) -> None:
        """Keep only spans found in the sentence; count and keep the rest aside."""
        spans, dropped = [], []
        for spec in self.schema.span_fields():
            found, kept, lost = ground(sentence, spec.name, data.get(spec.name) or [])
            # Canonical order (by offset, then label) so drafts and gold compare item by item.
            pairs = sorted(zip(found, kept, strict=True), key=lambda p: (p[0].start, p[0].end, p[0].label))
            data[spec.name] = [item for _, item in pairs]
            spans.extend(span.as_dict() for span, _ in pairs)
            dropped.extend({"field": spec.name, **item} for item in lost)
        row.update(status="ok", error=None, data=dumps(data), spans=dumps(spans),
                   dropped_spans=dumps(dropped), n_dropped=len(dropped))


def _sql_names(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def write_outcomes(db: sqlite_utils.Database, outcomes: Iterable[Outcome]) -> None:
    """Store drafts (upsert by id) and their cache entries (insert or ignore) in one transaction.

    Plain executemany: sqlite-utils' insert_all/upsert introspect the table on every call,
    which cost more than the write itself when it ran once per draft.
    """
    outcomes = list(outcomes)
    entries = [e for o in outcomes for e in o.cache_entries]
    with db.conn:
        if entries:
            cols = tuple(entries[0])
            db.conn.executemany(f"INSERT OR IGNORE INTO llm_cache ({_sql_names(cols)}) "
                                f"VALUES ({', '.join('?' * len(cols))})",
                                [tuple(e[c] for c in cols) for e in entries])
        if outcomes:
            cols = tuple(outcomes[0].row)
            rest = tuple(c for c in cols if c != "id")
            values = [tuple(o.row[c] for c in cols) for o in outcomes]
            # What sqlite-utils' upsert does: insert if new, then update every column by id.
            db.conn.executemany(f"INSERT OR IGNORE INTO drafts ({_sql_names(cols)}) "
                                f"VALUES ({', '.join('?' * len(cols))})", values)
            assignments = ", ".join(f'"{c}" = ?' for c in rest)
            db.conn.executemany(f"UPDATE drafts SET {assignments} WHERE id = ?",
                                [tuple(o.row[c] for c in rest) + (o.row["id"],) for o in outcomes])


def pending_jobs(db: sqlite_utils.Database, schema: Schema, prompt: Prompt, model: str,
                 limit: int | None = None) -> Iterator[Job]:
    """Sentences with no ok/invalid draft for (schema, prompt, model), in ingest order, page by page."""
    last, served = 0, 0
    # Context without two queries per sentence: the earlier sentences slide along while pending
    # sentences follow each other in a document; the headline is looked up once per document.
    prev: tuple[str, int] | None = None
    window: list[str] = []
    head_doc, head_text = None, None
    sql = """
        SELECT s.rowid AS rid, s.id, s.document_id, s.idx, s.text, s.is_headline FROM sentences s
        WHERE s.rowid > ? AND NOT EXISTS (
            SELECT 1 FROM drafts d WHERE d.sentence_id = s.id AND d.schema_hash = ?
            AND d.prompt_version = ? AND d.model = ? AND d.status != 'failed')
        ORDER BY s.rowid LIMIT ?"""
    while True:
        rows = list(db.query(sql, [last, schema.hash, prompt.version, model, PAGE]))
        if not rows:
            return
        for r in rows:
            if limit is not None and served >= limit:
                return
            last = r["rid"]
            doc, idx = r["document_id"], r["idx"]
            if prev != (doc, idx - 1):
                window = [e["text"] for e in db.query(
                    "SELECT text FROM sentences WHERE document_id = ? AND idx < ? AND idx >= ? ORDER BY idx",
                    [doc, idx, max(0, idx - CONTEXT_WINDOW)])]
            if head_doc != doc:
                head = next(iter(db.query(
                    "SELECT text FROM sentences WHERE document_id = ? AND idx = 0 AND is_headline = 1", [doc])), None)
                head_doc, head_text = doc, head["text"] if head else None
            headline = head_text if not r["is_headline"] else None
            yield Job(r["id"], r["text"], headline, context_for(window, len(window), headline))
            served += 1
            prev = (doc, idx)
            window = [*window, r["text"]][-CONTEXT_WINDOW:]


def count_pending(db: sqlite_utils.Database, schema: Schema, prompt: Prompt, model: str) -> int:
    """How many sentences still need a draft."""
    return next(db.query("""
        SELECT count(*) AS n FROM sentences s WHERE NOT EXISTS (
            SELECT 1 FROM drafts d WHERE d.sentence_id = s.id AND d.schema_hash = ?
            AND d.prompt_version = ? AND d.model = ? AND d.status != 'failed')""",
        [schema.hash, prompt.version, model]))["n"]


def annotate(db: sqlite_utils.Database, client: LLMClient, schema: Schema, prompt: Prompt, *,
             mode: str = "auto", concurrency: int = 4, limit: int | None = None, max_reasks: int = 2,
             on_start: Callable[[int], None] | None = None,
             on_done: Callable[[dict], None] | None = None) -> RunReport:
    """Draft every pending sentence; each finished draft is committed at once."""
    if concurrency < 1:
        raise InputError("--concurrency must be at least 1")
    report = RunReport()
    total = count_pending(db, schema, prompt, client.model)
    report.pending = min(total, limit) if limit is not None else total
    if on_start:
        on_start(report.pending)
    remembered = db["llm_modes"].get(client.model)["mode"] if db["llm_modes"].count_where(
        "model = ?", [client.model]) else None
    resolver = ModeResolver(mode, remembered)
    report.mode = resolver.mode
    if report.pending == 0:
        return report

    local = threading.local()
    db_path = db.execute("PRAGMA database_list").fetchone()[2]

    def cache_lookup(key: str) -> str | None:
        # One read connection per worker thread; all writes happen on the caller's thread.
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(db_path, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
        row = conn.execute("SELECT response FROM llm_cache WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    drafter = Drafter(client, schema, prompt, resolver, cache_lookup, max_reasks)
    calls_before = client.calls

    def store(*outcomes: Outcome) -> None:
        write_outcomes(db, outcomes)
        for outcome in outcomes:
            row = outcome.row
            report.done += 1
            report.by_status[row["status"]] = report.by_status.get(row["status"], 0) + 1
            if not row["cached"]:
                report.prompt_tokens += row["prompt_tokens"]
                report.completion_tokens += row["completion_tokens"]
            report.dropped_spans += row["n_dropped"] or 0
            if on_done:
                on_done(row)

    def store_finished(finished: Iterable[Future]) -> None:
        # Drafts that finished together are committed together, before anything else is waited for.
        outcomes, error = [], None
        for fut in finished:
            try:
                outcomes.append(fut.result())
            except Exception as exc:
                error = error or exc
        if outcomes:
            store(*outcomes)
        if error is not None:
            raise error

    jobs = pending_jobs(db, schema, prompt, client.model, limit)
    in_flight: set[Future] = set()
    completed: queue.SimpleQueue[Future] = queue.SimpleQueue()
    ready: list[Outcome] = []  # drafts answered from the cache, not yet stored
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="annotate")
    try:
        try:
            exhausted = False
            while in_flight or not exhausted:
                while not exhausted and len(in_flight) < concurrency * 2:
                    job = next(jobs, None)
                    if job is None:
                        exhausted = True
                        break
                    prepared = drafter.prepare(job)
                    if prepared.hit is not None:
                        # Answered from the cache: no thread hop, which cost more than the draft itself.
                        # (Only an invalid cached answer makes it ask the LLM, here on this thread.)
                        ready.append(drafter.draft(job, prepared))
                        if len(ready) >= PAGE:
                            store(*ready)
                            ready.clear()
                        continue
                    future = pool.submit(drafter.draft, job, prepared)
                    in_flight.add(future)
                    future.add_done_callback(completed.put)
                if ready:
                    store(*ready)
                    ready.clear()
                if not in_flight:
                    break
                # Everything finished so far, as one batch. A queue rather than wait(), which
                # registers a waiter on every future in flight on each call: O(concurrency) per draft.
                finished = [completed.get()]
                while True:
                    try:
                        finished.append(completed.get_nowait())
                    except queue.Empty:
                        break
                in_flight.difference_update(finished)
                store_finished(finished)
        except KeyboardInterrupt:
            # Keep what is already paid for: let running requests finish and store them.
            report.interrupted = True
            for fut in in_flight:
                fut.cancel()
            try:
                if ready:
                    store(*ready)
                for fut in in_flight:
                    if not fut.cancelled():
                        store(fut.result())
            except KeyboardInterrupt:
                pass
        except FatalLLMError:
            for fut in in_flight:
                fut.cancel()
            raise
    finally:
        pool.shutdown(wait=not report.interrupted, cancel_futures=True)
        if resolver.mode != remembered and report.done:
            db["llm_modes"].upsert({"model": client.model, "mode": resolver.mode, "updated_at": now()}, pk="model")
        report.mode = resolver.mode
        report.llm_calls = client.calls - calls_before
    return report

