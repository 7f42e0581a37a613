"""Write tests/data/release-0.1.sql: a database made by release 0.1 (before migration 003), by its own code.

Run it with the release's code, not this tree's, against a real Label Studio that it starts:

    git worktree add --detach /tmp/release f9138df
    PYTHONPATH=/tmp/release python tests/data/make_release_db.py tests/data/release-0.1.sql
    git worktree remove /tmp/release

What it writes, by the release's own functions: the sample article (11 sentences);
7 ok drafts, 1 invalid, 3 failed (model "stub", prompt news_events.v1); their
cache entries and remembered mode; a Label Studio project that has id 7 on its
server (six filler projects come first), its 7 tasks and predictions; and three
gold rows pulled back (two accepted predictions, one skip).
"""

# isort: skip_file
# (the annotator imports below resolve against the release's tree, which had other modules than this one)

from __future__ import annotations

import sqlite3
import sys
import tempfile
from pathlib import Path

import annotator
from annotator.annotate import annotate
from annotator.ingest import ingest, read_inputs
from annotator.labelstudio.client import connect, pull, push
from annotator.labelstudio.server import LabelStudioServer
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.resources import data_file
from annotator.schema import load_schema
from annotator.store import open_db

RELEASE = Path(annotator.__file__).resolve().parent.parent
sys.path.insert(0, str(RELEASE / "tests"))

from fakes import news_responder  # noqa: E402  # runs-elsewhere: the release's own tests/
from stub_llm import StubLLM  # noqa: E402  # runs-elsewhere: the release's own tests/

SCHEMA = load_schema("news_events")
PROMPT = load_prompt(None, "news_events")
PROJECT = "Release 0.1 news"


def drafts(db) -> None:
    """7 ok, then 1 invalid (no re-ask), then 3 failed (HTTP 500, no retry)."""
    with StubLLM(responder=news_responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="x", model="stub", max_retries=0)
        assert annotate(db, client, SCHEMA, PROMPT, concurrency=1, limit=7).by_status == {"ok": 7}
    with StubLLM(responder=lambda body: {"entities": "none"}) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="x", model="stub", max_retries=0)
        report = annotate(db, client, SCHEMA, PROMPT, concurrency=1, limit=1, max_reasks=0)
        assert report.by_status == {"invalid": 1}
    with StubLLM(responder=news_responder, p500=1.0) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="x", model="stub", max_retries=0)
        assert annotate(db, client, SCHEMA, PROMPT, concurrency=1).by_status == {"failed": 3}


def labelstudio_rows(db, base_dir: Path) -> None:
    """Push to a project with id 7, accept two predictions, skip one task, pull."""
    server = LabelStudioServer(base_dir=base_dir)
    info = server.start()
    try:
        ls = connect(info.url, info.token)
        for i in range(6):
            ls.projects.create(title=f"filler {i + 1}")
        report = push(db, ls, SCHEMA, PROJECT, url=info.url)
        assert report.project_id == 7, report
        tasks = sorted((t.model_dump(mode="json") for t in ls.tasks.list(project=7, fields="all", page_size=100)),
                       key=lambda t: t["id"])
        for task in tasks[:2]:
            prediction = task["predictions"][0]
            ls.annotations.create(id=task["id"], result=prediction["result"], lead_time=3.0,
                                  parent_prediction=prediction["id"])
        ls.annotations.create(id=tasks[2]["id"], result=[], was_cancelled=True)
        assert pull(db, ls, SCHEMA, PROJECT, url=info.url).inserted == 3
    finally:
        server.stop()


def main(out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "release.db")
        ingest(db, read_inputs([str(data_file("sample_article.txt"))]))
        drafts(db)
        labelstudio_rows(db, Path(tmp) / "ls")
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn = sqlite3.connect(Path(tmp) / "release.db")
        header = "-- A database written by release 0.1 (f9138df); made by tests/data/make_release_db.py.\n"
        Path(out).write_text(header + "\n".join(conn.iterdump()) + "\n", encoding="utf-8")
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1])
