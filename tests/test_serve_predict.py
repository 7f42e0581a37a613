"""/predict in-process (Starlette's TestClient on the app, a real Predictor, the stub LLM; no Label Studio):
a database another process keeps locked, and malformed tasks among good ones."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import types
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import tests.support.serve
from annotator.annotate.prepare import remember_no_logprobs
from annotator.backend.app import build_app
from annotator.backend.predict import Predictor
from annotator.ingest import DocInput, ingest
from annotator.llm import LLMClient
from annotator.store import open_db
from tests.support.responders import news_responder
from tests.support.serve import CREDS, XML
from tests.support.stub_llm import StubLLM

predictor_for = tests.support.serve.predictor_for  # the fixture
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{CREDS.user}:{CREDS.secret}".encode()).decode()}
HOLD_LOCK = ("import sqlite3, sys\n"
             "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "conn.execute('BEGIN EXCLUSIVE')\n"
             "print('locked', flush=True)\n"
             "sys.stdin.read()\n")


def app_of(predictor: Predictor) -> TestClient:
    """The serve app around a predictor (authentication as configured by CREDS)."""
    service = types.SimpleNamespace(credentials=CREDS, predictor=predictor, model_version=predictor.model_version)
    return TestClient(build_app(service))  # type: ignore[arg-type]


def predict(app: TestClient, *tasks: dict) -> tuple[int, list]:
    r = app.post("/predict", json={"tasks": list(tasks), "project": "5.1700000000", "label_config": XML},
                 headers=AUTH)
    return r.status_code, r.json().get("results") if r.status_code == 200 else r.json()


def stored_sentence(db_file: str, text: str) -> str:
    """Store `text` as a document of one sentence; its sentence id."""
    db = open_db(db_file)
    ingest(db, [DocInput(text=text, origin="test", source="labelstudio")])
    (sid,) = db.execute("SELECT id FROM sentences WHERE text = ?", [text]).fetchone()
    db.close()
    return sid


class LockedByAnotherProcess:
    """Another process holding the database's write lock (BEGIN EXCLUSIVE) until released."""

    def __init__(self, db_file: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, db_file], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "locked\n"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


@pytest.mark.process
def test_a_paid_answer_is_never_lost_nor_paid_again_while_another_process_locks_the_database(
        predictor_for, monkeypatch, caplog) -> None:
    monkeypatch.setenv("ANNOTATOR_BUSY_TIMEOUT", "0.3")
    caplog.set_level(logging.INFO, logger="annotator.backend")
    text = "Rebels shelled Kherson on Sunday."
    with StubLLM(responder=news_responder) as stub:
        predictor, db_file = predictor_for(stub, budget=30)
        sid = stored_sentence(db_file, text)
        known = {"id": 1, "data": {"text": text, "sentence_id": sid}}
        new = {"id": 2, "data": {"text": "Troops left Mali."}}  # imported by hand: its text is to be stored
        spill = Path(f"{db_file}.unsaved.jsonl")
        app = app_of(predictor)
        lock = LockedByAnotherProcess(db_file)
        try:
            status, results = predict(app, known, new)
            assert status == 200 and results[0]["result"] and results[1] == []
            assert stub.calls == 1 and spill.exists()  # paid once, kept aside
            status, results = predict(app, known)  # answered from the side file: not paid again
            assert status == 200 and results[0]["result"] and stub.calls == 1
        finally:
            lock.release()
        status, results = predict(app, known)  # the side file is stored first
        assert status == 200 and results[0]["model_version"] == predictor.model_version
        assert stub.calls == 1 and not spill.exists()
    db = open_db(db_file)
    assert db.execute("SELECT status FROM drafts").fetchall() == [("ok",)] and db["llm_cache"].count == 1
    db.close()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    locked = [r.getMessage() for r in caplog.records if "locked by another process" in r.getMessage()]
    assert len(locked) == 2  # one line for each of the two asks while it was locked
    assert "task 2: the database is locked by another process" in locked[0]


def test_a_malformed_task_is_skipped_with_its_reason_and_the_others_are_predicted(predictor_for, caplog) -> None:
    caplog.set_level(logging.INFO, logger="annotator.backend")
    first = {"id": 1, "data": {"text": "Rebels shelled Kherson on Sunday."}}
    last = {"id": 9, "data": {"text": "Troops left Mali."}}
    malformed = [{"id": 2, "data": ["Troops left Mali."]},  # data a list
                 {"id": 3, "data": {"text": "Troops \ud800 left Gao."}},  # a lone surrogate (sent escaped)
                 {"id": 2 ** 63, "data": {"text": "Troops left Timbuktu."}},  # over SQLite's integers
                 {"id": True, "data": {"text": "Troops left Kidal."}},  # a boolean is no task id
                 "task 5"]  # not a task at all
    tasks = [first, *malformed, last]
    with StubLLM(responder=news_responder) as stub:
        predictor, _ = predictor_for(stub, budget=30)
        app = app_of(predictor)
        raw = json.dumps({"tasks": tasks, "project": "5.1700000000", "label_config": XML})  # ASCII: \ud800 escaped
        r = app.post("/predict", content=raw.encode(), headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert len(results) == 7 and results[1:6] == [[]] * 5  # one entry per task, in task order
        assert results[0]["result"] and results[6]["result"]
        assert stub.calls == 2  # the two good texts; nothing drafted for the malformed ones
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("predict:")]
    assert "5 malformed tasks skipped" in line
    for reason in ("task 2: its data is a list, not an object", "task 3: its data holds text that is not valid "
                   "Unicode (a lone surrogate)", "task #4: its id 9223372036854775808 is not a task id",
                   "task #5: its id True is not a task id", "task #6 is a str, not a task"):
        assert reason in line, reason


def test_a_server_remembered_to_refuse_log_probabilities_is_not_asked_for_them(predictor_for, tmp_path) -> None:
    with StubLLM(responder=news_responder) as stub:
        stub.logprobs = "refuse"
        db = open_db(tmp_path / "annotator.db")  # the database the predictor is built on
        remember_no_logprobs(db, LLMClient(base_url=stub.base_url, api_key=None, model="stub-model").server,
                             "stub-model")  # as an earlier `annotate` against this server did
        db.close()
        predictor, _ = predictor_for(stub, budget=30)
        status, results = predict(app_of(predictor), {"id": 1, "data": {"text": "Troops left Mali."}})
        assert status == 200 and results[0]["result"]
        assert stub.counts == {"ok": 1} and "logprobs" not in stub.requests[0]
