"""One writer at a time: an advisory lock per database and piece of work.

`annotate` locks its draft key (schema, prompt, model, run settings), `push` and
`pull` lock their Label Studio project, so two runs of the same work never pay
twice or import twice, while unrelated work goes on. The lock is an `flock` on a
small file next to the database: the kernel drops it when its process dies, so a
killed run never leaves a stale lock behind. A second run stops with one line
naming the one that holds the lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from .errors import AnnotatorError


class Busy(AnnotatorError):
    """Another process holds the lock for this work."""

    exit_code = 3


def db_file(db: sqlite_utils.Database) -> str | None:
    """The database's file, or None for an in-memory one."""
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] or None


def lock_path(database: str, scope: str) -> Path:
    """The lock file for `scope` next to the database file."""
    digest = hashlib.sha256(scope.encode()).hexdigest()[:12]
    return Path(f"{database}.{digest}.lock")


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    return (f"`{info.get('command', 'annotator')}` (pid {info.get('pid')} on {info.get('host')}, "
            f"since {info.get('since')})")


_HELD: dict[Path, int] = {}
"""Locks this process holds, with how many blocks hold each: a lock is re-entrant within its process."""
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def hold(db: sqlite_utils.Database, scope: str, what: str) -> Iterator[None]:
    """Hold the lock for `scope` while the block runs; Busy (one line) if another process holds it.

    Within one process the lock is re-entrant (a `sync` holding it may call `pull`, which takes it too).
    """
    database = db_file(db)
    if database is None:
        yield
        return
    path = lock_path(database, scope)
    with _HELD_GUARD:
        mine = _HELD.get(path, 0)
        if mine:
            _HELD[path] = mine + 1
    if mine:
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD[path] -= 1
        return
    with _file_lock(path, what, database):
        yield


@contextlib.contextmanager
def _file_lock(path: Path, what: str, database: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"{_holder(path)} is already {what} in {database}; wait for it to finish (or stop it), "
                       "then run again") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": _command(),
                "since": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        with _HELD_GUARD:
            _HELD[path] = 1
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD.pop(path, None)
    finally:
        os.close(fd)  # closing drops the lock; the file stays (deleting it would race with a waiting run)


def _command() -> str:
    """`annotator <command>` when run from the CLI, else the program's name."""
    if "annotator" in sys.argv[0] and len(sys.argv) > 1:
        return f"annotator {sys.argv[1]}"
    return Path(sys.argv[0]).name or "python"
