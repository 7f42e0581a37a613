"""Two pushes at once, and duplicate tasks from any earlier cause, on a real Label Studio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from annotator.annotate import annotate
from annotator.ingest import ingest, read_inputs
from annotator.labelstudio.api import open_client
from annotator.labelstudio.push import push
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM

pytestmark = pytest.mark.labelstudio
SCHEMA = load_schema("news_events")


def drafted(path: Path, n_docs: int) -> object:
    docs = path.parent / f"{path.stem}.jsonl"
    docs.write_text("\n".join(json.dumps({"text": f"Fighters attacked Town{i} on Monday. Officials in Town{i} "
                                                  f"said {i} people died."}) for i in range(n_docs)))
    db = open_db(path)
    ingest(db, read_inputs([str(docs)]))
    with StubLLM(responder=news_responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="t", model="stub", max_retries=0)
        annotate(db, client, SCHEMA, load_prompt(None, SCHEMA.name), concurrency=4)
    return db


def server_tasks(ls, ls_id: int) -> list[dict]:
    return [t.model_dump(mode="json") for t in ls.tasks.list(project=ls_id, fields="all", page_size=1000)]


def test_two_pushes_at_once_leave_one_project_and_one_task_per_sentence(labelstudio, tmp_path) -> None:
    db = drafted(tmp_path / "a.db", 30)
    n = db["sentences"].count
    name = f"twice {uuid.uuid4().hex[:8]}"
    env = {**os.environ, "LABEL_STUDIO_URL": labelstudio.url, "LABEL_STUDIO_API_KEY": labelstudio.token,
           "ANNOTATOR_DB": str(tmp_path / "a.db")}
    cmd = [sys.executable, "-m", "annotator", "push", "--project", name, "--chunk-size", "10"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 3]), results
    for code, _, err in results:
        assert "Traceback" not in err
        if code == 3:
            (line,) = [x for x in err.splitlines() if x.startswith("Error:")]
            assert "is already pushing to or pulling from project" in line
    ls = open_client(labelstudio.url, labelstudio.token)
    projects = [p for p in ls.projects.list(title=name, page_size=100) if p.title == name]
    assert len(projects) == 1
    tasks = server_tasks(ls, projects[0].id)
    per_sentence = [t["data"]["sentence_id"] for t in tasks]
    assert len(tasks) == n and len(set(per_sentence)) == n
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 new tasks" in again.stdout


def test_duplicates_are_reported_and_dedupe_deletes_those_without_annotations(labelstudio, tmp_path) -> None:
    db = drafted(tmp_path / "d.db", 3)
    ls = open_client(labelstudio.url, labelstudio.token)
    name = f"dups {uuid.uuid4().hex[:8]}"
    first = push(db, ls, SCHEMA, name, url=labelstudio.url)
    tasks = {r["sentence_id"]: r["task_id"] for r in db.query("SELECT * FROM tasks")}
    sid_a, sid_b = sorted(tasks)[:2]
    # Duplicates from some earlier cause: the same sentences imported again, one of them annotated.
    texts = {r["id"]: r["text"] for r in db.query("SELECT id, text FROM sentences")}
    response = ls.projects.import_tasks(id=first.ls_project_id, return_task_ids=True, request=[
        {"data": {"text": texts[s], "sentence_id": s, "document_id": "x", "headline": "", "context": ""}}
        for s in (sid_a, sid_b)])
    dup_a, dup_b = response.model_dump()["task_ids"]
    ls.annotations.create(id=dup_b, result=[], was_cancelled=True)
    seen = push(db, ls, SCHEMA, name, url=labelstudio.url)
    assert sorted(seen.duplicates) == sorted([dup_a, dup_b]) and seen.duplicates_deleted == []
    assert len(server_tasks(ls, first.ls_project_id)) == len(tasks) + 2
    cleaned = push(db, ls, SCHEMA, name, url=labelstudio.url, dedupe=True)
    assert cleaned.duplicates_deleted == [dup_a]
    remaining = {t["id"] for t in server_tasks(ls, first.ls_project_id)}
    assert remaining == set(tasks.values()) | {dup_b}  # the annotated duplicate is kept
    assert {r["sentence_id"]: r["task_id"] for r in db.query("SELECT * FROM tasks")} == tasks
