"""annotate against servers that misbehave, and Ctrl-C while they do (stub LLM on loopback)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from annotator.annotate import annotate
from annotator.annotate.drafter import Outcome
from annotator.annotate.writes import DRAFT_COLUMNS, DraftWriter
from annotator.ingest import ingest, read_inputs
from annotator.store import open_db
from tests.support.cli import child_env, run_child
from tests.support.drafting import ARTICLE, PROMPT, SCHEMA, client_for
from tests.support.responders import news_responder
from tests.support.stub_llm import INVALID_CONTENT, StubLLM


def fresh_db(tmp_path):
    db = open_db(tmp_path / "a.db")
    ingest(db, read_inputs([ARTICLE]))
    return db


def statuses(db) -> dict[str, int]:
    return {r["status"]: r["n"] for r in db.query("SELECT status, count(*) AS n FROM drafts GROUP BY 1")}


def test_garbage_replies_are_retried_never_cached_and_fail_with_the_reason(tmp_path) -> None:
    db = fresh_db(tmp_path)
    with StubLLM(responder=news_responder) as stub:
        stub.enqueue_fault("html", "no_choices")
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=1)
        assert report.by_status == {"ok": 11} and stub.counts["html"] == 1 and stub.counts["no_choices"] == 1
    assert db["llm_cache"].count == 11  # one answer per sentence: no garbage in the cache
    db2 = fresh_db(tmp_path / "b") if (tmp_path / "b").mkdir() is None else None
    with StubLLM(responder=news_responder) as stub:
        stub.enqueue_fault(*["html"] * 22)
        report = annotate(db2, client_for(stub, max_retries=1), SCHEMA, PROMPT, concurrency=1)
    assert report.by_status == {"failed": 11} and db2["llm_cache"].count == 0
    errors = {r["error"] for r in db2.query("SELECT error FROM drafts")}
    # The reply is quoted up to its first 60 characters.
    assert errors == {"transport: the reply is not a chat completion (got str '<!doctype html><html><body>"
                      "<h1>Welcome to nginx!</h1></body>') after 2 attempts"}


def test_unknown_model_stops_the_run_and_no_mode_is_remembered(tmp_path) -> None:
    db = fresh_db(tmp_path)
    with StubLLM(responder=news_responder) as stub:
        stub.enqueue_fault(*["unknown_model"] * 11)
        try:
            annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=1)
        except Exception as exc:  # noqa: BLE001 - the type is checked below
            error = exc
        assert type(error).__name__ == "FatalLLMError" and "has no model 'stub'" in str(error)
        # Not taken for a mode refusal: only json_schema was ever asked (a second job may have started).
        assert stub.calls <= 2
        assert {r["response_format"]["type"] for r in stub.requests} == {"json_schema"}
    assert db["llm_modes"].count == 0 and db["drafts"].count == 0


def test_retry_invalid_asks_again_without_the_cache(tmp_path) -> None:
    db = fresh_db(tmp_path)
    with StubLLM(responder=lambda body: INVALID_CONTENT) as stub:
        first = annotate(db, client_for(stub), SCHEMA, PROMPT, max_reasks=0)
        assert first.by_status == {"invalid": 11}
        assert annotate(db, client_for(stub), SCHEMA, PROMPT).llm_calls == 0  # invalid counts as drafted
        stub.responder = news_responder
        stub.reset()
        again = annotate(db, client_for(stub), SCHEMA, PROMPT, retry_invalid=True)
        assert again.by_status == {"ok": 11} and again.llm_calls == 11 and stub.calls == 11
    assert statuses(db) == {"ok": 11} and db["llm_cache"].count == 11


@pytest.mark.process
@pytest.mark.parametrize("userinfo", ["user:hunter2@", ""], ids=["httpx", "aiohttp"])
def test_unreachable_server_fails_fast_with_one_line(tmp_path, userinfo: str) -> None:
    env = child_env(tmp_path)
    env["OPENAI_BASE_URL"] = f"http://{userinfo}127.0.0.1:1/v1"
    r = run_child("annotate", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "hunter2" not in r.stderr + r.stdout
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("Error:")]
    assert line.startswith("Error: cannot reach the LLM at http://127.0.0.1:1/v1 (5 connection errors in a row)")


def test_drafts_kept_while_another_writer_replays_the_side_file_are_never_lost(tmp_path) -> None:
    sentence = fresh_db(tmp_path).execute("SELECT id FROM sentences LIMIT 1").fetchone()[0]
    done = threading.Event()

    def outcome(n: int) -> Outcome:
        row = {c: None for c in DRAFT_COLUMNS} | {
            "id": f"d{n}", "sentence_id": sentence, "schema_name": "s", "schema_hash": "h", "prompt_version": "p",
            "model": f"m{n}", "run_key": "", "status": "ok", "data": "{}", "spans": "[]", "n_dropped": 0,
            "attempts": 1, "prompt_tokens": 1, "completion_tokens": 1, "latency_ms": 0, "cached": 0,
            "created_at": "t"}
        return Outcome(row, [])

    def keep(first: int) -> None:  # what a writer does while the database is locked
        writer = DraftWriter(open_db(tmp_path / "a.db"))
        for n in range(first, first + 100):
            writer._spill(outcome(n))

    def replay() -> None:
        writer = DraftWriter(open_db(tmp_path / "a.db"))
        while not done.is_set():
            writer.replay()

    replayer = threading.Thread(target=replay)
    replayer.start()
    keepers = [threading.Thread(target=keep, args=(first,)) for first in (0, 100, 200, 300)]
    for thread in keepers:
        thread.start()
    for thread in keepers:
        thread.join()
    done.set()
    replayer.join()
    db = open_db(tmp_path / "a.db")
    DraftWriter(db).replay()
    assert db["drafts"].count == 400


def _start(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "annotator", "annotate", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.process
def test_first_ctrl_c_stops_retrying_at_once(tmp_path) -> None:
    with StubLLM(responder=news_responder, p500=1.0) as stub:
        env = child_env(tmp_path, stub)
        proc = _start(env, "-c", "2", "--retries", "8")
        deadline = time.time() + 60
        while stub.counts["500"] < 3 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        # Eight retries with exponential backoff would take about a minute; stopping must not wait for them.
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "Traceback" not in err
    assert "Stopping: nothing more is sent; waiting for" in err
    assert "Interrupted: finished drafts are stored" in err


@pytest.mark.process
def test_second_ctrl_c_abandons_the_requests_in_flight(tmp_path) -> None:
    with StubLLM(responder=news_responder, latency=60) as stub:
        env = child_env(tmp_path, stub)
        proc = _start(env, "-c", "2", "--timeout", "120")
        deadline = time.time() + 60
        while stub.calls < 2 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)  # the requests would take 60 s: a second Ctrl-C does not wait
    assert proc.returncode == 130 and "Traceback" not in err
    assert "waiting for 2 request(s) in flight" in err
    assert "Interrupted: 2 request(s) in flight abandoned; finished drafts are stored" in err


@pytest.mark.process
def test_two_annotate_runs_of_the_same_work_never_run_at_once(tmp_path) -> None:
    # Slow answers (11 sentences, 2 at a time, 3 s each: about 18 s) so the second run starts during the first.
    with StubLLM(responder=news_responder, latency=3.0) as stub:
        env = child_env(tmp_path, stub)
        first = _start(env, "-c", "2")
        deadline = time.time() + 60
        while stub.calls < 1 and time.time() < deadline:
            time.sleep(0.05)
        second = run_child("annotate", "-c", "2", env=env)
        assert second.returncode == 3 and "Traceback" not in second.stderr
        (line,) = [x for x in second.stderr.splitlines() if x.startswith("Error:")]
        assert line.startswith("Error: `annotator annotate` (pid ") and "is already drafting with stub" in line
        first.communicate(timeout=120)
        assert first.returncode == 0
        assert stub.calls == 11  # every sentence paid once
    db = open_db(tmp_path / "cli.db")
    assert statuses(db) == {"ok": 11}
    # The lock went with its process: a new run takes it (and has nothing to do).
    assert run_child("annotate", env=env).returncode == 0


def test_a_locked_database_keeps_paid_answers_in_a_side_file_then_stores_them(tmp_path) -> None:
    db = fresh_db(tmp_path)
    db.execute("PRAGMA busy_timeout=200")
    blocker = open_db(tmp_path / "a.db")
    with StubLLM(responder=news_responder) as stub:
        try:  # once the run has started, another process takes the write lock and keeps it
            annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=2,
                     on_start=lambda n: blocker.conn.execute("BEGIN IMMEDIATE"))
        except Exception as exc:  # noqa: BLE001 - checked below
            error = exc
        assert type(error).__name__ == "DatabaseBusy" and "11 paid answers are kept in" in str(error)
        assert stub.calls == 11
        spill = Path(f"{tmp_path / 'a.db'}.unsaved.jsonl")
        assert len(spill.read_text().splitlines()) == 11
        blocker.conn.execute("ROLLBACK")
        again = annotate(db, client_for(stub), SCHEMA, PROMPT)
        assert again.replayed == 11 and again.llm_calls == 0 and stub.calls == 11
    assert statuses(db) == {"ok": 11} and db["llm_cache"].count == 11 and not spill.exists()


def test_a_side_file_line_cut_short_by_a_crash_costs_that_line_only_and_is_kept_aside(tmp_path) -> None:
    db = fresh_db(tmp_path)
    db.execute("PRAGMA busy_timeout=200")
    blocker = open_db(tmp_path / "a.db")
    with StubLLM(responder=news_responder) as stub:
        with pytest.raises(Exception, match="paid answers are kept in"):
            annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=2,
                     on_start=lambda n: blocker.conn.execute("BEGIN IMMEDIATE"))
        blocker.conn.execute("ROLLBACK")
        spill = Path(f"{tmp_path / 'a.db'}.unsaved.jsonl")
        lines = spill.read_text().splitlines()
        cut = lines[-1][: len(lines[-1]) // 2]  # the last answer's line, as a crash mid-write leaves it
        spill.write_text("\n".join([*lines[:-1], cut]) + "\n")
        again = annotate(db, client_for(stub), SCHEMA, PROMPT)
        assert again.replayed == 10 and again.llm_calls == 1  # the cut answer's sentence is drafted again
    assert statuses(db) == {"ok": 11} and not spill.exists()
    assert Path(f"{spill}.unreadable").read_text() == cut + "\n"
