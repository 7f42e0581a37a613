"""SQLite storage through sqlite-utils, with append-only migrations recorded in a table."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from .errors import InputError


def now() -> str:
    """UTC timestamp in ISO format."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def content_id(*parts: object) -> str:
    """Stable id: a hash of the parts, so the same content always gets the same id."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


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


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_core", _m001_core),
    ("002_labelstudio", _m002_labelstudio),
]


def migrate(db: sqlite_utils.Database) -> None:
    """Apply the migrations not yet recorded in `_migrations`, in order."""
    if "_migrations" not in db.table_names():
        db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    done = {row["name"] for row in db["_migrations"].rows}
    for name, step in MIGRATIONS:
        if name in done:
            continue
        with db.conn:
            step(db)
            db["_migrations"].insert({"name": name, "applied_at": now()})


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) and migrate the database at `path`."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise InputError(f"database path {path} is a directory; pass a file name with --db")
    if not path.parent.exists():
        raise InputError(f"folder {path.parent} for the database does not exist; create it or change --db")
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=30000")
    migrate(db)
    return db


def dumps(value: object) -> str:
    """Compact JSON for a TEXT column."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
