"""Push drafts to a real Label Studio, annotate through its API, pull gold back (no mocks).

Drafts come from the real `annotate` pipeline against the stub LLM server.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from label_studio_sdk import LabelStudio

from annotator.labelstudio.api import open_client
from annotator.labelstudio.pull import pull
from annotator.labelstudio.push import push
from tests.support.drafting import SCHEMA
from tests.support.labelstudio import (
    drafted_db,
    drafts_by_sentence,
    gold_by_sentence,
    gold_rows,
    make_drafts,
    project_name,
    server_tasks,
)

pytestmark = pytest.mark.labelstudio


@pytest.fixture
def db(tmp_path):
    return drafted_db(tmp_path / "annotator.db")


@pytest.fixture
def ls(labelstudio) -> LabelStudio:
    return open_client(labelstudio.url, labelstudio.token)


@dataclass
class Pushed:
    """A project pushed from the `db` fixture: the database, client, names and the server's tasks."""

    db: Any
    ls: LabelStudio
    name: str
    url: str
    report: Any
    tasks: dict[str, dict]  # sentence id -> the server's task (with predictions)

    def push(self, **kw):
        return push(self.db, self.ls, SCHEMA, self.name, url=self.url, **kw)

    def pull(self, **kw):
        return pull(self.db, self.ls, SCHEMA, self.name, url=self.url, **kw)

    def sentence(self, prefix: str) -> dict:
        return next(s for s in self.db.query("SELECT * FROM sentences") if s["text"].startswith(prefix))

    def annotation_of(self, sentence_id: str) -> int:
        (annotation_id,) = [a for a, r in gold_rows(self.db).items() if r["sentence_id"] == sentence_id]
        return annotation_id


@pytest.fixture
def pushed(db, ls, labelstudio) -> Pushed:
    """Every sentence pushed, with its draft as a prediction, in chunks of 4."""
    name, url = project_name(), labelstudio.url
    report = push(db, ls, SCHEMA, name, url=url, chunk_size=4)
    tasks = {t["data"]["sentence_id"]: t for t in server_tasks(ls, report.ls_project_id)}
    return Pushed(db, ls, name, url, report, tasks)


@pytest.fixture
def accepted(pushed) -> Pushed:
    """Every prediction accepted as it is by the admin (an annotation made from it), then pulled."""
    for task in pushed.tasks.values():
        prediction = task["predictions"][0]
        pushed.ls.annotations.create(id=task["id"], result=prediction["result"], lead_time=4.5,
                                     parent_prediction=prediction["id"])
    first = pushed.pull()
    assert first.full and (first.inserted, first.updated, first.deleted) == (6, 0, 0)
    return pushed


def test_push_creates_one_task_per_sentence_with_context_and_the_draft_as_prediction(pushed):
    db, report, tasks = pushed.db, pushed.report, pushed.tasks
    drafts = drafts_by_sentence(db)
    assert len(drafts) == db["sentences"].count == 6
    assert report.created_project and report.invalid_predictions == []
    assert (report.tasks_created, report.predictions_created, report.prediction_ids_recorded) == (6, 6, 6)
    assert len(tasks) == 6
    recorded = {r["sentence_id"]: r["task_id"] for r in db.query("SELECT * FROM tasks")}
    assert recorded == {sid: t["id"] for sid, t in tasks.items()}
    assert pushed.ls.projects.get(id=report.ls_project_id).model_version == report.model_version
    assert report.model_version == f"stub-model · {next(iter(drafts.values()))['prompt_version']} · {SCHEMA.hash[:6]}"

    # Task data: the sentence, ids, the headline, up to three preceding sentences and the next one.
    flag = pushed.sentence("🇺🇦")
    officials, last = pushed.sentence("Officials"), pushed.sentence("The Russian defence")
    assert tasks[flag["id"]]["data"] == {"text": flag["text"], "sentence_id": flag["id"],
                                         "document_id": flag["document_id"], "headline": "Drones strike Kharkiv",
                                         "context": "", "context_after": officials["text"], "sentence_note": ""}
    assert tasks[last["id"]]["data"]["context"] == f"{flag['text']} {officials['text']}"
    headline = next(s for s in db.query("SELECT * FROM sentences WHERE is_headline = 1"))
    assert tasks[headline["id"]]["data"]["headline"] == ""
    assert tasks[headline["id"]]["data"]["sentence_note"] == "The article's headline"

    # Predictions are the drafts, with the editor's (code point) offsets.
    for task in tasks.values():
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == report.model_version
    forces = next(r for r in tasks[flag["id"]]["predictions"][0]["result"]
                  if r["value"].get("text") == "Ukrainian forces" and r["from_name"] == "entities")
    assert (forces["value"]["start"], forces["value"]["end"]) == (3, 19)  # code points, as the editor counts


def test_prediction_ids_are_recorded_and_gold_joins_the_draft_it_started_from(accepted):
    db, tasks = accepted.db, accepted.tasks
    recorded = {r["draft_id"]: r["ls_prediction_id"] for r in db.query("SELECT * FROM predictions")}
    drafts = drafts_by_sentence(db)
    assert recorded == {drafts[sid]["id"]: t["predictions"][0]["id"] for sid, t in tasks.items()}
    joined = list(db.query("""
        SELECT g.annotation_id, g.sentence_id, p.draft_id FROM gold g
        JOIN predictions p ON p.project_id = g.project_id AND p.ls_prediction_id = g.parent_prediction"""))
    assert len(joined) == 6
    assert all(r["draft_id"] == drafts[r["sentence_id"]]["id"] for r in joined)


def test_round_trip_with_emoji_gives_gold_identical_to_the_drafts(accepted, labelstudio):
    db = accepted.db
    drafts = drafts_by_sentence(db)
    recorded = {r["sentence_id"]: r["task_id"] for r in db.query("SELECT * FROM tasks")}
    admin_id = accepted.ls.users.whoami().id
    gold = gold_rows(db)
    assert len(gold) == 6
    for row in gold.values():
        draft = drafts[row["sentence_id"]]
        assert row["status"] == "ok", row["errors"]
        assert row["data"] == draft["data"]  # byte for byte
        assert json.loads(row["spans"]) == json.loads(draft["spans"])
        assert row["annotator"] in (labelstudio.email, str(admin_id))
        assert row["lead_time"] == 4.5 and row["parent_prediction"] is not None
        assert row["task_id"] == recorded[row["sentence_id"]] and row["project_id"] == accepted.report.project_id
        assert row["schema_hash"] == SCHEMA.hash and json.loads(row["raw_result"])
    # A repeated mention comes back as two spans at two offsets.
    officials = accepted.sentence("Officials")
    kharkiv = [s for s in json.loads(gold_by_sentence(db, officials["id"])[0]["spans"]) if s["text"] == "Kharkiv"]
    assert len(kharkiv) == 2 and kharkiv[0]["start"] < kharkiv[1]["start"]


def test_an_edit_relabels_deletes_and_adds_spans_and_changes_a_choice(accepted):
    flag = accepted.sentence("🇺🇦")
    annotation_id = accepted.annotation_of(flag["id"])
    result = [dict(r, value=dict(r["value"])) for r in accepted.ls.annotations.get(id=annotation_id).result]
    for item in result:
        if item["value"].get("text") == "Kharkiv":
            item["value"]["labels"] = ["FACILITY"]
        if item["from_name"] == "event_type":
            item["value"]["choices"] = ["battle"]
    result = [r for r in result if r["value"].get("text") != "overnight"]
    text = flag["text"]
    start = text.index("Russian drones")
    result.append({"id": "new1", "from_name": "entities", "to_name": "text", "type": "labels",
                   "value": {"start": start, "end": start + len("Russian"), "text": "Russian",
                             "labels": ["ARMED_GROUP"]}})
    accepted.ls.annotations.update(id=annotation_id, result=result)
    edited = accepted.pull()
    assert not edited.full and (edited.inserted, edited.updated, edited.deleted) == (0, 1, 0)
    row = gold_rows(accepted.db)[annotation_id]
    assert row["status"] == "ok"
    assert json.loads(row["data"]) == {
        "entities": [
            {"text": "Ukrainian forces", "label": "ARMED_GROUP"},
            {"text": "Russian", "label": "ARMED_GROUP"},
            {"text": "Russian drones", "label": "WEAPON"},
            {"text": "Kharkiv", "label": "FACILITY"},
        ],
        "event_type": "battle", "attribution": "claimed",
        "sources": [{"text": "Ukrainian forces", "label": "SOURCE"}],
    }
    spans = json.loads(row["spans"])
    assert [(s["text"], s["start"], s["end"]) for s in spans if s["text"] == "Russian"] == [
        ("Russian", start, start + 7)]
    assert all(text[s["start"]:s["end"]] == s["text"] for s in spans)


def test_a_skip_is_recorded_as_skipped(pushed):
    task = pushed.tasks[pushed.sentence("Police in Lagos")["id"]]
    skip = pushed.ls.annotations.create(id=task["id"], result=[], was_cancelled=True)
    report = pushed.pull()
    assert (report.inserted, report.by_status) == (1, {"skipped": 1})
    row = gold_rows(pushed.db)[skip.id]
    assert row["status"] == "skipped" and row["data"] is None and row["task_id"] == task["id"]


def test_two_annotators_on_one_task_are_two_rows(accepted):
    flag = accepted.sentence("🇺🇦")
    task = accepted.tasks[flag["id"]]
    other = accepted.ls.users.create(username=f"ann{uuid.uuid4().hex[:8]}",
                                     email=f"ann-{uuid.uuid4().hex[:8]}@example.org", password="annotator-pass-1")
    second = accepted.ls.annotations.create(id=task["id"], result=task["predictions"][0]["result"],
                                            completed_by=other.id, lead_time=9.0)
    report = accepted.pull()
    assert (report.inserted, report.updated, report.deleted) == (1, 0, 0)
    rows = gold_rows(accepted.db)
    assert rows[second.id]["annotator"] == other.email and rows[second.id]["task_id"] == task["id"]
    assert rows[second.id]["data"] == drafts_by_sentence(accepted.db)[flag["id"]]["data"]
    assert len([r for r in rows.values() if r["task_id"] == task["id"]]) == 2


def test_a_deleted_annotation_is_marked_deleted_and_keeps_its_data(accepted):
    headline = next(accepted.db.query("SELECT * FROM sentences WHERE is_headline = 1"))
    annotation_id = accepted.annotation_of(headline["id"])
    accepted.ls.annotations.delete(id=annotation_id)
    report = accepted.pull()
    assert (report.inserted, report.updated, report.deleted) == (0, 0, 1)
    row = gold_rows(accepted.db)[annotation_id]
    assert row["status"] == "deleted" and row["data"] is not None
    assert accepted.pull(full=True).written == 0  # marked once


def test_re_push_and_re_pull_write_nothing(accepted):
    db = accepted.db
    snapshot = gold_rows(db)
    tasks_before = list(db.query("SELECT * FROM tasks ORDER BY task_id"))
    predictions_before = list(db.query("SELECT * FROM predictions ORDER BY draft_id"))
    again = accepted.push()
    assert (again.tasks_created, again.predictions_created, again.tasks_reconciled) == (0, 0, 0)
    assert again.tasks_already == 6
    quiet = accepted.pull()
    assert not quiet.full and quiet.written == 0
    full = accepted.pull(full=True)
    assert full.full and full.written == 0 and full.unchanged == 6
    assert gold_rows(db) == snapshot
    assert list(db.query("SELECT * FROM tasks ORDER BY task_id")) == tasks_before
    assert list(db.query("SELECT * FROM predictions ORDER BY draft_id")) == predictions_before
    project = accepted.ls.projects.get(id=accepted.report.ls_project_id)
    assert (project.task_number, project.total_predictions_number) == (6, 6)


def test_a_new_draft_version_is_a_second_prediction_with_its_id(pushed):
    first = pushed.report
    make_drafts(pushed.db, model="stub-model-2")
    newer = pushed.push()
    assert (newer.tasks_created, newer.predictions_created, newer.prediction_ids_recorded) == (0, 6, 6)
    assert newer.model_version.startswith("stub-model-2 · ")
    assert pushed.ls.projects.get(id=first.ls_project_id).model_version == newer.model_version
    tasks = server_tasks(pushed.ls, first.ls_project_id)
    assert len(tasks) == 6
    on_server = {(t["id"], p["model_version"]): p["id"] for t in tasks for p in t["predictions"]}
    assert len(on_server) == 12
    recorded = {(r["task_id"], r["model_version"]): r["ls_prediction_id"]
                for r in pushed.db.query("SELECT * FROM predictions")}
    assert recorded == on_server


def test_lost_records_are_reconciled_not_duplicated(pushed):
    db = pushed.db
    make_drafts(db, model="stub-model-2")
    pushed.push()
    truth = list(db.query("SELECT * FROM predictions ORDER BY draft_id"))
    # A push that died after the server took a chunk: tasks and predictions never recorded...
    lost = [r["sentence_id"] for r in db.query("SELECT sentence_id FROM tasks ORDER BY task_id LIMIT 2")]
    # ... and one that died before reading the prediction ids.
    with db.conn:
        for sid in lost:
            db.execute("DELETE FROM predictions WHERE draft_id IN (SELECT id FROM drafts WHERE sentence_id = ?)",
                       [sid])
            db.execute("DELETE FROM tasks WHERE sentence_id = ?", [sid])
        db.execute("UPDATE predictions SET ls_prediction_id = NULL WHERE task_id = (SELECT max(task_id) FROM tasks)")
    healed = pushed.push()
    assert (healed.tasks_created, healed.predictions_created) == (0, 0)
    assert (healed.tasks_reconciled, healed.predictions_reconciled, healed.prediction_ids_recorded) == (2, 4, 6)
    assert db["tasks"].count == 6
    assert [{**r, "pushed_at": None} for r in db.query("SELECT * FROM predictions ORDER BY draft_id")] == [
        {**r, "pushed_at": None} for r in truth]
    assert pushed.ls.projects.get(id=pushed.report.ls_project_id).task_number == 6

