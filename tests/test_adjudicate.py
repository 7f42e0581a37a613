"""Adjudication: the gold rules, the disputed tasks, and the whole loop through a real Label Studio.

Every figure is worked out by hand. The schema is news_events: four fields (entities,
event_type, attribution, sources); a task's disagreement is the mean over every pair of
annotators and every field (a choice that differs: 1; a span field: 1 - 2 x shared /
(spans of one + spans of the other); both empty: 0).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from annotator.annotate import annotate
from annotator.errors import InputError
from annotator.evaluate.adjudicate import disputes, summary
from annotator.gold import choose_gold, rules_line, strict_majority
from annotator.ingest import DocInput, ingest
from annotator.labelstudio.adjudicate import DISAGREEMENT_KEY, VIEW_TITLE, plan_marks, view_action
from annotator.labelstudio.api import open_client
from annotator.labelstudio.convert import draft_to_result
from annotator.labelstudio.push import push
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.cli import run as run_cli
from tests.support.stub_llm import StubLLM

NEWS = load_schema("news_events")
TEXT = "Rebels attacked Mora."


def span(words: str, label: str, field: str = "entities") -> dict:
    start = TEXT.index(words)
    return {"field": field, "label": label, "text": words, "start": start, "end": start + len(words)}


REBELS, MORA = span("Rebels", "ARMED_GROUP"), span("Mora", "LOCATION")


def row(annotation_id: int, who: str, event: str, spans: list[dict], updated: str, *, truth: bool = False,
        attribution: str = "asserted") -> dict:
    return {"annotation_id": annotation_id, "annotator": who, "completed_by": None, "ground_truth": int(truth),
            "updated_at": updated, "data": {"event_type": event, "attribution": attribution, "sources": []},
            "spans": spans}


# --------------------------------------------------------------------------- the gold rules


def test_adjudicated_prefers_ground_truth_then_a_strict_majority_then_the_newest() -> None:
    a = row(1, "a@x", "battle", [REBELS, MORA], "2024-01-01T10:00")
    b = row(2, "b@x", "battle", [REBELS, MORA], "2024-01-01T11:00")
    c = row(3, "c@x", "riot", [MORA], "2024-01-01T12:00")
    # Two of three agree in every field: the majority decides, though c is the newest.
    chosen = choose_gold([a, b, c], "adjudicated", NEWS.fields)
    assert chosen.rule == "majority" and chosen.values["event_type"] == "battle"
    assert [s["text"] for s in chosen.spans] == ["Rebels", "Mora"] and len(chosen.rows) == 3
    # The oldest one marked ground truth outranks the majority.
    marked = choose_gold([{**a, "ground_truth": 1}, b, c], "adjudicated", NEWS.fields)
    assert marked.rule == "ground-truth" and marked.rows[0]["annotation_id"] == 1 and marked.ground_truth
    minority = choose_gold([a, b, {**c, "ground_truth": 1}], "adjudicated", NEWS.fields)
    assert minority.rule == "ground-truth" and minority.values["event_type"] == "riot"
    # Two who differ: no strict majority (1 of 2 is not more than half): the newest.
    split = choose_gold([a, c], "adjudicated", NEWS.fields)
    assert split.rule == "latest" and split.rows == [c] and split.values["event_type"] == "riot"
    # One annotator is no majority.
    assert choose_gold([a], "adjudicated", NEWS.fields).rule == "latest"


def test_a_strict_majority_needs_more_than_half_in_every_field() -> None:
    a = row(1, "a@x", "battle", [REBELS, MORA], "t1")
    b = row(2, "b@x", "battle", [MORA], "t2")
    c = row(3, "c@x", "riot", [MORA], "t3")
    # event: battle 2 of 3; entities {Mora} 2 of 3 (b, c): each field has its majority, from different people.
    chosen = strict_majority([a, b, c], NEWS.fields)
    assert chosen is not None and chosen.values["event_type"] == "battle"
    assert [s["text"] for s in chosen.spans] == ["Mora"]
    # A fourth who says protest: battle 2 of 4 is not more than half.
    d = row(4, "d@x", "protest", [MORA], "t4")
    assert strict_majority([a, b, c, d], NEWS.fields) is None
    assert choose_gold([a, b, c, d], "adjudicated", NEWS.fields).rows == [d]
    # An annotator counts once, with the newest answer: a's later riot makes riot 2 of 3 (a, c).
    a2 = row(5, "a@x", "riot", [MORA], "t5")
    again = strict_majority([a, b, c, a2], NEWS.fields)
    assert again is not None and again.values["event_type"] == "riot" and len(again.rows) == 3


def test_the_other_rules_say_which_rule_decided() -> None:
    a = row(1, "a@x", "battle", [MORA], "t1", truth=True)
    b = row(2, "b@x", "riot", [MORA], "t2")
    assert choose_gold([a, b], "latest", NEWS.fields).rule == "latest"
    assert choose_gold([a, b], "ground-truth", NEWS.fields).rule == "ground-truth"
    assert choose_gold([{**a, "ground_truth": 0}, b], "ground-truth", NEWS.fields).rule == "latest"
    assert choose_gold([a, b], "majority", NEWS.fields).rule == "majority"
    with pytest.raises(InputError, match="adjudicated, latest, ground-truth, majority"):
        choose_gold([a], "newest", NEWS.fields)
    assert rules_line({"latest": 5, "ground-truth": 2, "majority": 1}) == \
        "gold decided by ground truth 2, majority 1, latest 5"


# --------------------------------------------------------------------------- disputed tasks


def test_disputes_are_the_tasks_that_differ_most_disputed_first() -> None:
    tasks = [
        # 10: agree in every field (several choices would count as a set): not disputed.
        (10, [row(1, "a@x", "battle", [MORA], "t1"), row(2, "b@x", "battle", [MORA], "t2")]),
        # 11: c differs in event only: pairs ab 0, ac 1, bc 1 over 3 pairs x 4 fields -> 2/12.
        (11, [row(3, "a@x", "battle", [MORA], "t1"), row(4, "b@x", "battle", [MORA], "t2"),
              row(5, "c@x", "riot", [MORA], "t3")]),
        # 12: event differs (1), entities 1 - 2*1/(2+1) = 1/3, attribution and sources agree -> (4/3)/4 = 1/3.
        (12, [row(6, "a@x", "battle", [REBELS, MORA], "t1"), row(7, "b@x", "riot", [MORA], "t2")]),
        # 13: one annotator: nothing to compare.
        (13, [row(8, "a@x", "riot", [], "t1")]),
        # 14: differs in attribution, and settled: b's marked ground truth -> 1/4.
        (14, [row(9, "a@x", "riot", [], "t1"), row(10, "b@x", "riot", [], "t2", truth=True, attribution="claimed")]),
    ]
    found = disputes(NEWS.fields, tasks)
    assert [(d.task_id, d.fields, d.settled) for d in found] == [
        (12, ("entities", "event_type"), False), (14, ("attribution",), True), (11, ("event_type",), False)]
    assert [d.disagreement for d in found] == [pytest.approx(1 / 3), 0.25, pytest.approx(2 / 12)]
    assert found[0].annotators == ("a@x", "b@x")
    assert summary(found) == {"disagreeing": 3, "settled": 1, "open": 2}
    # --below 0.8: agreement 2/3 and 3/4 are under it, 10/12 is not.
    assert [d.task_id for d in disputes(NEWS.fields, tasks, below=0.8)] == [12, 14]


def test_several_choices_in_another_order_agree() -> None:
    from tests.support.gold_db import KINDS

    base = {"tags": [], "mood": "calm", "urgent": False, "note": "", "casualties": 0, "confidence": 0.5}
    a = {**row(1, "a@x", "", [], "t1"), "data": {**base, "topics": ["war", "aid"]}}
    b = {**row(2, "b@x", "", [], "t2"), "data": {**base, "topics": ["aid", "war"]}}
    c = {**row(3, "c@x", "", [], "t3"), "data": {**base, "topics": ["aid"]}}
    assert disputes(KINDS.fields, [(1, [a, b])]) == []
    (found,) = disputes(KINDS.fields, [(1, [a, c])])
    # topics differ: 1 of the 8 fields (level is None on both) -> 1/8.
    assert found.fields == ("topics",) and found.disagreement == pytest.approx(1 / 8)
    assert strict_majority([a, b, c], KINDS.fields).values["topics"] == ["aid", "war"]


def test_marks_are_replaced_not_added_and_the_view_is_kept_when_unchanged() -> None:
    write, clear = plan_marks({1: 0.5, 2: 0.25, 3: 0.1}, {2: 0.25, 3: 0.2, 4: 1.0})
    assert write == {3: 0.2, 4: 1.0} and clear == [1]
    assert plan_marks({2: 0.25}, {2: 0.25}) == ({}, [])
    wanted = {"title": VIEW_TITLE, "ordering": ["-x"], "filters": {}, "hiddenColumns": {}, "columnsDisplayType": {}}
    views = [{"id": 7, "data": {**wanted, "columnsWidth": {"a": 9}}}, {"id": 3, "data": {"title": "Other"}}]
    assert view_action(views, wanted) == ("keep", 7)
    assert view_action([{"id": 7, "data": {**wanted, "ordering": []}}], wanted) == ("update", 7)
    assert view_action(views[1:], wanted) == ("create", None)


# --------------------------------------------------------------------------- through a real Label Studio

SENTENCES = ["Rebels attacked Mora.", "Police fired in Lagos.", "Rebels shelled Goma.", "Troops left Kano."]
PLACES = {0: "Mora", 1: "Lagos", 2: "Goma", 3: "Kano"}
GROUPS = {0: "Rebels", 1: "Police", 2: "Rebels", 3: "Troops"}


def responder(body: dict) -> dict:
    sentence = body["messages"][-1]["content"].split("Sentence:", 1)[1].strip()
    i = SENTENCES.index(sentence)
    return {"entities": [{"text": GROUPS[i], "label": "ARMED_GROUP"}, {"text": PLACES[i], "label": "LOCATION"}],
            "event_type": "battle", "attribution": "asserted", "sources": []}


def answer(i: int, event: str, words: tuple[str, ...]) -> list[dict]:
    """A result for sentence i: the event and these of its entities."""
    text = SENTENCES[i]
    labels = {GROUPS[i]: "ARMED_GROUP", PLACES[i]: "LOCATION"}
    spans = [{"field": "entities", "label": labels[w], "text": w, "start": text.index(w),
              "end": text.index(w) + len(w)} for w in words]
    return draft_to_result(NEWS, text, {"event_type": event, "attribution": "asserted", "sources": []}, spans)


# Who answers what, in the order the annotations are made (later ones are newer):
#   S0: a, b agree (battle, both entities)                       not disputed; 2 agree: majority
#   S1: a, b battle; c riot                                       2/12 = 0.1667; majority battle
#   S2: a battle with both entities, b riot with the place only   1/3 = 0.3333; no majority: b, the newest
#   S3: a alone                                                   not disputed; latest
ANSWERS = [("a", 0, "battle", (0, 1)), ("a", 1, "battle", (0, 1)), ("a", 2, "battle", (0, 1)), ("a", 3, "riot", (1,)),
           ("b", 0, "battle", (0, 1)), ("b", 1, "battle", (0, 1)), ("b", 2, "riot", (1,)),
           ("c", 1, "riot", (0, 1))]


@pytest.fixture(scope="module")
def loop(labelstudio, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adjudicate")
    db = open_db(tmp / "adj.db")
    ingest(db, [DocInput(text=" ".join(SENTENCES), origin="test")])
    assert [r["text"] for r in db.query("SELECT text FROM sentences ORDER BY idx")] == SENTENCES
    with StubLLM(responder=responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="t", model="stub-adj", max_retries=0)
        assert annotate(db, client, NEWS, load_prompt(None, NEWS.name)).by_status == {"ok": 4}
    ls = open_client(labelstudio.url, labelstudio.token)
    name = f"adjudicate {uuid.uuid4().hex[:8]}"
    push(db, ls, NEWS, name, url=labelstudio.url)
    tasks = [r["task_id"] for r in db.query(
        "SELECT t.task_id FROM tasks t JOIN sentences s ON s.id = t.sentence_id ORDER BY s.idx")]
    users = {"a": ls.users.whoami()}
    for who in ("b", "c"):
        tag = uuid.uuid4().hex[:6]
        users[who] = ls.users.create(username=f"{who}{tag}", email=f"{who}{tag}@example.org",
                                     password=uuid.uuid4().hex)
    made = {}
    for who, i, event, keep in ANSWERS:
        words = tuple((GROUPS[i], PLACES[i])[k] for k in keep)
        made[who, i] = ls.annotations.create(id=tasks[i], result=answer(i, event, words),
                                             completed_by=users[who].id, lead_time=3.0).id
    env = {"db": str(tmp / "adj.db"), "ls": ls, "name": name, "tasks": tasks, "made": made, "url": labelstudio.url,
           "users": {k: u.email for k, u in users.items()}, "tmp": tmp, "token": labelstudio.token}
    assert run(env, "pull", "--project", name, json_out=False)
    return env


def run(env, *args: str, json_out: bool = True):
    result = run_cli(*args, "--db", env["db"], *(["--json"] if json_out else []),
                     env={"LABEL_STUDIO_URL": env["url"], "LABEL_STUDIO_API_KEY": env["token"]})
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if json_out else result.output


def view_tasks(env, view_id: int) -> list[tuple[int, float]]:
    """The tasks of the view on the server, in its order, with the disagreement they carry."""
    pid = env["ls"].views.get(id=str(view_id)).project
    return [(t.id, t.data.get(DISAGREEMENT_KEY)) for t in env["ls"].tasks.list(view=view_id, project=pid)]


def export_records(env, *gold: str) -> dict[int, dict]:
    out = env["tmp"] / f"gold-{uuid.uuid4().hex[:6]}.jsonl"
    output = run(env, "export", "--format", "jsonl", "--out", str(out), "--project", env["name"], *gold, "--json",
                 json_out=False)
    records = {r["task_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert json.loads(output.splitlines()[-1])["gold_rules"] == dict(Counter(r["gold_rule"] for r in records.values()))
    return records


def test_adjudicate_shows_only_the_disagreeing_tasks_and_a_ground_truth_mark_decides(loop) -> None:
    t0, t1, t2, t3 = loop["tasks"]
    users = loop["users"]
    # Before any mark: S0 and S1 by majority, S2 by the newest (b's riot), S3 latest (one annotator).
    records = export_records(loop)
    assert {t: r["gold_rule"] for t, r in records.items()} == {t0: "majority", t1: "majority", t2: "latest",
                                                              t3: "latest"}
    assert records[t1]["event_type"] == "battle" and records[t2]["event_type"] == "riot"
    assert records[t2]["annotators"] == [users["b"]]
    report = run(loop, "eval", "--project", loop["name"])
    assert report["gold"] == "adjudicated" and report["gold_rules"] == {"majority": 2, "latest": 2}
    assert run(loop, "agreement", "--project", loop["name"])["adjudication"] == {"disagreeing": 2, "settled": 0,
                                                                                 "open": 2}

    # --below 0.75 leaves S1 out (agreement 10/12); the view shows S2 alone.
    first = run(loop, "adjudicate", "--project", loop["name"], "--below", "0.75")
    assert [t["task_id"] for t in first["tasks"]] == [t2] and first["written"] == 1
    assert view_tasks(loop, first["view"]["id"]) == [(t2, 0.3333)]
    # Without it: S2 then S1, most disputed first (not in task order); the same view, its set replaced.
    found = run(loop, "adjudicate", "--project", loop["name"])
    assert found["view"]["id"] == first["view"]["id"] and found["written"] == 1 and found["cleared"] == 0
    assert [(t["task_id"], t["fields"]) for t in found["tasks"]] == [(t2, ["entities", "event_type"]),
                                                                     (t1, ["event_type"])]
    assert view_tasks(loop, found["view"]["id"]) == [(t2, 0.3333), (t1, 0.1667)]
    assert found["view"]["link"].endswith(f"/data?tab={found['view']['id']}")
    assert run(loop, "adjudicate", "--project", loop["name"])["written"] == 0  # the same again changes nothing
    views = [v for v in loop["ls"].views.list(project=loop["ls"].tasks.get(id=t2).project)
             if (v.data or {}).get("title") == VIEW_TITLE]
    assert len(views) == 1
    text = run(loop, "adjudicate", "--project", loop["name"], json_out=False)
    assert "mark it ground truth" in text and "annotator pull --project" in text and found["view"]["link"] in text

    # The reviewer marks a's annotation of S2 (the older one, battle) ground truth; an incremental pull takes it.
    loop["ls"].annotations.update(id=loop["made"]["a", 2], ground_truth=True)
    run(loop, "pull", "--project", loop["name"], json_out=False)
    records = export_records(loop)
    assert records[t2]["gold_rule"] == "ground-truth" and records[t2]["event_type"] == "battle"
    assert records[t2]["annotators"] == [users["a"]] and records[t2]["ground_truth"] is True
    assert [e["text"] for e in records[t2]["entities"]] == ["Rebels", "Goma"]
    assert export_records(loop, "--gold", "majority")[t2]["gold_rule"] == "majority"
    report = run(loop, "eval", "--project", loop["name"])
    assert report["gold_rules"] == {"majority": 2, "ground-truth": 1, "latest": 1}
    assert run(loop, "agreement", "--project", loop["name"])["adjudication"] == {"disagreeing": 2, "settled": 1,
                                                                                 "open": 1}
    settled = run(loop, "adjudicate", "--project", loop["name"])
    assert [t["task_id"] for t in settled["tasks"]] == [t1] and settled["cleared"] == 1
    assert [t["task_id"] for t in settled["settled_tasks"]] == [t2]
    assert view_tasks(loop, settled["view"]["id"]) == [(t1, 0.1667)]
    # Nothing else of the task changed: its text and its two annotations.
    task = loop["ls"].tasks.get(id=t2)
    assert task.data["text"] == SENTENCES[2] and DISAGREEMENT_KEY not in task.data
    assert task.total_annotations == 2
