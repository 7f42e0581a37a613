"""`annotator connect` and the webhooks of `annotator serve` against a real Label Studio (no mocks).

Runs its own `annotator serve --register` (the `live` fixture of tests/support/serve.py) on a project of
the session's Label Studio.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import tests.support.serve
from annotator.store import open_db
from tests.support.drafting import SCHEMA
from tests.support.serve import XML, gold, import_tasks
from tests.support.waiting import wait_for

live, stub = tests.support.serve.live, tests.support.serve.stub  # the fixtures: a project served by `annotator serve --register`


def connect_cli(serve, project: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotator", "connect", "--project", project,
                           "--url", serve.env["LABEL_STUDIO_URL"], "--backend-url", serve.url,
                           "--db", str(serve.db_file)], env=serve.env, capture_output=True, text=True, timeout=60)


def titles(ls) -> list[str]:
    return sorted(p.title for p in ls.projects.list(page_size=1000))


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [" ".join(line.split()) for line in done.stderr.splitlines() if line.startswith("Error:")]


@pytest.mark.labelstudio
def test_connect_with_a_mistyped_project_creates_nothing_and_names_the_project_serve_serves(live):
    serve, ls, pid, _ = live
    before = titles(ls)
    done = connect_cli(serve, serve.project + "x")
    assert done.returncode != 0
    (line,) = error_lines(done)
    print(line)
    assert f"no project '{serve.project}x'" in line and f"serves project '{serve.project}'" in line, done.stderr
    assert "could not call" not in line and "Traceback" not in done.stderr
    assert titles(ls) == before  # no stray project
    # Another project that exists: serve refuses it, and nothing is added to it.
    other = ls.projects.create(title=f"other {serve.project}", label_config=XML)
    try:
        done = connect_cli(serve, other.title)
        assert done.returncode != 0
        (line,) = error_lines(done)
        print(line)
        assert f"serves project '{serve.project}'" in line and "could not call" not in line, done.stderr
        assert list(ls.ml.list(project=other.id)) == []
        assert [h for h in ls.webhooks.list(project=str(other.id)) if h.project == other.id] == []
    finally:
        ls.projects.delete(id=other.id)
    assert SCHEMA.name == "news_events"


def choices(event: str) -> list[dict]:
    return [{"id": "c", "from_name": "event_type", "to_name": "text", "type": "choices",
             "value": {"choices": [event]}},
            {"id": "a", "from_name": "attribution", "to_name": "text", "type": "choices",
             "value": {"choices": ["asserted"]}}]


def moment(stamp: str | None) -> dt.datetime:
    return dt.datetime.fromisoformat((stamp or "1970-01-01T00:00:00Z").replace("Z", "+00:00"))


def watermark(db_file: Path, name: str) -> str | None:
    db = open_db(db_file)
    try:
        return next(iter(db.query("SELECT pull_watermark FROM projects WHERE name = ?", [name])))["pull_watermark"]
    finally:
        db.close()


def event_of(db_file: Path, annotation_id: int) -> str | None:
    row = gold(db_file, annotation_id)
    return json.loads(row["data"])["event_type"] if row and row["status"] == "ok" else None


@pytest.mark.labelstudio
def test_a_deletion_webhook_is_checked_with_label_studio_before_gold_is_marked(live):
    serve, ls, pid, creds = live
    task_ids = import_tasks(ls, pid, ["Gunmen attacked a convoy near Mopti.", "Villagers fled Djibo on foot."])
    kept, witness = (ls.annotations.create(id=task_id, result=choices("battle")) for task_id in task_ids)
    for annotation in (kept, witness):
        wait_for(lambda a=annotation: event_of(serve.db_file, a.id) == "battle", deadline=30)
    edits = itertools.cycle(["riot", "protest"])

    def edit_witness() -> None:
        """A real edit of the other task; once its gold is in, serve has handled every webhook sent before."""
        event = next(edits)
        ls.annotations.update(id=witness.id, result=choices(event))
        wait_for(lambda: event_of(serve.db_file, witness.id) == event, deadline=30)

    # Edits until serve's incremental pulls start after the kept annotation's time: from then on only the
    # webhook handling decides its row (a pull no longer lists its task).
    kept_at = moment(gold(serve.db_file, kept.id)["updated_at"]) + dt.timedelta(seconds=1)
    wait_for(lambda: edit_witness() or moment(watermark(serve.db_file, serve.project)) > kept_at, deadline=60)

    def forged(action: str, key: str, ids: list[int]) -> None:
        """An authenticated webhook naming live ids, handled before the witness's next edit is pulled."""
        answer = httpx.post(f"{serve.url}/webhook", headers={"X-Annotator-Token": creds.secret},
                            json={"action": action, "project": {"id": pid}, key: [{"id": i} for i in ids]})
        assert answer.status_code == 200, answer.text
        edit_witness()

    forged("ANNOTATIONS_DELETED", "annotations", [kept.id])
    assert gold(serve.db_file, kept.id)["status"] == "ok"  # still in Label Studio: not deleted
    forged("TASKS_DELETED", "tasks", [task_ids[0]])
    assert gold(serve.db_file, kept.id)["status"] == "ok"
    # A real deletion: Label Studio answers 404 for it, and the row is marked.
    ls.annotations.delete(id=witness.id)
    wait_for(lambda: gold(serve.db_file, witness.id)["status"] == "deleted", deadline=30)
    assert gold(serve.db_file, kept.id)["status"] == "ok"
