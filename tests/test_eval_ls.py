"""eval, agreement and the blind subset through a real Label Studio, every figure worked out by hand.

Four sentences are drafted by a stub 'model' that knows their entities; annotator A
corrects them with known edits, annotator B answers two of them. Per sentence,
A's edits against the draft (entities, exact matching):

    S0 unchanged                               tp 3, fp 0, fn 0   event right
    S1 "12 soldiers" QUANTITY -> PERSON        tp 2, fp 1, fn 1   event right
    S2 "Police" deleted                        tp 2, fp 1, fn 0   event right
    S3 "Monday" -> "on Monday", protest->riot  tp 2, fp 1, fn 1   event wrong
"""

from __future__ import annotations

import json
import statistics
import uuid

import pytest

from annotator.annotate import annotate
from annotator.ingest import DocInput, ingest
from annotator.labelstudio.api import open_client
from annotator.labelstudio.convert import draft_to_result
from annotator.labelstudio.pull import pull
from annotator.labelstudio.push import is_blind, push
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.support.cli import run, run_json
from tests.support.stub_llm import StubLLM

pytestmark = pytest.mark.labelstudio
SCHEMA = load_schema("news_events")
SENTENCES = ["Rebels attacked Mora on Sunday.", "The army said 12 soldiers died in Mora.",
             "Police arrested 3 protesters in Lagos.", "Protesters marched in Lagos on Monday."]
ENTITIES = {"Rebels": "ARMED_GROUP", "Mora": "LOCATION", "Sunday": "DATETIME", "The army": "ARMED_GROUP",
            "12 soldiers": "QUANTITY", "Police": "ARMED_GROUP", "3 protesters": "QUANTITY", "Lagos": "LOCATION",
            "Protesters": "PERSON", "Monday": "DATETIME"}
EVENTS = ["battle", "battle", "strategic_development", "protest"]
# What A's edits do to each sentence: (tp, fp, fn) of entities, and whether the event stays right.
A_COUNTS = [(3, 0, 0, True), (2, 1, 1, True), (2, 1, 0, True), (2, 1, 1, False)]


def responder(body: dict) -> dict:
    sentence = body["messages"][-1]["content"].split("Sentence:", 1)[1].strip()
    index = SENTENCES.index(sentence)
    entities = [{"text": w, "label": lab} for w, lab in ENTITIES.items() if w in sentence
                and not (w == "Protesters" and index == 2)]  # "3 protesters" is lower case anyway
    source = [{"text": "The army", "label": "SOURCE"}] if index == 1 else []
    return {"entities": entities, "event_type": EVENTS[index], "attribution": "claimed" if source else "asserted",
            "sources": source}


def span(sentence: str, words: str, label: str, field: str = "entities") -> dict:
    start = sentence.index(words)
    return {"field": field, "label": label, "text": words, "start": start, "end": start + len(words)}


def gold_a(index: int, draft: dict) -> tuple[dict, list[dict]]:
    """A's answer for sentence `index`, from its draft (data, spans)."""
    text = SENTENCES[index]
    data, spans = json.loads(draft["data"]), json.loads(draft["spans"])
    if index == 1:
        spans = [s if s["text"] != "12 soldiers" else {**s, "label": "PERSON"} for s in spans]
    if index == 2:
        spans = [s for s in spans if s["text"] != "Police"]
    if index == 3:
        spans = [s for s in spans if s["text"] != "Monday"] + [span(text, "on Monday", "DATETIME")]
        data = {**data, "event_type": "riot"}
    return data, spans


def gold_b(index: int, draft: dict) -> tuple[dict, list[dict]]:
    """B's answer (S0 and S1 only): S0 without "Sunday" and event none; S1 as A."""
    data, spans = json.loads(draft["data"]), json.loads(draft["spans"])
    if index == 0:
        return {**data, "event_type": "none"}, [s for s in spans if s["text"] != "Sunday"]
    return gold_a(index, draft)


def blind_share(ids: list[str]) -> float:
    """A share that leaves some tasks blind and some pre-filled (the choice is a hash of the sentence id)."""
    for fraction in (0.5, 0.25, 0.75, 0.35, 0.65, 0.15, 0.85):
        if 0 < sum(is_blind(i, fraction) for i in ids) < len(ids):
            return fraction
    raise AssertionError("no share splits these sentences")


@pytest.fixture(scope="module")
def scenario(labelstudio, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    db = open_db(tmp / "eval.db")
    ingest(db, [DocInput(text=" ".join(SENTENCES), origin="test")])
    sids = [r["id"] for r in db.query("SELECT id FROM sentences ORDER BY idx")]
    assert [r["text"] for r in db.query("SELECT text FROM sentences ORDER BY idx")] == SENTENCES
    with StubLLM(responder=responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="t", model="stub-eval", max_retries=0)
        assert annotate(db, client, SCHEMA, load_prompt(None, SCHEMA.name)).by_status == {"ok": 4}
    ls = open_client(labelstudio.url, labelstudio.token)
    name = f"eval {uuid.uuid4().hex[:8]}"
    fraction = blind_share(sids)
    report = push(db, ls, SCHEMA, name, url=labelstudio.url, blind=fraction)
    blind = [is_blind(s, fraction) for s in sids]
    assert report.blind_tasks == sum(blind)
    tasks = {r["sentence_id"]: r["task_id"] for r in db.query("SELECT * FROM tasks")}
    predictions = {r["sentence_id"]: r["ls_prediction_id"] for r in db.query(
        "SELECT d.sentence_id, p.ls_prediction_id FROM predictions p JOIN drafts d ON d.id = p.draft_id")}
    drafts = {r["sentence_id"]: r for r in db.query("SELECT * FROM drafts")}
    me = ls.users.whoami()
    other = ls.users.create(username=f"b{uuid.uuid4().hex[:6]}", email=f"b{uuid.uuid4().hex[:6]}@example.org",
                            password=uuid.uuid4().hex)
    for i, sid in enumerate(sids):
        data, spans = gold_a(i, drafts[sid])
        extra = {} if blind[i] else {"parent_prediction": predictions[sid]}
        ls.annotations.create(id=tasks[sid], result=draft_to_result(SCHEMA, SENTENCES[i], data, spans),
                              completed_by=me.id, lead_time=10.0 * (i + 1), **extra)
    for i in (0, 1):
        data, spans = gold_b(i, drafts[sids[i]])
        ls.annotations.create(id=tasks[sids[i]], result=draft_to_result(SCHEMA, SENTENCES[i], data, spans),
                              completed_by=other.id, lead_time=5.0)
    pulled = pull(db, ls, SCHEMA, name, url=labelstudio.url)
    assert pulled.by_status == {"ok": 6}
    return {"db": db, "tmp": tmp, "ls": ls, "name": name, "sids": sids, "blind": blind, "tasks": tasks,
            "a": me.email, "b": other.email, "url": labelstudio.url, "fraction": fraction}


def json_of(scenario, *args: str) -> dict:
    """`annotator ARGS --json` on the scenario's database: the report."""
    return run_json(*args, "--db", str(scenario["tmp"] / "eval.db"))


def test_eval_json_gives_the_hand_worked_figures(scenario) -> None:
    report = json_of(scenario, "eval", "--annotator", scenario["a"])
    (group,) = report["groups"]
    assert (group["model"], group["prompt_version"], group["schema_hash"]) == ("stub-eval", "news_events.v2",
                                                                               SCHEMA.hash)
    assert group["annotations"] == 4
    entities = group["fields"]["entities"]
    assert entities["exact"] == {"tp": 9, "fp": 3, "fn": 2, "precision": 0.75, "recall": 9 / 11,
                                 "f1": pytest.approx(18 / 23)}
    # overlap: "on Monday" shares characters with "Monday" (same label); the relabel does not count
    assert (entities["overlap"]["tp"], entities["overlap"]["fp"], entities["overlap"]["fn"]) == (10, 2, 1)
    assert entities["errors"] == {"wrong_label": 1, "wrong_boundary": 1, "missed": 0, "invented": 1}
    per = {k: (v["tp"], v["fp"], v["fn"]) for k, v in entities["per_label"].items()}
    assert per == {"LOCATION": (4, 0, 0), "ARMED_GROUP": (2, 1, 0), "DATETIME": (1, 1, 1), "QUANTITY": (1, 1, 0),
                   "PERSON": (1, 0, 1)}
    event = group["fields"]["event_type"]
    assert event["kind"] == "choice" and event["n"] == 4 and event["accuracy"] == 0.75
    assert event["confusion"] == {"battle": {"battle": 2}, "strategic_development": {"strategic_development": 1},
                                  "riot": {"protest": 1}}
    assert group["fields"]["attribution"]["accuracy"] == 1.0
    effort = group["effort"]
    # sources: S1's "The army" is kept too
    assert (effort["unchanged_share"], effort["kept"], effort["relabelled"], effort["moved"], effort["deleted"],
            effort["added"]) == (0.25, 10, 1, 1, 1, 0)
    # lead times 10, 20, 30, 40 s by sentence, split by blind
    blind = scenario["blind"]
    assert effort["median_lead_time_prefilled"] == statistics.median(10.0 * (i + 1) for i in range(4) if not blind[i])
    assert effort["median_lead_time_blind"] == statistics.median(10.0 * (i + 1) for i in range(4) if blind[i])


def test_eval_splits_blind_and_prefilled_and_reports_the_gap(scenario) -> None:
    (group,) = json_of(scenario, "eval", "--annotator", scenario["a"])["groups"]
    blind = scenario["blind"]

    def expected(which: bool) -> tuple[int, int, int, float]:
        rows = [A_COUNTS[i] for i in range(4) if blind[i] == which]
        tp, fp, fn = (sum(r[k] for r in rows) for k in range(3))
        return tp, fp, fn, sum(r[3] for r in rows) / len(rows)

    for key, which in (("blind", True), ("prefilled", False)):
        tp, fp, fn, accuracy = expected(which)
        part = group[key]
        assert part["annotations"] == sum(b == which for b in blind)
        e = part["fields"]["entities"]["exact"]
        assert (e["tp"], e["fp"], e["fn"]) == (tp, fp, fn)
        assert part["fields"]["event_type"]["accuracy"] == pytest.approx(accuracy)
    f1 = {k: group[k]["fields"]["entities"]["exact"]["f1"] for k in ("blind", "prefilled")}
    assert group["gap"]["entities"] == pytest.approx(f1["prefilled"] - f1["blind"])


def test_eval_gold_all_counts_every_annotation(scenario) -> None:
    (group,) = json_of(scenario, "eval", "--gold", "all")["groups"]
    assert group["annotations"] == 6


def test_agreement_json_gives_the_hand_worked_figures(scenario) -> None:
    report = json_of(scenario, "agreement")
    assert report["tasks"] == 2 and report["annotators"] == sorted([scenario["a"], scenario["b"]])
    pair = "|".join(sorted([scenario["a"], scenario["b"]]))
    event = report["fields"]["event_type"]
    # S0 battle/none, S1 battle/battle: po 1/2, pe (2*1)/4 -> kappa 0; alpha 1 - 3*2/(2*3*1) = 0
    assert event["kappa"] == {pair: pytest.approx(0.0)} and event["alpha"] == pytest.approx(0.0)
    attribution = report["fields"]["attribution"]
    assert attribution["alpha"] == pytest.approx(1.0) and attribution["kappa"] == {pair: pytest.approx(1.0)}
    # entities: S0 2 shared of 3 and 2, S1 3 of 3 -> tp 5, fp + fn 1 -> 10/11
    assert report["fields"]["entities"]["f1_exact"] == pytest.approx(10 / 11)
    assert report["fields"]["sources"]["f1_exact"] == 1.0
    # S0: entities 1 - 4/5 = 0.2, event 1, attribution 0, sources 0 -> 0.3; S1 agrees fully
    (worst,) = report["disagreements"]
    task = scenario["tasks"][scenario["sids"][0]]
    assert worst["task_id"] == task and worst["disagreement"] == pytest.approx(0.3)
    assert worst["link"].endswith(f"/data?task={task}") and worst["link"].startswith(scenario["url"])


def test_html_report_renders_in_chromium(scenario) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    html = scenario["tmp"] / "report.html"
    run("eval", "--db", str(scenario["tmp"] / "eval.db"), "--annotator", scenario["a"], "--html", str(html), ok=True)
    assert "http" not in html.read_text().replace("http-equiv", "")  # self-contained: nothing to fetch
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 1600})
        page.goto(html.as_uri())
        bars = page.locator(".bar").count()
        cells = page.locator("td.cell").count()
        page.screenshot(path=str(ARTIFACTS / "eval_report.png"), full_page=True)
        browser.close()
    assert bars == 6  # one F1 bar per label: five entity labels, and SOURCE
    # event_type: battle, protest, riot, strategic_development (4 x 4); attribution: asserted, claimed (2 x 2)
    assert cells == 4 * 4 + 2 * 2


def test_blind_tasks_never_get_a_prediction(scenario) -> None:
    """Last: it pushes a second draft version, which the other tests do not expect."""
    db, ls = scenario["db"], scenario["ls"]
    with StubLLM(responder=responder) as stub:  # a new draft version for every sentence
        client = LLMClient(base_url=stub.base_url, api_key="t", model="stub-eval-2", max_retries=0)
        annotate(db, client, SCHEMA, load_prompt(None, SCHEMA.name))
    again = push(db, ls, SCHEMA, scenario["name"], url=scenario["url"])
    blind = scenario["blind"]
    assert again.predictions_created == sum(not b for b in blind) and again.tasks_created == 0
    for i, sid in enumerate(scenario["sids"]):
        task = ls.tasks.get(id=scenario["tasks"][sid])
        assert len(task.predictions or []) == (0 if blind[i] else 2)
