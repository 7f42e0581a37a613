"""SQLite storage through sqlite-utils, with append-only migrations recorded in a table."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path

import sqlite_utils

from .errors import InputError
from .hashing import content_hash
from .settings import busy_timeout

NOT_A_DATABASE = ("SQLITE_NOTADB", "SQLITE_CORRUPT")  # sqlite3 error names of a file that is no SQLite database


class DraftStatus(StrEnum):
    """A draft's state: a valid grounded answer, an answer that never validated, or no answer."""

    OK = "ok"
    INVALID = "invalid"
    FAILED = "failed"


class GoldStatus(StrEnum):
    """A pulled annotation's state."""

    OK = "ok"
    INVALID = "invalid"
    SKIPPED = "skipped"
    DELETED = "deleted"
    ACCEPTED = "accepted"
    """Not an annotation: a draft `push --route` accepted from the model (annotator `model:...`), never human gold."""


_SECOND = (-1, "")  # the second `now` last spelt, and its spelling: a run stamps thousands of rows a second


def now() -> str:
    """UTC timestamp in ISO format, to the second."""
    global _SECOND
    last, second = _SECOND, int(time.time())  # one read: another thread may replace it meanwhile
    if last[0] != second:
        last = _SECOND = (second, dt.datetime.fromtimestamp(second, dt.UTC).isoformat(timespec="seconds"))
    return last[1]


def content_id(*parts: object) -> str:
    """Stable id: a hash of the parts, so the same content always gets the same id."""
    return content_hash(parts, length=16)


def _m001_core(db: sqlite_utils.Database) -> None:
    """Documents, sentences, drafts and the LLM response cache."""
    db["documents"].create(
        {"id": str, "external_id": str, "title": str, "source": str, "origin": str, "text": str,
         "created_at": str},
        pk="id",
    )
    db["sentences"].create(
        {"id": str, "document_id": str, "idx": int, "start": int, "end": int, "text": str,
         "is_headline": int},
        pk="id", foreign_keys=[("document_id", "documents", "id")],
    )
    db["sentences"].create_index(["document_id", "idx"], unique=True)
    db["drafts"].create(
        {"id": str, "sentence_id": str, "schema_name": str, "schema_hash": str, "prompt_version": str,
         "model": str, "mode": str, "status": str, "error": str, "data": str, "spans": str,
         "dropped_spans": str, "n_dropped": int, "raw": str, "attempts": int, "prompt_tokens": int,
         "completion_tokens": int, "latency_ms": int, "cached": int, "created_at": str},
        pk="id", foreign_keys=[("sentence_id", "sentences", "id")],
    )
    db["drafts"].create_index(["sentence_id", "schema_hash", "prompt_version", "model"], unique=True)
    db["drafts"].create_index(["status"])
    db["llm_cache"].create(
        {"key": str, "model": str, "mode": str, "response": str, "created_at": str}, pk="key"
    )
    db["llm_modes"].create({"model": str, "mode": str, "updated_at": str}, pk="model")


def _m002_labelstudio(db: sqlite_utils.Database) -> None:
    """Label Studio projects, pushed tasks and predictions, pulled gold annotations."""
    db["projects"].create(
        {"ls_id": int, "name": str, "url": str, "schema_name": str, "schema_hash": str,
         "label_config": str, "model_version": str, "created_at": str, "pull_watermark": str,
         "pulled_at": str},
        pk="ls_id",
    )
    db["projects"].create_index(["url", "name"], unique=True)
    db["tasks"].create(
        {"project_id": int, "sentence_id": str, "task_id": int, "pushed_at": str},
        pk=("project_id", "sentence_id"),
        foreign_keys=[("project_id", "projects", "ls_id"), ("sentence_id", "sentences", "id")],
    )
    db["tasks"].create_index(["project_id", "task_id"], unique=True)
    db["predictions"].create(
        {"project_id": int, "draft_id": str, "task_id": int, "model_version": str, "pushed_at": str},
        pk=("project_id", "draft_id"),
        foreign_keys=[("project_id", "projects", "ls_id"), ("draft_id", "drafts", "id")],
    )
    db["gold"].create(
        {"id": str, "project_id": int, "task_id": int, "sentence_id": str, "annotation_id": int,
         "annotator": str, "completed_by": int, "status": str, "schema_name": str, "schema_hash": str,
         "data": str, "spans": str, "errors": str, "raw_result": str, "lead_time": float,
         "ground_truth": int, "created_at": str, "updated_at": str, "parent_prediction": int,
         "pulled_at": str},
        pk="id", foreign_keys=[("project_id", "projects", "ls_id")],
    )
    db["gold"].create_index(["project_id", "annotation_id"], unique=True)
    db["gold"].create_index(["project_id", "task_id"])
    db["gold"].create_index(["sentence_id"])
    db["gold"].create_index(["status"])


def _m003_identity(db: sqlite_utils.Database) -> None:
    """Draft keys with run settings, prompt texts, schemas, Label Studio prediction ids, projects by (url, id).

    Drafts written before this migration get `run_key = ''`: their run settings were
    not recorded, and they keep counting for their (schema, prompt, model).
    """
    db["drafts"].add_column("run_key", str, not_null_default="")
    db["drafts"].add_column("settings", str)
    db.execute("DROP INDEX IF EXISTS idx_drafts_sentence_id_schema_hash_prompt_version_model")
    db["drafts"].create_index(["sentence_id", "schema_hash", "prompt_version", "model", "run_key"], unique=True,
                              index_name="drafts_key")
    db["prompts"].create({"version": str, "sha256": str, "text": str, "created_at": str}, pk="version")
    db["schemas"].create({"hash": str, "name": str, "json_schema": str, "created_at": str}, pk="hash")
    keys = {r["ls_id"]: content_id("project", r["url"], r["ls_id"]) for r in db["projects"].rows}
    db["projects"].add_column("id", str)
    for ls_id, key in keys.items():
        db.execute("UPDATE projects SET id = ? WHERE ls_id = ?", [key, ls_id])
        for table in ("tasks", "predictions", "gold"):
            db.execute(f"UPDATE {table} SET project_id = ? WHERE project_id = ?", [key, ls_id])
    db["projects"].transform(pk="id", column_order=["id"])
    db["projects"].create_index(["url", "ls_id"], unique=True)
    for table in ("tasks", "predictions", "gold"):
        db[table].transform(types={"project_id": str}, drop_foreign_keys=["project_id"])
        db[table].add_foreign_key("project_id", "projects", "id")
    db["predictions"].add_column("ls_prediction_id", int)
    db["predictions"].create_index(["project_id", "ls_prediction_id"])
    db["gold"].create_index(["project_id", "parent_prediction"])


def _m004_blind(db: sqlite_utils.Database) -> None:
    """Blind tasks: pushed without a prediction, to measure how much pre-filled drafts sway annotators."""
    db["tasks"].add_column("blind", int, not_null_default=0)
    db["projects"].add_column("blind_fraction", float, not_null_default=0.0)


def _m005_serve(db: sqlite_utils.Database) -> None:
    """`annotator serve`: where each project's ML backend and webhook point, and what they last did.

    No credential is kept here: the shared secret lives in a mode-600 file under the config dir.
    """
    db["serve_links"].create(
        {"project_id": str, "backend_url": str, "ml_backend_id": int, "webhook_id": int, "registered_at": str,
         "last_webhook_at": str, "last_webhook_action": str, "webhooks": int, "last_predict_at": str,
         "predicted_tasks": int},
        pk="project_id", foreign_keys=[("project_id", "projects", "id")],
        defaults={"webhooks": 0, "predicted_tasks": 0},
    )


def _m006_boilerplate(db: sqlite_utils.Database) -> None:
    """Boilerplate sentences (copyright lines, bylines, datelines): kept, marked, neither drafted nor pushed.

    Storage knows no stage: the sentences already stored are left to the boilerplate stage
    (`boilerplate.BACKFILLS`), which marks them by the built-in wire forms when an opener
    passes it (`open_db(path, backfills=...)`: the commands, serve and the demo do), at this
    upgrade or at the first such open after it. The user's own patterns mark them on the
    next `ingest --boilerplate-patterns`.
    """
    db["sentences"].add_column("boilerplate", int, not_null_default=0)
    if db["sentences"].count:
        db.execute("INSERT OR IGNORE INTO _pending (name, since) VALUES (?, ?)", ["006_boilerplate", now()])


def _m007_batches(db: sqlite_utils.Database) -> None:
    """Batch API jobs and their requests: a re-run picks a running batch up, and a paid answer is kept once fetched.

    `batches.id` is our own id, sent as metadata, so a batch created just before a crash
    is found again; `provider_id` is the server's. `batch_requests.custom_id` is the
    request's cache key; `response` (a cached completion) or `error` is filled on fetch.
    """
    db["batches"].create(
        {"id": str, "provider_id": str, "scope": str, "server": str, "round": int, "state": str,
         "provider_status": str, "input_file_id": str, "output_file_id": str, "error_file_id": str,
         "requests": int, "counts": str, "error": str, "created_at": str, "updated_at": str},
        pk="id",
    )
    db["batches"].create_index(["scope", "state"])
    db["batch_requests"].create(
        {"batch_id": str, "custom_id": str, "sentence_id": str, "response": str, "error": str},
        pk=("batch_id", "custom_id"), foreign_keys=[("batch_id", "batches", "id")],
    )
    db["batch_requests"].create_index(["custom_id"])


def _m008_schema_ref(db: sqlite_utils.Database) -> None:
    """Where a project's schema loads from (a built-in name, an absolute .py path, or module:Model).

    Commands that name a project load its schema from here when --schema is not given.
    Projects recorded before keep NULL: a built-in schema of their `schema_name`
    serves them when its hash is theirs.
    """
    db["projects"].add_column("schema_ref", str)


def _m009_signals(db: sqlite_utils.Database) -> None:
    """Each draft's raw confidence signals (`confidence/signals.py`), and the servers that refused to send
    log-probabilities for a model (runs to them stop asking; a server at another address is asked again).

    Drafts made before keep NULL signals: calibration reads their grounded share instead.
    """
    db["drafts"].add_column("signals", str)
    db["llm_logprobs_refused"].create({"server": str, "model": str, "refused_at": str}, pk=("server", "model"))


def _m010_calibrations(db: sqlite_utils.Database) -> None:
    """Calibration maps of a project, numbered versions (`annotator calibrate`).

    `gold_hash` is the content hash of the gold rows (ids, updated-at values, and the
    draft each was compared with) a version was fitted on: the same gold makes no
    new version. `maps` and `figures` are JSON (`confidence/calibrate.py`).
    """
    db["calibrations"].create(
        {"id": str, "project_id": str, "version": int, "schema_hash": str, "gold_hash": str, "gold": int,
         "created_at": str, "maps": str, "figures": str},
        pk="id", foreign_keys=[("project_id", "projects", "id")],
    )
    db["calibrations"].create_index(["project_id", "version"], unique=True)


def _m011_routings(db: sqlite_utils.Database) -> None:
    """Routing of a project, numbered versions (`annotator route`), and each sentence `push --route` routed.

    `routings`: the threshold (NULL: none can be guaranteed, accept nothing) chosen on the
    gold the calibration version was fitted on, for `risk` and `delta`, with its figures.
    `routed`: per project and sentence, the routing version that decided it, the draft and
    its calibrated confidence, whether it was accepted (its gold row, status accepted) or
    sent to people, and whether an accepted one was also sent blind for the audit.
    """
    db["routings"].create(
        {"id": str, "project_id": str, "version": int, "calibration_version": int, "risk": float, "delta": float,
         "threshold": float, "n": int, "accepted": int, "errors": int, "bound": float, "created_at": str},
        pk="id", foreign_keys=[("project_id", "projects", "id")],
    )
    db["routings"].create_index(["project_id", "version"], unique=True)
    db["routed"].create(
        {"project_id": str, "sentence_id": str, "routing_version": int, "draft_id": str, "confidence": float,
         "accepted": int, "audit": int, "gold_id": str, "routed_at": str},
        pk=("project_id", "sentence_id"),
        foreign_keys=[("project_id", "projects", "id"), ("sentence_id", "sentences", "id"),
                      ("draft_id", "drafts", "id")],
    )
    db["routed"].create_index(["project_id", "routing_version"])


def _m012_overlap(db: sqlite_utils.Database) -> None:
    """How many annotators each task of a project goes to (Label Studio's `maximum_annotations`), as push or pull
    last read or set it (`labelstudio/overlap.py`). Projects recorded before keep NULL until their next push or
    pull: Label Studio's default, one.
    """
    db["projects"].add_column("overlap", int)


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_core", _m001_core),
    ("002_labelstudio", _m002_labelstudio),
    ("003_identity", _m003_identity),
    ("004_blind", _m004_blind),
    ("005_serve", _m005_serve),
    ("006_boilerplate", _m006_boilerplate),
    ("007_batches", _m007_batches),
    ("008_schema_ref", _m008_schema_ref),
    ("009_signals", _m009_signals),
    ("010_calibrations", _m010_calibrations),
    ("011_routings", _m011_routings),
    ("012_overlap", _m012_overlap),
]


Backfill = Callable[[sqlite_utils.Database], object]
"""Work a migration leaves to the stage that owns the data (storage imports no stage), by migration name."""


def migrate(db: sqlite_utils.Database, backfills: Mapping[str, Backfill] | None = None) -> None:
    """Apply the migrations not yet recorded in `_migrations`, in order; then the pending backfills given.

    A migration whose data needs a stage records its name in `_pending`; it stays there
    until an open passes `backfills` holding that name, which runs it once.
    """
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS _pending (name TEXT PRIMARY KEY, since TEXT)")
    done = {row["name"] for row in db["_migrations"].rows}
    todo = [(name, step) for name, step in MIGRATIONS if name not in done]
    if todo:
        # Rebuilding tables moves foreign keys; SQLite only lets them be switched off outside a transaction.
        db.execute("PRAGMA foreign_keys=OFF")
        try:
            for name, step in todo:
                _apply(db, name, step)
        finally:
            db.execute("PRAGMA foreign_keys=ON")
    pending = [row[0] for row in db.execute("SELECT name FROM _pending ORDER BY name").fetchall()]
    for name in pending:
        if backfills and name in backfills:
            _backfill(db, name, backfills[name])


def _backfill(db: sqlite_utils.Database, name: str, backfill: Backfill) -> None:
    """One pending backfill in one write transaction, its `_pending` row removed (a second process finds it done)."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("SELECT 1 FROM _pending WHERE name = ?", [name]).fetchone() is not None:
            backfill(db)
            db.execute("DELETE FROM _pending WHERE name = ?", [name])
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


def _apply(db: sqlite_utils.Database, name: str, step: Callable[[sqlite_utils.Database], None]) -> None:
    """One migration in one write transaction (a second process waits, then finds it applied)."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("SELECT 1 FROM _migrations WHERE name = ?", [name]).fetchone() is None:
            step(db)
            problems = db.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise InputError(f"migration {name} would leave {len(problems)} broken references; the database "
                                 f"is unchanged: report this with `sqlite3 DB .schema`")
            db["_migrations"].insert({"name": name, "applied_at": now()})
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


class WriteFirstDatabase(sqlite_utils.Database):
    """A Database whose outermost `atomic()` takes the write lock first (BEGIN IMMEDIATE).

    sqlite-utils begins a deferred transaction, and its table methods read the
    schema before writing: a transaction that read first and then finds another
    connection writing fails at once with "database is locked", busy_timeout or
    not. Two commands on one file, or serve's threads, would meet that: every
    transaction of the tool waits for the lock instead (up to the busy timeout).
    """

    @contextlib.contextmanager
    def atomic(self) -> Iterator[sqlite_utils.Database]:
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            with super().atomic():  # a savepoint inside the write transaction
                yield self
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")


def open_db(path: str | Path, backfills: Mapping[str, Backfill] | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) and migrate the database at `path`, running the pending `backfills` given."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise InputError(f"database path {path} is a directory; pass a file name with --db")
    if not path.parent.exists():
        raise InputError(f"folder {path.parent} for the database does not exist; create it or change --db")
    db = WriteFirstDatabase(path)
    try:
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout() * 1000)}")  # first: WAL mode may wait for a lock
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        migrate(db, backfills)
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") not in NOT_A_DATABASE:
            raise
        db.close()
        raise InputError(f"{path} is not a SQLite database ({exc}); pass another file with --db") from exc
    return db


dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON for a TEXT column (`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`, one encoder)."""
