"""`annotator serve` for the tests: the predictor on the stub LLM, and the served project on a real Label Studio.

`predictor_for` (a fixture) builds a Predictor on a fresh database holding one recorded
project, no Label Studio needed. `live` (a module fixture) runs `annotator serve --register`
as its own process on a project of the session's Label Studio, with the module's `stub`. `retrieve` is the data
manager's "Retrieve predictions" (Label Studio asks the backend), `predictions_of` what a task holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from label_studio_sdk import LabelStudio

from annotator.backend.credentials import Credentials
from annotator.backend.predict import Predictor
from annotator.backend.service import Connections
from annotator.labelstudio.api import open_client
from annotator.labelstudio.config import label_config
from annotator.labelstudio.projects import recorded_project
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.services.procs import free_port
from annotator.store import open_db
from tests.support.drafting import SCHEMA
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM

XML = label_config(SCHEMA)
CREDS = Credentials("annotator", "s3cret-value")
ACTIONS = ["ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED", "TASKS_DELETED"]
"""The webhook actions serve asks Label Studio for."""


@pytest.fixture
def predictor_for(tmp_path):
    """Build a Predictor on a fresh database holding one recorded project (no Label Studio needed)."""
    made: list = []

    def build(stub: StubLLM, budget: float) -> tuple[Predictor, str]:
        db_file = tmp_path / "annotator.db"
        db = open_db(db_file)
        db["projects"].insert({"id": "p1", "ls_id": 5, "name": "local", "url": "http://ls.invalid",
                               "schema_name": SCHEMA.name, "schema_hash": SCHEMA.hash, "label_config": XML,
                               "created_at": "now"})
        db.close()
        connections = Connections(str(db_file))
        project = recorded_project(connections.get(), "local", url="http://ls.invalid")
        client = LLMClient(base_url=stub.base_url, api_key="test", model="stub-model", max_retries=0)
        predictor = Predictor(connections.get, project, SCHEMA, load_prompt(None, SCHEMA.name), client,
                              budget=budget)
        made.append((predictor, connections))
        return predictor, str(db_file)

    yield build
    for predictor, connections in made:
        predictor.close()
        connections.close()


class Serve:
    """`annotator serve` as its own process, with its log kept."""

    def __init__(self, env: dict[str, str], project: str, port: int, db_file: Path) -> None:
        self.env, self.project, self.port, self.db_file = env, project, port, db_file
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log: list[str] = []

    def start(self) -> Serve:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "annotator", "serve", "--project", self.project, "--register", "--port",
             str(self.port), "--pull-every", "3600", "--db", str(self.db_file)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def read(proc: subprocess.Popen) -> None:
            for line in proc.stdout:
                self.log.append(line.rstrip())
                if "registered with Label Studio" in line:
                    ready.set()

        threading.Thread(target=read, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + 60
        while not ready.is_set():
            assert self.proc.poll() is None, "serve exited:\n" + "\n".join(self.log)
            assert time.monotonic() < deadline, "serve did not register:\n" + "\n".join(self.log)
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def stub():
    with StubLLM(responder=news_responder) as server:
        yield server


@pytest.fixture(scope="module")
def live(labelstudio, stub, tmp_path_factory):
    """A project served by `annotator serve --register`: (Serve, LabelStudio client, project id, credentials)."""
    home = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "ANNOTATOR_HOME": str(home), "OPENAI_BASE_URL": stub.base_url,
           "OPENAI_API_KEY": "test", "ANNOTATOR_MODEL": "stub-model", "LABEL_STUDIO_URL": labelstudio.url,
           "LABEL_STUDIO_API_KEY": labelstudio.token}
    serve = Serve(env, f"serve {uuid.uuid4().hex[:8]}", free_port(), home / "annotator.db").start()
    ls = open_client(labelstudio.url, labelstudio.token)
    pid = next(p.id for p in ls.projects.list(title=serve.project) if p.title == serve.project)
    creds = json.loads((home / "config" / "serve.json").read_text())
    try:
        yield serve, ls, pid, Credentials(creds["user"], creds["secret"])
    finally:
        serve.stop()


def import_tasks(ls: LabelStudio, pid: int, texts: list[str]) -> list[int]:
    """Tasks imported straight into Label Studio with nothing but their text."""
    response = ls.projects.import_tasks(id=pid, request=[{"text": t} for t in texts], return_task_ids=True)
    return response.model_dump()["task_ids"]


def gold(db_file: Path, annotation_id: int | None = None, *, task_id: int | None = None) -> dict | None:
    """The gold row of one Label Studio annotation (or the first of one task), or None while there is none."""
    column, value = ("annotation_id", annotation_id) if task_id is None else ("task_id", task_id)
    db = open_db(db_file)
    try:
        rows = list(db.query(f"SELECT * FROM gold WHERE {column} = ?", [value]))
        return rows[0] if rows else None
    finally:
        db.close()


def dm_action(ls: LabelStudio, pid: int, action: str, task_ids: list[int]) -> float:
    """A data manager action on these tasks; seconds it took."""
    started = time.monotonic()
    response = ls._client_wrapper.httpx_client.request(
        "api/dm/actions", method="POST", params={"id": action, "project": pid},
        json={"selectedItems": {"all": False, "included": task_ids}})
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def retrieve(ls: LabelStudio, pid: int, task_ids: list[int]) -> float:
    """The data manager's "Retrieve predictions" on these tasks; seconds it took."""
    return dm_action(ls, pid, "retrieve_tasks_predictions", task_ids)


def predictions_of(ls: LabelStudio, task_id: int) -> list[dict]:
    return [p if isinstance(p, dict) else p.model_dump(mode="json") for p in ls.tasks.get(id=task_id).predictions]
