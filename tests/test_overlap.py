"""push --overlap: each task to N different annotators, checked through a real Label Studio's labeling queue;
status: each project's tasks by their number of annotations.

The team is real: annotators join the organization through its invite link (as people
do), each with their own token, and take tasks from `/api/projects/ID/next`.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from annotator.annotate import annotate
from annotator.errors import InputError
from annotator.ingest import DocInput, ingest
from annotator.labelstudio.api import open_client
from annotator.labelstudio.overlap import (
    check_overlap,
    histogram,
    overlap_note,
    overlap_update,
    parse_overlap,
)
from annotator.labelstudio.push import push
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.cli import run
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM

SCHEMA = load_schema("news_events")
SENTENCES = ["Police in Lagos arrested 12 protesters on Monday.",
             "Witnesses said the police fired tear gas at the crowd.",
             "Officials in Kharkiv said two people were wounded.",
             "The defence ministry in Moscow denied the attack."]


def table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("│").split("│")] for line in text.splitlines()
            if line.strip().startswith("│")]


# --------------------------------------------------------------------------- the pure part


def test_histogram_counts_tasks_by_their_number_of_annotations() -> None:
    assert histogram([], 3) == [0, 0, 0, 0]
    assert histogram([0, 2, 1, 0, 3, 3], 3) == [2, 1, 1, 2]
    # more than the overlap (posted past the queue, or the overlap lowered): their own items beyond
    assert histogram([0, 1, 1, 3, 4], 3) == [1, 2, 0, 1, 1]
    assert histogram([2, 0, 0], 1) == [2, 0, 1]


def test_the_settings_sent_make_every_task_need_n_and_say_what_changed() -> None:
    assert overlap_update(1, 100, 3) == {"maximum_annotations": 3, "overlap_cohort_percentage": 100}
    assert overlap_note(1, 100, 3) == "each task now goes to 3 annotators (was 1 annotator)"
    assert (overlap_update(3, 100, 3), overlap_note(3, 100, 3)) == ({}, "")
    assert (overlap_update(None, None, 1), overlap_note(None, None, 1)) == ({}, "")
    # the same maximum for only half the tasks is not every task needing 3
    assert overlap_update(3, 50, 3) == {"maximum_annotations": 3, "overlap_cohort_percentage": 100}
    assert overlap_note(3, 50, 3) == "each task now goes to 3 annotators (was 3 annotators for 50% of the tasks, " \
                                     "1 for the rest)"
    assert overlap_note(3, 100, 2) == "each task now goes to 2 annotators (was 3 annotators)"


@pytest.mark.parametrize("given", ["0", "-1", "abc", "2.5", "", " ", "٣"])
def test_a_bad_overlap_is_one_line(given: str) -> None:
    with pytest.raises(InputError, match=r"is not a number of annotators; give a whole number from 1 up"):
        parse_overlap(given)


def test_a_good_overlap_parses_and_none_leaves_the_project_s() -> None:
    assert (parse_overlap("3"), parse_overlap(" 1 "), parse_overlap(None)) == (3, 1, None)
    check_overlap(None)
    for bad in (0, True, 2.0, "3"):
        with pytest.raises(InputError):
            check_overlap(bad)


def test_push_with_a_bad_overlap_stops_with_one_line_before_any_server(tmp_path) -> None:
    result = run("push", "-p", "Team", "--overlap", "0", "--db", str(tmp_path / "a.db"),
                 env={"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "k"})
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "Error: --overlap 0 is not a number of annotators; give a whole number from 1 up, e.g. --overlap 3 "
        "(each task to three different annotators)"]


def test_status_counts_each_project_s_tasks_by_annotations_from_the_pulled_gold(tmp_path) -> None:
    path = tmp_path / "known.db"
    db = open_db(path)
    db["documents"].insert({"id": "d1", "text": "x"})
    db["sentences"].insert_all([{"id": f"s{i}", "document_id": "d1", "idx": i, "start": 0, "end": 1, "text": "x"}
                                for i in range(1, 6)])
    db["projects"].insert_all([
        {"id": "p-team", "ls_id": 7, "name": "Team", "url": "http://ls.example:8080", "overlap": 3,
         "pulled_at": "2026-01-02T03:04:05+00:00"},
        {"id": "p-old", "ls_id": 2, "name": "Old", "url": "http://ls.example:8080"},  # overlap never recorded
    ])
    db["tasks"].insert_all([{"project_id": "p-team", "sentence_id": f"s{i}", "task_id": 100 + i} for i in range(1, 6)]
                           + [{"project_id": "p-old", "sentence_id": "s1", "task_id": 1}])
    statuses = {101: ["ok", "invalid", "ok"], 102: ["ok", "skipped"], 103: ["ok", "ok", "deleted"],
                104: ["accepted"], 105: ["ok", "ok", "ok", "ok"]}
    db["gold"].insert_all([{"id": f"g{t}-{k}", "project_id": "p-team", "task_id": t, "sentence_id": f"s{t - 100}",
                            "annotation_id": t * 10 + k, "status": s}
                           for t, ss in statuses.items() for k, s in enumerate(ss)]
                          + [{"id": "o1", "project_id": "p-old", "task_id": 1, "sentence_id": "s1",
                              "annotation_id": 1, "status": "ok"}])
    # submitted annotations a task (ok and invalid; not skipped, deleted or accepted): 3, 1, 2, 0, 4
    data = json.loads(run("status", "--json", "--db", str(path)).output)
    got = {p["name"]: (p["overlap"], p["annotations_per_task"], p["complete"]) for p in data["projects"]}
    assert got == {"Team": (3, [1, 1, 1, 1, 1], 2), "Old": (1, [0, 1], 1)}
    text = run("status", "--db", str(path)).output
    assert "Annotations per task (as of the last pull)" in text
    rows = table_rows(text)
    assert ["Team", "3", "0: 1 · 1: 1 · 2: 1 · 3: 1 · 4: 1", "2", "2026-01-02 03:04:05 UTC"] in rows
    assert ["Old", "1", "0: 0 · 1: 1", "1", "never"] in rows


# --------------------------------------------------------------------------- on a real Label Studio


class Annotator:
    """A person in the organization: joined through the invite link, working through their own token."""

    def __init__(self, url: str, invite: str) -> None:
        self.email = f"a{uuid.uuid4().hex[:8]}@example.org"
        with httpx.Client(base_url=url, timeout=60) as web:
            web.get("/user/signup/", params={"token": invite}).raise_for_status()
            signup = web.post("/user/signup/", params={"token": invite}, headers={"Referer": f"{url}/user/signup/"},
                              data={"email": self.email, "password": f"Pw-{uuid.uuid4().hex}",
                                    "csrfmiddlewaretoken": web.cookies["csrftoken"]})
            assert signup.status_code == 302, signup.text[:300]
            token = web.get("/api/current-user/token")
            token.raise_for_status()
        self.ls = open_client(url, token.json()["token"])
        self.done: list[int] = []

    def next_task(self, project_id: int) -> dict | None:
        """The task Label Studio's labeling queue gives this annotator, or None when it has none for them."""
        response = self.ls._client_wrapper.httpx_client.request(f"api/projects/{project_id}/next", method="GET")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def work(self, project_id: int, limit: int | None = None) -> list[int]:
        """Take tasks from the queue and submit each (the draft as it is), until it has none or `limit` are done."""
        taken = []
        while limit is None or len(taken) < limit:
            task = self.next_task(project_id)
            if task is None:
                break
            result = task["predictions"][0]["result"] if task.get("predictions") else []
            self.ls.annotations.create(id=task["id"], result=result, lead_time=2.0)
            taken.append(task["id"])
        self.done += taken
        return taken


def annotations_by_task(ls, project_id: int) -> dict[int, list[int]]:
    """Each task's annotators (user ids), from the server."""
    out = {}
    for task in ls.tasks.list(project=project_id, fields="all"):
        response = ls._client_wrapper.httpx_client.request(f"api/tasks/{task.id}/annotations/", method="GET")
        response.raise_for_status()
        out[task.id] = sorted(a["completed_by"] for a in response.json() if not a.get("was_cancelled"))
    return out


def server_overlap(ls, project_id: int) -> tuple[int, int, set[int]]:
    """(maximum_annotations, overlap_cohort_percentage, the tasks' overlaps) on the server."""
    project = ls.projects.get(id=project_id)
    overlaps = set()
    for task in ls.tasks.list(project=project_id, fields="all"):
        response = ls._client_wrapper.httpx_client.request(f"api/tasks/{task.id}", method="GET")
        response.raise_for_status()
        overlaps.add(response.json()["overlap"])
    return project.maximum_annotations, project.overlap_cohort_percentage, overlaps


@pytest.fixture
def pushed_db(tmp_path) -> Path:
    """Four sentences with drafts from the real annotate pipeline (stub LLM)."""
    path = tmp_path / "team.db"
    db = open_db(path)
    ingest(db, [DocInput(text=" ".join(SENTENCES), origin="test:team")])
    with StubLLM(responder=news_responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="t", model="stub-team", max_retries=0)
        assert annotate(db, client, SCHEMA, load_prompt(None, SCHEMA.name)).by_status == {"ok": 4}
    return path


def test_overlap_three_gives_each_task_to_three_annotators_through_the_queue(labelstudio, pushed_db) -> None:
    env = {"ANNOTATOR_DB": str(pushed_db), "LABEL_STUDIO_URL": labelstudio.url,
           "LABEL_STUDIO_API_KEY": labelstudio.token}
    name = f"team {uuid.uuid4().hex[:8]}"
    first = run("push", "-p", name, "--overlap", "3", env=env)
    assert first.exit_code == 0, first.output
    assert "Overlap: each task now goes to 3 annotators (was 1 annotator)." in first.output
    db = open_db(pushed_db)
    (project,) = db.query("SELECT ls_id, overlap FROM projects")
    pid = project["ls_id"]
    assert project["overlap"] == 3
    admin = open_client(labelstudio.url, labelstudio.token)
    assert server_overlap(admin, pid) == (3, 100, {3})
    again = run("push", "-p", name, "--overlap", "3", env=env)
    assert again.exit_code == 0 and "Overlap:" not in again.output, again.output
    assert "0 new tasks" in again.output

    invite = admin._client_wrapper.httpx_client.request("api/invite", method="GET").json()["token"]
    a, b, c, d = (Annotator(labelstudio.url, invite) for _ in range(4))
    tasks = sorted(db["tasks"].rows_where(select="task_id"), key=lambda r: r["task_id"])
    assert len(tasks) == 4

    # A does two tasks; B is given one A did (the queue fills tasks already started first)
    assert len(set(a.work(pid, limit=2))) == 2
    (b_first,) = b.work(pid, limit=1)
    assert b_first in a.done
    pulled = run("pull", "-p", name, env=env)
    assert pulled.exit_code == 0, pulled.output
    # by hand: one task has A and B, one has A, two have nobody
    status = json.loads(run("status", "--json", env=env).output)
    (row,) = status["projects"]
    assert (row["overlap"], row["annotations_per_task"], row["complete"]) == (3, [2, 1, 1, 0], 0)
    cells = [r[2] for r in table_rows(run("status", env=env).output) if r and r[0] == name and len(r) == 5]
    assert cells == ["0: 2 · 1: 1 · 2: 1 · 3: 0"]

    # A and B go on until the queue has nothing left for them: every task once each, never one twice
    a.work(pid)
    b.work(pid)
    assert sorted(a.done) == sorted(b.done) == sorted(t["task_id"] for t in tasks)
    assert a.next_task(pid) is None  # every task still needs a third annotator, but not A again
    # each task has two annotators and stays in the queue: C gets them all, then nothing
    c.work(pid, limit=3)
    d_took = d.work(pid)
    assert len(d_took) == 1 and d_took[0] not in c.done  # only the one task C left; none C completed
    assert c.next_task(pid) is None  # C's fourth task was completed by D in the meantime
    assert d.next_task(pid) is None
    assert Annotator(labelstudio.url, invite).next_task(pid) is None  # nor a newcomer, once every task has three
    users = {x.ls.users.whoami().id: x for x in (a, b, c, d)}
    done = annotations_by_task(admin, pid)
    assert sorted(done) == sorted(t["task_id"] for t in tasks)
    for task_id, by in done.items():
        assert len(by) == 3 and len(set(by)) == 3, (task_id, by)
        assert set(by) <= set(users)
    assert sum(len(by) for by in done.values()) == 12

    # past the queue an annotation is not limited: a fourth, by the admin, on one task
    admin.annotations.create(id=tasks[0]["task_id"], result=[], lead_time=1.0)
    assert run("pull", "-p", name, env=env).exit_code == 0
    (row,) = json.loads(run("status", "--json", env=env).output)["projects"]
    assert (row["annotations_per_task"], row["complete"]) == ([0, 0, 0, 3, 1], 4)

    # another N changes the project and says so; the counts above it keep their own items
    lower = run("push", "-p", name, "--overlap", "2", env=env)
    assert "Overlap: each task now goes to 2 annotators (was 3 annotators)." in lower.output, lower.output
    assert server_overlap(admin, pid) == (2, 100, {2})
    (row,) = json.loads(run("status", "--json", env=env).output)["projects"]
    assert (row["overlap"], row["annotations_per_task"], row["complete"]) == (2, [0, 0, 0, 3, 1], 4)


def test_a_push_without_overlap_leaves_the_project_s_and_records_it(labelstudio, pushed_db) -> None:
    db = open_db(pushed_db)
    ls = open_client(labelstudio.url, labelstudio.token)
    name = f"team {uuid.uuid4().hex[:8]}"
    report = push(db, ls, SCHEMA, name, url=labelstudio.url)
    assert report.overlap == "" and report.tasks_created == 4
    assert db["projects"].get(report.project_id)["overlap"] == 1  # Label Studio's default, as read
    ls.projects.update(id=report.ls_project_id, maximum_annotations=2)  # a lead changes it in Label Studio
    assert push(db, ls, SCHEMA, name, url=labelstudio.url).overlap == ""
    assert server_overlap(ls, report.ls_project_id)[0] == 2
    assert db["projects"].get(report.project_id)["overlap"] == 2
    with pytest.raises(InputError, match="--overlap 0 is not a number of annotators"):
        push(db, ls, SCHEMA, name, url=labelstudio.url, overlap=0)
    assert server_overlap(ls, report.ls_project_id)[0] == 2
