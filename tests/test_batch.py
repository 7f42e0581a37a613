"""annotate --batch against the stub's Batch API: same drafts as online, re-asks, failures, expiry, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from annotator.annotate import annotate
from annotator.annotate.batch import BatchHooks, annotate_batch
from annotator.annotate.batch_api import read_result, request_line
from annotator.store import open_db
from tests.support.batch import batch, fresh_db, statuses
from tests.support.cli import child_env, run_child
from tests.support.drafting import PROMPT, SCHEMA, client_for
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM
from tests.support.waiting import wait_for

COMPLETION = {"id": "c", "object": "chat.completion", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}


def test_result_lines_become_answers_or_reasons() -> None:
    ok = read_result({"custom_id": "k1", "response": {"status_code": 200, "body": COMPLETION}, "error": None})
    assert ok[0] == "k1" and json.loads(ok[1]) == {"content": "{}", "prompt_tokens": 7, "completion_tokens": 2,
                                                   "finish_reason": "stop"} and ok[2] is None
    server = read_result({"custom_id": "k2", "response": {"status_code": 500, "body": {"error": {"message": "boom"}}}})
    assert server == ("k2", None, "HTTP 500: boom")
    expired = read_result({"custom_id": "k3", "response": None,
                           "error": {"code": "batch_expired", "message": "not run"}})
    assert expired == ("k3", None, "batch_expired: not run")
    assert read_result({"custom_id": "k4", "response": {"status_code": 200, "body": "<html>"}})[2].startswith(
        "the reply is not a chat completion")
    line = json.loads(request_line("k1", {"model": "m"}))
    assert line == {"custom_id": "k1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}


def test_batch_drafts_are_the_online_drafts_and_an_invalid_reply_is_reasked_in_a_second_batch(tmp_path) -> None:
    online = fresh_db(tmp_path / "online.db")
    offline = fresh_db(tmp_path / "batch.db")
    with StubLLM(responder=news_responder) as stub:
        annotate(online, client_for(stub), SCHEMA, PROMPT, concurrency=2)
    with StubLLM(responder=news_responder) as stub:
        stub.enqueue_fault("invalid")  # the first request of the batch gets an invalid reply
        report = batch(offline, stub)
        assert stub.batch.created == 2 and stub.counts == {"ok": 11, "invalid": 1}
        assert report.by_status == {"ok": 11} and report.llm_calls == 12 and len(report.created) == 2
    # The fake answers a re-ask's last turn, not the sentence: compare the ten drafts asked once.
    once = set(r[0] for r in offline.execute("SELECT sentence_id FROM drafts WHERE attempts = 1").fetchall())
    same = "SELECT sentence_id, status, data, spans, dropped_spans, n_dropped FROM drafts ORDER BY sentence_id"
    assert len(once) == 10
    assert [r for r in offline.query(same) if r["sentence_id"] in once] == \
        [r for r in online.query(same) if r["sentence_id"] in once]
    rows = list(offline.query("SELECT attempts, cached, prompt_tokens, completion_tokens FROM drafts"))
    assert sorted(r["attempts"] for r in rows) == [1] * 10 + [2]  # one re-ask, with the error, like online
    assert all(r["cached"] == 0 and r["prompt_tokens"] > 0 for r in rows)
    assert offline["llm_cache"].count == 12  # every paid answer, the invalid one included
    assert [r["state"] for r in offline.query("SELECT state FROM batches")] == ["done", "done"]


def test_reask_online_sends_the_reask_at_once(tmp_path) -> None:
    db = fresh_db(tmp_path / "b.db")
    with StubLLM(responder=news_responder) as stub:
        stub.enqueue_fault("invalid")
        report = batch(db, stub, reask_online=True)
        assert stub.batch.created == 1 and report.online_reasks == 1 and report.by_status == {"ok": 11}


def test_a_server_remembered_to_refuse_log_probabilities_is_not_asked_for_them_in_a_batch(tmp_path) -> None:
    db = fresh_db(tmp_path / "b.db")
    with StubLLM(responder=news_responder) as stub:
        stub.logprobs = "refuse"
        assert annotate(db, client_for(stub), SCHEMA, PROMPT, limit=1).by_status == {"ok": 1}  # refused, remembered
        sent = len(stub.requests)
        report = batch(db, stub)
        assert report.by_status == {"ok": 10} and stub.counts == {"logprobs_refused": 1, "ok": 11}
        assert len(stub.requests) == sent + 10 and all("logprobs" not in body for body in stub.requests[sent:])


def test_a_reask_sent_online_to_a_server_that_refuses_log_probabilities_is_sent_again_without(tmp_path) -> None:
    fresh_db(tmp_path / "b.db").close()
    reports: list = []
    with StubLLM(responder=news_responder) as stub:
        stub.enqueue_fault("invalid")  # one batch answer is invalid: its re-ask goes online, after the batch

        def phase(text: str) -> None:
            if text.startswith("Drafting from batch results"):
                stub.logprobs = "refuse"  # the server sending the re-ask refuses log-probabilities

        client = client_for(stub)
        run = threading.Thread(target=lambda: reports.append(annotate_batch(  # on its own connection
            open_db(tmp_path / "b.db"), client, SCHEMA, PROMPT, poll_interval=0.02, reask_online=True,
            hooks=BatchHooks(phase=phase))))
        run.start()
        run.join(timeout=60)
        stuck = run.is_alive()
        client.stopping.set()  # a run asking the same refused request again and again stops here
        run.join()
        assert not stuck and stub.counts["logprobs_refused"] == 1
        # Online: the re-ask (refused); from then on no request asks for log-probabilities, as the batch's did:
        # the eleven are asked again online, the refused sentence's first.
        assert reports[0].by_status == {"ok": 11} and reports[0].online_reasks == 1 + 11
        assert "logprobs" not in stub.requests[-1]


def test_partly_failed_batch_leaves_failures_pending_and_pays_the_rest_once(tmp_path) -> None:
    db = fresh_db(tmp_path / "b.db")
    with StubLLM(responder=news_responder) as stub:
        stub.enqueue_fault("500", "500")
        report = batch(db, stub)
        assert report.by_status == {"ok": 9, "failed": 2} and report.failed_requests == 2
        errors = [r["error"] for r in db.query("SELECT error FROM drafts WHERE status = 'failed'")]
        assert errors == ["transport: batch: HTTP 500: internal error (stub)"] * 2
        again = batch(db, stub)
        assert again.by_status == {"ok": 2} and stub.batch.created == 2
        assert stub.counts == {"ok": 11, "500": 2}  # each sentence answered once
    assert statuses(db) == {"ok": 11}


def test_expired_batch_keeps_what_it_answered_and_the_rest_goes_in_the_next(tmp_path) -> None:
    db = fresh_db(tmp_path / "b.db")
    with StubLLM(responder=news_responder) as stub:
        stub.batch.expire_after = 4
        first = batch(db, stub)
        assert first.by_status == {"ok": 4, "failed": 7}
        assert "batch_expired" in db.execute("SELECT error FROM drafts WHERE status = 'failed'").fetchone()[0]
        stub.batch.expire_after = None
        second = batch(db, stub)
        assert second.by_status == {"ok": 7} and stub.counts == {"ok": 11}
    states = list(db.query("SELECT provider_status, requests FROM batches ORDER BY created_at, rowid"))
    assert states == [{"provider_status": "expired", "requests": 11}, {"provider_status": "completed", "requests": 7}]


def test_a_batch_that_fails_as_a_whole_fails_its_drafts_with_the_reason(tmp_path) -> None:
    db = fresh_db(tmp_path / "b.db")
    with StubLLM(responder=news_responder) as stub:
        stub.batch.fail = True
        report = batch(db, stub)
    assert report.by_status == {"failed": 11}
    reason = db.execute("SELECT error FROM drafts LIMIT 1").fetchone()[0]
    assert reason == ("transport: batch: the batch failed before this request ran "
                      "(invalid_request: the stub was told to fail this batch)")


@pytest.mark.process
def test_unreadable_result_lines_fail_their_requests_and_every_other_answer_is_stored(tmp_path) -> None:
    with StubLLM(responder=news_responder) as stub:
        env = {**child_env(tmp_path, stub), "COLUMNS": "200"}
        # Not JSON, not an object, cut off half-way, a custom_id that is not a string: 4 of the 11 lines.
        stub.batch.bad_lines = {0: "{not json", 3: "[1, 2]", 5: lambda line: line[:len(line) // 2],
                                7: '{"custom_id": ["x"], "response": null}'}
        first = run_child("annotate", "--batch", "--poll-interval", "0.05", env=env)
        assert first.returncode == 1 and "Traceback" not in first.stderr, first.stderr  # 4 failed: exit 1
        said = [x for x in first.stdout.splitlines() if "could not be read" in x]
        assert said == ["4 result lines could not be read; their requests failed and are asked again on the "
                        "next run."]
        db = open_db(env["ANNOTATOR_DB"])
        assert statuses(db) == {"ok": 7, "failed": 4}
        assert [r["state"] for r in db.query("SELECT state FROM batches")] == ["done"]
        errors = {r["error"] for r in db.query("SELECT error FROM drafts WHERE status = 'failed'")}
        assert errors == {"transport: batch: no readable result for this request (4 result lines could not "
                          "be read)"}
        stub.batch.bad_lines = {}
        again = run_child("annotate", "--batch", "--poll-interval", "0.05", env=env)
        assert again.returncode == 0, again.stderr
        # The four are asked again in a second batch; the seven stored answers are not paid twice.
        assert stub.batch.created == 2 and stub.counts == {"ok": 15}
    assert statuses(db) == {"ok": 11}


def start_cli(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "annotator", "annotate", "--batch", "--poll-interval", "0.05"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.process
def test_kill_9_while_a_batch_runs_then_a_restart_picks_it_up(tmp_path) -> None:
    with StubLLM(responder=news_responder) as stub:
        env = child_env(tmp_path, stub)
        stub.batch.latency = 0.2  # 11 requests: about 2 s at the server
        proc = start_cli(env)
        wait_for(lambda: stub.batch.created == 1 and stub.counts["ok"] >= 2)
        kill9(proc)
        again = run_child("annotate", "--batch", "--poll-interval", "0.05", env=env)
        assert again.returncode == 0, again.stderr
        assert "Picked up 1 batch(es) left running: batch_stub" in again.stdout
        assert stub.batch.created == 1 and stub.counts == {"ok": 11}  # one batch, each request paid once
    db = open_db(env["ANNOTATOR_DB"])
    assert statuses(db) == {"ok": 11}


@pytest.mark.process
def test_kill_9_before_the_batch_id_came_back_then_a_restart_finds_it_by_our_id(tmp_path) -> None:
    with StubLLM(responder=news_responder) as stub:
        env = child_env(tmp_path, stub)
        stub.batch.create_delay = 30  # the batch exists at once; its id never reaches the killed client
        proc = start_cli(env)
        wait_for(lambda: stub.batch.created == 1)
        kill9(proc)
        db = open_db(env["ANNOTATOR_DB"])
        assert [r["state"] for r in db.query("SELECT state FROM batches")] == ["submitting"]
        stub.batch.create_delay = 0
        again = run_child("annotate", "--batch", "--poll-interval", "0.05", env=env)
        assert again.returncode == 0, again.stderr
        assert stub.batch.created == 1 and stub.counts == {"ok": 11}
    assert statuses(db) == {"ok": 11}
    assert [r["state"] for r in db.query("SELECT state FROM batches")] == ["done"]


@pytest.mark.process
def test_a_server_without_the_batch_api_is_one_line_and_leaves_nothing_running(tmp_path) -> None:
    with StubLLM(responder=news_responder) as stub:
        env = child_env(tmp_path, stub)
        stub.batch.refuse = True
        for _ in range(2):  # the second run is not stuck on the first one's batch
            result = run_child("annotate", "--batch", env=env)
            assert result.returncode == 1
            assert result.stderr.strip().splitlines()[-1].startswith(
                "Error: the Batch API at http://127.0.0.1:")
            assert "refused to upload the requests (HTTP 404" in result.stderr and "drop --batch" in result.stderr
        assert stub.calls == 0
    db = open_db(env["ANNOTATOR_DB"])
    assert [r["state"] for r in db.query("SELECT state FROM batches")] == ["lost", "lost"]
