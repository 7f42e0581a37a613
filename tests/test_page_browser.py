"""The annotator's page in Chromium (Playwright, Debian's /usr/bin/chromium): what annotators and leads see.

Drafts come from the real `annotate` pipeline against the stub LLM (`test_ls_roundtrip`'s
documents), pushed to the Label Studio the tests start. Checked from what the page
shows: the sentence is the first and largest text, instructions are shown, pre-filled
highlights carry their label names, single answers are radio buttons, a label key then
a drag after an emoji makes a region at the right code-point offsets, and the data
manager view lists tasks from the weakest draft. Screenshots land in tests/artifacts/.
Without a browser: an existing project gets a new config only when its annotations
stay valid, and push says so.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from label_studio_sdk.core.api_error import ApiError
from playwright.sync_api import Page, expect

from annotator.labelstudio.api import open_client
from annotator.labelstudio.config import label_config
from annotator.labelstudio.page import VIEW_TITLE
from annotator.labelstudio.pull import pull
from annotator.labelstudio.push import push
from tests.support.browser import ARTIFACTS, CHROMIUM, logged_in_page
from tests.support.drafting import SCHEMA
from tests.support.labelstudio import drafted_db, gold_by_sentence, project_name

pytestmark = pytest.mark.labelstudio


# Worked out by hand from the responder of tests/support/labelstudio.py: every known mention and the source are found, one
# invented span is dropped, every answer validates at once: score = found / (found + 1).
SCORES = {
    "Drones strike Kharkiv": 1 / 2,  # Kharkiv
    "🇺🇦 Ukrainian forces said": 5 / 6,  # Ukrainian forces, Russian drones, Kharkiv, overnight + source
    "Officials in Kharkiv said": 5 / 6,  # Officials, Kharkiv twice, two people + source
    "The Russian defence ministry": 2 / 3,  # The Russian defence ministry + source
    "Police in Lagos arrested": 4 / 5,  # Police, Lagos, 12 protesters, Monday
    "Witnesses said the police": 4 / 5,  # Witnesses, police, tear gas + source
}


@pytest.fixture(scope="module")
def pushed(labelstudio, tmp_path_factory):
    """(db, ls, push report) of a new project holding the drafted documents of tests/support/labelstudio.py."""
    if not Path(CHROMIUM).exists() or not labelstudio.password:
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} and the Label Studio password")
    db = drafted_db(tmp_path_factory.mktemp("page") / "annotator.db")
    ls = open_client(labelstudio.url, labelstudio.token)
    return db, ls, push(db, ls, SCHEMA, project_name(), url=labelstudio.url)


@pytest.fixture
def page(labelstudio):
    """A logged-in Chromium page (1400 x 1000)."""
    with logged_in_page(labelstudio) as page:
        yield page


def task_of(db, prefix: str) -> tuple[dict, int]:
    """(sentence row, task id) of the sentence starting with `prefix`."""
    sentence = next(s for s in db.query("SELECT * FROM sentences") if s["text"].startswith(prefix))
    return sentence, next(db.query("SELECT task_id FROM tasks WHERE sentence_id = ?", [sentence["id"]]))["task_id"]


def open_task(page: Page, url: str, pid: int, task_id: int, regions: int) -> None:
    """Open a task and wait until its `regions` pre-filled highlights are drawn."""
    page.goto(f"{url}/projects/{pid}/data?task={task_id}")
    expect(page.locator(".lsf-richtext .htx-highlight[data-label]")).to_have_count(regions, timeout=60_000)


FIRST_TEXT = """() => {
  // The first non-blank text in the labeling area, in reading order, and the richtext block holding it.
  const area = document.querySelector('.lsf-main-view') || document.body;
  const walker = document.createTreeWalker(area, NodeFilter.SHOW_TEXT);
  let n; while ((n = walker.nextNode())) {
    if (!n.data.trim() || n.parentElement.closest('style')) continue;
    const block = n.parentElement.closest('.lsf-richtext');
    return {text: n.data, block: block ? block.innerText : null};
  }
  return null; }"""

FONT_SIZES = """() => {
  // Font size of the sentence, and the largest of every other visible text in the labeling area.
  const area = document.querySelector('.lsf-main-view') || document.body;
  const sentence = area.querySelector('.lsf-richtext__container');
  const size = e => parseFloat(getComputedStyle(e).fontSize);
  let other = 0;
  for (const e of area.querySelectorAll('*')) {
    if (sentence.contains(e) || e.closest('.lsf-richtext') === sentence.closest('.lsf-richtext')) continue;
    const own = Array.from(e.childNodes).some(c => c.nodeType === 3 && c.data.trim());
    if (own && e.offsetParent !== null) other = Math.max(other, size(e));
  }
  return {sentence: size(sentence), other}; }"""


@pytest.mark.browser
def test_prefilled_task_reads_sentence_first_with_named_highlights_and_radio_buttons(labelstudio, pushed, page):
    db, _, report = pushed
    sentence, task_id = task_of(db, "🇺🇦")
    open_task(page, labelstudio.url, report.ls_project_id, task_id, regions=5)
    first = page.evaluate(FIRST_TEXT)
    assert first["block"] == sentence["text"]  # the sentence is the first text on the page (the flag first)
    sizes = page.evaluate(FONT_SIZES)
    assert sizes["sentence"] >= 24 and sizes["sentence"] > sizes["other"], sizes
    # Every pre-filled highlight shows its label's name next to it.
    labels = page.locator(".lsf-richtext .htx-highlight[data-label]").evaluate_all(
        "els => els.map(e => [e.textContent, e.dataset.label.split(':').slice(1).join(':'),"
        " getComputedStyle(e, '::after').content, e.classList.contains('htx-no-label')])")
    assert sorted((t, lab) for t, lab, _, _ in labels) == [
        ("Kharkiv", "Location"), ("Russian drones", "Weapon"), ("Ukrainian forces", "Armed group"),
        ("Ukrainian forces", "Source"), ("overnight", "Datetime")]
    assert all(after.strip('"').endswith(lab) and not hidden for _, lab, after, hidden in labels), labels
    # One answer: radio buttons with readable names, the draft's answer chosen; no checkbox at all.
    expect(page.locator(".lsf-choices input[type=radio]")).to_have_count(7 + 3)
    expect(page.locator(".lsf-choices input[type=checkbox]")).to_have_count(0)
    expect(page.get_by_role("radio", name="Explosion remote violence")).to_be_checked()
    expect(page.get_by_role("radio", name="Claimed")).to_be_checked()
    assert "explosion_remote_violence" not in page.locator(".lsf-main-view").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page_prefilled_task.png"))
    # A headline task says so.
    headline, headline_task = task_of(db, "Drones strike")
    open_task(page, labelstudio.url, report.ls_project_id, headline_task, regions=1)
    expect(page.get_by_text("The article's headline", exact=True)).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "page_headline_task.png"))


@pytest.mark.browser
def test_instructions_are_shown_before_labelling(labelstudio, pushed, page):
    _, _, report = pushed
    # Label All Tasks: the stream opens with the instructions.
    page.goto(f"{labelstudio.url}/projects/{report.ls_project_id}/data?labeling=1")
    dialog = page.locator(".lsf-modal-ls__content").filter(has_text="How to label")
    expect(dialog).to_be_visible(timeout=60_000)
    text = dialog.inner_text()
    assert "press the label's key (or click the label), then drag over the words" in " ".join(text.split())
    for words in ("Armed group", "A military force, militia", "Explosion remote violence", "Ctrl+Enter"):
        assert words in text, words
    page.screenshot(path=str(ARTIFACTS / "page_instructions.png"))


@pytest.mark.browser
def test_label_key_then_drag_after_an_emoji_saves_code_point_offsets(labelstudio, pushed, page):
    db, ls, report = pushed
    sentence, task_id = task_of(db, "Witnesses said")
    open_task(page, labelstudio.url, report.ls_project_id, task_id, regions=4)
    page.keyboard.press("1")  # Person: the first entity label's key (config.hotkeys), no text selected yet
    box = page.evaluate("""() => {
        const line = document.querySelector('.lsf-richtext__line');
        const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        let n; while ((n = walker.nextNode())) {
          const i = n.data.indexOf('crowd');
          if (i >= 0) { const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 5);
            const b = r.getBoundingClientRect(); return {x: b.x, y: b.y, w: b.width, h: b.height}; } }
        return null; }""")
    assert box is not None, "the sentence is not on the page"
    page.mouse.move(box["x"] + 1, box["y"] + box["h"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["w"] - 1, box["y"] + box["h"] / 2, steps=5)
    page.mouse.up()
    crowd = sentence["text"].index("crowd")  # in code points: the mask emoji counts one
    drawn = page.locator(".lsf-richtext .htx-highlight[data-label]", has_text="crowd")
    expect(drawn).to_have_attribute("data-label", "5:Person")
    assert (drawn.get_attribute("data-start"), drawn.get_attribute("data-end")) == (str(crowd), str(crowd + 5))
    page.get_by_role("button", name="Submit").click()
    deadline = time.monotonic() + 30
    while not ls.tasks.get(id=task_id).annotations and time.monotonic() < deadline:
        time.sleep(0.5)
    pull(db, ls, SCHEMA, _name(db, report), url=labelstudio.url)
    (row,) = gold_by_sentence(db, sentence["id"])
    assert row["status"] == "ok", row["errors"]
    assert {"field": "entities", "label": "PERSON", "text": "crowd", "start": crowd, "end": crowd + 5} in \
        json.loads(row["spans"])


def _name(db, report) -> str:
    return next(db.query("SELECT name FROM projects WHERE id = ?", [report.project_id]))["name"]


@pytest.mark.browser
def test_data_manager_view_lists_tasks_from_the_weakest_draft(labelstudio, pushed, page):
    _, ls, report = pushed
    page.goto(f"{labelstudio.url}/projects/{report.ls_project_id}/data")
    page.locator(".lsf-table-row").first.wait_for(timeout=60_000)
    expect(page.locator(".lsf-tabs-dm__item_active")).to_have_text(VIEW_TITLE)
    head, rows = page.evaluate("""() => [
        Array.from(document.querySelectorAll('.lsf-table-head > *')).map(e => e.innerText.split('\\n')[0]),
        Array.from(document.querySelectorAll('.lsf-table-row')).map(
          r => Array.from(r.querySelectorAll(':scope > .lsf-table__cell')).map(c => c.innerText))]""")
    assert "sentence_id" not in head and "document_id" not in head  # the hashes are hidden
    assert head.index("text") < head.index("context")  # the sentence before its context
    score, text = head.index("Prediction score"), head.index("text")
    shown = [(float(r[score]), r[text]) for r in rows]
    assert [s for s, _ in shown] == sorted(s for s, _ in shown)  # weakest first
    expected = {next(t for t in (r for _, r in shown) if t.startswith(p)): round(v, 3) for p, v in SCORES.items()}
    assert {t: s for s, t in shown} == expected
    page.screenshot(path=str(ARTIFACTS / "page_data_manager.png"))
    # Every prediction on the server has its score.
    assert sorted(p.score for p in ls.predictions.list(project=report.ls_project_id)) == sorted(
        round(v, 4) for v in SCORES.values())


def old_layout(xml: str) -> str:
    """The config as pushed before display names: stored values shown, checkboxes for single answers, and the
    context in a second object tag (which made Label Studio refuse tasks without a `context` key)."""
    context = re.search(r'<Header value="\$context" [^>]*/>', xml).group(0)
    return (xml.replace('choice="single-radio"', 'choice="single"').replace(' showLabels="true"', "")
            .replace('value="Armed group" alias="ARMED_GROUP"', 'value="ARMED_GROUP"')
            .replace(context, '<Text name="context" value="$context" selectionEnabled="false" />'))


def test_an_existing_project_gets_the_new_config_only_when_its_annotations_stay_valid(labelstudio, tmp_path):
    db, ls = drafted_db(tmp_path / "annotator.db"), open_client(labelstudio.url, labelstudio.token)
    name = project_name()
    first = push(db, ls, SCHEMA, name, url=labelstudio.url)
    assert first.page == ["instructions set", f"view {VIEW_TITLE!r} created"]
    pid, xml = first.ls_project_id, label_config(SCHEMA)
    task_id = next(db.query("SELECT task_id FROM tasks"))["task_id"]
    # The project still has the older layout and an annotation using ARMED_GROUP.
    ls.projects.update(id=pid, label_config=old_layout(xml))
    with pytest.raises(ApiError, match="context"):  # the old layout refuses a task with only its text
        ls.projects.import_tasks(id=pid, request=[{"text": "Typed in by hand."}])
    region = {"id": "r", "from_name": "entities", "to_name": "text", "type": "labels",
              "value": {"start": 0, "end": 1, "labels": ["ARMED_GROUP"]}}
    ls.annotations.create(id=task_id, result=[region])
    again = push(db, ls, SCHEMA, name, url=labelstudio.url)
    assert again.page == ["labeling config updated (its annotations stay valid)"]
    assert ls.projects.get(id=pid).label_config == xml
    assert push(db, ls, SCHEMA, name, url=labelstudio.url).page == []  # nothing left to change
    # A lead's label on the server, used by an annotation: the schema's config would break it, so it stays.
    edited = xml.replace('hotkey="8" />', 'hotkey="8" />\n      <Label value="VEHICLE" background="#000000" />')
    ls.projects.update(id=pid, label_config=edited)
    ls.annotations.create(id=task_id, result=[{**region, "id": "v", "value": {"start": 0, "end": 1,
                                                                              "labels": ["VEHICLE"]}}])
    kept = push(db, ls, SCHEMA, name, url=labelstudio.url)
    assert len(kept.page) == 1 and kept.page[0].startswith("kept the project's labeling config"), kept.page
    assert "VEHICLE" in kept.page[0]
    assert ls.projects.get(id=pid).label_config == edited
    # The new layout (here with the lead's label) accepts the task with only its text.
    assert ls.projects.import_tasks(id=pid, request=[{"text": "Typed in by hand."}]).task_count == 1
