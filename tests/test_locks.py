"""One writer per piece of work: another process is refused with one line; the holder may re-enter."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

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


def test_the_holder_may_take_its_lock_again(tmp_path) -> None:
    db = open_db(tmp_path / "a.db")
    with hold(db, "work", "doing the work"), hold(db, "work", "doing the work"):
        pass
    with hold(db, "work", "doing the work"):  # released once both blocks ended
        pass
