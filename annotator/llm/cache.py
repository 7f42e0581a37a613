"""The response cache: the stored answer to a request, by its key (`cachekeys`), read and written.

A fresh answer is written with the draft it made (`annotate.writes`), in the same
transaction: `store_answers` is called inside it. Reads go through the caller's
connection (`cached_response`, which sees this round's writes) or a connection per
worker thread (`CacheReader`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import sqlite_utils

from ..settings import busy_timeout

_INSERT = ("INSERT OR REPLACE INTO llm_cache (key, model, mode, response, created_at) "
           "VALUES (:key, :model, :mode, :response, :created_at)")
_SELECT = "SELECT response FROM llm_cache WHERE key = ?"


def store_answers(db: sqlite_utils.Database, entries: Sequence[Mapping[str, Any]]) -> None:
    """Keep fresh answers (`key`, `model`, `mode`, `response`, `created_at` each) in the caller's transaction."""
    if entries:
        db.conn.executemany(_INSERT, entries)


def cached_response(db: sqlite_utils.Database, key: str) -> str | None:
    """The cached response for a request's key, read on the caller's connection."""
    row = db.conn.execute(_SELECT, [key]).fetchone()
    return row[0] if row else None


class CacheReader:
    """Cache lookups from worker threads: one read connection each (writes stay on the caller's thread)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.path = db.execute("PRAGMA database_list").fetchone()[2]
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []

    def lookup(self, key: str) -> str | None:
        """The cached response for `key` (an in-memory database has no cache readers: always None)."""
        if not self.path:
            return None
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={int(busy_timeout() * 1000)}")
            with self._lock:
                self._opened.append(conn)
        row = conn.execute(_SELECT, [key]).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        """Close every connection the workers opened."""
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
