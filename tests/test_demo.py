"""`annotator demo` end to end: the real llama.cpp server and a real Label Studio."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid

import pytest
from label_studio_sdk import LabelStudio

pytestmark = [pytest.mark.labelstudio, pytest.mark.llamacpp]


def run_demo(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotator.cli", "demo", "--project", env["PROJECT"]],
                          env=env, capture_output=True, text=True, timeout=900)


def test_demo_leaves_one_task_per_sentence_each_with_a_prediction(labelstudio, llama_server, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANNOTATOR_", "LABEL_STUDIO_"))}
    # No LLM settings: the demo uses the embedded SmolLM2 server (the fixture's, already running).
    env.update(ANNOTATOR_DB=str(tmp_path / "demo.db"), LABEL_STUDIO_URL=labelstudio.url, LABEL_STUDIO_API_KEY=labelstudio.token,
               PROJECT=f"demo {uuid.uuid4().hex[:8]}")
    first = run_demo(env)
    assert first.returncode == 0, first.stderr
    assert "embedded SmolLM2-135M model: it is tiny" in first.stderr  # the demo says what its drafts are worth
    assert "11 sentences" in first.stderr and "11 new tasks, 11 new predictions" in first.stdout
    assert f"Open {labelstudio.url}/projects/" in first.stdout
    # The embedded model gets the compact prompt (and only it: a configured server gets the schema's own).
    drafts = sqlite3.connect(tmp_path / "demo.db").execute("SELECT DISTINCT prompt_version FROM drafts").fetchall()
    assert drafts == [("news_events_compact.v1",)]

    ls = LabelStudio(base_url=labelstudio.url, api_key=labelstudio.token)
    (project,) = [p for p in ls.projects.list() if p.title == env["PROJECT"]]
    tasks = list(ls.tasks.list(project=project.id, fields="all"))
    assert len(tasks) == 11
    texts = sorted(t.data["text"] for t in tasks)
    assert len(set(texts)) == 11
    for task in tasks:
        preds = ls.predictions.list(task=task.id)
        assert len(preds) == 1 and preds[0].model_version == project.model_version

    again = run_demo(env)
    assert again.returncode == 0, again.stderr
    assert "0 LLM calls" in again.stderr and "0 new tasks, 0 new predictions" in again.stdout
    assert len(list(ls.tasks.list(project=project.id))) == 11
