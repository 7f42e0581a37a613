"""`annotator serve` on a real Label Studio with the stub LLM (no mocks): it runs as its own
process, registered on a project of the session's Label Studio, and the tests drive Label Studio
through its API as annotators and leads would. Its pure parts: tests/test_serve_parts.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from label_studio_sdk import LabelStudio

import tests.support.serve
from annotator.backend.protocol import controls_of
from annotator.labelstudio.predictions import model_version_of
from annotator.prompts import load_prompt
from annotator.store import open_db
from tests.support.drafting import SCHEMA
from tests.support.serve import (
    ACTIONS,
    XML,
    dm_action,
    gold,
    import_tasks,
    predictions_of,
    retrieve,
)
from tests.support.waiting import wait_for

stub, live = tests.support.serve.stub, tests.support.serve.live  # the fixtures (tests/support/serve.py)


# --------------------------------------------------------------------------- live: Label Studio + serve


def project_predictions(ls: LabelStudio, pid: int, task_ids: list[int]) -> dict[int, list]:
    """The predictions on these tasks, by task (one listing: opening each task would ask the backend)."""
    found: dict[int, list] = {}
    for prediction in ls.predictions.list(project=pid):
        if prediction.task in task_ids:
            found.setdefault(prediction.task, []).append(prediction)
    return found


MODEL_VERSION = model_version_of({"model": "stub-model", "prompt_version": load_prompt(None, SCHEMA.name).version,
                                  "schema_hash": SCHEMA.hash})


@pytest.mark.labelstudio
def test_connect_adds_the_backend_and_the_webhook_once_and_a_rerun_changes_nothing(live):
    serve, ls, pid, _ = live
    backends = [b for b in ls.ml.list(project=pid)]
    hooks = [h for h in ls.webhooks.list(project=str(pid)) if h.project == pid]
    assert [b.url for b in backends] == [serve.url] and backends[0].state == "CO"
    assert [h.url for h in hooks] == [f"{serve.url}/webhook"] and sorted(hooks[0].actions) == sorted(ACTIONS)
    assert ls.projects.get(id=pid).model_version == MODEL_VERSION

    def connect_cli() -> str:
        done = subprocess.run([sys.executable, "-m", "annotator", "connect", "--project", serve.project,
                               "--url", serve.env["LABEL_STUDIO_URL"], "--backend-url", serve.url,
                               "--db", str(serve.db_file)], env=serve.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "already connected, nothing changed" in connect_cli()
    assert len(ls.ml.list(project=pid)) == 1
    assert len([h for h in ls.webhooks.list(project=str(pid)) if h.project == pid]) == 1
    # Both removed in Label Studio, and the project still has the layout pushed before the context moved to
    # headers (a second object tag, which refuses tasks with only their text): connect adds them back, once,
    # and brings the config up to date as push does.
    ls.ml.delete(id=backends[0].id)
    ls.webhooks.delete(id=hooks[0].id)
    context = re.search(r'<Header value="\$context" [^>]*/>', XML).group(0)
    ls.projects.update(id=pid, label_config=XML.replace(context, '<Text name="context" value="$context" />'))
    made = connect_cli()
    assert "created the ML backend" in made and "created the webhook" in made, made
    assert "labeling config updated" in made and ls.projects.get(id=pid).label_config == XML
    assert "already connected, nothing changed" in connect_cli()
    assert [b.url for b in ls.ml.list(project=pid)] == [serve.url]
    assert [h.url for h in ls.webhooks.list(project=str(pid)) if h.project == pid] == [f"{serve.url}/webhook"]


@pytest.mark.labelstudio
def test_a_task_imported_by_hand_gets_a_draft_when_opened_and_a_second_ask_pays_nothing(live, stub):
    serve, ls, pid, _ = live
    text = "Police in Lagos arrested 12 protesters on Monday."
    before = stub.calls
    (task_id,) = import_tasks(ls, pid, [text])
    opened = ls.tasks.get(id=task_id)  # what the editor loads: Label Studio asks the backend for a prediction
    (prediction,) = [p if isinstance(p, dict) else p.model_dump(mode="json") for p in opened.predictions]
    assert stub.calls == before + 1
    assert prediction["model_version"] == MODEL_VERSION
    # news_responder: capitalised words as LOCATION, numbers as QUANTITY, and "Atlantis", which is dropped.
    spans = sorted((r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
                   for r in prediction["result"] if r["type"] == "labels")
    assert spans == [(0, 6, "LOCATION"), (10, 15, "LOCATION"), (25, 27, "QUANTITY"), (42, 48, "LOCATION")]
    assert prediction["score"] == 0.8  # 4 spans found in the sentence out of the 5 given
    db = open_db(serve.db_file)
    (sentence,) = db.query("SELECT * FROM sentences WHERE text = ?", [text])
    (document,) = db.query("SELECT * FROM documents WHERE id = ?", [sentence["document_id"]])
    assert document["source"] == "labelstudio" and document["origin"].endswith(f"/data?task={task_id}")
    assert [r["task_id"] for r in db.query("SELECT * FROM tasks WHERE sentence_id = ?", [sentence["id"]])] == [task_id]
    assert db["drafts"].count_where("sentence_id = ? AND status = 'ok'", [sentence["id"]]) == 1
    db.close()
    # The same text again, and the same task after its prediction is deleted: answered from SQLite.
    (twin,) = import_tasks(ls, pid, [text])
    ls.predictions.delete(id=prediction["id"])
    retrieve(ls, pid, [task_id, twin])
    assert len(predictions_of(ls, task_id)) == 1 and len(predictions_of(ls, twin)) == 1
    assert stub.calls == before + 1


@pytest.mark.labelstudio
def test_push_and_the_backend_send_the_same_prediction_for_the_same_draft(live, stub, tmp_path):
    serve, ls, pid, _ = live
    text = "Rebels shelled Kharkiv and 7 villages near Izium on Sunday."
    source = tmp_path / "one.txt"
    source.write_text(text + "\n", encoding="utf-8")
    for args in (["ingest", str(source)], ["annotate"], ["push", "--project", serve.project]):
        done = subprocess.run([sys.executable, "-m", "annotator", *args, "--db", str(serve.db_file)], env=serve.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    db = open_db(serve.db_file)
    (task_id,) = [r["task_id"] for r in db.query(
        "SELECT t.task_id FROM tasks t JOIN sentences s ON s.id = t.sentence_id WHERE s.text = ?", [text])]
    db.close()
    (pushed,) = predictions_of(ls, task_id)
    calls = stub.calls
    ls.predictions.delete(id=pushed["id"])
    retrieve(ls, pid, [task_id])  # the backend answers the pushed task from the same stored draft
    (answered,) = predictions_of(ls, task_id)
    assert answered["id"] != pushed["id"] and stub.calls == calls
    same = ("model_version", "score", "result")
    assert {k: answered[k] for k in same} == {k: pushed[k] for k in same}
    # news_responder: the capitalised words as LOCATION, the number as QUANTITY, and "Atlantis", dropped
    assert len([r for r in pushed["result"] if r["type"] == "labels"]) == 5 and pushed["score"] == round(5 / 6, 4)


@pytest.mark.labelstudio
def test_retrieve_predictions_for_50_tasks_then_again_from_sqlite(live, stub):
    serve, ls, pid, _ = live
    texts = [f"Rebels fired {i} rockets at the base." for i in range(1000, 1050)]
    task_ids = import_tasks(ls, pid, texts)
    before = stub.calls
    first = retrieve(ls, pid, task_ids)
    assert stub.calls == before + 50
    made = project_predictions(ls, pid, task_ids)
    assert sorted(made) == sorted(task_ids) and all(len(found) == 1 for found in made.values())
    for number, task_id in enumerate(task_ids, start=1000):
        assert {r["value"].get("text") for r in made[task_id][0].result if r["type"] == "labels"} \
            == {"Rebels", str(number)}
    dm_action(ls, pid, "delete_tasks_predictions", task_ids)
    assert project_predictions(ls, pid, task_ids) == {}
    again = retrieve(ls, pid, task_ids)
    assert stub.calls == before + 50  # nothing paid twice
    again_made = project_predictions(ls, pid, task_ids)
    assert sorted(again_made) == sorted(task_ids) and all(len(found) == 1 for found in again_made.values())
    print(f"\nretrieve 50 new tasks: {first:.2f} s; the same 50 from stored drafts: {again:.2f} s")
    print("\n".join(line for line in serve.log if "predict:" in line))


@pytest.mark.labelstudio
def test_a_paragraph_task_gets_no_prediction_and_costs_nothing(live, stub):
    serve, ls, pid, _ = live
    before = stub.calls
    (task_id,) = import_tasks(ls, pid, ["Rebels attacked the town. Police fired back at dawn."])
    retrieve(ls, pid, [task_id])
    assert predictions_of(ls, task_id) == [] and stub.calls == before
    assert any("is 2 sentences" in line for line in serve.log)


@pytest.mark.labelstudio
def test_submitted_annotations_reach_gold_through_the_webhook_and_deletions_are_marked(live):
    serve, ls, pid, _ = live
    text = "Witnesses said 3 soldiers were wounded."
    (task_id,) = import_tasks(ls, pid, [text])
    (prediction,) = [p if isinstance(p, dict) else p.model_dump(mode="json") for p in ls.tasks.get(id=task_id).predictions]
    annotation = ls.annotations.create(id=task_id, result=prediction["result"], lead_time=3.0,
                                       parent_prediction=prediction["id"])
    row = wait_for(lambda: gold(serve.db_file, annotation.id))
    assert row["status"] == "ok" and row["task_id"] == task_id and row["parent_prediction"] == prediction["id"]
    db = open_db(serve.db_file)
    (sentence,) = db.query("SELECT id FROM sentences WHERE text = ?", [text])
    (draft,) = db.query("SELECT data FROM drafts WHERE sentence_id = ?", [sentence["id"]])
    db.close()
    assert row["sentence_id"] == sentence["id"] and row["data"] == draft["data"]  # accepted as drafted
    edited = [r for r in prediction["result"] if r["from_name"] != "event_type"] + [
        {"id": "e1", "from_name": "event_type", "to_name": "text", "type": "choices",
         "value": {"choices": ["battle"]}}]
    ls.annotations.update(id=annotation.id, result=edited)
    wait_for(lambda: json.loads(gold(serve.db_file, annotation.id)["data"])["event_type"] == "battle")
    ls.annotations.delete(id=annotation.id)
    wait_for(lambda: gold(serve.db_file, annotation.id)["status"] == "deleted")


@pytest.mark.labelstudio
def test_requests_without_the_secret_get_401(live):
    serve, _, pid, creds = live
    payload = {"action": "ANNOTATION_CREATED", "project": {"id": pid}}
    assert httpx.post(f"{serve.url}/webhook", json=payload).status_code == 401
    assert httpx.post(f"{serve.url}/webhook", json=payload, headers={"X-Annotator-Token": "wrong"}).status_code == 401
    assert httpx.post(f"{serve.url}/webhook", json=payload, auth=(creds.user, creds.secret)).status_code == 401
    assert httpx.get(f"{serve.url}/health").status_code == 401
    assert httpx.post(f"{serve.url}/predict", json={"tasks": []}, auth=(creds.user, "wrong")).status_code == 401
    assert httpx.get(f"{serve.url}/anything", auth=(creds.user, creds.secret)).status_code == 401
    ok = httpx.post(f"{serve.url}/webhook", json={"action": "TASKS_CREATED", "project": {"id": pid}},
                    headers={"X-Annotator-Token": creds.secret})
    assert ok.status_code == 200 and ok.json() == {"status": "ignored"}
    assert all(creds.secret not in line for line in serve.log)


@pytest.mark.labelstudio
def test_a_label_config_that_is_not_the_schemas_gets_a_clear_error(live):
    serve, _, pid, creds = live
    label = controls_of(XML)["entities"][2][0]
    other = re.sub(f'(alias|value)="{label}"', f'\\1="{label}_X"', XML, count=1)
    response = httpx.post(f"{serve.url}/predict", auth=(creds.user, creds.secret), json={
        "tasks": [{"id": 1, "data": {"text": "x"}}], "project": f"{pid}.1700000000", "label_config": other})
    assert response.status_code == 400
    assert response.json()["error"].startswith("control 'entities' of the project's labeling config differs")
    elsewhere = httpx.post(f"{serve.url}/setup", auth=(creds.user, creds.secret),
                           json={"project": f"{pid + 1000}.1", "schema": XML})
    assert elsewhere.status_code == 400 and "this backend serves project" in elsewhere.json()["error"]


@pytest.mark.labelstudio
@pytest.mark.browser
def test_in_chromium_a_task_imported_by_hand_shows_the_draft_and_a_submit_is_gold_within_5_s(live, labelstudio):
    """The Done-when flow as an annotator lives it: no command is run between opening the task and the gold row."""
    from playwright.sync_api import expect

    from tests.support.browser import ARTIFACTS, CHROMIUM, logged_in_page

    if not Path(CHROMIUM).exists() or not labelstudio.password:
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} and the Label Studio password")
    serve, ls, pid, _ = live
    text = "Soldiers in Goma detained 7 journalists on Friday."
    (task_id,) = import_tasks(ls, pid, [text])  # nothing but its text: no draft, no prediction yet
    assert predictions_of_listed(ls, pid, task_id) == []
    with logged_in_page(labelstudio) as page:
        page.goto(f"{labelstudio.url}/projects/{pid}/data?task={task_id}")
        # news_responder: capitalised words as places, numbers as quantities, "Atlantis" dropped; the
        # event type none and the attribution asserted. Worked out on the text above.
        highlights = page.locator(".lsf-richtext .htx-highlight[data-label]")
        expect(highlights).to_have_count(4, timeout=60_000)

        def regions() -> list:  # the editor may draw the regions again as the prediction settles
            return sorted((e[0], e[1].split(":", 1)[1]) for e in highlights.evaluate_all(
                "els => els.map(e => [e.textContent, e.dataset.label])") if ":" in e[1])

        shown = wait_for(lambda: regions() if len(regions()) == 4 else None, deadline=30)
        assert shown == [("7", "Quantity"), ("Friday", "Location"), ("Goma", "Location"),
                         ("Soldiers", "Location")]
        expect(page.get_by_role("radio", name="None")).to_be_checked()
        expect(page.get_by_role("radio", name="Asserted")).to_be_checked()
        main = page.locator(".lsf-main-view").inner_text()
        assert "$" not in main  # no placeholder of the context keys the task does not have
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve_prefilled_by_backend.png"))
        page.get_by_role("radio", name="Battle").click()  # the annotator corrects the event type
        page.get_by_role("button", name="Submit").click()
        row = wait_for(lambda: gold(serve.db_file, task_id=task_id), deadline=5.0)  # the webhook's pull
        page.screenshot(path=str(ARTIFACTS / "serve_submitted.png"))
    assert row["status"] == "ok", row["errors"]
    data = json.loads(row["data"])
    assert data["event_type"] == "battle" and data["attribution"] == "asserted"
    assert sorted((e["text"], e["label"]) for e in data["entities"]) == [
        ("7", "QUANTITY"), ("Friday", "LOCATION"), ("Goma", "LOCATION"), ("Soldiers", "LOCATION")]
    status = subprocess.run([sys.executable, "-m", "annotator", "status", "--json", "--db", str(serve.db_file)],
                            env=serve.env, capture_output=True, text=True, timeout=60)
    (project,) = [p for p in json.loads(status.stdout)["projects"] if p["name"] == serve.project]
    assert project["live"]["backend_url"] == serve.url and project["live"]["ml_backend_id"]
    assert project["live"]["webhooks"] >= 1 and project["live"]["last_predict_at"] and project["last_pull_at"]
    # Deleted in Label Studio: marked deleted, still with no command run.
    ls.annotations.delete(id=row["annotation_id"])
    wait_for(lambda: gold(serve.db_file, task_id=task_id)["status"] == "deleted")


def predictions_of_listed(ls: LabelStudio, pid: int, task_id: int) -> list:
    """The task's predictions from the project's listing (opening the task would ask the backend)."""
    return [p for p in ls.predictions.list(project=pid) if p.task == task_id]


@pytest.mark.labelstudio
def test_after_sigkill_a_restart_pulls_everything_missed(live):
    serve, ls, pid, _ = live
    task_ids = import_tasks(ls, pid, ["Troops shelled Kherson overnight.", "Protesters blocked roads in Quito."])
    result = [{"id": "c", "from_name": "event_type", "to_name": "text", "type": "choices",
               "value": {"choices": ["battle"]}},
              {"id": "a", "from_name": "attribution", "to_name": "text", "type": "choices",
               "value": {"choices": ["asserted"]}}]
    kept = ls.annotations.create(id=task_ids[1], result=result)
    wait_for(lambda: gold(serve.db_file, kept.id))
    serve.kill()
    missed = ls.annotations.create(id=task_ids[0], result=result)
    ls.tasks.delete(id=task_ids[1])  # its gold must be marked deleted after the restart (full pull)
    time.sleep(1)
    assert gold(serve.db_file, missed.id) is None
    serve.start()
    row = wait_for(lambda: gold(serve.db_file, missed.id), deadline=30)
    assert row["status"] == "ok" and row["task_id"] == task_ids[0]
    wait_for(lambda: gold(serve.db_file, kept.id)["status"] == "deleted", deadline=30)
