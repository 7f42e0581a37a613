"""The README's five-minute flow through the CLI: ingest, annotate, push, (an annotator submits), pull, status.

The LLM is the project's stub server; Label Studio is real. A second run of every
step writes nothing new, in SQLite or on the server.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from click.testing import Result
from label_studio_sdk import LabelStudio

from annotator.resources import data_file
from annotator.store import open_db
from tests.support.cli import run
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM

pytestmark = pytest.mark.labelstudio

ARTICLE = str(data_file("sample_article.txt"))
SENTENCES = 11  # the headline and ten one-sentence paragraphs
POLICE = "Police said the protest ended peacefully by noon."
TABLES = ("documents", "sentences", "drafts", "llm_cache", "projects", "tasks", "predictions", "gold")


def police_annotation() -> list[dict]:
    """What an annotator submits for the POLICE sentence, written by hand."""
    return [
        {"id": "e1", "from_name": "entities", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 6, "text": "Police", "labels": ["ARMED_GROUP"]}},
        {"id": "s1", "from_name": "sources", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 6, "text": "Police", "labels": ["SOURCE"]}},
        {"id": "c1", "from_name": "event_type", "to_name": "text", "type": "choices",
         "value": {"choices": ["protest"]}},
        {"id": "c2", "from_name": "attribution", "to_name": "text", "type": "choices",
         "value": {"choices": ["claimed"]}},
    ]


def without_pull_times(status: dict) -> dict:
    return {**status, "projects": [{k: v for k, v in p.items() if k != "last_pull_at"} for p in status["projects"]]}


class Flow:
    """The README's commands, run in-process with the settings a user would export."""

    def __init__(self, env: dict[str, str | None], project: str) -> None:
        self.env, self.project = env, project

    def run(self, *args: str) -> Result:
        return run(*args, env=self.env, ok=True)

    def ingest(self) -> str:
        return self.run("ingest", ARTICLE).stdout

    def annotate(self, stub: StubLLM) -> str:
        return self.run("annotate", "--base-url", stub.base_url, "--model", "stub", "-c", "4").stdout

    def push(self) -> str:
        return self.run("push", "--project", self.project).stdout

    def pull(self) -> str:
        return self.run("pull", "--project", self.project).stdout

    def status(self) -> dict:
        return json.loads(self.run("status", "--json").stdout)


def counts(db_file: Path) -> dict[str, int]:
    db = open_db(db_file)
    return {table: db[table].count for table in TABLES}


def submit_police_annotation(ls: LabelStudio, ls_project_id: int) -> int:
    """An annotator corrects the POLICE task and presses Submit; returns the task id."""
    (task,) = [t for t in ls.tasks.list(project=ls_project_id, fields="all") if t.data["text"] == POLICE]
    ls.annotations.create(id=task.id, result=police_annotation(), lead_time=3.0)
    return task.id


def test_readme_five_minute_flow(labelstudio, tmp_path) -> None:
    db_file = tmp_path / "annotator.db"
    env = {"ANNOTATOR_DB": str(db_file), "LABEL_STUDIO_URL": labelstudio.url,
           "LABEL_STUDIO_API_KEY": labelstudio.token, "OPENAI_API_KEY": "sk-stub-key"}
    flow = Flow(env, f"Conflict news {uuid.uuid4().hex[:8]}")
    ls = LabelStudio(base_url=labelstudio.url, api_key=labelstudio.token)

    with StubLLM(responder=news_responder) as stub:
        assert flow.ingest() == f"1 new documents (0 already stored), {SENTENCES} new sentences.\n"
        drafted = flow.annotate(stub)
        # Every answer carries one invented span ("Atlantis"), which grounding drops.
        assert drafted.startswith(f"{SENTENCES} drafts ({SENTENCES} ok); {SENTENCES} LLM calls, ")
        assert f"; {SENTENCES} spans not found in their sentence were dropped" in drafted
        pushed = flow.push()
        match = re.match(rf"Pushed to {re.escape(labelstudio.url)}/projects/(\d+): {SENTENCES} new tasks, "
                         rf"{SENTENCES} new predictions \(0 tasks already there\)", pushed)
        assert match, pushed
        task_id = submit_police_annotation(ls, int(match.group(1)))
        pulled = flow.pull()
        assert pulled == "Pulled 1 annotations from 1 tasks (1 ok): 1 new, 0 updated, 0 deleted, 0 unchanged.\n"
        status = flow.status()
        (project,) = [p for p in status["projects"] if p["name"] == flow.project]
        assert (project["pushed"], project["annotated"], project["skipped"], project["pending"]) == (
            SENTENCES, 1, 0, SENTENCES - 1)
        (gold,) = open_db(db_file)["gold"].rows
        assert gold["task_id"] == task_id and gold["status"] == "ok"
        assert json.loads(gold["data"])["event_type"] == "protest"

        before, calls = counts(db_file), stub.calls
        assert flow.ingest() == "0 new documents (1 already stored), 0 new sentences.\n"
        assert flow.annotate(stub).startswith("0 drafts (nothing to do); 0 LLM calls, ")
        assert f": 0 new tasks, 0 new predictions ({SENTENCES} tasks already there)" in flow.push()
        assert re.fullmatch(r"Pulled \d+ annotations from \d+ tasks \(.*\): 0 new, 0 updated, 0 deleted, "
                            r"\d+ unchanged\.\n", flow.pull())
        assert counts(db_file) == before and stub.calls == calls
        assert without_pull_times(flow.status()) == without_pull_times(status)  # only the last pull's time moved
    assert len(list(ls.tasks.list(project=int(match.group(1))))) == SENTENCES


def test_readme_flow_from_python_as_a_notebook_runs_it(labelstudio, tmp_path, monkeypatch) -> None:
    """The README's "From Python" section, step by step, with annotate called where an event loop runs."""
    import asyncio

    import annotator

    monkeypatch.setenv("LABEL_STUDIO_URL", labelstudio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", labelstudio.token)
    project = f"From Python {uuid.uuid4().hex[:8]}"
    ws = annotator.Workspace(tmp_path / "annotator.db")
    assert ws.ingest(ARTICLE).sentences_new == SENTENCES
    with StubLLM(responder=news_responder) as stub:
        llm = annotator.LLM(model="stub", base_url=stub.base_url, api_key="sk-stub")

        async def notebook_cell():  # a Jupyter cell runs inside the kernel's event loop
            return ws.annotate(llm, annotator.DraftOptions(concurrency=4))

        run = asyncio.run(notebook_cell())
        assert run.by_status == {"ok": SENTENCES} and stub.calls == SENTENCES
    pushed = ws.push(project, annotator.PushOptions())
    assert (pushed.tasks_created, pushed.predictions_created) == (SENTENCES, SENTENCES)
    ls = LabelStudio(base_url=labelstudio.url, api_key=labelstudio.token)
    submit_police_annotation(ls, pushed.ls_project_id)
    assert ws.pull(project).inserted == 1
    report = ws.evaluate(project)
    (group,) = report["groups"]
    assert group["annotations"] == 1 and group["fields"]["event_type"]["accuracy"] == 0.0  # "none" drafted, "protest" gold
    out = tmp_path / "gold.jsonl"
    written = ws.export(annotator.ExportOptions("jsonl", out, project=project))
    (record,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written.sentences == 1 and record["text"] == POLICE and record["event_type"] == "protest"
