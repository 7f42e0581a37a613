"""The annotator's page in a real browser: Playwright drives Debian's Chromium (headless).

An LLM draft (from the real `annotate` pipeline against the stub LLM server) is
pushed to the Label Studio started by the tests; the test logs in as its user,
opens the task, checks from what the page shows that the draft is pre-filled,
keeps a screenshot of it (tests/artifacts/prefilled_task.png), corrects one span's
label, submits, and `annotator pull` brings back exactly that gold. A second test
checks that spans after an emoji are drawn on their own words and that a span the
annotator drags over comes back with the right (code point) offsets.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from annotator.annotate import annotate
from annotator.ingest import DocInput, ingest
from annotator.labelstudio.api import open_client
from annotator.labelstudio.pull import pull
from annotator.labelstudio.push import push
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.support.labelstudio import drafted_db, drafts_by_sentence, gold_by_sentence, project_name
from tests.support.responders import target_sentence
from tests.support.stub_llm import StubLLM

pytestmark = [pytest.mark.browser, pytest.mark.labelstudio]

SCHEMA = load_schema("news_events")

SENTENCE = "Rebels attacked Mora on Sunday, officials said."
# The 'model' gets one thing wrong: Mora, a town, is drafted as a PERSON; the annotator fixes it.
DRAFTS = {
    SENTENCE: {
        "entities": [{"text": "Rebels", "label": "ARMED_GROUP"}, {"text": "Mora", "label": "PERSON"},
                     {"text": "Sunday", "label": "DATETIME"}],
        "event_type": "battle",
        "attribution": "claimed",
        "sources": [{"text": "officials", "label": "SOURCE"}],
    },
}
WRONG, FIXED = ("Mora", "PERSON"), ("Mora", "LOCATION")


def shown(field: str, label: str) -> str:
    """The name the page shows for a stored label (Label Studio stores the schema's value)."""
    return SCHEMA.field(field).display(label)


def responder(body: dict) -> dict:
    """A deterministic 'model': a fixed answer per sentence (an unknown sentence is a stub 500)."""
    return DRAFTS[target_sentence(body)]


def highlights(page: Page) -> list[tuple[str, str, int, int]]:
    """(text, label, start, end) of every span drawn over the sentence, in reading order."""
    # data-label is "<region index>:<label>", data-start/data-end the region's offsets.
    return [(h.text_content() or "", (h.get_attribute("data-label") or "").split(":", 1)[-1],
             int(h.get_attribute("data-start") or -1), int(h.get_attribute("data-end") or -1))
            for h in page.locator(".lsf-richtext .htx-highlight").all()]


def regions(page: Page) -> list[tuple[str, str]]:
    """(text, label) of every entry in the Regions list of the side panel."""
    return [(item.locator(".lsf-outliner-item__text").inner_text().strip(),
             item.locator(".lsf-labels-list").first.inner_text().strip())
            for item in page.locator(".lsf-outliner-item").all()]


def test_annotator_corrects_a_prefilled_draft_in_chromium_and_pull_gets_it(labelstudio, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)")
    if not (labelstudio.email and labelstudio.password):
        pytest.fail("the browser logs in as the server's user: set LABEL_STUDIO_EMAIL and "
                    "LABEL_STUDIO_PASSWORD along with LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY")
    url = labelstudio.url

    # A one-sentence document, drafted by the real pipeline against the stub LLM, pushed to a new project.
    db_file = tmp_path / "annotator.db"
    db = open_db(db_file)
    ingest(db, [DocInput(text=SENTENCE, origin="test:browser")])
    with StubLLM(responder=responder) as stub:
        report = annotate(db, LLMClient(base_url=stub.base_url, api_key="x", model="stub", max_retries=0),
                          SCHEMA, load_prompt(None, SCHEMA.name))
    assert report.by_status == {"ok": 1}
    (draft,) = db.query("SELECT * FROM drafts")
    draft_data, draft_spans = json.loads(draft["data"]), json.loads(draft["spans"])
    assert draft_data == DRAFTS[SENTENCE]
    ls = open_client(url, labelstudio.token)
    name = f"browser {uuid.uuid4().hex[:10]}"
    pushed = push(db, ls, SCHEMA, name, url=url)
    pid = pushed.ls_project_id
    (task_id,) = [r["task_id"] for r in db.query("SELECT task_id FROM tasks WHERE project_id = ?",
                                                 [pushed.project_id])]

    drawn_expected = [(s["text"], shown(s["field"], s["label"]), s["start"], s["end"])
                      for s in sorted(draft_spans, key=lambda s: s["start"])]
    wrong, fixed = (WRONG[0], shown("entities", WRONG[1])), (FIXED[0], shown("entities", FIXED[1]))
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        try:
            page.goto(f"{url}/user/login/")
            page.fill("input[name=email]", labelstudio.email)
            page.fill("input[name=password]", labelstudio.password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda u: "/user/login" not in u)
            page.goto(f"{url}/projects/{pid}/data?task={task_id}")

            # Pre-filled: every drafted span is drawn on its words with its label, and listed under Regions.
            spans_drawn = page.locator(".lsf-richtext .htx-highlight")
            expect(spans_drawn).to_have_count(len(draft_spans), timeout=60_000)
            expect(page.locator(".lsf-outliner-item")).to_have_count(len(draft_spans))
            assert highlights(page) == drawn_expected
            assert sorted(regions(page)) == sorted((s["text"], shown(s["field"], s["label"])) for s in draft_spans)
            # ... and the drafted choices are the ones ticked (radio buttons: one answer), nothing else.
            expect(page.get_by_role("radio", name="Battle")).to_be_checked()
            expect(page.get_by_role("radio", name="Claimed")).to_be_checked()
            ticked = page.locator(".lsf-choices input:checked")
            assert sorted(ticked.evaluate_all("els => els.map(e => e.type + ':' + e.name)")) == [
                "radio:Battle", "radio:Claimed"]
            page.screenshot(path=str(ARTIFACTS / "prefilled_task.png"))

            # The annotator selects the wrong region in the Regions list and clicks the right label.
            page.locator(".lsf-outliner-item").filter(has_text=WRONG[0]).click()
            entity_labels = page.locator(".lsf-labels").first
            entity_labels.locator(".lsf-label").filter(
                has=page.locator(".lsf-label__text", has_text=re.compile(rf"^{fixed[1]}$"))).click()
            changed = [(t, fixed[1] if (t, lab) == wrong else lab, s, e) for t, lab, s, e in drawn_expected]
            expect(page.locator(".lsf-richtext .htx-highlight", has_text=WRONG[0])).to_have_attribute(
                "data-label", re.compile(rf":{fixed[1]}$"))
            assert highlights(page) == changed
            assert fixed in regions(page) and wrong not in regions(page)

            page.get_by_role("button", name="Submit").click()
            deadline = time.monotonic() + 30
            submitted = []
            while not submitted and time.monotonic() < deadline:
                submitted = [a for a in ls.annotations.list(id=task_id) if a.result]
                if not submitted:
                    time.sleep(0.5)
            assert len(submitted) == 1, "the submitted annotation never reached the server"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser_failure.png"))
            raise
        finally:
            browser.close()

    # `annotator pull` (the CLI) brings back exactly the draft with the one corrected label.
    env = {**os.environ, "LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": labelstudio.token}
    proc = subprocess.run([sys.executable, "-m", "annotator.cli", "pull", "--project", name, "--db", str(db_file)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "1 new" in proc.stdout, proc.stdout
    (gold,) = db.query("SELECT * FROM gold WHERE task_id = ?", [task_id])
    assert gold["status"] == "ok", gold["errors"]
    assert gold["annotation_id"] == submitted[0].id and gold["sentence_id"] == draft["sentence_id"]
    assert gold["annotator"] == labelstudio.email
    expected_data = json.loads(draft["data"])
    expected_data["entities"] = [
        {"text": e["text"], "label": FIXED[1] if (e["text"], e["label"]) == WRONG else e["label"]}
        for e in expected_data["entities"]]
    assert json.loads(gold["data"]) == expected_data
    expected_spans = [{**s, "label": FIXED[1]} if (s["text"], s["label"]) == WRONG else s for s in draft_spans]
    assert json.loads(gold["spans"]) == expected_spans


def test_browser_draws_predictions_on_their_words_and_saves_selections(labelstudio, tmp_path):
    """In Chromium: the headline and context show, every predicted span is drawn on its own words
    after an emoji, and a span the annotator drags over comes back with the right offsets."""
    if not Path(CHROMIUM).exists() or not labelstudio.password:
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} and the Label Studio password")
    db, ls = drafted_db(tmp_path / "annotator.db"), open_client(labelstudio.url, labelstudio.token)
    name = project_name()
    report = push(db, ls, SCHEMA, name, url=labelstudio.url)
    flag = next(s for s in db.query("SELECT * FROM sentences") if s["text"].startswith("🇺🇦"))
    task_id = next(db.query("SELECT task_id FROM tasks WHERE sentence_id = ?", [flag["id"]]))["task_id"]
    predicted = {s["text"] for s in json.loads(drafts_by_sentence(db)[flag["id"]]["spans"])}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{labelstudio.url}/user/login/")
            page.fill("input[name=email]", labelstudio.email)
            page.fill("input[name=password]", labelstudio.password)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{labelstudio.url}/projects/{report.ls_project_id}/data?task={task_id}")
            page.locator(".lsf-richtext [class*=htx-highlight]").first.wait_for(timeout=60_000)
            body = page.inner_text("body")
            assert "Drones strike Kharkiv" in body  # the headline, read-only in the context block
            drawn: set[str] = set()
            deadline = time.monotonic() + 30
            while drawn != predicted and time.monotonic() < deadline:  # regions are drawn one by one
                time.sleep(0.2)
                drawn = set(page.evaluate(
                    "() => Array.from(document.querySelectorAll('.lsf-richtext [class*=htx-highlight]'))"
                    ".map(e => e.textContent)"))
            assert drawn == predicted
            # The annotator adds PERSON over "said" (after the flag) and submits.
            page.get_by_text(shown("entities", "PERSON"), exact=True).first.click()
            box = page.evaluate("""() => {
                for (const line of document.querySelectorAll('.lsf-richtext__line')) {
                  const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
                  let n; while ((n = walker.nextNode())) {
                    const i = n.data.indexOf(' said ');
                    if (i >= 0) { const r = document.createRange(); r.setStart(n, i + 1); r.setEnd(n, i + 5);
                      const b = r.getBoundingClientRect(); return {x: b.x, y: b.y, w: b.width, h: b.height}; } } }
                return null; }""")
            assert box is not None, "the sentence is not on the page"
            page.mouse.move(box["x"] + 1, box["y"] + box["h"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["w"] - 1, box["y"] + box["h"] / 2, steps=5)
            page.mouse.up()
            page.locator(".lsf-richtext [class*=htx-highlight]", has_text="said").first.wait_for(timeout=30_000)
            page.get_by_role("button", name="Submit").click()
            deadline = time.monotonic() + 30
            while not ls.tasks.get(id=task_id).annotations and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            browser.close()
    pull(db, ls, SCHEMA, name, url=labelstudio.url)
    (row,) = gold_by_sentence(db, flag["id"])
    assert row["status"] == "ok", row["errors"]
    spans = json.loads(row["spans"])
    said = flag["text"].index(" said ") + 1
    assert {"field": "entities", "label": "PERSON", "text": "said", "start": said, "end": said + 4} in spans
    assert [s for s in spans if s["text"] != "said"] == json.loads(drafts_by_sentence(db)[flag["id"]]["spans"])
