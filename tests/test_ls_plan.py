"""The pure cores of push and pull, and the one-line Label Studio errors (no server)."""

from __future__ import annotations

import httpx
from label_studio_sdk.core.api_error import ApiError

from annotator.context import Context
from annotator.labelstudio.api import ls_error, normalize_url, url_problem
from annotator.labelstudio.predictions import id_groups, match_predictions
from annotator.labelstudio.projects import Project
from annotator.labelstudio.pull import GoldSource, diff_gold, next_watermark
from annotator.labelstudio.push import NewPrediction, NewTask, plan_push, task_data
from annotator.labelstudio.reconcile import plan_reconcile
from annotator.schema import load_schema
from annotator.store import GoldStatus, content_id

NEWS = load_schema("news_events")
PROJECT = Project(id="p-key", ls_id=7, url="http://ls.test", name="plan test", schema_name=NEWS.name,
                  schema_hash=NEWS.hash, model_version=None, pull_watermark=None)


def draft(id: str, sentence: str, position: int, created: str = "2025-01-01", version: str = "m|v1|h") -> dict:
    return {"id": id, "sentence_id": sentence, "position": position, "created_at": created, "model_version": version}


# --------------------------------------------------------------------------- plan_push


def test_plan_push_new_sentences_become_tasks_in_sentence_order_with_their_drafts_oldest_first():
    drafts = [draft("b2", "s2", 2, "2025-01-03"), draft("a1", "s1", 1), draft("b1", "s2", 2, "2025-01-02")]
    plan = plan_push(drafts, tasks={}, pushed=set())
    assert plan.new_tasks == [NewTask("s1", ("a1",)), NewTask("s2", ("b1", "b2"))]
    assert plan.new_predictions == []


def test_plan_push_new_drafts_of_pushed_sentences_go_to_their_tasks_and_pushed_drafts_stay():
    drafts = [draft("a1", "s1", 1), draft("a2", "s1", 1, "2025-02-01"), draft("c1", "s3", 3),
              draft("b1", "s2", 2), draft("b2", "s2", 2, "2025-02-01")]
    plan = plan_push(drafts, tasks={"s1": 10, "s2": 11}, pushed={"a1", "b1"})
    assert plan.new_tasks == [NewTask("s3", ("c1",))]
    assert plan.new_predictions == [NewPrediction("a2", 10), NewPrediction("b2", 11)]


def test_plan_push_everything_pushed_plans_nothing():
    plan = plan_push([draft("a1", "s1", 1)], tasks={"s1": 10}, pushed={"a1"})
    assert plan.new_tasks == [] and plan.new_predictions == []


def test_task_data_joins_the_sentences_before_with_a_space():
    sentence = {"id": "s4", "document_id": "d", "text": "Fourth."}
    data = task_data(sentence, Context(headline="Head", before=["First.", "Second 🔥.", "Third."]))
    assert data == {"text": "Fourth.", "sentence_id": "s4", "document_id": "d", "headline": "Head",
                    "context": "First. Second 🔥. Third.", "sentence_note": "", "context_after": ""}
    assert task_data(sentence, Context())["headline"] == "" and task_data(sentence, Context())["context"] == ""
    assert task_data({**sentence, "is_headline": 1}, Context())["sentence_note"] == "The article's headline"


# --------------------------------------------------------------------------- prediction ids


def test_match_predictions_by_task_and_version_oldest_prediction_to_first_draft():
    sent = [("d1", 10, "m1"), ("d2", 11, "m1"), ("d3", 10, "m2"), ("d4", 10, "m2")]
    server = [(10, 105, "m2"), (10, 100, "m1"), (11, 101, "m1"), (10, 103, "m2"), (12, 102, "m1")]
    assert match_predictions(sent, server) == {"d1": 100, "d2": 101, "d3": 103, "d4": 105}


def test_match_predictions_skips_taken_ids_and_leaves_unmatched_drafts_out():
    sent = [("d1", 10, "m1"), ("d2", 10, "m1"), ("d3", 11, "m9")]
    server = [(10, 100, "m1"), (10, 104, "m1"), (11, 101, "m1")]
    assert match_predictions(sent, server, taken={100}) == {"d1": 104}


# --------------------------------------------------------------------------- reconcile


def test_plan_reconcile_records_lost_tasks_and_predictions_fills_ids_and_forgets_deleted_tasks():
    server_tasks = [
        {"id": 10, "sentence_id": "s1", "predictions": [{"id": 100, "model_version": "m1"}]},
        {"id": 11, "sentence_id": "s2", "predictions": [{"id": 101, "model_version": "m1"},
                                                          {"id": 107, "model_version": "m2"}]},
        {"id": 12, "sentence_id": "s2", "predictions": [{"id": 102, "model_version": "m1"}]},  # a duplicate
        {"id": 13, "sentence_id": "elsewhere", "predictions": []},
    ]
    known = {"s1": 10, "s9": 99}  # task 99 was deleted on the server
    drafts = [draft("a1", "s1", 1, version="m1"), draft("b1", "s2", 2, version="m1"),
              draft("b2", "s2", 2, "2025-03-01", version="m2"), draft("b3", "s2", 2, "2025-04-01", version="m3"),
              draft("z1", "s9", 9, version="m1")]
    pushed = [{"draft_id": "a1", "task_id": 10, "model_version": "m1", "ls_prediction_id": None,
               "created_at": "2025-01-01"},
              {"draft_id": "z1", "task_id": 99, "model_version": "m1", "ls_prediction_id": 990,
               "created_at": "2025-01-01"}]
    plan = plan_reconcile(server_tasks, known, drafts, pushed)
    assert plan.forget == [("s9", 99)]
    assert plan.tasks == [("s2", 11)]  # the oldest task of the sentence
    assert plan.prediction_ids == {"a1": 100}
    assert sorted(plan.predictions, key=lambda p: p["draft_id"]) == [
        {"draft_id": "b1", "task_id": 11, "model_version": "m1", "ls_prediction_id": 101},
        {"draft_id": "b2", "task_id": 11, "model_version": "m2", "ls_prediction_id": 107},
    ]


def test_plan_reconcile_with_everything_recorded_changes_nothing():
    server_tasks = [{"id": 10, "sentence_id": "s1", "predictions": [{"id": 100, "model_version": "m1"}]}]
    pushed = [{"draft_id": "a1", "task_id": 10, "model_version": "m1", "ls_prediction_id": 100,
               "created_at": "2025-01-01"}]
    plan = plan_reconcile(server_tasks, {"s1": 10}, [draft("a1", "s1", 1, version="m1")], pushed)
    assert (plan.forget, plan.tasks, plan.predictions, plan.prediction_ids) == ([], [], [], {})


# --------------------------------------------------------------------------- diff_gold

SENTENCE = "Police in Lagos arrested 12 protesters."


def result(event: str = "protest", lagos_label: str = "LOCATION") -> list[dict]:
    return [
        {"id": "r1", "from_name": "entities", "to_name": "text", "type": "labels",
         "value": {"start": 10, "end": 15, "text": "Lagos", "labels": [lagos_label]}},
        {"id": "c1", "from_name": "event_type", "to_name": "text", "type": "choices",
         "value": {"choices": [event]}},
        {"id": "c2", "from_name": "attribution", "to_name": "text", "type": "choices",
         "value": {"choices": ["asserted"]}},
    ]


def task(task_id: int, *annotations: dict, updated: str = "2025-05-01T10:00:00Z") -> dict:
    return {"id": task_id, "updated_at": updated, "data": {"text": SENTENCE, "sentence_id": f"s{task_id}"},
            "annotations": list(annotations)}


def annotation(aid: int, res: list | None = None, **extra) -> dict:
    return {"id": aid, "result": result() if res is None else res, "completed_by": 1, "lead_time": 3.0,
            "created_at": "2025-05-01T09:00:00Z", "updated_at": "2025-05-01T09:00:00Z",
            "parent_prediction": 500 + aid, **extra}


SOURCE = GoldSource(NEWS, PROJECT, sentence_of={1: "s1"}, texts={"s1": SENTENCE}, users={1: "ann@example.org"})


def test_diff_gold_inserts_new_annotations_with_their_status_and_parent_prediction():
    tasks = [task(1, annotation(11), annotation(12, was_cancelled=True, res=[])),
             task(2, annotation(21, result(event="no such event")), updated="2025-05-02T00:00:00Z")]
    diff = diff_gold([], tasks, SOURCE, stamp="now")
    assert (diff.inserted, diff.updated, diff.deleted, diff.unchanged) == (3, 0, 0, 0)
    assert diff.by_status == {"ok": 1, "skipped": 1, "invalid": 1}
    rows = {r["annotation_id"]: r for r in diff.writes}
    ok = rows[11]
    assert ok["status"] == GoldStatus.OK and ok["project_id"] == "p-key" and ok["sentence_id"] == "s1"
    assert ok["parent_prediction"] == 511 and ok["annotator"] == "ann@example.org" and ok["pulled_at"] == "now"
    assert ok["id"] == content_id("gold", "http://ls.test", 7, 11)
    assert '"event_type":"protest"' in ok["data"]
    assert rows[12]["data"] is None and rows[21]["errors"]
    assert diff.annotation_ids == {11, 12, 21} and diff.newest == "2025-05-02T00:00:00.000000Z"


def test_diff_gold_writes_only_what_changed_and_marks_vanished_annotations_deleted():
    stored = diff_gold([], [task(1, annotation(11), annotation(12))], SOURCE, stamp="then").writes
    same = diff_gold(stored, [task(1, annotation(11), annotation(12))], SOURCE, stamp="now")
    assert same.writes == [] and same.unchanged == 2
    edited = diff_gold(stored, [task(1, annotation(11, result(lagos_label="FACILITY")))], SOURCE, stamp="now")
    assert (edited.inserted, edited.updated, edited.deleted, edited.unchanged) == (0, 1, 1, 0)
    by_id = {r["annotation_id"]: r for r in edited.writes}
    assert '"FACILITY"' in by_id[11]["data"]
    assert by_id[12]["status"] == GoldStatus.DELETED and by_id[12]["data"] == stored[1]["data"]
    # Marked deleted once: a second look writes nothing more.
    after = [by_id[11], by_id[12]]
    assert diff_gold(after, [task(1, annotation(11, result(lagos_label="FACILITY")))], SOURCE, stamp="x").writes == []


def test_diff_gold_flags_a_task_text_that_differs_from_the_database():
    source = GoldSource(NEWS, PROJECT, sentence_of={1: "s1"}, texts={"s1": SENTENCE + " (edited)"})
    (row,) = diff_gold([], [task(1, annotation(11))], source, stamp="now").writes
    assert row["status"] == GoldStatus.INVALID and "differs from the sentence" in row["errors"]


def test_next_watermark_never_passes_the_server_clock_minus_the_overlap():
    assert next_watermark("2025-05-01T10:00:05.000000Z", None, "2025-05-01T10:00:03.000000Z") == \
        "2025-05-01T10:00:01.000000Z"
    assert next_watermark("2025-05-01T09:00:00.000000Z", "2025-04-01T00:00:00.000000Z",
                          "2025-05-01T10:00:00.000000Z") == "2025-05-01T09:00:00.000000Z"
    assert next_watermark(None, "2025-04-01T00:00:00.000000Z", None) == "2025-04-01T00:00:00.000000Z"
    assert next_watermark("2025-05-01T10:00:00.000000Z", None, None) == "2025-05-01T09:59:58.000000Z"


# --------------------------------------------------------------------------- URLs and errors


def test_url_problems_are_named_and_credentials_never_printed():
    assert url_problem("localhost:8080") == "Label Studio URL localhost:8080 has no scheme; write http://localhost:8080"
    no_scheme = url_problem("me:secret@ls.example.org:8080")
    assert "secret" not in no_scheme and "write http://ls.example.org:8080" in no_scheme
    assert "http:// or https://" in url_problem("ftp://ls.example.org")
    assert url_problem("http://ls.example.org:8080") is None
    assert normalize_url(" http://me:secret@ls.example.org:8080/ ") == "http://ls.example.org:8080"


def test_unresolvable_host_is_not_called_connection_refused():
    for text in ("[Errno -2] Name or service not known", "[Errno 8] nodename nor servname provided",
                 "[Errno 11001] getaddrinfo failed", "[Errno -3] Temporary failure in name resolution"):
        message = str(ls_error("http://me:pw@ls.nowhere.test:8080", "checking the API key", httpx.ConnectError(text)))
        assert "cannot resolve host ls.nowhere.test" in message and "refused" not in message, message
        assert "pw" not in message
    refused = str(ls_error("http://127.0.0.1:9", "x", httpx.ConnectError("[Errno 111] Connection refused")))
    assert "connection refused" in refused and "annotator labelstudio start" in refused


def test_an_html_answer_says_not_the_api_root_and_never_shows_the_html():
    page = "<!DOCTYPE html>\n<html><body><h1>Not Found</h1></body></html>"
    html = ApiError(status_code=404, headers={"Content-Type": "text/html; charset=utf-8"}, body=page)
    message = str(ls_error("http://ls.test/api", "checking the API key", html))
    assert "not Label Studio's API root; drop /api (write http://ls.test)" in message
    assert "<" not in message and "\n" not in message
    other = str(ls_error("http://ls.test/labeling", "x", ApiError(status_code=200, headers={}, body=page)))
    assert "not Label Studio's API root" in other and "drop /api" not in other and "<" not in other
    refused = str(ls_error("http://ls.test", "x", ApiError(status_code=401, headers={}, body={"detail": "no"})))
    assert "API key was refused" in refused


def test_id_groups_split_sorted_ids_for_one_range_read_each():
    assert id_groups([7, 3, 5, 3, 20, 21, 9], 3) == [[3, 5, 7], [9, 20, 21]]
    assert id_groups([], 3) == []
