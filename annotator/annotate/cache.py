"""The response cache's read side: the stored answer to a request, by its key (`cachekeys`).

Answers are written with their draft (`writes`), in the same transaction.
"""

from __future__ import annotations

import sqlite3
import threading

import sqlite_utils

from ..settings import busy_timeout


def cached_response(db: sqlite_utils.Database, key: str) -> str | None:
    """The cached response for a request's key, read on the caller's connection."""
    row = db.conn.execute("SELECT response FROM llm_cache WHERE key = ?", [key]).fetchone()
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
        row = conn.execute("SELECT response FROM llm_cache WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        """Close every connection the workers opened."""
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
