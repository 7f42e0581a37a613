"""Claims in Chromium (Playwright, Debian's /usr/bin/chromium) on a real Label Studio: arrows, add, relabel, delete.

The stub LLM drafts the opposing-claims sentence with three claims, two of them
wrong: the Kyiv fighters' claim of the break-in (right), Moscow *denying* the
foiling (wrong stance) and the fighters claiming the foiling (wrong relation). The
annotator, in one page load, sees the three arrows between their regions, relabels
Moscow's to "claims", deletes the wrong relation, adds Moscow -> the break-in with
"denies", and submits. Pull must bring exactly that back. Screenshots land in
tests/artifacts/.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from annotator.labelstudio.api import open_client
from annotator.labelstudio.pull import pull
from annotator.labelstudio.push import push
from tests.support.browser import ARTIFACTS, CHROMIUM, logged_in_page
from tests.support.claims import BROKEN, FOILED, KYIV, SENTENCE, V2, end
from tests.support.drafting import drafted_texts

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]



def responder(body: dict) -> dict:
    return {"entities": [], "event_type": "battle",
            "claims": [{"source": KYIV, "content": BROKEN, "stance": "claims"},
                       {"source": "Moscow", "content": FOILED, "stance": "denies"},
                       {"source": KYIV, "content": FOILED, "stance": "claims"}]}


ARROWS = """() => {
  // Every relation arrow: its label, and the highlighted words nearest to where its line starts and ends.
  const svg = document.querySelector('svg.relations-overlay');
  const origin = svg.getBoundingClientRect();
  const highlights = Array.from(document.querySelectorAll('.lsf-richtext .htx-highlight'));
  const gap = (r, x, y) => Math.hypot(Math.max(r.left - x, 0, x - r.right), Math.max(r.top - y, 0, y - r.bottom));
  const nearest = (x, y) => {
    let best = null, distance = Infinity;
    for (const h of highlights) for (const r of h.getClientRects()) {
      const d = gap(r, origin.left + x, origin.top + y);
      if (d < distance) { distance = d; best = h; }
    }
    return distance <= 16 ? best.innerText.replace(/\\s+/g, ' ').trim() : null; };
  return Array.from(svg.querySelectorAll('g[class*=relationItem]')).filter(g => g.getAttribute('visibility') !== 'hidden')
    .map(g => { const line = g.querySelector('path[marker-end]');
      const n = (line ? line.getAttribute('d') : '').match(/-?[0-9.]+/g).map(Number);
      return {label: g.querySelector('text') ? g.querySelector('text').textContent : null, arrow: !!line,
              from: nearest(n[0], n[1]), to: nearest(n[n.length - 2], n[n.length - 1])}; }); }"""


@pytest.fixture(scope="module")
def project(labelstudio, tmp_path_factory):
    if not Path(CHROMIUM).exists() or not labelstudio.password:
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} and the Label Studio password")
    db = drafted_texts(tmp_path_factory.mktemp("claims"), V2, responder, [SENTENCE])
    ls = open_client(labelstudio.url, labelstudio.token)
    name = f"claims {uuid.uuid4().hex[:8]}"
    report = push(db, ls, V2, name, url=labelstudio.url)
    task_id = next(db.query("SELECT task_id FROM tasks"))["task_id"]
    return db, ls, name, report.ls_project_id, task_id


@pytest.fixture
def page(labelstudio):
    with logged_in_page(labelstudio) as page:
        yield page


def arrows(page: Page) -> list[tuple]:
    return sorted((a["label"], a["arrow"], a["from"], a["to"]) for a in page.evaluate(ARROWS))


def label_relation(page, item, label: str) -> None:
    """Open a relation's labels in the Relations panel and pick `label`."""
    item.hover()
    item.get_by_role("button", name="Show Relation Labels").click()
    item.locator(".lsf-relation-meta [class*=selectTrigger]").click()
    page.get_by_role("option", name=label).click()


def relation_item(page: Page, source: str, claim: str):
    """The Relations panel's row linking the regions numbered `source` and `claim` (their outliner numbers)."""
    nodes = re.compile(rf"^\s*{source}\s*Source\s*{claim}\s*Claim\s*$")
    return page.locator(".lsf-relations__item").filter(has=page.locator(".lsf-relations__nodes", has_text=nodes))


def test_prefilled_claims_are_arrows_and_the_annotator_adds_relabels_and_deletes(labelstudio, project, page):
    db, ls, name, pid, task_id = project
    page.goto(f"{labelstudio.url}/projects/{pid}/data?task={task_id}")
    # Four regions, numbered as the draft lists them: the fighters (1), the break-in (2), the foiling (3), Moscow (4).
    expect(page.locator(".lsf-richtext .htx-highlight[data-label]")).to_have_count(4, timeout=60_000)
    expect(page.locator("svg.relations-overlay g[class*=relationItem]")).to_have_count(3)
    page.wait_for_timeout(500)  # the arrows are laid out after the highlights
    page.screenshot(path=str(ARTIFACTS / "claims-prefilled.png"))
    assert arrows(page) == sorted([("claims", True, KYIV, BROKEN), ("denies", True, "Moscow", FOILED),
                                   ("claims", True, KYIV, FOILED)])

    page.locator(".lsf-panel-tabs__tab:visible", has_text="Relations").first.click()
    expect(page.locator(".lsf-relations__item")).to_have_count(3)
    # Relabel: Moscow -> the foiling claims it, not denies it.
    label_relation(page, relation_item(page, "4", "3"), "claims")
    # Delete: the fighters did not claim the foiling.
    wrong = relation_item(page, "1", "3")
    wrong.hover()
    wrong.get_by_role("button", name="Delete Relation").click()
    expect(page.locator(".lsf-relations__item")).to_have_count(2)
    # Add: Moscow -> the break-in, denied. Select Moscow's region, Create Relation, click the other end.
    page.locator(".lsf-panel-tabs__tab:visible", has_text="Regions").first.click()
    page.locator(".lsf-outliner-item", has_text="Moscow").click()
    page.get_by_role("button", name="Create Relation").click()
    page.locator(".lsf-richtext .htx-highlight", has_text="they had broken").first.click()
    page.locator(".lsf-panel-tabs__tab:visible", has_text="Relations").first.click()
    expect(page.locator(".lsf-relations__item")).to_have_count(3)
    label_relation(page, relation_item(page, "4", "2"), "denies")
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "claims-edited.png"))
    assert arrows(page) == sorted([("claims", True, KYIV, BROKEN), ("claims", True, "Moscow", FOILED),
                                   ("denies", True, "Moscow", BROKEN)])
    page.get_by_role("button", name="Submit current annotation").click()
    deadline = time.monotonic() + 30
    while not [a for a in ls.annotations.list(id=task_id) if a.result] and time.monotonic() < deadline:
        time.sleep(0.5)

    report = pull(db, ls, V2, name, url=labelstudio.url)
    assert report.inserted == 1
    (gold,) = db.query("SELECT * FROM gold")
    assert gold["status"] == "ok", gold["errors"]
    raw = json.loads(gold["raw_result"])
    (ARTIFACTS / "claims-submitted-result.json").write_text(json.dumps(raw, indent=1, ensure_ascii=False))
    assert {(r.get("direction"), tuple(r.get("labels") or ())) for r in raw if r["type"] == "relation"} == {
        ("right", ("claims",)), ("right", ("denies",))}
    assert json.loads(gold["data"])["claims"] == [
        {"source": KYIV, "content": BROKEN, "stance": "claims"},
        {"source": "Moscow", "content": BROKEN, "stance": "denies"},
        {"source": "Moscow", "content": FOILED, "stance": "claims"}]
    ends = [(s["start"], s["end"], s["label"], s["relation"], s["role"]) for s in json.loads(gold["spans"])]
    assert ends == [(0, 37, "SOURCE", 0, "source"), (48, 85, "CLAIM", 0, "content"),
                    (93, 99, "SOURCE", 1, "source"), (48, 85, "CLAIM", 1, "content"),
                    (93, 99, "SOURCE", 2, "source"), (105, 171, "CLAIM", 2, "content")]
    assert end(48, 85, "CLAIM")["text"] == BROKEN
