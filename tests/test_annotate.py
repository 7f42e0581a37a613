"""annotate against the real OpenAI-compatible stub server on loopback, faults included."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from annotator.annotate import RunOptions, annotate
from annotator.errors import InputError
from annotator.ingest import ingest, read_inputs
from annotator.llm import LLMClient
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.cli import child_env, run_child
from tests.support.drafting import ARTICLE, PROMPT, SCHEMA, client_for
from tests.support.responders import news_answer, news_responder, target_sentence
from tests.support.stub_llm import StubLLM


@pytest.fixture
def db(tmp_path):
    """A database holding the sample wire article (11 sentences)."""
    database = open_db(tmp_path / "a.db")
    ingest(database, read_inputs([ARTICLE]))
    return database


def drafts(db) -> list[dict]:
    return list(db.query("SELECT d.*, s.text AS sentence FROM drafts d JOIN sentences s ON s.id = d.sentence_id"))


def assert_grounded(rows: list[dict]) -> None:
    for row in rows:
        for span in json.loads(row["spans"] or "[]"):
            assert row["sentence"][span["start"]:span["end"]] == span["text"]


def test_one_grounded_draft_per_sentence_then_zero_calls(db) -> None:
    with StubLLM(responder=news_responder) as stub:
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=4)
        n = db["sentences"].count
        assert n == 11 and report.done == n and report.by_status == {"ok": n}
        rows = drafts(db)
        assert len(rows) == n and {r["sentence_id"] for r in rows} == {s["id"] for s in db["sentences"].rows}
        assert_grounded(rows)
        # Every answer carried one invented span ("Atlantis"): dropped, counted, kept aside.
        assert report.dropped_spans == n and all(r["n_dropped"] == 1 for r in rows)
        assert all("Atlantis" in r["raw"] and "Atlantis" not in r["data"] for r in rows)
        assert all(r["prompt_tokens"] > 0 and r["mode"] == "json_schema" for r in rows)
        calls = stub.calls
        again = annotate(db, client_for(stub), SCHEMA, PROMPT)
        assert again.done == 0 and again.llm_calls == 0 and stub.calls == calls


def test_identical_requests_come_from_the_cache(db) -> None:
    with StubLLM(responder=news_responder) as stub:
        annotate(db, client_for(stub), SCHEMA, PROMPT)
        first = {r["sentence_id"]: r["data"] for r in drafts(db)}
        db.execute("DELETE FROM drafts")
        db.conn.commit()
        calls = stub.calls
        report = annotate(db, client_for(stub), SCHEMA, PROMPT)
        assert report.done == 11 and report.llm_calls == 0 and stub.calls == calls
        assert {r["sentence_id"]: r["data"] for r in drafts(db)} == first
        assert all(r["cached"] == 1 for r in drafts(db))


def test_429_and_500_storm_still_gives_exactly_one_draft_each(tmp_path) -> None:
    database = open_db(tmp_path / "storm.db")
    docs = [{"text": f"Fighters from Group{i} attacked Town{i} on Monday, officials said. "
                     f"At least {i} people died in Town{i}."} for i in range(30)]
    jl = tmp_path / "docs.jsonl"
    jl.write_text("\n".join(json.dumps(d) for d in docs))
    ingest(database, read_inputs([str(jl)]))
    with StubLLM(responder=news_responder, p429=0.3, p500=0.1, seed=7, retry_after=0.01) as stub:
        report = annotate(database, client_for(stub, max_retries=30), SCHEMA, PROMPT, concurrency=8)
        assert stub.counts["429"] > 5 and stub.counts["500"] > 2
    n = database["sentences"].count
    assert n == 60 and report.by_status == {"ok": n}
    per_sentence = list(database.query("SELECT sentence_id, count(*) AS c FROM drafts GROUP BY 1"))
    assert len(per_sentence) == n and all(r["c"] == 1 for r in per_sentence)
    assert_grounded(drafts(database))


def test_retry_after_is_honoured(db) -> None:
    with StubLLM(responder=news_responder, retry_after=0.6) as stub:
        stub.enqueue_fault("429")
        started = time.perf_counter()
        annotate(db, client_for(stub, backoff=0.0), SCHEMA, PROMPT, concurrency=1, limit=1)
        assert time.perf_counter() - started >= 0.6
        assert stub.counts["429"] == 1 and stub.counts["ok"] == 1


def test_timeout_is_retried(db) -> None:
    with StubLLM(responder=news_responder, timeout_sleep=3) as stub:
        stub.enqueue_fault("timeout")
        report = annotate(db, client_for(stub, timeout=0.5), SCHEMA, PROMPT, limit=1)
        assert report.by_status == {"ok": 1} and stub.counts["timeout"] == 1


def test_a_run_takes_its_options_as_one_value_or_field_by_field(db) -> None:
    with StubLLM(responder=news_responder) as stub:
        options = RunOptions(limit=2, concurrency=1, max_reasks=0)
        assert annotate(db, client_for(stub), SCHEMA, PROMPT, options).done == 2
        assert annotate(db, client_for(stub), SCHEMA, PROMPT, options, limit=3).done == 3  # the loose field wins
        assert stub.calls == 5
        with pytest.raises(TypeError, match="concurency"):
            annotate(db, client_for(stub), SCHEMA, PROMPT, concurency=2)
    with pytest.raises(InputError, match="--concurrency must be at least 1"):
        RunOptions(concurrency=0)


def test_truncated_json_is_re_asked_with_the_error(db) -> None:
    with StubLLM(responder=news_responder) as stub:
        stub.enqueue_fault("truncated")
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=1, limit=1)
        assert report.by_status == {"ok": 1}
        (row,) = drafts(db)
        assert row["attempts"] == 2
        reask = stub.requests[-1]["messages"]
        assert reask[-2]["role"] == "assistant" and reask[-1]["role"] == "user"
        assert "not valid JSON" in reask[-1]["content"] and "cut off" in reask[-1]["content"]


def test_schema_invalid_json_is_re_asked_then_kept_as_invalid(db) -> None:
    with StubLLM(responder=lambda body: {"entities": "none", "event_type": "war"}) as stub:
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, limit=2, max_reasks=2)
        assert report.by_status == {"invalid": 2} and stub.calls == 6
        for row in drafts(db):
            assert row["status"] == "invalid" and row["attempts"] == 3
            assert "does not match the schema" in row["error"] and "event_type" in row["error"]
            assert json.loads(row["raw"])["event_type"] == "war" and row["data"] is None
        # Invalid drafts were paid for: a re-run keeps them and asks nothing.
        calls = stub.calls
        assert annotate(db, client_for(stub), SCHEMA, PROMPT).done == 9 and stub.calls == calls + 9 * 3


def test_invalid_then_valid_after_reask(db) -> None:
    with StubLLM(responder=news_responder) as stub:
        stub.enqueue_fault("invalid")
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=1, limit=1)
        assert report.by_status == {"ok": 1} and drafts(db)[0]["attempts"] == 2


@pytest.mark.parametrize("rejected, expected", [
    ({"json_schema"}, "json_object"),
    ({"json_schema", "json_object"}, "tools"),
    ({"json_schema", "json_object", "tools"}, "prompt"),
])
def test_mode_fallback_is_remembered(db, rejected, expected) -> None:
    with StubLLM(responder=news_responder, reject_modes=rejected) as stub:
        report = annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=1, limit=3)
        assert report.by_status == {"ok": 3} and report.mode == expected
        assert {r["mode"] for r in drafts(db)} == {expected}
        rejections = stub.counts["rejected"]
        assert rejections == len(rejected)
        annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=1, limit=2)
        assert stub.counts["rejected"] == rejections  # the next run starts in the mode that worked
    if expected == "prompt":
        assert '"additionalProperties": false' in stub.requests[-1]["messages"][0]["content"]


def test_mode_refused_with_http_500_is_not_retried(db) -> None:
    """llama-cpp-python's server refuses json_schema with a 500; that is a refusal, not a fault."""
    with StubLLM(responder=news_responder, reject_modes={"json_schema"}, reject_status=500) as stub:
        report = annotate(db, client_for(stub, backoff=5.0), SCHEMA, PROMPT, concurrency=1, limit=2)
        assert report.by_status == {"ok": 2} and report.mode == "json_object"
        assert stub.counts["rejected"] == 1 and stub.calls == 3


def test_explicit_mode_is_sent_as_asked(db) -> None:
    with StubLLM(responder=news_responder) as stub:
        annotate(db, client_for(stub), SCHEMA, PROMPT, mode="json_object", limit=1)
        body = stub.requests[-1]
        assert body["response_format"]["type"] == "json_object"
        assert body["response_format"]["schema"]["properties"]["event_type"]["enum"][0] == "battle"


def test_transport_failure_is_recorded_then_retried(db) -> None:
    with StubLLM(responder=news_responder, p500=1.0) as stub:
        report = annotate(db, client_for(stub, max_retries=2), SCHEMA, PROMPT, limit=2)
        assert report.by_status == {"failed": 2} and stub.calls == 6
        assert all(r["error"].startswith("transport: HTTP 500") for r in drafts(db))
    with StubLLM(responder=news_responder) as stub:
        report = annotate(db, client_for(stub), SCHEMA, PROMPT)
        assert report.by_status == {"ok": 11}
    assert len(drafts(db)) == 11


def test_context_is_the_headline_and_preceding_sentences(db) -> None:
    with StubLLM(responder=news_responder) as stub:
        annotate(db, client_for(stub), SCHEMA, PROMPT, concurrency=1, limit=4)
        last = stub.requests[3]["messages"][-1]["content"]
        assert last.startswith("Headline: Drone strike hits fuel depot near Port Selva")
        assert "Context: PORT SELVA, Meridia (Wire) -- A drone struck" in last
        assert target_sentence(stub.requests[3]).startswith('"This was a deliberate attack')
        assert news_answer("x", None)["entities"] == []


SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "news_events.py"


@pytest.mark.parametrize("file_name", [None, "events_copy.py"])
def test_failed_drafts_are_replaced_whichever_way_the_schema_is_loaded(db, tmp_path, file_name) -> None:
    """A draft is keyed by the schema's hash, never its name: a schema loaded from a file (here
    news_events.py itself, or a copy whose name differs) takes over the failed drafts in place."""
    path = SCHEMA_FILE if file_name is None else shutil.copy(SCHEMA_FILE, tmp_path / file_name)
    from_file = load_schema(str(path))
    assert from_file.hash == SCHEMA.hash
    with StubLLM(responder=news_responder, p500=1.0) as stub:
        assert annotate(db, client_for(stub, max_retries=0), SCHEMA, PROMPT).by_status == {"failed": 11}
        stub.p500 = 0.0
        report = annotate(db, client_for(stub), from_file, PROMPT)
        assert report.by_status == {"ok": 11} and report.llm_calls == 11
        rows = drafts(db)
        assert len(rows) == 11 and {r["status"] for r in rows} == {"ok"}
        assert {r["sentence_id"] for r in rows} == {s["id"] for s in db["sentences"].rows}
        assert {r["schema_name"] for r in rows} == {from_file.name}
        again = annotate(db, client_for(stub), SCHEMA, PROMPT)
        assert again.done == 0 and again.llm_calls == 0


def test_other_run_settings_draft_again_and_servers_never_share_answers(db) -> None:
    with StubLLM(responder=news_responder) as one, StubLLM(responder=news_responder) as two:
        assert annotate(db, client_for(one), SCHEMA, PROMPT).llm_calls == 11
        warmer = annotate(db, client_for(one, temperature=0.7), SCHEMA, PROMPT)
        assert warmer.by_status == {"ok": 11} and warmer.llm_calls == 11 and one.calls == 22
        again = annotate(db, client_for(one, temperature=0.7), SCHEMA, PROMPT)
        assert again.done == 0 and again.llm_calls == 0 and one.calls == 22
        # Same model name, same temperature as the first run, another server: nothing comes from the cache.
        other = annotate(db, client_for(two), SCHEMA, PROMPT)
        assert other.by_status == {"ok": 11} and other.llm_calls == 11 and two.calls == 11
    rows = drafts(db)
    assert len(rows) == 33 and db["llm_cache"].count == 33
    settings = sorted({(s["server"], s["temperature"]) for s in (json.loads(r["settings"]) for r in rows)})
    assert settings == sorted([(one.base_url, 0.0), (one.base_url, 0.7), (two.base_url, 0.0)])
    assert len({r["run_key"] for r in rows}) == 3 and len({r["id"] for r in rows}) == 33
    assert {r["version"] for r in db["prompts"].rows} == {PROMPT.version}
    assert [(r["hash"], r["name"]) for r in db["schemas"].rows] == [(SCHEMA.hash, "news_events")]


@pytest.mark.process
@pytest.mark.parametrize("fault, says", [
    ("401", "the LLM server refused the API key (HTTP 401: Incorrect API key provided); set OPENAI_API_KEY"),
    ("404", "the LLM server has no model 'stub' or no chat endpoint at "),
])
def test_cli_llm_refusal_is_one_error_line(tmp_path, fault, says) -> None:
    with StubLLM(responder=news_responder) as stub:
        stub.enqueue_fault(*[fault] * 11)
        r = run_child("annotate", "-c", "1", env=child_env(tmp_path, stub))
        assert 1 <= stub.calls <= 2  # the run stops at the first refusal (a second request may be under way)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (line,) = [line for line in r.stderr.splitlines() if "Error" in line]
    assert line.startswith(f"Error: {says}")
    assert open_db(tmp_path / "cli.db")["drafts"].count == 0


@pytest.mark.process
def test_cli_ctrl_c_stops_and_keeps_finished_drafts(tmp_path) -> None:
    with StubLLM(responder=news_responder, latency=0.4) as stub:
        env = child_env(tmp_path, stub)
        proc = subprocess.Popen([sys.executable, "-m", "annotator", "annotate", "-c", "2"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        db = open_db(tmp_path / "cli.db")
        deadline = time.time() + 60
        while db["drafts"].count < 2 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "Traceback" not in err
        (line,) = [line for line in err.splitlines() if "Interrupted" in line]
        assert line == "Interrupted: finished drafts are stored; run the same command to continue."
        kept = list(db.query("SELECT status FROM drafts"))
        assert 2 <= len(kept) < 11 and {r["status"] for r in kept} == {"ok"}
        # Requests already sent were waited for and stored; the queued ones were never sent.
        assert stub.calls == len(kept)
        assert run_child("annotate", "-c", "4", env=env).returncode == 0
        assert stub.calls == 11 and db["drafts"].count == 11


@pytest.mark.process
def test_cli_crash_keeps_finished_drafts_and_the_key_stays_secret(tmp_path) -> None:
    secret = "sk-test-SECRET-0123456789"
    env = {**os.environ, "ANNOTATOR_DB": str(tmp_path / "cli.db"), "OPENAI_API_KEY": secret,
           "ANNOTATOR_MODEL": "stub"}
    assert run_child("ingest", ARTICLE, env=env).returncode == 0
    with StubLLM(responder=news_responder, latency=0.3) as stub:
        env["OPENAI_BASE_URL"] = stub.base_url
        proc = subprocess.Popen([sys.executable, "-m", "annotator", "annotate", "-c", "1"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        db = open_db(tmp_path / "cli.db")
        deadline = time.time() + 60
        while db["drafts"].count < 3 and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        kept = db["drafts"].count
        assert 3 <= kept < 11
        calls = stub.calls
        done = run_child("annotate", "-c", "4", env=env)
        assert done.returncode == 0, done.stderr
        assert db["drafts"].count == 11
        # Only the unfinished sentences were asked for (one may have been in flight at the kill).
        assert stub.calls - calls in (11 - kept, 11 - kept + 1)
        again = run_child("annotate", env=env)
        assert "0 drafts" in again.stdout and "0 LLM calls" in again.stdout
        assert all(secret not in json.dumps(r) for r in stub.requests)
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("cli.db*"))
    assert secret.encode() not in blob
    assert secret not in done.stdout + done.stderr + again.stdout + again.stderr + out + err


@pytest.mark.process
def test_cli_errors_are_one_line_and_non_zero(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANNOTATOR_"))}
    env["ANNOTATOR_DB"] = str(tmp_path / "e.db")
    env["ANNOTATOR_HOME"] = str(tmp_path / "home")
    r = run_child("annotate", env=env)
    assert r.returncode != 0
    assert r.stderr.strip().startswith("Error: no LLM configured") and len(r.stderr.strip().splitlines()) == 1
    r = run_child("annotate", "--schema", "nope", env=env)
    assert r.returncode == 2 and "Error: unknown schema 'nope'" in r.stderr
    r = run_child("annotate", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--retries", "0", env=env)
    assert r.returncode == 0 and "0 drafts" in r.stdout  # no sentences yet: nothing to ask
    run_child("ingest", ARTICLE, env=env)
    r = run_child("annotate", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--retries", "1",
                "--limit", "1", env=env)
    assert r.returncode == 1 and "failed" in r.stderr


def test_annotate_inside_a_running_event_loop_says_how_to_call_it(db) -> None:
    client = LLMClient(base_url="http://127.0.0.1:9/v1", api_key=None, model="stub")

    async def notebook_cell() -> None:
        annotate(db, client, SCHEMA, PROMPT)

    with pytest.raises(InputError, match="cannot run inside another one"):
        asyncio.run(notebook_cell())
    assert client.calls == 0 and db["drafts"].count == 0
