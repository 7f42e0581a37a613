"""Label Studio failures a user meets: wrong URL or key, a project deleted on the server, the server
stopping in the middle of a push. Every one is a one-line error naming the cause and the fix, and a push
run again afterwards adds nothing twice (real servers, no mocks)."""

from __future__ import annotations

import http.server
import re
import threading
import time
from typing import Any

import httpx
import pytest
from label_studio_sdk import LabelStudio

from annotator.errors import LabelStudioError
from annotator.labelstudio.api import open_client
from annotator.labelstudio.projects import recorded_project
from annotator.labelstudio.pull import pull
from annotator.labelstudio.push import push
from annotator.services.labelstudio import LabelStudioServer
from annotator.services.procs import port_is_free
from annotator.store import open_db
from tests.support.drafting import SCHEMA
from tests.support.labelstudio import drafted_db, project_name, server_tasks

pytestmark = pytest.mark.labelstudio


@pytest.fixture
def db(tmp_path):
    return drafted_db(tmp_path / "annotator.db")


@pytest.fixture
def ls(labelstudio) -> LabelStudio:
    return open_client(labelstudio.url, labelstudio.token)


class HTMLPage(http.server.BaseHTTPRequestHandler):
    """A web server that is not Label Studio: every GET is an HTML page."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        body = b"<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def connect_error(url: str, key: str) -> str:
    with pytest.raises(LabelStudioError) as info:
        open_client(url, key)
    message = str(info.value)
    assert "\n" not in message and "<" not in message and "secret" not in message, message
    return message


def test_connect_errors_are_one_line_with_a_fix(labelstudio):
    url, token = labelstudio.url, labelstudio.token
    message = connect_error(url, "not-a-valid-token")
    assert "API key was refused" in message and "LABEL_STUDIO_API_KEY" in message
    message = connect_error("http://me:secret@127.0.0.1:9", "whatever")
    assert "connection refused" in message and "annotator labelstudio start" in message
    assert "http://127.0.0.1:9" in message
    netloc = url.split("://", 1)[1]
    assert connect_error(netloc, token) == f"Label Studio URL {netloc} has no scheme; write http://{netloc}"
    message = connect_error("http://no-such-host.invalid:8080", token)
    assert "cannot resolve host no-such-host.invalid" in message and "refused" not in message
    message = connect_error(f"{url}/api", token)
    assert f"not Label Studio's API root; drop /api (write {url})" in message
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), HTMLPage) as other:
        threading.Thread(target=other.serve_forever, daemon=True).start()
        try:
            message = connect_error(f"http://127.0.0.1:{other.server_address[1]}", token)
        finally:
            other.shutdown()
    assert "not Label Studio's API root" in message and "drop /api" not in message


def test_a_project_deleted_on_the_server_is_one_line_with_a_fix(db, ls, labelstudio):
    name = project_name()
    report = push(db, ls, SCHEMA, name, url=labelstudio.url)
    ls.projects.delete(id=report.ls_project_id)
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
        tasks = server_tasks(ls, report.ls_project_id)
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
