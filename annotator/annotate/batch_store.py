"""Batches and their requests in SQLite (migration 007_batches): what runs at the server, what it answered.

A batch row is written before anything is sent, so a crash at any point leaves a
trace: `submitting` (maybe uploaded, maybe created: looked up by our id on the
next run), `running` (created: polled until it ends), `fetched` (its answers and
errors are stored: nothing paid is lost), `done` (its drafts are written), `lost`
(never created at the server: its requests are free to go in another batch).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from enum import StrEnum

import sqlite_utils

from ..store import now
from .batch_api import BatchState


class BatchStep(StrEnum):
    """Where a batch is, as far as this tool is concerned."""

    SUBMITTING = "submitting"
    RUNNING = "running"
    FETCHED = "fetched"
    DONE = "done"
    LOST = "lost"


UNFINISHED = (BatchStep.SUBMITTING.value, BatchStep.RUNNING.value, BatchStep.FETCHED.value)


def new_batch(db: sqlite_utils.Database, scope: str, server: str, round_: int,
              requests: list[tuple[str, str]]) -> str:
    """Record a batch about to be sent, with its (custom_id, sentence_id) pairs; our id for it."""
    local_id = f"annotator-{uuid.uuid4().hex[:16]}"
    stamp = now()
    with db.atomic():
        db.execute("INSERT INTO batches (id, scope, server, round, state, requests, created_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [local_id, scope, server, round_, BatchStep.SUBMITTING.value, len(requests), stamp, stamp])
        db.conn.executemany("INSERT INTO batch_requests (batch_id, custom_id, sentence_id) VALUES (?, ?, ?)",
                            [(local_id, key, sentence) for key, sentence in requests])
    return local_id


def update(db: sqlite_utils.Database, local_id: str, step: BatchStep | None = None,
           state: BatchState | None = None, **columns: object) -> None:
    """Set a batch's step, what the server last said about it, and any other columns."""
    values: dict[str, object] = dict(columns, updated_at=now())
    if step is not None:
        values["state"] = step.value
    if state is not None:
        values.update(provider_id=state.provider_id, provider_status=state.status,
                      output_file_id=state.output_file_id, error_file_id=state.error_file_id,
                      counts=json.dumps({"completed": state.done, "failed": state.failed, "total": state.total}),
                      error=state.error)
    assignments = ", ".join(f"{name} = ?" for name in values)
    with db.atomic():
        db.execute(f"UPDATE batches SET {assignments} WHERE id = ?", [*values.values(), local_id])


def unfinished(db: sqlite_utils.Database, scope: str) -> list[dict]:
    """The scope's batches not yet done, oldest first."""
    marks = ", ".join("?" * len(UNFINISHED))
    return list(db.query(f"SELECT * FROM batches WHERE scope = ? AND state IN ({marks}) ORDER BY created_at, rowid",
                         [scope, *UNFINISHED]))


def store_results(db: sqlite_utils.Database, local_id: str, results: Iterable[tuple[str | None, str | None, str | None]],
                  leftover: Callable[[], str]) -> tuple[int, int, list[str]]:
    """Keep each (custom_id, answer, error); requests with neither get `leftover()` (asked once every result
    is read) as their error.

    (answered, failed, the custom_ids of lines that name no request of the batch: ignored).
    """
    answered = failed = 0
    unknown: list[str] = []
    with db.atomic():
        for custom_id, answer, error in results:
            if custom_id is None:
                continue
            cursor = db.execute("UPDATE batch_requests SET response = ?, error = ? WHERE batch_id = ? AND custom_id = ?",
                                [answer, None if answer else error, local_id, custom_id])
            if cursor.rowcount == 0:
                unknown.append(str(custom_id))
                continue
            answered += answer is not None
            failed += answer is None
        cursor = db.execute("UPDATE batch_requests SET error = ? WHERE batch_id = ? AND response IS NULL "
                            "AND error IS NULL", [leftover(), local_id])
        failed += cursor.rowcount
    return answered, failed, unknown


def finish_fetched(db: sqlite_utils.Database, scope: str) -> None:
    """The scope's fetched batches have had their drafts written: their errors no longer hold requests back."""
    with db.atomic():
        db.execute("UPDATE batches SET state = ?, updated_at = ? WHERE scope = ? AND state = ?",
                   [BatchStep.DONE.value, now(), scope, BatchStep.FETCHED.value])


def lookup(db: sqlite_utils.Database, custom_id: str, since: str | None = None) -> tuple[str | None, str | None, bool]:
    """(the answer, the error of a batch fetched but not done, whether a batch with it still runs) for a request.

    `since`: only answers from batches created at or after this time count.
    """
    answer = error = None
    running = False
    for row in db.execute("SELECT r.response, r.error, b.state, b.created_at FROM batch_requests r "
                          "JOIN batches b ON b.id = r.batch_id WHERE r.custom_id = ?", [custom_id]).fetchall():
        response, problem, state, created = row
        if response is not None and (since is None or created >= since):
            answer = response
        elif state in (BatchStep.SUBMITTING.value, BatchStep.RUNNING.value):
            running = True
        elif state == BatchStep.FETCHED.value and problem:
            error = problem
    return answer, error, running
