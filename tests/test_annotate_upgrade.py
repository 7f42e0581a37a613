"""A database written by release 0.1 (before migration 003) upgrades in place and keeps every row.

tests/data/release-0.1.sql was made by the release's own code (tests/data/make_release_db.py):
the sample article (11 sentences), 7 ok + 1 invalid + 3 failed drafts for model "stub", 8
cache entries, a Label Studio project with id 7, its 7 tasks and predictions, 3 gold rows.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from annotator.annotate import annotate
from annotator.annotate.jobs import count_pending, pending_jobs
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import MIGRATIONS, content_id, open_db
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM

RELEASE_SQL = Path(__file__).resolve().parent / "data" / "release-0.1.sql"
SCHEMA = load_schema("news_events")
PROMPT = load_prompt("news_events.v1", "news_events")  # the release's drafts were made with v1
TABLES = ("documents", "sentences", "drafts", "llm_cache", "llm_modes", "projects", "tasks", "predictions",
          "gold")


def release_db(path: Path) -> dict[str, list[dict]]:
    """Write the release's database at `path`; its rows, table by table, as the release left them."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    conn.executescript(RELEASE_SQL.read_text(encoding="utf-8"))
    rows = {t: [dict(r) for r in conn.execute(f'SELECT * FROM "{t}"')] for t in TABLES}
    conn.close()
    return rows


def canonical(rows: list[dict], columns: list[str]) -> list[str]:
    """Rows restricted to `columns`, as sorted JSON lines (order-free comparison)."""
    return sorted(json.dumps({c: r[c] for c in columns}, sort_keys=True) for r in rows)


def test_release_database_upgrades_in_place_and_keeps_every_row(tmp_path) -> None:
    path = tmp_path / "release.db"
    before = release_db(path)
    assert {t: len(rows) for t, rows in before.items()} == {
        "documents": 1, "sentences": 11, "drafts": 11, "llm_cache": 8, "llm_modes": 1, "projects": 1,
        "tasks": 7, "predictions": 7, "gold": 3}
    statuses = sorted(d["status"] for d in before["drafts"])
    assert statuses == ["failed"] * 3 + ["invalid"] + ["ok"] * 7

    db = open_db(path)
    (project,) = before["projects"]
    key = content_id("project", project["url"], 7)
    for table, rows in before.items():
        # Every row is there with every value it had; the Label Studio project id became the project's key.
        moved = [{**r, "project_id": key} if "project_id" in r else r for r in rows]
        assert canonical(list(db.query(f'SELECT * FROM "{table}"')), list(rows[0])) == canonical(moved, list(rows[0]))
    assert [(p["id"], p["ls_id"]) for p in db["projects"].rows] == [(key, 7)]
    assert {(d["run_key"], d["settings"]) for d in db["drafts"].rows} == {("", None)}
    assert [r["name"] for r in db.query("SELECT name FROM _migrations ORDER BY name")] == [n for n, _ in MIGRATIONS]
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []

    # Legacy drafts count for any run settings: the 3 failed sentences are pending, nothing else.
    failed = {d["sentence_id"] for d in before["drafts"] if d["status"] == "failed"}
    for run_key in ("", "0123456789abcdef"):
        assert count_pending(db, SCHEMA, PROMPT, "stub", run_key) == 3
        assert {job.sentence_id for job in pending_jobs(db, SCHEMA, PROMPT, "stub", run_key)} == failed

    # A second open changes nothing.
    dump = list(db.conn.iterdump())
    db.close()
    db = open_db(path)
    assert list(db.conn.iterdump()) == dump

    # Only the 3 failed sentences are asked for; their failed rows give way to the new drafts.
    with StubLLM(responder=news_responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="test-key", model="stub", timeout=5)
        report = annotate(db, client, SCHEMA, PROMPT)
    assert report.by_status == {"ok": 3} and report.llm_calls == 3 and stub.calls == 3
    after = list(db.query("SELECT * FROM drafts"))
    assert sorted(d["status"] for d in after) == ["invalid"] + ["ok"] * 10
    kept = [d for d in before["drafts"] if d["status"] != "failed"]
    assert canonical([d for d in after if d["run_key"] == ""], list(kept[0])) == canonical(kept, list(kept[0]))
    assert {d["sentence_id"] for d in after if d["run_key"] == client.run_key} == failed
