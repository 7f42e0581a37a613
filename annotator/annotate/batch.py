"""annotate --batch: the pending sentences through the Batch API, stored exactly as online drafts are.

Drafting from a batch is online drafting whose answers were fetched beforehand: the
same `Drafter`, set up as every run's (`prepare.prepare_run`), renders each sentence's
request, validates the reply, re-asks with the error and grounds the spans, and the
same `DraftWriter` stores the draft and its cache entries. Only the client differs
(`BatchReplies`, a `drafter.DraftClient`): it answers a request from the batches'
results, or defers it to the next batch. A round drafts every sentence it
can, collects the deferred requests into batches (at most 50,000 requests or 190 MB
each), waits for them, and replays; an invalid reply's re-ask is deferred in its turn,
to a follow-up batch or, with `reask_online`, sent at once.

Batches live in SQLite (`batch_store`): a re-run first finishes the batches a crash or
Ctrl-C left running, so nothing is sent, or paid for, twice.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlite_utils

from ..llm.cachekeys import RequestKeys
from ..llm.client import LLMClient
from ..llm.completions import Completion
from ..llm.errors import TransportFailed
from ..prompts import Prompt
from ..schema import Schema
from ..store import now
from . import batch_store as store
from .batch_api import (
    MAX_BYTES,
    MAX_REQUESTS,
    BatchAPI,
    BatchRefused,
    BatchState,
    read_result_line,
    request_line,
)
from .drafter import Drafter, Outcome
from .jobs import count_pending, pending_jobs
from .prepare import RunOptions, drafting_lock, prepare_run
from .run import RunReport
from .writes import DraftWriter


class Deferred(Exception):  # noqa: N818 - a signal, not an error
    """The request has no batch answer yet: it goes in the next batch."""

    def __init__(self, key: str, params: dict[str, Any]) -> None:
        super().__init__(key)
        self.key, self.params = key, params


class BatchReplies:
    """The drafter's client while drafting from batches (`DraftClient`): each request is answered from the
    batches' results, else Deferred to the next batch (or, `online`, sent at once by the real client)."""

    def __init__(self, client: LLMClient, db: sqlite_utils.Database, since: str | None = None) -> None:
        self._client, self._db, self.since = client, db, since
        self.online = False

    @property
    def logprobs(self) -> bool:
        return self._client.logprobs

    @logprobs.setter
    def logprobs(self, value: bool) -> None:  # refused to an online re-ask: the client stops asking, not only here
        self._client.logprobs = value

    @property
    def model(self) -> str:
        return self._client.model

    @property
    def samples(self) -> int:
        return self._client.samples

    @property
    def sample_temperature(self) -> float:
        return self._client.sample_temperature

    @property
    def run_key(self) -> str:
        return self._client.run_key

    def run_settings(self) -> dict[str, Any]:
        return self._client.run_settings()

    def request_keys(self, mode: str, schema: dict) -> RequestKeys:
        return self._client.request_keys(mode, schema)

    def params(self, mode: str, messages: list[dict], schema: dict, sample: int | None = None) -> dict[str, Any]:
        return self._client.params(mode, messages, schema, sample)

    def send(self, params: dict[str, Any]) -> Completion:
        """The batch's answer to this request (fresh: it was paid for), or Deferred."""
        key = self._client.cache_key(params)
        answer, error, _ = store.lookup(self._db, key, self.since)
        if answer is not None:
            completion = Completion.from_cache(answer)
            completion.cached = False  # paid for in the batch: a fresh answer to this run
            return completion
        if error is not None:
            raise TransportFailed(f"batch: {error}")
        if self.online:
            return self._client.send(params)
        raise Deferred(key, params)

    async def asend(self, params: dict[str, Any]) -> Completion:
        """`send` (a batch run drafts with `Drafter.draft`, on one thread)."""
        return self.send(params)

    def running(self, key: str) -> bool:
        """Whether a batch that still runs holds this request."""
        return store.lookup(self._db, key)[2]


@dataclass
class RequestFiles:
    """The deferred requests of a round, written to JSONL files of at most MAX_REQUESTS lines and MAX_BYTES."""

    folder: Path
    chunks: list[tuple[Path, list[tuple[str, str]]]] = field(default_factory=list)
    sentences: set[str] = field(default_factory=set)
    _keys: set[str] = field(default_factory=set)
    _size: int = 0

    def add(self, key: str, sentence_id: str, params: dict[str, Any]) -> None:
        """One request (a request already written for another sentence is not written again)."""
        self.sentences.add(sentence_id)
        if key in self._keys:
            return
        self._keys.add(key)
        line = (request_line(key, params) + "\n").encode("utf-8")
        if not self.chunks or len(self.chunks[-1][1]) >= MAX_REQUESTS or self._size + len(line) > MAX_BYTES:
            self.chunks.append((self.folder / f"requests-{len(self.chunks) + 1}.jsonl", []))
            self._size = 0
        path, pairs = self.chunks[-1]
        with path.open("ab") as fh:
            fh.write(line)
        pairs.append((key, sentence_id))
        self._size += len(line)


@dataclass
class BatchReport(RunReport):
    """What a batch run did, besides what any run reports."""

    created: list[str] = field(default_factory=list)  # provider ids of the batches this run created
    resumed: list[str] = field(default_factory=list)  # provider ids of batches left running before, finished now
    failed_requests: int = 0  # requests a batch did not answer (errors, expiry)
    unknown_lines: list[str] = field(default_factory=list)  # custom_ids of result lines naming no request: ignored
    unreadable_lines: int = 0  # result lines that could not be read (not JSON, no custom_id): their requests fail
    online_reasks: int = 0


@dataclass
class BatchHooks:
    """How a batch run reports: phases, each batch's progress, each stored draft."""

    phase: Callable[[str], None] = lambda text: None
    batch: Callable[[BatchState], None] = lambda state: None
    done: Callable[[dict], None] = lambda row: None


def annotate_batch(db: sqlite_utils.Database, client: LLMClient, schema: Schema, prompt: Prompt,
                   options: RunOptions | None = None, *, hooks: BatchHooks | None = None,
                   sleep: Callable[[float], None] = time.sleep, **loose: Any) -> BatchReport:
    """Draft every pending sentence through the Batch API as `options` say (their fields may also be given one
    by one, as to `annotate`); see the module's docstring."""
    options = replace(options or RunOptions(), **loose)
    with drafting_lock(db, client, schema, prompt, options.selection) as scope:
        return _BatchRun(db, client, schema, prompt, scope, options, hooks or BatchHooks(), sleep).go()


class _BatchRun:
    """One `annotate --batch`: resume, then rounds of replay, submit and wait."""

    def __init__(self, db: sqlite_utils.Database, client: LLMClient, schema: Schema, prompt: Prompt, scope: str,
                 options: RunOptions, hooks: BatchHooks, sleep: Callable[[float], None]) -> None:
        self.db, self.client, self.schema, self.prompt, self.scope = db, client, schema, prompt, scope
        self.options, self.hooks, self.sleep = options, hooks, sleep
        self.api = BatchAPI(client)
        self.writer = DraftWriter(db)
        self.report = BatchReport(replayed=self.writer.replay())

    def go(self) -> BatchReport:
        started, options = now(), self.options
        replies = BatchReplies(self.client, self.db, started if options.retry_invalid else None)
        run = prepare_run(self.db, self.client, self.schema, self.prompt, options, sender=replies)
        total = count_pending(self.db, self.schema, self.prompt, self.client.model, self.client.run_key,
                              options.retry_invalid, options.selection)
        self.report.pending = min(total, options.limit) if options.limit is not None else total
        self.report.mode = run.resolver.mode
        for row in store.unfinished(self.db, self.scope):
            self._finish(row, resumed=True)
        only: set[str] | None = None
        # Each round stores a draft or moves a sentence one attempt on: max_reasks + 2 rounds replay them all.
        for round_ in range(1, options.max_reasks + 3):
            replies.online = options.reask_online and round_ > 1
            with tempfile.TemporaryDirectory(prefix="annotator-batch-") as folder:
                files = self._replay(run.drafter, replies, Path(folder), only)
                store.finish_fetched(self.db, self.scope)
                if not files.chunks:
                    break
                for path, pairs in files.chunks:
                    self._submit(path, pairs, round_)
            only = files.sentences
        self.report.mode = run.resolver.mode
        run.remember(self.db, self.client, self.report.ok_modes)
        return self.report

    def _replay(self, drafter: Drafter, replies: BatchReplies, folder: Path, only: set[str] | None) -> RequestFiles:
        """Draft what the batches answered; collect what they have not into request files."""
        self.hooks.phase("Drafting from batch results" if only is not None else "Preparing requests")
        files = RequestFiles(folder)
        calls = self.client.calls
        options = self.options
        jobs = pending_jobs(self.db, self.schema, self.prompt, self.client.model, self.client.run_key,
                            options.limit if only is None else None, options.retry_invalid, options.selection)
        for job in jobs:
            if only is not None and job.sentence_id not in only:
                continue
            try:
                outcome = drafter.draft(job)
            except Deferred as deferred:
                if not replies.running(deferred.key):
                    files.add(deferred.key, job.sentence_id, deferred.params)
                continue
            if outcome is not None:
                self._store(outcome)
        self.writer.flush()
        self.report.online_reasks += self.client.calls - calls
        self.report.llm_calls += self.client.calls - calls
        return files

    def _store(self, outcome: Outcome) -> None:
        self.writer.write(outcome)
        self.report.count(outcome.row)
        self.hooks.done(outcome.row)
        if self.report.done % 500 == 0:
            self.writer.flush()

    def _submit(self, path: Path, pairs: list[tuple[str, str]], round_: int) -> None:
        """Record, upload, create, wait for and fetch one batch."""
        local_id = store.new_batch(self.db, self.scope, self.client.server, round_, pairs)
        self.hooks.phase(f"Uploading {len(pairs):,} requests")
        try:
            file_id = self.api.upload(path)
            store.update(self.db, local_id, input_file_id=file_id)
            state = self.api.create(file_id, local_id)
        except BatchRefused:  # the server said no: nothing was created (no answer at all: looked up next run)
            store.update(self.db, local_id, store.BatchStep.LOST)
            raise
        store.update(self.db, local_id, store.BatchStep.RUNNING, state)
        self.report.created.append(state.provider_id)
        self.report.llm_calls += len(pairs)
        self._finish({"id": local_id, "provider_id": state.provider_id, "state": store.BatchStep.RUNNING.value},
                     resumed=False)

    def _finish(self, row: dict, resumed: bool) -> None:
        """Bring a recorded batch to `fetched`: adopt it if it was being created, wait for it, store its results."""
        local_id, provider_id = row["id"], row["provider_id"]
        if row["state"] == store.BatchStep.SUBMITTING.value:
            found = self.api.find(local_id)
            if found is None:  # never created at the server: its requests go in a new batch
                store.update(self.db, local_id, store.BatchStep.LOST)
                return
            provider_id = found.provider_id
            store.update(self.db, local_id, store.BatchStep.RUNNING, found)
        if row["state"] != store.BatchStep.FETCHED.value:
            self.hooks.phase(f"Waiting for batch {provider_id}")
            state = self.api.wait(provider_id, self.options.poll_interval, self._polled(local_id), self.sleep)
            self._fetch(local_id, state)
        if resumed:
            self.report.resumed.append(provider_id)

    def _polled(self, local_id: str) -> Callable[[BatchState], None]:
        def polled(state: BatchState) -> None:
            store.update(self.db, local_id, state=state)
            self.hooks.batch(state)
        return polled

    def _fetch(self, local_id: str, state: BatchState) -> None:
        """Store every answer and error of an ended batch (requests it never ran get its end as their error)."""
        self.hooks.phase(f"Fetching the results of batch {state.provider_id} ({state.status})")
        unreadable = 0

        def results() -> Iterator[tuple[str | None, str | None, str | None]]:
            nonlocal unreadable
            for file_id in (state.output_file_id, state.error_file_id):
                for text in self.api.results(file_id) if file_id else ():
                    result = read_result_line(text)
                    if result is None:
                        unreadable += 1
                    else:
                        yield result

        def leftover() -> str:
            """Why a request the results did not answer failed (asked once every line is read)."""
            if unreadable:
                return (f"no readable result for this request ({unreadable} result line"
                        f"{'' if unreadable == 1 else 's'} could not be read)")
            return f"the batch {state.status} before this request ran" + (f" ({state.error})" if state.error else "")

        _, failed, unknown = store.store_results(self.db, local_id, results(), leftover)
        self.report.failed_requests += failed
        self.report.unknown_lines += unknown
        self.report.unreadable_lines += unreadable
        store.update(self.db, local_id, store.BatchStep.FETCHED, state)
