"""`annotator serve`'s parts in-process: webhook payloads, registration plans, authentication,
scores, the syncer's debounce, and the predictor against the stub LLM (no Label Studio)."""

from __future__ import annotations

import base64
import json
import re
import socket
import sqlite3
import threading
import time

import pytest
import sqlite_utils

import tests.support.serve
from annotator.backend.app import bind
from annotator.backend.predict import Predictor
from annotator.backend.protocol import (
    SyncWork,
    basic_auth_ok,
    config_problem,
    controls_of,
    deletion_writes,
    ls_project_id,
    token_ok,
    webhook_work,
)
from annotator.backend.register import Wanted, plan_registration
from annotator.backend.service import Connections
from annotator.backend.sync import Syncer
from annotator.backend.tasks import match_known, one_sentence_problem
from annotator.labelstudio.predictions import prediction_of
from annotator.locks import Busy
from annotator.store import open_db
from tests.support.drafting import SCHEMA
from tests.support.responders import news_responder
from tests.support.serve import ACTIONS, CREDS, XML
from tests.support.stub_llm import StubLLM
from tests.support.waiting import wait_for

WANTED = Wanted("http://127.0.0.1:9090", "http://127.0.0.1:9090/webhook", CREDS, "m|p|h")

predictor_for = tests.support.serve.predictor_for  # the fixture (tests/support/serve.py)


# --------------------------------------------------------------------------- fast: pure parts


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_and_the_webhook_token_need_the_exact_secret():
    assert basic_auth_ok(basic("annotator", "s3cret-value"), "annotator", "s3cret-value")
    assert not basic_auth_ok(basic("annotator", "s3cret-valu"), "annotator", "s3cret-value")
    assert not basic_auth_ok(basic("admin", "s3cret-value"), "annotator", "s3cret-value")
    assert not basic_auth_ok("Basic !!!not-base64", "annotator", "s3cret-value")
    assert not basic_auth_ok("Bearer s3cret-value", "annotator", "s3cret-value")
    assert not basic_auth_ok(None, "annotator", "s3cret-value")
    assert token_ok("s3cret-value", "s3cret-value")
    assert not token_ok("s3cret-value ", "s3cret-value") and not token_ok(None, "s3cret-value")


def test_the_project_id_comes_from_label_studios_uid():
    assert ls_project_id("12.1700000000") == 12 and ls_project_id(7) == 7
    with pytest.raises(ValueError, match="names no project"):
        ls_project_id(None)


def test_webhook_payloads_become_work_for_this_project_only():
    created = {"action": "ANNOTATION_CREATED", "annotation": {"id": 5, "task": 9, "project": 3},
               "task": {"id": 9}, "project": {"id": 3}}
    assert webhook_work(created, 3) == SyncWork(pull=True, actions=("ANNOTATION_CREATED",))
    assert webhook_work(created, 4) is None  # another project's
    assert webhook_work({"action": "TASKS_CREATED", "tasks": [{"id": 1}], "project": {"id": 3}}, 3) is None
    assert webhook_work("not a dict", 3) is None
    deleted = webhook_work({"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 5}, {"id": 6}],
                            "project": {"id": 3}}, 3)
    assert deleted == SyncWork(pull=True, annotations_deleted=frozenset({5, 6}), actions=("ANNOTATIONS_DELETED",))
    gone = webhook_work({"action": "TASKS_DELETED", "tasks": [{"id": 9}], "project": {"id": 3}}, 3)
    assert gone.tasks_deleted == {9} and gone.annotations_deleted == frozenset()
    both = deleted.merge(gone)
    assert both.annotations_deleted == {5, 6} and both.tasks_deleted == {9}
    assert both.actions == ("ANNOTATIONS_DELETED", "TASKS_DELETED")


def test_deletions_mark_rows_of_the_deleted_annotations_and_tasks_only():
    rows = [{"id": "a", "annotation_id": 5, "task_id": 9, "status": "ok"},
            {"id": "b", "annotation_id": 6, "task_id": 10, "status": "invalid"},
            {"id": "c", "annotation_id": 7, "task_id": 11, "status": "ok"},
            {"id": "d", "annotation_id": 8, "task_id": 10, "status": "deleted"}]
    work = SyncWork(pull=True, annotations_deleted=frozenset({5}), tasks_deleted=frozenset({10}))
    writes = deletion_writes(rows, work, "T")
    assert [(w["id"], w["status"], w["pulled_at"]) for w in writes] == [("a", "deleted", "T"), ("b", "deleted", "T")]


def test_registration_plans_create_once_then_nothing():
    first = plan_registration([], [], None, WANTED)
    assert (first.backend_create, first.webhook_create, first.model_version) == (True, True, "m|p|h")
    backend = {"id": 1, "url": "http://127.0.0.1:9090/", "auth_method": "BASIC_AUTH", "basic_auth_user": "annotator",
               "title": "m|p|h"}
    hook = {"id": 2, "url": "http://127.0.0.1:9090/webhook", "headers": {"X-Annotator-Token": "s3cret-value"},
            "actions": list(reversed(ACTIONS)), "send_payload": True, "send_for_all_actions": False,
            "is_active": True}
    again = plan_registration([backend], [hook], "m|p|h", WANTED)
    assert again.changes == [] and (again.backend_id, again.webhook_id) == (1, 2)
    # A new secret: the webhook shows the old one, so both are updated, neither created.
    stale = plan_registration([backend], [{**hook, "headers": {"X-Annotator-Token": "old"}}], "m|p|h", WANTED)
    assert stale.changes == ["updated the ML backend", "updated the webhook"]
    # Another model served: the backend's title (the project's model version) follows.
    moved = plan_registration([backend], [hook], "m|p|h",
                              Wanted(WANTED.backend_url, WANTED.webhook_url, CREDS, "m2|p|h"))
    assert moved.changes == ["updated the ML backend", "set the project's model version to m2|p|h"]
    # Someone else's backend and webhook are left alone, and named.
    other = plan_registration([{"id": 3, "url": "http://10.0.0.1:9090"}, backend],
                              [{"id": 4, "url": "http://x/hook"}, hook], "m|p|h", WANTED)
    assert other.changes == [] and other.backend_id == 1 and "http://10.0.0.1:9090" in other.notes[0]


def test_config_problem_names_the_control_that_differs():
    assert config_problem(XML, XML, SCHEMA.name) is None
    assert config_problem(" \n".join(XML.split("\n")), XML, SCHEMA.name) is None  # whitespace
    radio = re.sub(r'choice="single(-radio)?"', lambda m: 'choice="single"' if m.group(1) else
                   'choice="single-radio"', XML)
    assert radio != XML and config_problem(radio, XML, SCHEMA.name) is None  # layout only
    several = re.sub(r'(name="event_type" toName="text" choice=")[^"]*"', r'\1multiple"', XML)
    assert several != XML and "control 'event_type'" in config_problem(several, XML, SCHEMA.name)
    label = controls_of(XML)["entities"][2][0]  # the label a result carries (an alias, when the config has one)
    other = re.sub(f'(alias|value)="{label}"', f'\\1="{label}_X"', XML, count=1)
    assert other != XML and "control 'entities'" in config_problem(other, XML, SCHEMA.name)
    renamed = XML.replace('name="sources"', 'name="origin"')
    assert "no control 'sources'" in config_problem(renamed, XML, SCHEMA.name)
    assert "does not parse" in config_problem("<View><Labels", XML, SCHEMA.name)
    assert config_problem(None, XML, SCHEMA.name) == "the request carries no labeling config"


def test_a_prediction_keeps_offsets_into_the_task_text_and_scores_grounded_spans():
    from label_studio_sdk.label_interface import LabelInterface

    draft = {"id": "d1", "n_dropped": 1, "attempts": 1, "data": json.dumps(
        {"entities": [{"text": "Lagos", "label": "LOCATION"}], "event_type": "protest", "attribution": "asserted",
         "sources": []}),
        "spans": json.dumps([{"field": "entities", "label": "LOCATION", "text": "Lagos", "start": 10, "end": 15}])}
    sentence = "Crowds in Lagos marched."
    prediction, why = prediction_of(SCHEMA, LabelInterface(XML), draft, "  " + sentence, "v1", shift=2)
    assert why == ""
    (span,) = [r for r in prediction["result"] if r["type"] == "labels"]
    assert (span["value"]["start"], span["value"]["end"]) == (12, 17)  # shifted by the two leading spaces
    # the score push gives too: one span kept of two given, valid at the first attempt
    assert prediction["score"] == 0.5 and prediction["model_version"] == "v1"


def test_tasks_are_matched_to_their_sentence_by_id_or_record_only_when_the_text_agrees():
    s1 = {"id": "s1", "text": "A sentence."}
    tasks = [{"id": 1, "data": {"text": "A sentence.", "sentence_id": "s1"}},
             {"id": 2, "data": {"text": "A sentence."}},
             {"id": 3, "data": {"text": "Edited on the server.", "sentence_id": "s1"}},
             {"id": 4, "data": {"headline": ""}}]
    found = match_known(tasks, {"s1": s1}, {2: s1})
    assert [f.sentence_id if f else None for f in found[:3]] == ["s1", "s1", None]
    assert found[3].problem == "task 4 has no text in data.text"
    assert one_sentence_problem(1, "One sentence here.") is None
    assert "is 2 sentences" in one_sentence_problem(1, "One sentence here. And another one.")


def test_the_syncer_debounces_webhooks_retries_when_busy_and_keeps_the_work():
    calls: list[tuple[SyncWork, bool]] = []
    recorded: list[tuple[str, ...]] = []
    busy_once = threading.Event()

    def sync(work: SyncWork, full: bool) -> None:
        if work.annotations_deleted == {99} and not busy_once.is_set():
            busy_once.set()
            raise Busy("another pull holds the lock")
        calls.append((work, full))

    syncer = Syncer(sync, recorded.append, debounce=0.2, every=3600, retry_busy=0.1).start()
    try:
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert calls == [(SyncWork(pull=True), True)]  # the first run is a full pull
        for _ in range(5):
            syncer.notify(SyncWork(pull=True, actions=("ANNOTATION_CREATED",)))
        time.sleep(0.6)
        assert len(calls) == 2 and calls[1] == (SyncWork(pull=True), False)  # five webhooks, one pull
        assert recorded == [("ANNOTATION_CREATED",) * 5]
        syncer.notify(SyncWork(pull=True, annotations_deleted=frozenset({99}), actions=("ANNOTATIONS_DELETED",)))
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert busy_once.is_set() and calls[2][0].annotations_deleted == {99}  # kept through the Busy
        assert recorded[-1] == ("ANNOTATIONS_DELETED",)  # recorded once, not again on the retry
    finally:
        syncer.stop()


def test_a_transaction_that_reads_first_waits_for_another_threads_write(tmp_path):
    """sqlite-utils' table methods read the schema before writing; in a deferred transaction that read makes a
    concurrent writer fail at once ("database is locked"). serve's connections take the write lock first."""
    db_file = str(tmp_path / "annotator.db")
    open_db(db_file).close()
    connections = Connections(db_file)
    holding, failures = threading.Event(), []

    def hold() -> None:
        db = connections.get()
        with db.atomic():
            db.conn.execute("INSERT INTO documents (id, text) VALUES ('held', 'x')")
            holding.set()
            time.sleep(0.5)

    def write(table: str) -> None:
        try:
            with connections.get().atomic() as db:
                db[table].upsert_all([{"id": "waited", "text": "y"}], pk="id")
        except Exception as exc:  # collected: a thread's exception would not fail the test
            failures.append(exc)

    try:
        holder = threading.Thread(target=hold)
        holder.start()
        holding.wait(5)
        writer = threading.Thread(target=write, args=("documents",))
        writer.start()
        writer.join(10)
        holder.join(10)
        assert failures == []
        assert {r["id"] for r in connections.get().query("SELECT id FROM documents")} == {"held", "waited"}
        # The plain sqlite-utils Database fails the same way (what the class is for).
        plain = sqlite_utils.Database(sqlite3.connect(db_file, timeout=30))
        plain.conn.execute("BEGIN IMMEDIATE")
        blocked = threading.Thread(target=lambda: failures.append(_upsert_plain(db_file)))
        blocked.start()
        blocked.join(10)
        plain.conn.execute("ROLLBACK")
        assert "database is locked" in str(failures[-1])
    finally:
        connections.close()


def _upsert_plain(db_file: str) -> Exception | None:
    db = sqlite_utils.Database(sqlite3.connect(db_file, timeout=30))
    try:
        with db.atomic():
            db["documents"].upsert_all([{"id": "plain", "text": "z"}], pk="id")
    except Exception as exc:
        return exc
    finally:
        db.conn.close()
    return None


def test_the_listening_socket_asks_for_tcp_so_answers_are_not_held_by_nagle():
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY on accepted sockets only then
    finally:
        sock.close()


# --------------------------------------------------------------------------- the predictor with the stub LLM


def ask(predictor: Predictor, *texts: str, first_id: int = 1) -> tuple[dict, object]:
    tasks = [{"id": first_id + i, "data": {"text": t, "headline": "", "context": ""}} for i, t in enumerate(texts)]
    return predictor.predict({"tasks": tasks, "project": "5.1700000000", "label_config": XML})


def test_a_draft_that_misses_the_deadline_is_stored_and_answers_the_next_ask_for_free(predictor_for):
    with StubLLM(responder=news_responder, latency=1.0) as stub:
        predictor, db_file = predictor_for(stub, budget=0.3)
        answer, report = ask(predictor, "Rebels shelled Kherson on Sunday.")
        db = open_db(db_file)
        # answered at the deadline, before the LLM was done: its draft is not stored yet
        assert db["drafts"].count_where("status = 'ok'") == 0
        assert answer == {"results": [[]]} and (report.late, report.drafted) == (1, 0)
        wait_for(lambda: db["drafts"].count_where("status = 'ok'") == 1)
        db.close()
        answer, report = ask(predictor, "Rebels shelled Kherson on Sunday.")
        assert report.stored == 1 and answer["results"][0]["model_version"] == predictor.model_version
        assert stub.calls == 1


def test_asks_for_the_same_new_text_at_once_share_one_llm_call(predictor_for):
    with StubLLM(responder=news_responder, latency=0.5) as stub:
        predictor, _ = predictor_for(stub, budget=30)
        answers: list = []
        threads = [threading.Thread(target=lambda i=i: answers.append(ask(predictor, "Troops left Mali.",
                                                                          first_id=10 * i)))
                   for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert stub.calls == 1
        assert len(answers) == 3  # no ask failed (three threads storing the same new text at once)
        assert all(a["results"][0] and a["results"][0]["result"] for a, _ in answers), [r for _, r in answers]
