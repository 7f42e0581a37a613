"""`annotator route` and push --route's decisions on a database built row by row (see tests/support/route_gold.py), figures
worked out by hand; no Label Studio (tests/test_route_ls.py has it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.confidence.route import choose
from annotator.labelstudio.accept import is_audited, route_new
from annotator.labelstudio.push import NewTask, eligible_drafts, plan_push
from annotator.store import open_db
from tests.support.cli import run, run_json
from tests.support.gold_db import NEWS, add_gold
from tests.support.route_gold import VERSION, add_waiting, build, make_routed
from tests.support.together import both_at_once

# 0.1 ** (1 / 50) = exp(ln 0.1 / 50) = exp(-2.302585 / 50) = exp(-0.0460517) = 0.954993: bound 0.045007.
BOUND_50 = 0.045007


@pytest.fixture
def routed_db(tmp_path) -> Path:
    return make_routed(tmp_path / "route.db")


def test_choose_by_hand():
    # Candidates high to low: 1.0 accepts the 50 right (0 errors, bound 0.045007 <= 0.05: pass); 0.0 accepts all
    # 60 with 10 errors (bound above 1/6): the sequence stops there. Threshold 1.0.
    choice, needed = choose([1.0] * 50 + [0.0] * 10, [True] * 50 + [False] * 10, 0.05, 0.1)
    assert (choice.threshold, choice.accepted, choice.errors, choice.n) == (1.0, 50, 0, 60)
    assert choice.bound == pytest.approx(BOUND_50, abs=1e-6) and needed is None
    # 40 right: no candidate accepts the 45 a pass needs at least (0.95^44 = 0.1047 > 0.1, 0.95^45 = 0.0994):
    # nothing accepted; at an error rate of 0 the guarantee takes 45 gold tasks.
    choice, needed = choose([1.0] * 40, [True] * 40, 0.05, 0.1)
    assert (choice.threshold, choice.accepted, choice.bound, needed) == (None, 0, None, 45)
    # 40 right and 10 wrong: an error rate of 0.2, at or above the risk: no amount of gold will do.
    assert choose([1.0] * 40 + [0.0] * 10, [True] * 40 + [False] * 10, 0.05, 0.1)[1] is None


def test_route_stores_the_threshold_its_gold_and_the_share_it_would_accept(routed_db):
    db = str(routed_db)
    first = run_json("route", "--db", db, "-p", "Route", "--risk", "0.05", "--delta", "0.1")
    assert {k: first[k] for k in ("version", "unchanged", "calibration_version", "risk", "delta", "threshold", "n",
                                  "accepted", "errors", "gold_errors")} == {
        "version": 1, "unchanged": False, "calibration_version": 1, "risk": 0.05, "delta": 0.1, "threshold": 1.0,
        "n": 60, "accepted": 50, "errors": 0, "gold_errors": 10}
    assert first["bound"] == pytest.approx(BOUND_50, abs=1e-6)
    # Waiting: w0, w2 at 1.0 (accepted), w1, w4 at 0.0, w3 at 1.0 but a person annotated it: 2 of 5.
    assert (first["drafts"], first["drafts_accepted"], first["accept_share"]) == (5, 2, 0.4)
    again = run("route", "--db", db, "-p", "Route", "--risk", "0.05", "--delta", "0.1", ok=True)
    assert "unchanged: routing version 1 of project 'Route'" in again.stdout
    assert "threshold 1" in again.stdout and "60 gold tasks: 50 at or above it, 0 of them wrong" in again.stdout
    assert "it would accept 2 (40.0%)" in " ".join(again.stdout.split())
    rows = list(open_db(routed_db).query("SELECT version, calibration_version, risk, delta, threshold, n, accepted, "
                                         "errors FROM routings"))
    assert rows == [{"version": 1, "calibration_version": 1, "risk": 0.05, "delta": 0.1, "threshold": 1.0, "n": 60,
                     "accepted": 50, "errors": 0}]
    second = run_json("route", "--db", db, "-p", "Route", "--risk", "0.1")
    assert (second["version"], second["unchanged"], second["risk"], second["delta"]) == (2, False, 0.1, 0.1)


def test_too_little_gold_accepts_nothing_and_says_how_much_more(tmp_path):
    path = tmp_path / "few.db"
    db = open_db(path)
    build(db, 40, 0)
    add_waiting(db, "w0", 0.9)
    db.close()
    run("calibrate", "--db", str(path), "-p", "Route", ok=True)
    found = run_json("route", "--db", str(path), "-p", "Route")
    assert {k: found[k] for k in ("threshold", "n", "accepted", "errors", "bound", "gold_needed",
                                  "more_gold_needed", "drafts_accepted")} == {
        "threshold": None, "n": 40, "accepted": 0, "errors": 0, "bound": None, "gold_needed": 45,
        "more_gold_needed": 5, "drafts_accepted": 0}
    text = " ".join(run("route", "--db", str(path), "-p", "Route", ok=True).stdout.split())
    assert "no threshold can be guaranteed on 40 gold tasks (0 wrong)" in text
    assert "a guarantee needs at least 45 gold tasks: 5 more" in text
    db = open_db(path)
    outcome = route_new(db, NEWS, "pr", "Route", eligible_drafts(db, NEWS, None, None), {}, 0.1, lambda d: VERSION)
    assert (outcome.accepted, outcome.to_people, outcome.order) == (0, 1, {"w0-s0": 1.0})
    assert db["gold"].count_where("status = 'accepted'") == 0


def test_route_needs_a_calibration_and_the_gold_it_was_fitted_on(tmp_path, routed_db):
    path = tmp_path / "bare.db"
    db = open_db(path)
    build(db, 3, 0)
    db.close()
    result = run("route", "--db", str(path), "-p", "Route", ok=False)
    assert result.exit_code != 0 and result.stderr.strip() == (
        "Error: project 'Route' has no calibration yet; run `annotator calibrate --project 'Route'` first")
    db = open_db(routed_db)
    add_gold(db, NEWS, "pr", "w0-s0", 3000, 9100, "ana@x", {"event_type": "battle", "attribution": "asserted"}, [],
             "2024-06-01T10:00")
    db.close()
    result = run("route", "--db", str(routed_db), "-p", "Route", ok=False)
    assert "changed since calibration version 1; run `annotator calibrate --project 'Route'` first" in result.stderr


def test_push_route_decisions_are_recorded_once_and_never_human_gold(routed_db):
    run("route", "--db", str(routed_db), "-p", "Route", ok=True)
    db = open_db(routed_db)
    drafts = eligible_drafts(db, NEWS, None, None)
    outcome = route_new(db, NEWS, "pr", "Route", drafts, {}, 0.5, lambda d: VERSION)
    assert (outcome.version, outcome.threshold, outcome.accepted, outcome.to_people, outcome.human_gold) == (
        1, 1.0, 2, 3, 1)
    assert outcome.order == {"w1-s0": 0.0, "w3-s0": 1.0, "w4-s0": 0.0}
    assert outcome.audited == sum(is_audited(s, 0.5) for s in ("w0-s0", "w2-s0"))
    accepted = list(db.query("SELECT * FROM gold WHERE status = 'accepted' ORDER BY sentence_id"))
    assert [(g["sentence_id"], g["annotator"], g["task_id"], g["annotation_id"]) for g in accepted] == [
        ("w0-s0", f"model:{VERSION}", None, None), ("w2-s0", f"model:{VERSION}", None, None)]
    draft = next(iter(db.query("SELECT data, spans FROM drafts WHERE id = 'dr-w0'")))
    assert (accepted[0]["data"], accepted[0]["spans"]) == (draft["data"], draft["spans"])
    routed = {r["sentence_id"]: (r["accepted"], r["confidence"]) for r in db.query("SELECT * FROM routed")}
    assert routed == {"w0-s0": (1, 1.0), "w1-s0": (0, 0.0), "w2-s0": (1, 1.0), "w3-s0": (0, 1.0), "w4-s0": (0, 0.0)}
    again = route_new(db, NEWS, "pr", "Route", drafts, {}, 0.5, lambda d: VERSION)
    assert (again.accepted, again.to_people) == (0, 3)  # the accepted are decided once
    assert db["gold"].count_where("status = 'accepted'") == 2
    db.close()
    # Accepted rows are no gold of a person: calibrate finds the same gold, eval the same 60 annotations.
    assert run_json("calibrate", "--db", str(routed_db), "-p", "Route")["unchanged"] is True
    assert run_json("eval", "--db", str(routed_db), "-p", "Route")["groups"][0]["annotations"] == 60


def test_plan_push_sends_accepted_only_as_audits_and_the_rest_by_increasing_confidence():
    drafts = [{"id": f"d{i}", "sentence_id": f"s{i}", "position": i, "created_at": "t"} for i in range(6)]
    accepted = {"s1": False, "s4": True}  # s1 accepted, s4 accepted and audited
    order = {"s0": 0.6, "s2": 0.1, "s3": 0.6, "s5": 0.3}
    plan = plan_push(drafts, {}, set(), accepted=accepted, order=order)
    assert plan.new_tasks == [NewTask("s4", (), True), NewTask("s2", ("d2",)), NewTask("s5", ("d5",)),
                              NewTask("s0", ("d0",)), NewTask("s3", ("d3",))]  # ties keep sentence order
    # Without routing, an accepted sentence still never becomes a task; its audit stays blind.
    plain = plan_push(drafts, {}, set(), accepted=accepted)
    assert [t.sentence_id for t in plain.new_tasks] == ["s0", "s2", "s3", "s4", "s5"]
    assert plain.new_tasks[3] == NewTask("s4", (), True)


def test_audit_share_is_a_stable_hash_of_the_sentence():
    ids = [f"sentence-{i}" for i in range(2000)]
    chosen = [s for s in ids if is_audited(s, 0.1)]
    assert 150 < len(chosen) < 250  # about a tenth
    assert chosen == [s for s in ids if is_audited(s, 0.1)] and not any(is_audited(s, 0.0) for s in ids)
    assert set(chosen) <= {s for s in ids if is_audited(s, 0.3)}


def test_audit_needs_route(tmp_path):
    result = run("push", "--db", str(tmp_path / "x.db"), "-p", "Route", "--audit", "0.2", ok=False)
    assert result.exit_code != 0 and result.stderr.startswith("Error: --audit applies only with --route")


def test_two_routes_at_once_store_one_version(routed_db, monkeypatch):
    from annotator.confidence import route as edge
    from annotator.evaluate.load import projects

    def one_run():
        db = open_db(routed_db)
        (project,) = projects(db, "Route")
        try:
            return edge.route(db, NEWS, project, 0.05, 0.1)
        finally:
            db.close()

    # Both runs have seen no routing before either stores one.
    results = both_at_once(monkeypatch, edge, "assess_pool", one_run)
    assert sorted((r.routing.version, r.unchanged) for r in results) == [(1, False), (1, True)]
    assert open_db(routed_db)["routings"].count == 1
