"""One writer per piece of work: another process is refused with one line; the holder may re-enter."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlite_utils

from annotator.locks import Busy, hold, lock_path
from annotator.store import open_db

HOLDER = textwrap.dedent("""
    import sys, time
    from annotator.locks import hold
    from annotator.store import open_db
    with hold(open_db(sys.argv[1]), "work", "doing the work"):
        print("held", flush=True)
        time.sleep(60)
""")


@pytest.mark.process
def test_another_process_is_refused_then_a_killed_holder_frees_the_lock(tmp_path) -> None:
    db = open_db(tmp_path / "a.db")
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "a.db")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(Busy) as err, hold(db, "work", "doing the work"):
            pass
        assert f"(pid {proc.pid} on " in str(err.value) and "is already doing the work in" in str(err.value)
        with hold(db, "other work", "doing other work"):  # another scope is free
            pass
    finally:
        proc.kill()
        proc.wait()
    with hold(db, "work", "doing the work"):  # the kernel dropped the dead holder's lock
        pass
    assert lock_path(str(tmp_path / "a.db"), "work").exists()


TRY_HOLD = textwrap.dedent("""
    import sys
    from annotator.locks import Busy, hold
    from annotator.store import open_db
    try:
        with hold(open_db(sys.argv[1]), "work", "doing the work"):
            print("took")
    except Busy:
        print("refused")
""")


def _another_process_tries(db_file: Path) -> str:
    done = subprocess.run([sys.executable, "-c", TRY_HOLD, str(db_file)], capture_output=True, text=True,
                          timeout=60)
    return done.stdout.strip()


@pytest.mark.process
def test_the_holder_may_take_its_lock_again(tmp_path) -> None:
    db = open_db(tmp_path / "a.db")
    with hold(db, "work", "doing the work"):
        with hold(db, "work", "doing the work"):  # re-entered, not refused
            assert _another_process_tries(tmp_path / "a.db") == "refused"
        assert _another_process_tries(tmp_path / "a.db") == "refused"  # the outer block still holds it
    assert _another_process_tries(tmp_path / "a.db") == "took"  # released once both blocks ended



WRITER = textwrap.dedent("""
    import sys, time
    from annotator.store import open_db
    db = open_db(sys.argv[1])
    with db.atomic():
        db.execute("INSERT INTO documents (id, text) VALUES (?, 'x')", [sys.argv[2]])
        print("writing", flush=True)
        time.sleep(1.0)
""")


def _while_another_process_writes(db_file: Path, row_id: str, write: Callable[[], None]) -> Exception | None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db_file), row_id], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        write()
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        proc.wait(10)
    return None


@pytest.mark.process
def test_a_transaction_that_reads_first_waits_for_another_process_write(tmp_path) -> None:
    """sqlite-utils reads the schema before it writes: in a deferred transaction, SQLite answers that read-then-write
    with "database is locked" at once while another connection writes. The tool's transactions take the lock first."""
    db_file = tmp_path / "a.db"
    db = open_db(db_file)

    def upsert(database: sqlite_utils.Database, row_id: str) -> None:
        with database.atomic():
            database["documents"].upsert_all([{"id": row_id, "text": "y"}], pk="id")

    assert _while_another_process_writes(db_file, "held", lambda: upsert(db, "waited")) is None
    assert {r["id"] for r in db.query("SELECT id FROM documents")} == {"held", "waited"}
    plain = sqlite_utils.Database(sqlite3.connect(db_file, timeout=30))  # what open_db's class is for
    failure = _while_another_process_writes(db_file, "held again", lambda: upsert(plain, "plain"))
    assert "database is locked" in str(failure)
