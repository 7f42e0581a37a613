"""`annotator calibrate` and eval's confidence figures on a database built row by row, figures worked out by hand.

Project "Calib" (news_events): task i (1000 + i) holds sentence SENT, its draft and one
gold annotation by ana@x; every fourth task (i % 4 == 3) is blind (no prediction: its
draft is the newest of the project's model version), the others pre-filled.

- event_type: the draft says battle; gold says battle for even i (right), riot for odd
  i (wrong). Stored agreement 0.8 when right, 0.3 when wrong (logprob too: agreement
  comes first).
- attribution: always right; agreement null, logprob log(0.8): the signal is logprob.
- entities: LOCATION "Kyiv" in every draft and gold (agreement 1.0); for i < 6 the
  draft also has ORG "Odesa" (agreement 0.5), which the gold has not.
- sources: SOURCE "officials" in draft and gold for i < 10 only (agreement 1.0).

Rows that must not count: a newer model-accepted row (annotator model:stub) on every
odd task saying battle (it would make event_type always right), a model-only task, and
a skipped newer row on task 0 saying riot.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest

from annotator.store import dumps, open_db
from tests.support.cli import run
from tests.support.gold_db import NEWS, add_document, add_draft, add_gold, add_project, spans_of
from tests.support.together import both_at_once

SENT = "Kyiv was shelled, officials in Odesa said."
KYIV, ODESA, OFFICIALS = (0, 4), (31, 36), (18, 27)
CALIBRATION_KEYS = {"n", "signal", "auroc", "ece_before", "ece_after", "brier_before", "brier_after"}


def signals(i: int, right: bool) -> dict:
    entities = [{"start": 0, "end": 4, "label": "LOCATION", "logprob": -0.1, "agreement": 1.0}]
    if i < 6:
        entities.append({"start": 31, "end": 36, "label": "ORG", "logprob": -0.7, "agreement": 0.5})
    sources = [{"start": 18, "end": 27, "label": "SOURCE", "logprob": -0.2, "agreement": 1.0}] if i < 10 else []
    return {"version": 1, "samples": 4, "grounded": 1.0, "first_attempt_valid": True, "reasks": 0,
            "fields": {"event_type": {"logprob": -0.05, "agreement": 0.8 if right else 0.3},
                       "attribution": {"logprob": math.log(0.8), "agreement": None}},
            "spans": {"entities": entities, "sources": sources}, "relations": {}}


def add_task(db, i: int) -> None:
    doc, sid, task = f"c{i}", f"c{i}-s0", 1000 + i
    add_document(db, doc, SENT, [SENT])
    blind = i % 4 == 3
    db["tasks"].insert({"project_id": "pc", "sentence_id": sid, "task_id": task, "pushed_at": "x",
                        "blind": int(blind)})
    right = i % 2 == 0
    gold_spans = spans_of(SENT, ("entities", "LOCATION", *KYIV), *([("sources", "SOURCE", *OFFICIALS)] if i < 10 else []))
    draft_spans = gold_spans + (spans_of(SENT, ("entities", "ORG", *ODESA)) if i < 6 else [])
    add_draft(db, NEWS, f"dr{i}", sid, {"event_type": "battle", "attribution": "claimed"}, draft_spans, "2024-04-01")
    db["drafts"].update(f"dr{i}", {"signals": dumps(signals(i, right))})
    if not blind:
        db["predictions"].insert({"project_id": "pc", "draft_id": f"dr{i}", "task_id": task,
                                  "model_version": f"m|v1|{NEWS.hash}", "pushed_at": "x", "ls_prediction_id": 5000 + i})
    add_gold(db, NEWS, "pc", sid, task, 7000 + i, "ana@x",
             {"event_type": "battle" if right else "riot", "attribution": "claimed"}, gold_spans,
             "2024-05-01T10:00", parent=None if blind else 5000 + i)
    if not right:  # accepted from the model later: never human gold
        add_gold(db, NEWS, "pc", sid, task, 8000 + i, "model:stub", {"event_type": "battle", "attribution": "claimed"},
                 gold_spans, "2024-05-02T10:00", parent=None if blind else 5000 + i)


@pytest.fixture
def gold_db(tmp_path) -> Path:
    path = tmp_path / "calib.db"
    db = open_db(path)
    add_project(db, NEWS, "pc", "Calib")
    for i in range(40):
        add_task(db, i)
    add_gold(db, NEWS, "pc", "c0-s0", 1000, 9000, "ben@x", {"event_type": "riot", "attribution": "claimed"}, [],
             "2024-06-01T10:00", status="skipped")
    add_document(db, "m", SENT, [SENT])  # a task only the model answered
    db["tasks"].insert({"project_id": "pc", "sentence_id": "m-s0", "task_id": 1999, "pushed_at": "x"})
    add_draft(db, NEWS, "drm", "m-s0", {"event_type": "riot", "attribution": "claimed"}, [], "2024-04-01")
    add_gold(db, NEWS, "pc", "m-s0", 1999, 9999, "model:stub", {"event_type": "battle", "attribution": "claimed"}, [],
             "2024-05-02T10:00")
    db.close()
    return path


def calibrate_json(db: Path) -> dict:
    result = run("calibrate", "--db", str(db), "--project", "Calib", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def check_hand_figures(fields: dict, labels: dict, draft: dict | None) -> None:
    """The figures of the module docstring's gold (40 human annotations), worked out by hand."""
    event = fields["event_type"]
    # 20 wrong at 0.3 then 20 right at 0.8, bins of 4: ECE 0.5 * 0.3 + 0.5 * 0.2; Brier (20 * .09 + 20 * .04) / 40.
    # Every training fold holds both: the map sends 0.3 to 0 and 0.8 to 1, exactly right out of sample.
    assert {k: event[k] for k in CALIBRATION_KEYS} == {
        "n": 40, "signal": "agreement", "auroc": 1.0, "ece_before": pytest.approx(0.25), "ece_after": 0.0,
        "brier_before": pytest.approx(0.065), "brier_after": 0.0}
    attribution = fields["attribution"]  # all right at exp(log 0.8): ECE 0.2, Brier 0.04; calibrated to 1
    assert {k: attribution[k] for k in CALIBRATION_KEYS} == {
        "n": 40, "signal": "logprob", "auroc": None, "ece_before": pytest.approx(0.2), "ece_after": 0.0,
        "brier_before": pytest.approx(0.04), "brier_after": 0.0}
    entities = fields["entities"]
    # 46 spans: 6 ORG at 0.5 (wrong) then 40 LOCATION at 1.0 (right); bins 5,5,5,5,5,5,4,4,4,4:
    # bin 1 five ORG |0.5 - 0|, bin 2 one ORG + four LOCATION |0.9 - 0.8|: ECE (5 * .5 + 5 * .1) / 46; Brier 6 * .25 / 46
    assert {k: entities[k] for k in CALIBRATION_KEYS} == {
        "n": 46, "signal": "agreement", "auroc": 1.0, "ece_before": pytest.approx(3 / 46), "ece_after": 0.0,
        "brier_before": pytest.approx(1.5 / 46), "brier_after": 0.0}
    sources = fields["sources"]  # ten spans, all right at 1.0: too few to calibrate
    assert {k: sources[k] for k in CALIBRATION_KEYS} == {
        "n": 10, "signal": "agreement", "auroc": None, "ece_before": 0.0, "ece_after": 0.0, "brier_before": 0.0,
        "brier_after": 0.0}
    org = labels["entities"]["ORG"]  # six, all wrong at 0.5
    assert (org["n"], org["ece_before"], org["ece_after"], org["brier_after"]) == (6, pytest.approx(0.5),
                                                                                    pytest.approx(0.5), 0.25)
    assert labels["entities"]["LOCATION"]["n"] == 40 and labels["sources"]["SOURCE"]["n"] == 10
    if draft is not None:
        # A draft is right when event_type is and it has no ORG span; its product of the fields' out-of-sample
        # probabilities is 1 exactly then and 0 otherwise (attribution and LOCATION calibrate to 1, ORG to 0).
        assert draft["auroc"] == 1.0 and draft["ece_after"] == 0.0


def test_calibrate_stores_a_version_fitted_on_human_gold_only(gold_db) -> None:
    first = calibrate_json(gold_db)
    assert (first["version"], first["unchanged"], first["gold"]) == (1, False, 40)  # no model row, no skipped one
    check_hand_figures(first["fields"], first["labels"], first["draft"])
    assert first["fields"]["event_type"]["calibrated"] and not first["fields"]["sources"]["calibrated"]
    assert first["raw_signal"] == ["sources", "entities ORG", "sources SOURCE"]
    db = open_db(gold_db)
    (row,) = db.query("SELECT * FROM calibrations")
    assert (row["project_id"], row["version"], row["gold"], row["gold_hash"]) == ("pc", 1, 40, first["gold_hash"])
    maps = json.loads(row["maps"])
    # fitted on all 40: 0.3 -> 0 (all wrong), 0.8 -> 1 (all right)
    assert maps["fields"]["event_type"] == {"signal": "agreement", "n": 40, "map": {
        "signal": "agreement", "xs": [0.3, 0.8], "ys": [0.0, 1.0], "n": 40}}
    assert maps["fields"]["sources"] == {"signal": "agreement", "n": 10, "map": None}
    assert maps["labels"]["entities"]["ORG"]["map"] is None and maps["labels"]["entities"]["LOCATION"]["map"]
    assert json.loads(row["figures"])["fields"]["event_type"]["ece_after"] == 0.0


def test_calibrate_again_is_unchanged_and_more_gold_makes_the_next_version(gold_db) -> None:
    first = calibrate_json(gold_db)
    again = run("calibrate", "--db", str(gold_db), "--project", "Calib")
    assert again.exit_code == 0, again.output
    assert "unchanged: version 1" in again.stdout
    assert open_db(gold_db).execute("SELECT count(*) FROM calibrations").fetchone()[0] == 1
    db = open_db(gold_db)
    for i in (40, 41):
        add_task(db, i)
    db.close()
    second = calibrate_json(gold_db)
    assert (second["version"], second["unchanged"], second["gold"]) == (2, False, 42)
    assert second["gold_hash"] != first["gold_hash"] and second["fields"]["event_type"]["n"] == 42
    rows = open_db(gold_db).query("SELECT version, gold FROM calibrations ORDER BY version")
    assert [(r["version"], r["gold"]) for r in rows] == [(1, 40), (2, 42)]
    # an annotation edited in Label Studio (a newer updated-at) is other gold as well
    open_db(gold_db).execute("UPDATE gold SET updated_at = '2024-07-01T00:00' WHERE annotation_id = 7000").connection.commit()
    assert calibrate_json(gold_db)["version"] == 3


def test_calibrate_takes_ground_truth_then_a_majority_and_counts_the_rules(gold_db) -> None:
    assert calibrate_json(gold_db)["gold_rules"] == {"latest": 40}  # one person per task: the newest
    db = open_db(gold_db)
    spans = spans_of(SENT, ("entities", "LOCATION", *KYIV), ("sources", "SOURCE", *OFFICIALS))
    # Task 1001 (ana: riot, wrong): ben and cy say battle later, so 2 of 3 make battle the gold (right now).
    for annotation, who in ((9101, "ben@x"), (9102, "cy@x")):
        add_gold(db, NEWS, "pc", "c1-s0", 1001, annotation, who,
                 {"event_type": "battle", "attribution": "claimed"}, spans, "2024-05-03T10:00", parent=5001)
    # Task 1005 (ana: riot): ben's older battle marked ground truth outranks ana's newer riot.
    add_gold(db, NEWS, "pc", "c5-s0", 1005, 9105, "ben@x", {"event_type": "battle", "attribution": "claimed"},
             spans, "2024-04-30T10:00", ground_truth=1, parent=5005)
    db.close()
    second = calibrate_json(gold_db)
    assert second["version"] == 2 and second["gold_rules"] == {"latest": 38, "majority": 1, "ground-truth": 1}
    # Still one gold a task (40), but two of the 20 wrong event types are right now: agreement 0.3 is right
    # 2 times in 20, so its Brier before is (18 * .09 + 2 * .49 + 20 * .04) / 40.
    assert second["gold"] == 40
    assert second["fields"]["event_type"]["brier_before"] == pytest.approx((18 * .09 + 2 * .49 + 20 * .04) / 40)
    text = run("calibrate", "--db", str(gold_db), "--project", "Calib")
    assert "unchanged" in text.stdout and "Gold decided by ground truth 1, majority 1, latest 38" in text.stdout


def test_calibrate_table_names_the_fields_that_keep_the_raw_signal(gold_db) -> None:
    result = run("calibrate", "--db", str(gold_db), "--project", "Calib")
    assert result.exit_code == 0, result.output
    assert "Stored calibration version 1 of project 'Calib', fitted on 40 annotations" in result.stdout
    rows = {cells[0]: cells for cells in printed_rows(result.stdout)}
    assert rows["event_type"] == ["event_type", "40", "agreement", "1.000", "0.250→0.000", "0.065→0.000", "fitted"]
    assert rows["sources"][-1] == "raw" and rows["· ORG"] == ["· ORG", "6", "agreement", "–", "0.500→0.500",
                                                              "0.250→0.250", "raw"]
    assert rows["(whole draft)"] == ["(whole draft)", "40", "product", "1.000", "0.000→0.000", "0.000→0.000",
                                     "fitted"]
    message = " ".join(result.stderr.split())
    assert ("Too little gold to calibrate (fewer than 30 items, or 5 tasks), keeping the raw signal: sources, "
            "entities ORG, sources SOURCE") in message


def printed_rows(text: str) -> list[list[str]]:
    """The cells of each row of a borderless table (cells apart by two spaces or more)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def test_calibrate_one_line_errors(gold_db, tmp_path, monkeypatch) -> None:
    result = run("calibrate", "--db", str(gold_db), "--project", "Nope")
    assert result.exit_code == 2 and result.stderr.startswith("Error: no project 'Nope'")
    empty = tmp_path / "empty.db"
    db = open_db(empty)
    add_project(db, NEWS, "pe", "Empty")
    db.close()
    result = run("calibrate", "--db", str(empty), "--project", "Empty")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "has no gold made by a person" in result.stderr and "annotator pull" in result.stderr
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.isotonic", None)
    result = run("calibrate", "--db", str(gold_db), "--project", "Calib")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: calibrate needs sklearn, which is not installed; pip install " \
                                    "'annotator[calibrate]'"


def test_two_calibrations_at_once_store_one_version(gold_db, monkeypatch) -> None:
    from annotator.confidence import calibrate as edge
    from annotator.evaluate.load import projects
    from annotator.labelstudio.projects import project_schema

    def one_run():
        db = open_db(gold_db)
        (project,) = projects(db, "Calib")
        try:
            return edge.calibrate(db, project_schema(db, "Calib", None, None), project)
        finally:
            db.close()

    # Both runs have seen no version before either stores one.
    results = both_at_once(monkeypatch, edge, "assess_pool", one_run)
    assert sorted((r.version, r.unchanged) for r in results) == [(1, False), (1, True)]
    assert open_db(gold_db).execute("SELECT count(*) FROM calibrations").fetchone()[0] == 1


def test_eval_without_scikit_learn_gives_what_needs_none_and_says_so(gold_db, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    result = run("eval", "--db", str(gold_db), "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == ("Confidence: AUROC and the figures after calibration need scikit-learn; "
                                     "pip install 'annotator[calibrate]'")
    (group,) = json.loads(result.stdout)["groups"]
    event = group["fields"]["event_type"]["calibration"]
    assert event == {"n": 40, "signal": "agreement", "auroc": None, "ece_before": pytest.approx(0.25),
                     "ece_after": None, "brier_before": pytest.approx(0.065), "brier_after": None}
    assert group["draft_right"] == {"auroc": None, "ece_after": None}


def test_eval_json_adds_exactly_the_calibration_figures(gold_db) -> None:
    result = run("eval", "--db", str(gold_db), "--json")
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.stdout)["groups"]
    assert group["annotations"] == 40  # the model's rows are not human gold
    for field in group["fields"].values():
        c = field["calibration"]
        assert set(c) == CALIBRATION_KEYS and isinstance(c["n"], int) and isinstance(c["signal"], str)
        for key in CALIBRATION_KEYS - {"n", "signal"}:
            assert c[key] is None or isinstance(c[key], float), (key, c[key])
    assert set(group["draft_right"]) == {"auroc", "ece_after"}
    assert all(isinstance(v, float) for v in group["draft_right"].values())
    check_hand_figures({k: f["calibration"] for k, f in group["fields"].items()}, group["calibration_per_label"],
                       group["draft_right"])
    text = run("eval", "--db", str(gold_db)).stdout
    rows = {cells[0]: cells for cells in printed_rows(text)}
    assert rows["event_type"] == ["event_type", "40", "agreement", "1.000", "0.250→0.000", "0.065→0.000"]
    assert rows["· LOCATION"] == ["· LOCATION", "40", "agreement", "–", "0.000→0.000", "0.000→0.000"]
    assert rows["(whole draft)"] == ["(whole draft)", "40", "product", "1.000", "–→0.000"]


def points(svg: str, series: str) -> list[tuple[float, float, int]]:
    """(x, y, items) of each point of one series of a reliability chart."""
    return [(float(x), float(y), int(n)) for x, y, n in re.findall(
        rf'<circle class="bin {series}" cx="([\d.]+)" cy="([\d.]+)"[^>]*><title>{series}: (\d+) items', svg)]


def test_eval_html_draws_one_reliability_chart_per_field(gold_db, tmp_path) -> None:
    html = tmp_path / "report.html"
    result = run("eval", "--db", str(gold_db), "--html", str(html))
    assert result.exit_code == 0, result.output
    page = html.read_text(encoding="utf-8")
    charts = re.findall(r'<svg class="reliability".*?</svg>', page, flags=re.S)
    assert len(charts) == 4  # entities, event_type, attribution, sources
    by_field = {re.search(r'aria-label="Reliability of (\w+)', c).group(1): c for c in charts}
    assert set(by_field) == {"entities", "event_type", "attribution", "sources"}
    event = by_field["event_type"]
    # 40 items in 10 bins of 4: before, five bins at (0.3, 0) and five at (0.8, 1), one point of 20 each;
    # after, at (0, 0) and (1, 1). x runs from 68 (0) to 276 (1), y from 270 (0) up to 62 (1).
    assert points(event, "before") == [(130.4, 270.0, 20), (234.4, 62.0, 20)]
    assert points(event, "after") == [(68.0, 270.0, 20), (276.0, 62.0, 20)]
    assert '<line class="diagonal" x1="68.0" y1="270.0" x2="276.0" y2="62.0"' in event
    # sources is not calibrated: its raw bins only (10 items, all at (1, 1))
    assert points(by_field["sources"], "before") == [(276.0, 62.0, 10)] and not points(by_field["sources"], "after")
    assert "not calibrated" in by_field["sources"]
    assert "http" not in page.replace("http-equiv", "")
    assert '<table class="confidence">' in page


@pytest.mark.browser
def test_eval_html_reliability_charts_render_in_chromium(gold_db, tmp_path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)")
    html = tmp_path / "report.html"
    assert run("eval", "--db", str(gold_db), "--html", str(html)).exit_code == 0
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 1600})
        page.goto(html.as_uri())
        charts = page.locator("svg.reliability")
        boxes = [charts.nth(i).bounding_box() for i in range(charts.count())]
        # the event_type chart's points: before at (0.3, 0) and (0.8, 1), after at (0, 0) and (1, 1)
        event = charts.nth(1)
        drawn = event.locator("circle.bin").evaluate_all(
            "cs => cs.map(c => { const b = c.getBoundingClientRect(); return [b.width > 0, c.getAttribute('class')]; })")
        page.screenshot(path=str(ARTIFACTS / "eval_reliability.png"), full_page=True)
        browser.close()
    assert len(boxes) == 4 and all(b is not None and b["width"] == 310 and b["height"] == 332 for b in boxes)
    assert drawn == [[True, "bin before"], [True, "bin before"], [True, "bin after"], [True, "bin after"]]
