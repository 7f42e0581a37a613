"""What routing did and its blind audit: eval, status, export, pull and agreement on drafts accepted from the
model (database built row by row, see tests/support/route_gold.py; figures worked out by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.labelstudio.accept import is_audited, route_new
from annotator.labelstudio.projects import recorded_project
from annotator.labelstudio.pull import _mark_gone
from annotator.labelstudio.push import eligible_drafts
from annotator.store import open_db
from tests.support.cli import run, run_json
from tests.support.gold_db import NEWS, add_gold
from tests.support.route_gold import VERSION, add_waiting, make_routed

ROUTING_KEYS = {"risk", "delta", "threshold", "accepted", "to_people", "audited", "audit_errors",
                "audit_error_rate", "audit_ci"}
ALL = 0.999  # an audit share that takes w0 and w2 (checked)


@pytest.fixture
def accepted_db(tmp_path) -> Path:
    """make_routed, routed (risk 0.05, delta 0.1: threshold 1.0) and pushed with --route: w0 and w2 accepted and
    audited, w1, w3 (a person annotated it elsewhere), w4 to people."""
    path = make_routed(tmp_path / "audit.db")
    run("route", "--db", str(path), "-p", "Route", ok=True)
    assert is_audited("w0-s0", ALL) and is_audited("w2-s0", ALL)
    db = open_db(path)
    outcome = route_new(db, NEWS, "pr", "Route", eligible_drafts(db, NEWS, None, None), {}, ALL, lambda d: VERSION)
    assert (outcome.accepted, outcome.audited, outcome.to_people) == (2, 2, 3)
    db.close()
    return path


def answer_audit(path: Path, *events: str) -> None:
    """People answer the audit tasks of w0 and w2 (blind tasks 3000, 3002) with these event types."""
    db = open_db(path)
    for k, event in zip((0, 2), events, strict=True):
        db["tasks"].insert({"project_id": "pr", "sentence_id": f"w{k}-s0", "task_id": 3000 + k, "pushed_at": "x",
                            "blind": 1})
        add_gold(db, NEWS, "pr", f"w{k}-s0", 3000 + k, 9200 + k, "bo@x",
                 {"event_type": event, "attribution": "asserted"}, [], "2024-06-01T10:00")
    db.close()


def routing_block(path: Path) -> dict:
    (group,) = run_json("eval", "--db", str(path), "-p", "Route")["groups"]
    assert set(group["routing"]) == ROUTING_KEYS
    return group["routing"]


def test_eval_shows_routing_and_no_audit_figure_before_an_audit_is_answered(accepted_db):
    assert routing_block(accepted_db) == {"risk": 0.05, "delta": 0.1, "threshold": 1.0, "accepted": 2,
                                          "to_people": 3, "audited": 2, "audit_errors": None,
                                          "audit_error_rate": None, "audit_ci": None}
    text = " ".join(run("eval", "--db", str(accepted_db), "-p", "Route", ok=True).stdout.split())
    assert ("Routing of project 'Route' (version 1, threshold 1): 2 accepted, 3 sent to people, 2 audited; "
            "expected wrong among the accepted 0.0. Audit: none answered yet") in text


def test_an_audit_above_the_risk_stops_accepting_until_a_newer_routing(accepted_db):
    db = open_db(accepted_db)
    db.execute("UPDATE routed SET confidence = CASE sentence_id WHEN 'w0-s0' THEN 0.9 ELSE 0.8 END "
               "WHERE accepted = 1").connection.commit()
    db.close()
    answer_audit(accepted_db, "riot", "riot")  # both accepted drafts said battle: 2 of 2 wrong
    block = routing_block(accepted_db)
    # 2 of 2 at 95%: the lower end solves p^2 = 0.025, p = 0.158114 > risk 0.05; the upper end is 1.
    assert {k: block[k] for k in ("audit_errors", "audit_error_rate")} == {"audit_errors": 2, "audit_error_rate": 1.0}
    assert block["audit_ci"] == pytest.approx([0.158114, 1.0], abs=1e-6)
    eval_text = " ".join(run("eval", "--db", str(accepted_db), "-p", "Route", ok=True).stdout.split())
    assert "expected wrong among the accepted 0.3" in eval_text  # (1 - 0.9) + (1 - 0.8)
    assert "Audit: 2 of 2 wrong (100.0%, 95% CI 15.8%–100.0%) against the guarantee of at most 0.05" in eval_text
    broken = "Routing of project 'Route' is broken: the audit's error rate 2 of 2"
    assert broken in " ".join(run("eval", "--db", str(accepted_db), "-p", "Route", ok=True).stderr.split())
    status = run("status", "--db", str(accepted_db), ok=True)
    assert broken in " ".join(status.stderr.split())
    routing = next(p for p in json.loads(run("status", "--db", str(accepted_db), "--json", ok=True).stdout)["projects"]
                   if p["name"] == "Route")["routing"]
    assert (routing["version"], routing["accepted"], routing["to_people"], routing["audited"], routing["broken"]) == (
        1, 2, 3, 2, True)
    assert routing["expected_wrong"] == pytest.approx(0.3)
    db = open_db(accepted_db)
    add_waiting(db, "w5", 0.9)  # confidence 1.0: accepted, were the guarantee not broken
    outcome = route_new(db, NEWS, "pr", "Route", eligible_drafts(db, NEWS, None, None), {}, 0.1, lambda d: VERSION)
    # w5 goes to people with the three people's sentences this test never gave a task (decided again)
    assert (outcome.broken, outcome.accepted, outcome.to_people, outcome.order["w5-s0"]) == (True, 0, 4, 1.0)
    db.close()
    again = run("route", "--db", str(accepted_db), "-p", "Route", ok=False)  # the audit's gold is new gold
    assert "changed since calibration version 1; run `annotator calibrate --project 'Route'` first" in again.stderr
    # The audit's answers are gold a person made: calibrate fits a new version on 62, route makes version 2.
    assert run_json("calibrate", "--db", str(accepted_db), "-p", "Route")["gold"] == 62
    assert run_json("route", "--db", str(accepted_db), "-p", "Route")["version"] == 2
    db = open_db(accepted_db)
    outcome = route_new(db, NEWS, "pr", "Route", eligible_drafts(db, NEWS, None, None), {}, 0.1, lambda d: VERSION)
    assert (outcome.version, outcome.broken) == (2, False)


def test_full_pull_never_marks_accepted_rows_deleted(accepted_db):
    db = open_db(accepted_db)
    project = recorded_project(db, "Route", url="http://ls.test")
    seen = {r["annotation_id"] for r in db.query("SELECT annotation_id FROM gold WHERE project_id = 'pr' AND "
                                                 "annotation_id IS NOT NULL AND annotation_id != 7000")}
    assert _mark_gone(db, project, seen) == 1  # annotation 7000 is gone from the server; nothing else
    statuses = {r["sentence_id"]: r["status"] for r in db.query("SELECT sentence_id, status FROM gold WHERE "
                                                                "project_id = 'pr' AND task_id IS NULL")}
    assert statuses == {"w0-s0": "accepted", "w2-s0": "accepted"}


def test_agreement_ignores_rows_accepted_from_the_model(accepted_db):
    db = open_db(accepted_db)  # an older row of the model, submitted on a person's task
    add_gold(db, NEWS, "pr", "r0-s0", 2000, 9300, "model:m", {"event_type": "riot", "attribution": "asserted"}, [],
             "2024-06-01T10:00")
    db.close()
    assert run_json("agreement", "--db", str(accepted_db), "-p", "Route")["tasks"] == 0
    answer_audit(accepted_db, "battle", "riot")  # a person on the audit tasks: still one annotator a task
    assert run_json("agreement", "--db", str(accepted_db), "-p", "Route")["tasks"] == 0


def read_jsonl(path: Path) -> dict[str, dict]:
    return {r["sentence_id"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_export_includes_accepted_drafts_only_when_asked_and_a_person_wins(accepted_db, tmp_path):
    out = tmp_path / "gold.jsonl"
    run("export", "--db", str(accepted_db), "-p", "Route", "--format", "jsonl", "--out", str(out), ok=True)
    plain = read_jsonl(out)
    assert len(plain) == 60 and "w0-s0" not in plain and "source" not in plain["r0-s0"]
    answer_audit(accepted_db, "riot", "battle")  # w0's audit answered (riot): the person's answer is exported
    run("export", "--db", str(accepted_db), "-p", "Route", "--format", "jsonl", "--out", str(out),
        "--include-accepted", ok=True)
    records = read_jsonl(out)
    assert len(records) == 62
    assert {sid: r["source"] for sid, r in records.items() if not sid.startswith("r")} == {
        "w0-s0": "person", "w2-s0": "person"}
    db = open_db(accepted_db)  # w2's audit answer withdrawn: its accepted draft is exported, marked model
    db.execute("UPDATE gold SET status = 'deleted' WHERE annotation_id = 9202").connection.commit()
    db.close()
    run("export", "--db", str(accepted_db), "-p", "Route", "--format", "jsonl", "--out", str(out),
        "--include-accepted", ok=True)
    records = read_jsonl(out)
    w0, w2 = records["w0-s0"], records["w2-s0"]
    assert (w0["source"], w0["event_type"], w0["annotators"]) == ("person", "riot", ["bo@x"])
    assert (w2["source"], w2["event_type"], w2["annotators"], w2["annotation_ids"], w2["task_id"]) == (
        "model", "battle", [f"model:{VERSION}"], [None], None)
    assert {r["source"] for sid, r in records.items() if sid.startswith("r")} == {"person"}


def test_hf_export_types_the_source(accepted_db, tmp_path):
    datasets = pytest.importorskip("datasets")
    run("export", "--db", str(accepted_db), "-p", "Route", "--format", "hf", "--out", str(tmp_path / "ds"),
        "--include-accepted", ok=True)
    rows = datasets.load_from_disk(str(tmp_path / "ds"))
    assert sorted(rows["source"]).count("model") == 2 and len(rows) == 62
