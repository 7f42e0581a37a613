"""Storing drafts: one transaction per finished draft, and nothing paid for lost when the database is busy.

When another process holds the database's write lock past the busy timeout, the
finished drafts go to a side file next to the database (`<db>.unsaved.jsonl`,
appended and flushed one by one) instead of being dropped; they are written into
the database at the end of the run if it is free by then, else by the next
`annotate`, `annotate --batch` or `serve` /predict (`DraftWriter.replay`), before
it decides what is still to draft. While the database stays locked, serve answers
from the side file itself (`unsaved_outcomes`). The side file is `flock`ed while
it is appended to or replayed: an answer kept by one process while another
replays is never read half or removed unread.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from pathlib import Path
from typing import IO

import sqlite_utils

from ..errors import AnnotatorError
from ..llm.cache import store_answers
from ..locks import db_file
from ..store import DraftStatus
from .drafter import Outcome

DRAFT_COLUMNS = ("id", "sentence_id", "schema_name", "schema_hash", "prompt_version", "model", "run_key",
                 "settings", "mode", "status", "error", "data", "spans", "dropped_spans", "n_dropped", "raw",
                 "signals", "attempts", "prompt_tokens", "completion_tokens", "latency_ms", "cached", "created_at")
DRAFT_KEY = ("sentence_id", "schema_hash", "prompt_version", "model", "run_key")
_UPDATED = [c for c in DRAFT_COLUMNS if c not in DRAFT_KEY and c != "id"]
# A draft is found by its key whatever its id (rows keep the id they were first written with), and an
# ok draft is never replaced: a later failure of the same sentence must not erase what was paid for.
_UPSERT_DRAFT = (
    f"INSERT INTO drafts ({', '.join(DRAFT_COLUMNS)}) VALUES ({', '.join('?' * len(DRAFT_COLUMNS))}) "
    f"ON CONFLICT({', '.join(DRAFT_KEY)}) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _UPDATED)} "
    f"WHERE drafts.status != '{DraftStatus.OK.value}'"
)
# A failed draft only says that its sentence still needs one: once the sentence has an ok or invalid
# draft for (schema, prompt, model), failures from other run settings (or from before they were
# recorded) are noise in `annotator status` and go.
_DROP_SUPERSEDED = (
    "DELETE FROM drafts WHERE sentence_id = ? AND schema_hash = ? AND prompt_version = ? AND model = ? "
    f"AND run_key != ? AND status = '{DraftStatus.FAILED.value}'"
)


class DatabaseBusy(AnnotatorError):
    """Drafts could not be written because another process kept the database locked."""


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite failed because another connection kept the database locked."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def unsaved_file(db: sqlite_utils.Database) -> Path | None:
    """The side file of the database's drafts kept while it was locked (None for an in-memory database)."""
    database = db_file(db)
    return Path(f"{database}.unsaved.jsonl") if database else None


def _open_locked(path: Path, mode: str) -> IO[str] | None:
    """The side file opened in `mode` ("a" creates it, "r" does not: None) and `flock`ed; close to unlock.

    A file replayed and removed while we waited for its lock is opened again (the new one).
    """
    while True:
        try:
            fh = path.open(mode, encoding="utf-8")
        except FileNotFoundError:
            return None
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino:
                return fh
        except FileNotFoundError:
            pass
        fh.close()


def read_kept(text: str) -> tuple[list[Outcome], list[str]]:
    """The drafts in a side file's text, and its lines that hold none (one cut short by a crash mid-write)."""
    kept, unreadable = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            kept.append(Outcome(dict(item["row"]), list(item["cache_entries"])))
        except (ValueError, KeyError, TypeError):
            unreadable.append(line)
    return kept, unreadable


def unsaved_outcomes(path: Path | None) -> list[Outcome]:
    """The drafts kept in the side file (not yet in the database)."""
    fh = _open_locked(path, "r") if path is not None else None
    if fh is None:
        return []
    with fh:
        return read_kept(fh.read())[0]


def _write(db: sqlite_utils.Database, outcome: Outcome, drop_superseded: bool = True) -> None:
    store_answers(db, outcome.cache_entries)
    db.conn.execute(_UPSERT_DRAFT, [outcome.row.get(c) for c in DRAFT_COLUMNS])  # a side file may predate a column
    if drop_superseded and outcome.row["status"] != DraftStatus.FAILED:
        db.conn.execute(_DROP_SUPERSEDED, [outcome.row[c] for c in DRAFT_KEY])


def has_failed_drafts(db: sqlite_utils.Database, schema_hash: str, prompt_version: str, model: str) -> bool:
    """Whether any draft of (schema, prompt, model) failed: only then can a new draft supersede one."""
    return db.execute("SELECT 1 FROM drafts WHERE schema_hash = ? AND prompt_version = ? AND model = ? "
                      f"AND status = '{DraftStatus.FAILED.value}' LIMIT 1",
                      [schema_hash, prompt_version, model]).fetchone() is not None


def write_outcome(db: sqlite_utils.Database, outcome: Outcome) -> None:
    """Commit one draft and its fresh cache entries together."""
    with db.atomic():
        _write(db, outcome)


class DraftWriter:
    """Writes finished drafts; spills them to the side file while the database stays locked."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.spill_file = unsaved_file(db)
        self.spilled = 0
        self._pending: list[Outcome] = []
        self.drop_superseded = True
        """Look for failed drafts a new one supersedes; a run that found none when it started skips the query
        (a failure another process writes meanwhile stays, as one written after the new draft always did)."""

    def write(self, outcome: Outcome) -> None:
        """Store the draft (committed by `flush`), or keep it in the side file when the database is locked."""
        if not self.spilled:
            try:
                _write(self.db, outcome, self.drop_superseded)
                self._pending.append(outcome)
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or self.spill_file is None:
                    raise
                self._rollback_to_spill()
        self._spill(outcome)

    def flush(self) -> None:
        """Commit the drafts written since the last flush (the results that came in together)."""
        if not self._pending:
            return
        try:
            self.db.conn.commit()
            self._pending.clear()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or self.spill_file is None:
                raise
            self._rollback_to_spill()

    def _rollback_to_spill(self) -> None:
        """The open transaction could not be committed: keep its drafts in the side file instead."""
        if self.db.conn.in_transaction:
            self.db.conn.rollback()
        pending, self._pending = self._pending, []
        for outcome in pending:
            self._spill(outcome)

    def _spill(self, outcome: Outcome) -> None:
        assert self.spill_file is not None
        line = json.dumps({"row": outcome.row, "cache_entries": outcome.cache_entries}, ensure_ascii=False)
        fh = _open_locked(self.spill_file, "a")
        assert fh is not None  # "a" creates the file
        with fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.spilled += 1

    def replay(self) -> int:
        """Write the drafts kept in the side file into the database; how many. DatabaseBusy if still locked.

        The one way kept drafts reach the database: `annotate`, `annotate --batch` and serve's /predict
        call it before they ask the LLM anything.
        """
        fh = _open_locked(self.spill_file, "r") if self.spill_file is not None else None
        if fh is None:
            return 0
        with fh:  # the lock is held until the file is gone: nothing is appended meanwhile and lost
            lines, unreadable = read_kept(fh.read())
            try:
                for outcome in lines:
                    write_outcome(self.db, outcome)
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                raise DatabaseBusy(
                    f"the database is locked by another process; {len(lines)} paid answers are kept in "
                    f"{self.spill_file} and will be stored by the next `annotator annotate` or `annotator "
                    "serve`") from exc
            assert self.spill_file is not None
            if unreadable:  # kept beside it, never deleted: only a person can tell what they held
                with open(self.spill_file.with_name(self.spill_file.name + ".unreadable"), "a") as aside:
                    aside.write("".join(line + "\n" for line in unreadable))
            self.spill_file.unlink()
        self.spilled = 0
        return len(lines)
