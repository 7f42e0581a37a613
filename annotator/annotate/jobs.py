"""Which sentences still need a draft, and what each one is sent with (its context)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlite_utils

from ..context import DocumentSentences
from ..prompts import Prompt
from ..schema import Schema
from ..store import DraftStatus

PAGE = 500
"""Sentences read per query while walking the pending ones."""

_DRAFT_OF = """SELECT 1 FROM drafts d WHERE d.sentence_id = s.id AND d.schema_hash = ? AND d.prompt_version = ?
    AND d.model = ? AND d.run_key IN (?, '')"""
_DONE = {False: (DraftStatus.OK.value, DraftStatus.INVALID.value), True: (DraftStatus.OK.value,)}


def _not_drafted(retry_invalid: bool) -> str:
    """SQL: the sentence has no draft that counts (ok or invalid; ok only when invalid ones are retried)."""
    statuses = ", ".join(f"'{s}'" for s in _DONE[retry_invalid])
    return f"NOT EXISTS ({_DRAFT_OF} AND d.status IN ({statuses}))"
# A draft counts when it was made with the current run settings or before they were recorded
# (run_key ''): an upgrade never pays twice for a sentence. A failed draft never counts.


@dataclass(frozen=True)
class Job:
    """One sentence to draft, with what the prompt shows around it."""

    sentence_id: str
    text: str
    headline: str | None
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    retry: bool = False
    """An invalid draft exists and is asked again: its cached answer is not reused."""


def _key(schema: Schema, prompt: Prompt, model: str, run_key: str) -> list[str]:
    return [schema.hash, prompt.version, model, run_key]


def pending_jobs(db: sqlite_utils.Database, schema: Schema, prompt: Prompt, model: str, run_key: str,
                 limit: int | None = None, retry_invalid: bool = False) -> Iterator[Job]:
    """Sentences with no ok/invalid draft for (schema, prompt, model, run settings), in ingest order.

    Read page by page, so drafts committed meanwhile never disturb the walk; the
    context comes from `DocumentSentences`, one query per document.
    """
    documents = DocumentSentences(db)
    key = _key(schema, prompt, model, run_key)
    retry = f"EXISTS ({_DRAFT_OF} AND d.status = '{DraftStatus.INVALID.value}')" if retry_invalid else "0"
    sql = f"""SELECT s.rowid AS rid, s.id, s.document_id, s.idx, s.text, {retry} AS retry FROM sentences s
              WHERE s.rowid > ? AND {_not_drafted(retry_invalid)} ORDER BY s.rowid LIMIT ?"""
    last, served = 0, 0
    while limit is None or served < limit:
        rows = list(db.query(sql, [*(key if retry_invalid else []), last, *key, PAGE]))
        if not rows:
            return
        for row in rows[:None if limit is None else limit - served]:
            context = documents.context(row["document_id"], row["idx"])
            yield Job(row["id"], row["text"], context.headline, context.before, context.after, bool(row["retry"]))
            served += 1
        last = rows[-1]["rid"]


def count_pending(db: sqlite_utils.Database, schema: Schema, prompt: Prompt, model: str, run_key: str,
                  retry_invalid: bool = False) -> int:
    """How many sentences `pending_jobs` would serve without a limit."""
    sql = f"SELECT count(*) FROM sentences s WHERE {_not_drafted(retry_invalid)}"
    return db.execute(sql, _key(schema, prompt, model, run_key)).fetchone()[0]
