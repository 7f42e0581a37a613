"""Which sentences still need a draft, and what each one is sent with (its context, its examples)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import sqlite_utils

from ..context import DocumentSentences, Window, window
from ..examples import ExampleIndex
from ..prompts import Prompt, WorkedExample
from ..schema import Schema
from ..store import DraftStatus, GoldStatus

PAGE = 500
"""Sentences read per query while walking the pending ones."""

_DRAFT_OF = """SELECT 1 FROM drafts d WHERE d.sentence_id = s.id AND d.schema_hash = ? AND d.prompt_version = ?
    AND d.model = ? AND {run}"""
_DONE = {False: (DraftStatus.OK.value, DraftStatus.INVALID.value), True: (DraftStatus.OK.value,)}
_SUBMITTED = (f"EXISTS (SELECT 1 FROM gold g WHERE g.sentence_id = s.id AND g.status IN "
              f"('{GoldStatus.OK.value}', '{GoldStatus.INVALID.value}'))")


@dataclass(frozen=True)
class Selection:
    """What a run drafts and shows, beyond (schema, prompt, model, run settings); the defaults are a plain run."""

    window: Window = field(default_factory=window)
    """Sentences shown around the sentence (default: ANNOTATOR_CONTEXT_BEFORE / _AFTER, else 3 and 1)."""
    include_boilerplate: bool = False
    """Draft boilerplate sentences too (copyright lines, bylines: skipped by default)."""
    redraft: bool = False
    """Draft again the sentences with no submitted annotation whose draft the current settings would change."""
    examples: ExampleIndex | None = None
    """Retrieve worked examples from gold; None: the prompt's own examples."""

    def run_condition(self, run_key: str) -> tuple[str, str]:
        """(SQL on `d.run_key`, its parameter): the drafts that count as this run's.

        Plain runs: the run settings' key, or '' (drafts from before settings were
        recorded). Runs with examples: any draft of the same example family.
        """
        if self.examples is None:
            return "d.run_key IN (?, '')", run_key
        return "d.run_key LIKE ?", self.examples.family_pattern(run_key)


def _not_drafted(retry_invalid: bool, run: str) -> str:
    """SQL: the sentence has no draft that counts (ok or invalid; ok only when invalid ones are retried)."""
    statuses = ", ".join(f"'{s}'" for s in _DONE[retry_invalid])
    return f"NOT EXISTS ({_DRAFT_OF.format(run=run)} AND d.status IN ({statuses}))"
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
    run_key: str | None = None
    """The draft's run key when it is not the client's (drafts with retrieved examples)."""
    examples: tuple[WorkedExample, ...] = ()
    examples_info: dict | None = None
    """What the draft records about its retrieved examples (ids, K, projects); None without retrieval."""


def _base(schema: Schema, prompt: Prompt, model: str) -> list[str]:
    """The draft key's leading parameters (schema hash, prompt version, model)."""
    return [schema.hash, prompt.version, model]


def _candidates(retry_invalid: bool, selection: Selection) -> tuple[str, bool]:
    """(SQL condition on `s`, whether it takes the run's key parameters) for the sentences worth looking at."""
    skip = "" if selection.include_boilerplate else "s.boilerplate = 0 AND "
    if selection.redraft:
        return f"{skip}NOT {_SUBMITTED}", False
    run, _ = selection.run_condition("")
    return f"{skip}{_not_drafted(retry_invalid, run)}", True


def pending_jobs(db: sqlite_utils.Database, schema: Schema, prompt: Prompt, model: str, run_key: str,
                 limit: int | None = None, retry_invalid: bool = False,
                 selection: Selection | None = None) -> Iterator[Job]:
    """Sentences with no ok/invalid draft for (schema, prompt, model, run settings), in ingest order.

    Boilerplate is left out unless `selection.include_boilerplate`. With
    `selection.redraft`, the sentences are those with no submitted annotation
    (ok or invalid gold, in any project) and no draft with exactly the key the
    current settings give them (their retrieved examples included). Read page by
    page, so drafts committed meanwhile never disturb the walk; the context comes
    from `DocumentSentences`, one query per document.
    """
    selection = selection or Selection()
    documents = DocumentSentences(db)
    run, run_param = selection.run_condition(run_key)
    key = [*_base(schema, prompt, model), run_param]
    retry = f"EXISTS ({_DRAFT_OF.format(run=run)} AND d.status = '{DraftStatus.INVALID.value}')" \
        if retry_invalid and not selection.redraft else "0"
    where, keyed = _candidates(retry_invalid, selection)
    sql = f"""SELECT s.rowid AS rid, s.id, s.document_id, s.idx, s.text, {retry} AS retry FROM sentences s
              WHERE s.rowid > ? AND {where} ORDER BY s.rowid LIMIT ?"""
    params_before = key if retry != "0" else []
    last, served = 0, 0
    while limit is None or served < limit:
        rows = list(db.query(sql, [*params_before, last, *(key if keyed else []), PAGE]))
        if not rows:
            return
        for row in rows:
            job = _job(row, documents, selection, run_key)
            if selection.redraft:
                job = _redraft(db, job, schema, prompt, model, run_key, retry_invalid)
            if job is not None:
                yield job
                served += 1
                if limit is not None and served >= limit:
                    return
        last = rows[-1]["rid"]


def _job(row: dict, documents: DocumentSentences, selection: Selection, run_key: str) -> Job:
    """The job for a sentence row: its context, and its retrieved examples with the run key they give."""
    context = documents.around(row["document_id"], row["idx"], selection.window)
    index = selection.examples
    if index is None:
        return Job(row["id"], row["text"], context.headline, context.before, context.after, bool(row["retry"]))
    chosen = index.nearest(row["id"], row["document_id"], row["text"])
    return Job(row["id"], row["text"], context.headline, context.before, context.after, bool(row["retry"]),
               index.run_key(run_key, chosen), index.worked(chosen), index.describe(chosen))


def _redraft(db: sqlite_utils.Database, job: Job, schema: Schema, prompt: Prompt, model: str, run_key: str,
             retry_invalid: bool) -> Job | None:
    """The job if the sentence has no ok draft (nor invalid, unless retried) with exactly the job's key."""
    keys = [job.run_key] if job.run_key else [run_key, ""]
    statuses = {r[0] for r in db.execute(
        f"SELECT status FROM drafts WHERE sentence_id = ? AND schema_hash = ? AND prompt_version = ? AND model = ? "
        f"AND run_key IN ({', '.join('?' * len(keys))})", [job.sentence_id, *_base(schema, prompt, model), *keys])}
    if DraftStatus.OK in statuses or (DraftStatus.INVALID in statuses and not retry_invalid):
        return None
    return replace(job, retry=DraftStatus.INVALID in statuses)


def count_pending(db: sqlite_utils.Database, schema: Schema, prompt: Prompt, model: str, run_key: str,
                  retry_invalid: bool = False, selection: Selection | None = None) -> int:
    """How many sentences `pending_jobs` would serve without a limit."""
    selection = selection or Selection()
    if selection.redraft:  # the key depends on each sentence's examples: walk them
        return sum(1 for _ in pending_jobs(db, schema, prompt, model, run_key, None, retry_invalid, selection))
    where, _ = _candidates(retry_invalid, selection)
    _, run_param = selection.run_condition(run_key)
    sql = f"SELECT count(*) FROM sentences s WHERE {where}"
    return db.execute(sql, [*_base(schema, prompt, model), run_param]).fetchone()[0]
