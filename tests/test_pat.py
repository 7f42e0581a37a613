"""Personal access tokens on a real Label Studio started without legacy tokens, as a team's server runs.

The managed server is started by the CLI (`annotator labelstudio start --no-legacy-tokens`) in a home
of its own; `annotator labelstudio token` gives its admin's personal access token (made by a logged-in
session). With only that token in LABEL_STUDIO_API_KEY the whole loop runs: ingest and annotate (the
stub LLM), push (the page's raw data manager call included), pull, sync, eval, agreement's task links,
adjudicate (its view, another raw call), `annotator serve` (registration, /predict, the webhook's pull)
and `connect`; a server under a path prefix too. The legacy token works again once the organization
switches legacy tokens on. An expired token (signed with the server's own key, read from its data dir)
and a revoked one (a second user's, blacklisted) are each one line saying which. A refused access token
is renewed once. The token never reaches an output, a log or SQLite.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from label_studio_sdk import LabelStudio

from annotator.labelstudio.api import open_client
from annotator.labelstudio.auth import KeyAuth, key_kind, refusal
from annotator.services.labelstudio import LabelStudioServer
from annotator.services.labelstudio_tokens import login, set_legacy_tokens
from annotator.services.procs import free_port
from tests.support.cli import assert_one_error_line, run, run_child
from tests.support.prefix_proxy import PrefixProxy
from tests.support.responders import news_responder
from tests.support.serve import Serve, import_tasks, predictions_of, retrieve
from tests.support.stub_llm import StubLLM
from tests.support.waiting import wait_for

pytestmark = pytest.mark.labelstudio

TEXT = ("Police fired tear gas at protesters in Dakar on Monday. "
        "Gunmen attacked a convoy near Mopti, killing 12 soldiers.")
NEW_TOKEN = "make a new one in Label Studio (Account & Settings > Personal Access Token)"
MACHINE = ("LABEL_STUDIO_", "OPENAI_", "ANNOTATOR_")


class Team:
    """The managed Label Studio without legacy tokens, and everything the CLI printed against it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.outputs: list[str] = []
        creds = json.loads((home / "config" / "labelstudio.json").read_text())
        self.email, self.password, self.legacy = creds["email"], creds["password"], creds["token"]
        self.url = json.loads((home / "labelstudio" / "state.json").read_text())["url"]
        self.pat = ""

    def cli(self, *args: str, **env: str):
        """`annotator ARGS` in-process with this home and `env` only (nothing of the machine's)."""
        done = run(*args, env={"ANNOTATOR_HOME": str(self.home), **env})
        self.outputs.append(done.stdout + done.stderr)
        return done

    def ok(self, *args: str, **env: str) -> str:
        done = self.cli(*args, **env)
        assert done.exit_code == 0, (done.stdout, done.stderr)
        return done.stdout

    def child(self, *args: str, **env: str):
        """`annotator ARGS` as its own process, with this home and `env` only."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(MACHINE)}
        done = run_child(*args, env={**base, "ANNOTATOR_HOME": str(self.home), **env})
        self.outputs.append(done.stdout + done.stderr)
        return done

    def token(self) -> str:
        """What `annotator labelstudio token` prints (not kept with the outputs: printing it is its job)."""
        done = run("labelstudio", "token", env={"ANNOTATOR_HOME": str(self.home)})
        assert done.exit_code == 0, done.stderr
        return done.stdout.strip()

    def secret_key(self) -> str:
        """The key the server signs its tokens with (Label Studio keeps it in its data dir's .env)."""
        text = (self.home / "labelstudio" / "data" / ".env").read_text()
        return re.search(r"^SECRET_KEY=(.+)$", text, re.M).group(1).strip()


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    home = tmp_path_factory.mktemp("team")
    (home / "labelstudio-venv").symlink_to(LabelStudioServer().venv_dir)
    env = {"ANNOTATOR_HOME": str(home)}
    try:
        started = run("labelstudio", "start", "--no-legacy-tokens", env=env)
        assert started.exit_code == 0, started.stderr
        assert "  API keys: personal access tokens only\n" in started.stdout, started.stdout
        team = Team(home)
        team.outputs.append(started.stdout + started.stderr)
        team.pat = team.token()
        yield team
    finally:
        run("labelstudio", "stop", env=env)


@dataclass
class Loop:
    """A project pushed with the token alone, and how to run the CLI on it."""

    name: str
    pid: int
    tasks: list[int]
    db_file: Path
    env: dict[str, str]
    ls: LabelStudio
    stub: StubLLM


@pytest.fixture(scope="module")
def loop(team, tmp_path_factory):
    """ingest, annotate (the stub), push: with LABEL_STUDIO_API_KEY a personal access token and legacy tokens off."""
    where = tmp_path_factory.mktemp("loop")
    (where / "in.txt").write_text(TEXT)
    db_file, name = where / "annotator.db", f"pat {uuid.uuid4().hex[:8]}"
    with StubLLM(responder=news_responder) as stub:
        env = {"LABEL_STUDIO_URL": team.url, "LABEL_STUDIO_API_KEY": team.pat, "ANNOTATOR_DB": str(db_file),
               "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "test", "ANNOTATOR_MODEL": "stub-model"}
        team.ok("ingest", str(where / "in.txt"), **env)
        team.ok("annotate", **env)
        pushed = team.ok("push", "--project", name, **env)
        pid = int(re.search(rf"{re.escape(team.url)}/projects/(\d+)", pushed).group(1))
        assert ": 2 new tasks, 2 new predictions (0 tasks already there)" in pushed, pushed
        ls = open_client(team.url, team.pat)
        yield Loop(name, pid, sorted(t.id for t in ls.tasks.list(project=pid)), db_file, env, ls, stub)


def rows(db_file: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(db_file) as db:
        return db.execute(sql, params).fetchall()


def choices(event: str) -> list[dict]:
    return [{"id": "c", "from_name": "event_type", "to_name": "text", "type": "choices",
             "value": {"choices": [event]}},
            {"id": "a", "from_name": "attribution", "to_name": "text", "type": "choices",
             "value": {"choices": ["Asserted"]}}]


def test_legacy_tokens_are_off_and_the_token_command_gives_the_admins_personal_token(team) -> None:
    assert key_kind(team.pat) == "personal" and key_kind(team.legacy) == "legacy"
    refused = httpx.get(f"{team.url}/api/projects", headers={"Authorization": f"Token {team.legacy}"})
    assert refused.status_code == 401 and "legacy token authentication has been disabled" in refused.text
    assert team.token() == team.pat  # the same one, not a new one each time
    ls = LabelStudio(base_url=team.url, api_key=team.pat)  # the token works as a team's scripts use it
    assert ls.users.whoami().email == team.email
    done = team.cli("push", "--project", "legacy", "--db", str(team.home / "x.db"),
                    LABEL_STUDIO_URL=team.url, LABEL_STUDIO_API_KEY=team.legacy)
    assert_one_error_line(done, 1, f"Label Studio at {team.url}: checking the API key failed")
    assert done.stderr.strip() == (
        f"Error: Label Studio at {team.url}: checking the API key failed (this server has legacy "
        "tokens switched off and LABEL_STUDIO_API_KEY holds one); make a personal access token in "
        "Label Studio (Account & Settings > Personal Access Token) and set LABEL_STUDIO_API_KEY to it, "
        "or switch legacy tokens on (Organization > API Tokens Settings)")


def test_push_sends_the_tasks_predictions_and_page_with_the_token(team, loop) -> None:
    # Two sentences: two ok drafts, two tasks, each with its draft as prediction (ids recorded).
    assert rows(loop.db_file, "SELECT status, count(*) FROM drafts GROUP BY status") == [("ok", 2)]
    recorded = rows(loop.db_file, "SELECT task_id FROM tasks ORDER BY task_id")
    assert [r[0] for r in recorded] == loop.tasks and len(loop.tasks) == 2
    for task_id in loop.tasks:
        assert len(predictions_of(loop.ls, task_id)) == 1
    assert sorted(r[0] for r in rows(loop.db_file, "SELECT ls_prediction_id FROM predictions")) == sorted(
        p.id for p in loop.ls.predictions.list(project=loop.pid))
    # The page: instructions and the data manager view (set through the raw api/dm/columns call too).
    assert loop.ls.projects.get(id=loop.pid).show_instruction is True
    assert [v.data["title"] for v in loop.ls.views.list(project=loop.pid)] == ["Weakest drafts first"]
    again = team.ok("push", "--project", loop.name, **loop.env)
    assert ": 0 new tasks, 0 new predictions (2 tasks already there)" in again, again


def test_pull_and_sync_bring_the_gold_with_the_token(team, loop) -> None:
    me = loop.ls.users.whoami()
    tag = uuid.uuid4().hex[:6]
    other = loop.ls.users.create(username=f"b{tag}", email=f"b{tag}@example.org", password=uuid.uuid4().hex)
    made = [loop.ls.annotations.create(id=loop.tasks[0], completed_by=who.id, result=choices(event)).id
            for who, event in ((me, "Protest"), (other, "Riot"))]
    pulled = team.ok("pull", "--project", loop.name, **loop.env)
    assert pulled.startswith("Pulled 2 annotations from 1 tasks (2 ok): 2 new, 0 updated, 0 deleted, 0 unchanged"), pulled
    gold = rows(loop.db_file, "SELECT annotation_id, task_id, status, json_extract(data, '$.event_type') FROM gold "
                "ORDER BY annotation_id")
    assert gold == [(made[0], loop.tasks[0], "ok", "protest"), (made[1], loop.tasks[0], "ok", "riot")]
    third = loop.ls.annotations.create(id=loop.tasks[1], result=choices("Battle")).id
    synced = team.ok("sync", "--project", loop.name, **loop.env)
    assert ": 0 new tasks, 0 new predictions (2 tasks already there)" in synced, synced
    assert "Pulled 3 annotations from 2 tasks (3 ok): 1 new, 0 updated, 0 deleted, 2 unchanged" in synced, synced
    assert rows(loop.db_file, "SELECT task_id, status FROM gold WHERE annotation_id = ?", third) == [
        (loop.tasks[1], "ok")]


def test_eval_agreement_links_and_adjudicate_work_with_the_token(team, loop) -> None:
    report = json.loads(team.ok("eval", "--project", loop.name, "--json", **loop.env))
    assert report["groups"] and report["groups"][0]["model"] == "stub-model", report
    disputed = json.loads(team.ok("agreement", "--project", loop.name, "--json", **loop.env))["disagreements"]
    assert [d["link"] for d in disputed] == [f"{team.url}/projects/{loop.pid}/data?task={loop.tasks[0]}"], disputed
    said = team.ok("adjudicate", "--project", loop.name, **loop.env)  # a view of its own, made on the server
    (view,) = [v for v in loop.ls.views.list(project=loop.pid) if v.data.get("title") == "Adjudicate"]
    assert f"{team.url}/projects/{loop.pid}/data?tab={view.id}" in said, said
    assert said.startswith(f"1 tasks of project {loop.name!r} disagree: 1 to adjudicate, 0 settled"), said


def test_serve_registers_predicts_and_pulls_on_a_webhook_with_the_token(team, loop) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(MACHINE)}  # connect: the same home (its secret)
    serve = Serve({**base, **loop.env, "ANNOTATOR_HOME": str(team.home)}, loop.name, free_port(), loop.db_file)
    serve.start()  # registered with Label Studio: the ML backend and the webhook, with the token
    try:
        assert [b.url for b in loop.ls.ml.list(project=loop.pid)] == [serve.url]
        hooks = [h for h in loop.ls.webhooks.list(project=str(loop.pid)) if h.project == loop.pid]
        assert [h.url for h in hooks] == [f"{serve.url}/webhook"]
        (hand,) = import_tasks(loop.ls, loop.pid, ["Rebels shelled Goma overnight."])
        retrieve(loop.ls, loop.pid, [hand])  # Label Studio asks serve's /predict
        assert len(wait_for(lambda: predictions_of(loop.ls, hand), deadline=30)) == 1
        before = rows(loop.db_file, "SELECT count(*) FROM gold")[0][0]
        made = loop.ls.annotations.create(id=hand, result=choices("Battle")).id
        # the webhook's pull, with the token: the new annotation's gold row
        wait_for(lambda: rows(loop.db_file, "SELECT status FROM gold WHERE annotation_id = ?", made), deadline=30)
        assert rows(loop.db_file, "SELECT count(*) FROM gold")[0][0] == before + 1
        connected = team.ok("connect", "--project", loop.name, "--backend-url", serve.url, **loop.env)
        assert "already connected, nothing changed" in connected, connected
        assert [b.url for b in loop.ls.ml.list(project=loop.pid)] == [serve.url]
    finally:
        serve.stop()
        team.outputs.append("\n".join(serve.log))


def test_a_legacy_token_works_again_once_legacy_tokens_are_switched_on(team, loop) -> None:
    legacy_env = {**loop.env, "LABEL_STUDIO_API_KEY": team.legacy}
    with login(team.url, team.email, team.password) as session:
        set_legacy_tokens(session, True)
        try:
            answer = httpx.get(f"{team.url}/api/current-user/whoami", auth=KeyAuth(team.url, team.legacy))
            assert answer.status_code == 200 and answer.json()["email"] == team.email
            assert answer.request.headers["Authorization"] == f"Token {team.legacy}"
            for key in (legacy_env, loop.env):  # the legacy token, and the personal one at the same time
                synced = team.ok("sync", "--project", loop.name, **key)
                assert ": 0 new tasks, 0 new predictions (3 tasks already there)" in synced, synced
                assert re.search(r"^Pulled \d+ annotations .*: 0 new, 0 updated, 0 deleted, \d+ unchanged\.$", synced,
                                 re.M), synced
            assert rows(loop.db_file, "SELECT count(*) FROM gold") == [(4,)]
        finally:
            set_legacy_tokens(session, False)
    refused = team.cli("pull", "--project", loop.name, **legacy_env)
    assert_one_error_line(refused, 1, f"Label Studio at {team.url}: checking the API key failed (this server")


def test_an_expired_token_is_one_line_saying_so(team) -> None:
    claims = jwt.decode(team.pat, options={"verify_signature": False})
    now = int(time.time())
    expired = jwt.encode({**claims, "iat": now - 3600, "exp": now - 60, "jti": uuid.uuid4().hex},
                         team.secret_key(), algorithm="HS256")
    # The server itself says so (the same key signed it), and `refusal` reads its answer.
    answer = httpx.get(f"{team.url}/api/projects", auth=KeyAuth(team.url, expired))
    assert answer.status_code == 401 and refusal(answer.json()) == (
        "the personal access token in LABEL_STUDIO_API_KEY has expired", NEW_TOKEN + " and set LABEL_STUDIO_API_KEY to it")
    day = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now - 60))
    env = {"LABEL_STUDIO_URL": team.url, "LABEL_STUDIO_API_KEY": expired, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
           "OPENAI_API_KEY": "test", "ANNOTATOR_MODEL": "stub-model"}
    for command in (("pull", "--project", "anything"), ("serve", "--project", "anything")):
        done = team.child(*command, "--db", str(team.home / "x.db"), **env)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip() == (
            f"Error: Label Studio at {team.url}: the personal access token in LABEL_STUDIO_API_KEY "
            f"expired on {day}; {NEW_TOKEN} and set LABEL_STUDIO_API_KEY to it"), done.stderr


def joined_with_a_token(url: str, invite: str) -> tuple[str, httpx.Client]:
    """A person who joined through the invite link and made a personal access token (Account & Settings):
    the token, and their logged-in session (open; the caller closes it)."""
    web = httpx.Client(base_url=url, timeout=60)
    email = f"r{uuid.uuid4().hex[:8]}@example.org"
    web.get("/user/signup/", params={"token": invite}).raise_for_status()
    signup = web.post("/user/signup/", params={"token": invite}, headers={"Referer": f"{url}/user/signup/"},
                      data={"email": email, "password": f"Pw-{uuid.uuid4().hex}",
                            "csrfmiddlewaretoken": web.cookies["csrftoken"]})
    assert signup.status_code == 302, signup.text[:300]
    web.headers.update({"X-CSRFToken": web.cookies["csrftoken"], "Referer": f"{url}/"})
    made = web.post("/api/token/")
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert open_client(url, token).users.whoami().email == email
    return token, web


def test_a_revoked_token_is_one_line_saying_so(team) -> None:
    admin = open_client(team.url, team.pat)
    invite = admin._client_wrapper.httpx_client.request("api/invite", method="GET").json()["token"]
    theirs, web = joined_with_a_token(team.url, invite)
    try:
        revoked = web.post("/api/token/blacklist/", json={"refresh": theirs})
        assert revoked.status_code == 204, revoked.text
    finally:
        web.close()
    done = team.cli("push", "--project", "anything", "--db", str(team.home / "x.db"),
                    LABEL_STUDIO_URL=team.url, LABEL_STUDIO_API_KEY=theirs)
    assert_one_error_line(done, 1, f"Label Studio at {team.url}: checking the API key failed")
    assert done.stderr.strip() == (
        f"Error: Label Studio at {team.url}: checking the API key failed (the personal access token in "
        f"LABEL_STUDIO_API_KEY was revoked); {NEW_TOKEN} and set LABEL_STUDIO_API_KEY to it")
    assert open_client(team.url, team.pat).users.whoami().email == team.email  # the admin's own still works


def forged_access() -> str:
    """An access token of the admin that looks fresh but that the server refuses (not signed with its key)."""
    return jwt.encode({"token_type": "access", "user_id": "1", "exp": int(time.time()) + 300},
                      "not the server's key, long enough for HS256 signing", algorithm="HS256")


def test_an_access_token_the_server_refuses_is_renewed_once_and_the_request_sent_again(team) -> None:
    auth = KeyAuth(team.url, team.pat)
    with httpx.Client(auth=auth, timeout=30) as client:
        assert client.get(f"{team.url}/api/current-user/whoami").status_code == 200
        held = auth._held()
        assert held and key_kind(held) == "access"
        auth._access = forged_access()
        answer = client.get(f"{team.url}/api/current-user/whoami")  # 401, a new access token, sent again
        assert answer.status_code == 200 and answer.json()["email"] == team.email
        assert [r.status_code for r in answer.history] == [401, 200]  # the refused request, the refresh
        assert auth._held() not in (None, held)


def test_an_access_token_is_renewed_before_it_expires_without_a_refusal(team) -> None:
    auth = KeyAuth(team.url, team.pat)
    whoami = f"{team.url}/api/current-user/whoami"
    with httpx.Client(auth=auth, timeout=30) as client:
        first = client.get(whoami)
        assert first.status_code == 200 and [r.request.url.path for r in first.history] == ["/api/token/refresh/"]
        held = auth._held()
        found = jwt.decode(held, options={"verify_signature": False})
        assert found["exp"] - found["iat"] == 300  # Label Studio's access tokens live 5 minutes
        assert client.get(whoami).history == []  # held: no exchange
        auth._fresh_until = time.monotonic()  # as when the local clock reaches 30 s before its expiry
        renewed = client.get(whoami)
        assert renewed.status_code == 200 and [r.status_code for r in renewed.history] == [200]  # no 401 first
        assert renewed.history[0].request.url.path == "/api/token/refresh/" and auth._held() not in (None, held)


def test_the_commands_client_renews_a_refused_access_token_too(team) -> None:
    """The SDK alone would trust an access token until its `exp` and fail on the server's 401."""
    ls = open_client(team.url, team.pat)
    auth = ls._client_wrapper.httpx_client.httpx_client.auth
    assert isinstance(auth, KeyAuth) and key_kind(auth._held() or "") == "access"
    auth._access = forged = forged_access()
    assert ls.users.whoami().email == team.email
    assert auth._held() not in (None, forged)  # the renewed one is kept for the next call


def test_a_server_under_a_path_prefix_takes_the_token_too(team, loop, tmp_path) -> None:
    """The SDK would ask for access tokens at the host's root; KeyAuth asks under the server's own address."""
    (tmp_path / "in.txt").write_text(TEXT)
    name = f"prefixed {uuid.uuid4().hex[:8]}"
    with PrefixProxy(team.url, "/labelstudio") as proxy:
        env = {**loop.env, "LABEL_STUDIO_URL": proxy.url, "ANNOTATOR_DB": str(tmp_path / "prefixed.db")}
        team.ok("ingest", str(tmp_path / "in.txt"), **env)
        team.ok("annotate", **env)
        pushed = team.ok("push", "--project", name, **env)
        assert f"Pushed to {proxy.url}/projects/" in pushed and ": 2 new tasks, 2 new predictions" in pushed, pushed
        pid = int(re.search(rf"{re.escape(proxy.url)}/projects/(\d+)", pushed).group(1))
        first = min(t.id for t in loop.ls.tasks.list(project=pid))
        made = loop.ls.annotations.create(id=first, result=choices("Riot")).id
        pulled = team.ok("pull", "--project", name, **env)
        assert pulled.startswith("Pulled 1 annotations from 1 tasks (1 ok): 1 new, 0 updated"), pulled
    assert rows(tmp_path / "prefixed.db", "SELECT annotation_id, status FROM gold") == [(made, "ok")]
    assert proxy.outside == []  # nothing was asked outside the prefix


def test_the_token_reaches_no_output_log_or_database(team, loop) -> None:
    """Last: everything the module printed, the databases and the logs, without the token."""
    places = [loop.db_file, team.home / "x.db", *(team.home / "logs").glob("*.log")]  # Label Studio's log too
    assert len(places) >= 3 and team.outputs and team.pat
    for text in team.outputs:
        assert team.pat not in text
    for place in places:
        files = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]
        files += [p for p in place.parent.glob(place.name + "-*") if p.is_file()]  # SQLite's WAL and SHM
        for file in files:
            assert team.pat.encode() not in file.read_bytes(), file
