"""Push drafts to a real Label Studio, annotate through its API, pull gold back (no mocks).

Drafts come from the real `annotate` pipeline against the stub LLM server.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from label_studio_sdk import LabelStudio

from annotator.annotate import annotate
from annotator.errors import LabelStudioError
from annotator.ingest import DocInput, ingest
from annotator.labelstudio.client import connect, pull, push, recorded_project
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.services.labelstudio import LabelStudioServer
from annotator.services.procs import port_is_free
from annotator.store import open_db

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stub_llm import StubLLM  # noqa: E402

pytestmark = pytest.mark.labelstudio

SCHEMA = load_schema("news_events")

DOCS = [
    DocInput(
        text=("Drones strike Kharkiv\n\n"
              "🇺🇦 Ukrainian forces said Russian drones hit Kharkiv overnight. "
              "Officials in Kharkiv said two people were wounded in Kharkiv. "
              "The Russian defence ministry denied the attack."),
        origin="test:1", headline=True),
    DocInput(
        text=("Police in Lagos arrested 12 protesters on Monday. "
              "Witnesses said the police fired tear gas 😷 at the crowd."),
        origin="test:2"),
]

ENTITIES = {"Ukrainian forces": "ARMED_GROUP", "Russian drones": "WEAPON", "Kharkiv": "LOCATION",
            "Officials": "PERSON", "two people": "QUANTITY", "The Russian defence ministry": "ORG",
            "Police": "ARMED_GROUP", "police": "ARMED_GROUP", "Lagos": "LOCATION", "12 protesters": "QUANTITY",
            "Monday": "DATETIME", "tear gas": "WEAPON", "Witnesses": "PERSON", "overnight": "DATETIME"}


def responder(body: dict) -> dict:
    """A deterministic 'model': marks every known entity mention, one event type, the source."""
    sentence = body["messages"][-1]["content"].split("Sentence:", 1)[1].strip()
    entities = []
    for words, label in ENTITIES.items():
        entities += [{"text": words, "label": label} for _ in re.finditer(rf"\b{re.escape(words)}\b", sentence)]
    entities.append({"text": "an invented span", "label": "ORG"})  # dropped by grounding
    source = next((w for w in ("Ukrainian forces", "Officials", "Witnesses", "The Russian defence ministry")
                   if w in sentence), None)
    return {
        "entities": entities,
        "event_type": "explosion_remote_violence" if "drones" in sentence else "strategic_development",
        "attribution": "denied" if "denied" in sentence else "claimed" if source else "asserted",
        "sources": [{"text": source, "label": "SOURCE"}] if source else [],
    }


def make_drafts(db, model: str = "stub-model") -> None:
    """Run the real annotate pipeline against the stub LLM."""
    with StubLLM(responder=responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="test", model=model, max_retries=0)
        report = annotate(db, client, SCHEMA, load_prompt(None, SCHEMA.name), concurrency=2)
    assert report.by_status == {"ok": report.done} and report.done > 0


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "annotator.db")
    ingest(database, DOCS)
    make_drafts(database)
    return database


@pytest.fixture
def ls(labelstudio) -> LabelStudio:
    return connect(labelstudio.url, labelstudio.token)


def project_name() -> str:
    return f"test {uuid.uuid4().hex[:10]}"


def server_tasks(ls: LabelStudio, pid: int) -> list[dict]:
    return [t.model_dump(mode="json") for t in ls.tasks.list(project=pid, fields="all", page_size=100)]


def drafts_by_sentence(db, model: str = "stub-model") -> dict[str, dict]:
    return {d["sentence_id"]: d for d in db.query("SELECT * FROM drafts WHERE model = ?", [model])}


def gold_rows(db) -> dict[int, dict]:
    return {r["annotation_id"]: r for r in db.query("SELECT * FROM gold")}


def test_push_annotate_pull_round_trip(db, ls, labelstudio):
    name, url = project_name(), labelstudio.url
    n_sentences = db["sentences"].count
    drafts = drafts_by_sentence(db)
    assert len(drafts) == n_sentences == 6

    report = push(db, ls, SCHEMA, name, url=url, chunk_size=4)
    assert report.created_project and report.invalid_predictions == []
    assert (report.tasks_created, report.predictions_created) == (6, 6)
    pid = report.project_id
    tasks = server_tasks(ls, pid)
    assert len(tasks) == 6
    by_sentence = {t["data"]["sentence_id"]: t for t in tasks}
    recorded = {r["sentence_id"]: r["task_id"] for r in db.query("SELECT * FROM tasks")}
    assert recorded == {sid: t["id"] for sid, t in by_sentence.items()}
    server_project = ls.projects.get(id=pid)
    assert server_project.model_version == report.model_version
    assert report.model_version == f"stub-model|{drafts[next(iter(drafts))]['prompt_version']}|{SCHEMA.hash}"

    # Task data: the sentence, ids, the headline and up to three preceding sentences.
    sentences = {s["id"]: s for s in db.query("SELECT * FROM sentences")}
    flag = next(s for s in sentences.values() if s["text"].startswith("🇺🇦"))
    data = by_sentence[flag["id"]]["data"]
    assert data == {"text": flag["text"], "sentence_id": flag["id"], "document_id": flag["document_id"],
                    "headline": "Drones strike Kharkiv", "context": ""}
    last = next(s for s in sentences.values() if s["text"].startswith("The Russian defence"))
    assert by_sentence[last["id"]]["data"]["context"].startswith("🇺🇦 Ukrainian forces said")
    headline = next(s for s in sentences.values() if s["is_headline"])
    assert by_sentence[headline["id"]]["data"]["headline"] == ""

    # Predictions are the drafts, with the editor's (code point) offsets.
    for task in by_sentence.values():
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == report.model_version
    flag_pred = by_sentence[flag["id"]]["predictions"][0]["result"]
    forces = next(r for r in flag_pred if r["value"].get("text") == "Ukrainian forces" and r["from_name"] == "entities")
    assert (forces["value"]["start"], forces["value"]["end"]) == (3, 19)  # code points, as the editor counts

    # Re-push adds nothing.
    again = push(db, ls, SCHEMA, name, url=url)
    assert (again.tasks_created, again.predictions_created, again.tasks_reconciled) == (0, 0, 0)
    assert ls.projects.get(id=pid).task_number == 6

    # An annotator accepts every prediction as it is.
    admin_id = ls.users.whoami().id
    for task in by_sentence.values():
        prediction = task["predictions"][0]
        ls.annotations.create(id=task["id"], result=prediction["result"], lead_time=4.5,
                              parent_prediction=prediction["id"])
    first = pull(db, ls, SCHEMA, name, url=url)
    assert first.full and (first.inserted, first.updated, first.deleted) == (6, 0, 0)
    gold = gold_rows(db)
    assert len(gold) == 6
    for row in gold.values():
        draft = drafts[row["sentence_id"]]
        assert row["status"] == "ok", row["errors"]
        assert row["data"] == draft["data"]  # byte for byte
        assert json.loads(row["spans"]) == json.loads(draft["spans"])
        assert row["annotator"] == labelstudio.email or row["annotator"] == str(admin_id)
        assert row["lead_time"] == 4.5 and row["parent_prediction"] is not None
        assert row["task_id"] == recorded[row["sentence_id"]] and row["project_id"] == pid
        assert row["schema_hash"] == SCHEMA.hash and json.loads(row["raw_result"])
    # A repeated mention comes back as two spans at two offsets.
    officials = next(s for s in sentences.values() if s["text"].startswith("Officials"))
    kharkiv = [s for s in json.loads(gold_by_sentence(db, officials["id"])[0]["spans"]) if s["text"] == "Kharkiv"]
    assert len(kharkiv) == 2 and kharkiv[0]["start"] < kharkiv[1]["start"]

    # Nothing changed: a re-pull writes nothing.
    snapshot = gold_rows(db)
    quiet = pull(db, ls, SCHEMA, name, url=url)
    assert not quiet.full and quiet.written == 0
    assert gold_rows(db) == snapshot

    # The annotator edits the emoji sentence: a label, a deleted span, a new span, a choice.
    flag_task = by_sentence[flag["id"]]
    (annotation_id,) = [a for a, r in gold.items() if r["sentence_id"] == flag["id"]]
    result = [dict(r, value=dict(r["value"])) for r in ls.annotations.get(id=annotation_id).result]
    for item in result:
        if item["value"].get("text") == "Kharkiv":
            item["value"]["labels"] = ["FACILITY"]
    result = [r for r in result if r["value"].get("text") != "overnight"]
    text = flag["text"]
    start = text.index("Russian drones")
    result.append({"id": "new1", "from_name": "entities", "to_name": "text", "type": "labels",
                   "value": {"start": start, "end": start + len("Russian"), "text": "Russian",
                             "labels": ["ARMED_GROUP"]}})
    for item in result:
        if item["from_name"] == "event_type":
            item["value"]["choices"] = ["battle"]
    time.sleep(0.01)
    ls.annotations.update(id=annotation_id, result=result)
    edited = pull(db, ls, SCHEMA, name, url=url)
    assert (edited.inserted, edited.updated, edited.deleted) == (0, 1, 0)
    row = gold_rows(db)[annotation_id]
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

    # A second annotator on the same task is a separate row; a skip is 'skipped'; a deletion 'deleted'.
    other = ls.users.create(username=f"ann{uuid.uuid4().hex[:8]}", email=f"ann-{uuid.uuid4().hex[:8]}@example.org",
                            password="annotator-pass-1")
    second = ls.annotations.create(id=flag_task["id"], result=flag_task["predictions"][0]["result"],
                                   completed_by=other.id, lead_time=9.0)
    skipped_task = by_sentence[headline["id"]]
    # Deleting the only annotation of a task, and skipping it in the same go.
    (head_annotation,) = [a for a, r in gold_rows(db).items() if r["sentence_id"] == headline["id"]]
    ls.annotations.delete(id=head_annotation)
    skip = ls.annotations.create(id=skipped_task["id"], result=[], was_cancelled=True)
    changed = pull(db, ls, SCHEMA, name, url=url)
    assert (changed.inserted, changed.updated, changed.deleted) == (2, 0, 1)
    rows = gold_rows(db)
    assert rows[second.id]["annotator"] == other.email and rows[second.id]["task_id"] == flag_task["id"]
    assert rows[second.id]["data"] == drafts[flag["id"]]["data"]
    assert len([r for r in rows.values() if r["task_id"] == flag_task["id"]]) == 2
    assert rows[skip.id]["status"] == "skipped" and rows[skip.id]["data"] is None
    assert rows[head_annotation]["status"] == "deleted" and rows[head_annotation]["data"] is not None

    # Re-push and re-pull change nothing, on the server or in SQLite.
    snapshot = gold_rows(db)
    tasks_before = list(db.query("SELECT * FROM tasks ORDER BY task_id"))
    again = push(db, ls, SCHEMA, name, url=url)
    assert (again.tasks_created, again.predictions_created, again.tasks_reconciled) == (0, 0, 0)
    again_pull = pull(db, ls, SCHEMA, name, url=url)
    assert again_pull.written == 0
    assert gold_rows(db) == snapshot and list(db.query("SELECT * FROM tasks ORDER BY task_id")) == tasks_before
    full = pull(db, ls, SCHEMA, name, url=url, full=True)
    assert full.full and full.written == 0 and gold_rows(db) == snapshot
    project = ls.projects.get(id=pid)
    assert (project.task_number, project.total_predictions_number) == (6, 6)

    # A new draft version becomes a second prediction on the same tasks, and the project's version.
    make_drafts(db, model="stub-model-2")
    newer = push(db, ls, SCHEMA, name, url=url)
    assert (newer.tasks_created, newer.predictions_created) == (0, 6)
    assert newer.model_version.startswith("stub-model-2|")
    assert ls.projects.get(id=pid).model_version == newer.model_version
    for task in server_tasks(ls, pid):
        assert sorted(p["model_version"] for p in task["predictions"]) == sorted(
            [report.model_version, newer.model_version])
    assert ls.projects.get(id=pid).task_number == 6

    # Lost records (a push that died after the server took a chunk) are reconciled, not duplicated.
    lost = list(db.query("SELECT sentence_id FROM tasks LIMIT 2"))
    with db.conn:
        for r in lost:
            db.execute("DELETE FROM predictions WHERE draft_id IN (SELECT id FROM drafts WHERE sentence_id = ?)",
                       [r["sentence_id"]])
            db.execute("DELETE FROM tasks WHERE sentence_id = ?", [r["sentence_id"]])
    healed = push(db, ls, SCHEMA, name, url=url)
    assert (healed.tasks_created, healed.predictions_created) == (0, 0)
    assert (healed.tasks_reconciled, healed.predictions_reconciled) == (2, 4)
    assert list(db.query("SELECT * FROM tasks ORDER BY task_id")) != [] and db["tasks"].count == 6
    assert ls.projects.get(id=pid).task_number == 6


def gold_by_sentence(db, sentence_id: str) -> list[dict]:
    return list(db.query("SELECT * FROM gold WHERE sentence_id = ?", [sentence_id]))


def test_errors_are_one_line_with_a_fix(db, ls, labelstudio, tmp_path):
    with pytest.raises(LabelStudioError, match="API key was refused") as info:
        connect(labelstudio.url, "not-a-valid-token")
    assert "\n" not in str(info.value) and "LABEL_STUDIO_API_KEY" in str(info.value)
    with pytest.raises(LabelStudioError, match="connection refused") as info:
        connect("http://127.0.0.1:9", "whatever")
    assert "annotator labelstudio start" in str(info.value)

    name = project_name()
    report = push(db, ls, SCHEMA, name, url=labelstudio.url)
    ls.projects.delete(id=report.project_id)
    with pytest.raises(LabelStudioError, match="deleted on") as info:
        push(db, ls, SCHEMA, name, url=labelstudio.url)
    assert "new project name" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(LabelStudioError, match="deleted on"):
        pull(db, ls, SCHEMA, name, url=labelstudio.url)
    assert recorded_project(db, name, url=labelstudio.url) is not None


def test_server_stopped_mid_push(db, tmp_path):
    """Stop the server after the first chunk is recorded: one-line error; restart, push again: no duplicates."""
    base = tmp_path / "ls-own"
    server = LabelStudioServer(base_dir=base)
    info = server.start()
    port = info.port
    name = project_name()

    def make_client() -> LabelStudio:
        # No keep-alive: the client closes its connections, so the server's port is free again at once.
        return LabelStudio(base_url=info.url, api_key=info.token,
                           httpx_client=httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0)))
    try:
        first_chunk, stopped = threading.Event(), threading.Event()
        outcome: dict = {}

        def on_progress(done: int, total: int) -> None:
            if not first_chunk.is_set():
                outcome["recorded_at_first_chunk"] = db_path_count(tmp_path)
                first_chunk.set()
                stopped.wait(timeout=120)

        def run() -> None:
            try:
                outcome["report"] = push(open_db(tmp_path / "annotator.db"), make_client(), SCHEMA, name,
                                         url=info.url, chunk_size=2, progress=on_progress)
            except Exception as exc:  # noqa: BLE001 - handed to the test thread
                outcome["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        assert first_chunk.wait(timeout=120)
        server.stop()
        stopped.set()
        worker.join(timeout=120)
        error = outcome.get("error")
        assert isinstance(error, LabelStudioError), outcome
        message = str(error)
        assert "\n" not in message and "run push again" in message, message
        # Refused once it is down; "connection lost" or a 5xx if the request met it shutting down.
        assert re.search(r"failed \((connection refused|connection lost|server error)", message), message
        assert outcome["recorded_at_first_chunk"] == 2
        assert db["tasks"].count == 2  # what was recorded stays recorded

        deadline = time.monotonic() + 120
        while not port_is_free(port) and time.monotonic() < deadline:
            time.sleep(1)
        info = LabelStudioServer(base_dir=base, port=port).start()
        ls = make_client()
        report = push(db, ls, SCHEMA, name, url=info.url, chunk_size=2)
        assert report.tasks_created == 4 and not report.created_project
        tasks = server_tasks(ls, report.project_id)
        assert len(tasks) == 6
        assert sorted(t["data"]["sentence_id"] for t in tasks) == sorted(
            r["id"] for r in db.query("SELECT id FROM sentences"))
        assert db["tasks"].count == 6
        assert push(db, ls, SCHEMA, name, url=info.url).tasks_created == 0
    finally:
        server.stop()


def db_path_count(tmp_path) -> int:
    """Tasks recorded, read through a separate connection (what a crash would leave)."""
    return open_db(tmp_path / "annotator.db")["tasks"].count


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.browser
def test_browser_draws_predictions_on_their_words_and_saves_selections(db, ls, labelstudio):
    """In Chromium: the headline and context show, every predicted span is drawn on its own words
    after an emoji, and a span the annotator drags over comes back with the right offsets."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium") or not labelstudio.password:
        pytest.skip("needs /usr/bin/chromium and the Label Studio password")
    name = project_name()
    report = push(db, ls, SCHEMA, name, url=labelstudio.url)
    flag = next(s for s in db.query("SELECT * FROM sentences") if s["text"].startswith("🇺🇦"))
    task_id = next(db.query("SELECT task_id FROM tasks WHERE sentence_id = ?", [flag["id"]]))["task_id"]
    predicted = {s["text"] for s in json.loads(drafts_by_sentence(db)[flag["id"]]["spans"])}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{labelstudio.url}/user/login/")
            page.fill("input[name=email]", labelstudio.email)
            page.fill("input[name=password]", labelstudio.password)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{labelstudio.url}/projects/{report.project_id}/data?task={task_id}")
            page.locator(".lsf-richtext [class*=htx-highlight]").first.wait_for(timeout=60_000)
            body = page.inner_text("body")
            assert "Drones strike Kharkiv" in body  # the headline, read-only above the sentence
            drawn: set[str] = set()
            deadline = time.monotonic() + 30
            while drawn != predicted and time.monotonic() < deadline:  # regions are drawn one by one
                time.sleep(0.2)
                drawn = set(page.evaluate(
                    "() => Array.from(document.querySelectorAll('.lsf-richtext [class*=htx-highlight]'))"
                    ".map(e => e.textContent)"))
            assert drawn == predicted
            # The annotator adds PERSON over "said" (after the flag) and submits.
            page.get_by_text("PERSON", exact=True).first.click()
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
