"""The team benchmark's annotators: Label Studio users with their own tokens submitting through the API at once,
while `annotator serve` pulls on each webhook; then every annotation is checked to be in SQLite exactly once.

Users are made by the admin through `POST /api/users/` (which adds them to the organization); Label Studio makes
each a legacy token, read once with its own Django models in its own environment (no API returns another user's
token). The same step sets each user's active organization, as Label Studio's sign-up does (and its middleware on
a user's first web session): a user made through the API has none until then, and Label Studio sends a request's
webhooks to the requesting user's active organization, so an API-only user's annotations would send none.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from annotator.labelstudio.api import task_pages
from benchmarks.common import MODEL, StubProcess, free_port

EVENT_TYPES = ["battle", "riot", "protest", "none", "explosion_remote_violence", "violence_against_civilians",
               "strategic_development", "battle"]
TOKENS = """
import json, os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.label_studio")
django.setup()
from organizations.models import Organization
from users.models import User
users = list(User.objects.filter(email__in=sys.argv[1:]))
for u in users:
    u.active_organization = Organization.objects.first()
    u.save(update_fields=["active_organization"])
print(json.dumps({u.email: u.auth_token.key for u in users}))
"""
DEADLINE = 600.0
"""Seconds to wait for SQLite to hold every annotation after the last submit (a failure, never a figure)."""


def make_annotators(server: Any, info: Any, count: int) -> list[tuple[str, str]]:
    """`count` new users of the admin's organization, it their active one: (email, legacy token)."""
    emails = [f"annotator{k + 1}@team.bench" for k in range(count)]
    with httpx.Client(base_url=info.url, headers={"Authorization": f"Token {info.token}"}, timeout=60) as http:
        for k, email in enumerate(emails):
            made = http.post("/api/users/", json={"email": email, "username": f"annotator{k + 1}",
                                                  "first_name": f"Annotator {k + 1}"})
            if made.status_code != 201:
                raise RuntimeError(f"could not make user {email}: HTTP {made.status_code} {made.text[:200]}")
    package = next(server.venv_dir.glob("lib/python3*/site-packages/label_studio"))
    done = subprocess.run([str(server.venv_dir / "bin" / "python"), "-c", TOKENS, *emails], env=server._env(),
                          cwd=package, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"could not read the users' tokens: {done.stderr.strip()[-500:]}")
    tokens = json.loads(done.stdout.strip().splitlines()[-1])
    return [(email, tokens[email]) for email in emails]


def start_serve(info: Any, db_path: Path, project: str, home: Path, llm_url: str) -> subprocess.Popen:
    """`annotator serve --register` in its own process, webhooks only (its timer set to an hour)."""
    env = {**os.environ, "ANNOTATOR_HOME": str(home), "OPENAI_BASE_URL": llm_url, "OPENAI_API_KEY": "bench",
           "ANNOTATOR_MODEL": MODEL, "LABEL_STUDIO_URL": info.url, "LABEL_STUDIO_API_KEY": info.token}
    proc = subprocess.Popen([sys.executable, "-m", "annotator", "serve", "--project", project, "--register",
                             "--port", str(free_port()), "--db", str(db_path), "--pull-every", "3600"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "registered with Label Studio" in line:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
            return proc
    raise RuntimeError(f"serve did not start (exit {proc.wait()})")


def vm_peak_mb(pid: int) -> float | None:
    """A running process's peak resident set (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def annotation_result(event: str) -> list[dict]:
    """An annotation's result: the event type `event`, attribution claimed, no spans."""
    return [{"id": "e", "from_name": "event_type", "to_name": "text", "type": "choices",
             "value": {"choices": [event]}},
            {"id": "a", "from_name": "attribution", "to_name": "text", "type": "choices",
             "value": {"choices": ["claimed"]}}]


def _submit(info: Any, token: str, task_ids: list[int], event: str, out: dict) -> None:
    """One annotator: an annotation on each task, in turn (a failed POST is tried again, at most 3 times)."""
    result = annotation_result(event)
    with httpx.Client(base_url=info.url, headers={"Authorization": f"Token {token}"}, timeout=120) as http:
        for task_id in task_ids:
            for attempt in range(3):
                sent = time.perf_counter()
                try:
                    made = http.post(f"/api/tasks/{task_id}/annotations/", json={"result": result, "lead_time": 4.2})
                except httpx.HTTPError as exc:
                    out["errors"].append(f"{type(exc).__name__}")
                    continue
                if made.status_code == 201:
                    out["ids"].append(made.json()["id"])
                    out["times"].append((sent, time.perf_counter()))
                    break
                out["errors"].append(f"HTTP {made.status_code}: {made.text[:120]}")
                time.sleep(0.2 * (attempt + 1))
        out["ended"] = time.perf_counter()


def submit_all(info: Any, annotators: list[tuple[str, str]], task_ids: list[int], each: int) -> dict:
    """Every annotator at once, `each` tasks apiece; annotator k starts half a share after k - 1, so every task
    they reach gets two annotators."""
    outs = [{"ids": [], "times": [], "errors": []} for _ in annotators]
    threads = []
    for k, (_, token) in enumerate(annotators):
        mine = [task_ids[(k * each // 2 + j) % len(task_ids)] for j in range(each)]
        threads.append(threading.Thread(target=_submit, args=(info, token, mine, EVENT_TYPES[k % 8], outs[k])))
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    last = max(o["ended"] for o in outs)
    ids = [i for o in outs for i in o["ids"]]
    times = dict(zip(ids, (t for o in outs for t in o["times"]), strict=True))
    return {"ids": ids, "times": times, "errors": [e for o in outs for e in o["errors"]], "started": started,
            "last": last, "seconds": last - started, "per_s": len(ids) / (last - started)}


def read(db_path: Path, sql: str, params: list) -> list[tuple]:
    """Rows of a query on a read-only connection (serve is writing the same file)."""
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


def gold_ids(db_path: Path, project_id: str) -> list[int]:
    return [r[0] for r in read(db_path, "SELECT annotation_id FROM gold WHERE project_id = ?", [project_id])]


def server_annotations(ls: Any, info: Any, ls_project_id: int) -> dict[int, int]:
    """Annotation id -> task id of every annotation the project holds, as the Data Manager lists them."""
    out: dict[int, int] = {}
    query = {"filters": {"conjunction": "and", "items": [
        {"filter": "filter:tasks:total_annotations", "operator": "greater", "type": "Number", "value": 0}]}}
    for page in task_pages(ls, url=info.url, ls_project_id=ls_project_id, query=query, include="id,annotations",
                           doing="listing the annotations"):
        for task in page:
            out.update((a["id"], task["id"]) for a in task.get("annotations") or [])
    return out


class GoldWatcher(threading.Thread):
    """When each annotation id of a project first shows in SQLite's gold (polled every 50 ms, read-only)."""

    def __init__(self, db_path: Path, project_id: str) -> None:
        super().__init__(daemon=True)
        self.db_path, self.project_id = db_path, project_id
        self.seen: dict[int, float] = {}
        self.done = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.done.is_set():
            now, ids = time.perf_counter(), gold_ids(self.db_path, self.project_id)
            with self.lock:
                for annotation_id in ids:
                    self.seen.setdefault(annotation_id, now)
            time.sleep(0.05)

    def holds(self, wanted: set[int]) -> bool:
        with self.lock:
            return wanted <= self.seen.keys()


def lags(times: dict[int, tuple[float, float]], seen: dict[int, float]) -> dict[str, float]:
    """Seconds from each POST sent (submit) and from its 201 to the annotation's gold row: median and p95."""
    def summary(values: list[float]) -> tuple[float, float]:
        ordered = sorted(values)
        return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    from_submit = [seen[a] - sent for a, (sent, _) in times.items()]
    from_created = [seen[a] - made for a, (_, made) in times.items()]
    (s50, s95), (c50, c95) = summary(from_submit), summary(from_created)
    posts = summary([made - sent for sent, made in times.values()])
    return {"lag_submit_p50_s": s50, "lag_submit_p95_s": s95, "lag_created_p50_s": c50, "lag_created_p95_s": c95,
            "post_p50_s": posts[0], "post_p95_s": posts[1]}


def bench_annotators(server: Any, info: Any, ls: Any, db_path: Path, project: str, tmp: Path,
                     count: int = 8, each: int = 125) -> dict:
    """`count` annotators submitting `each` annotations apiece through the API on `project`, served by `serve`."""
    (project_id, ls_project_id), = read(db_path, "SELECT id, ls_id FROM projects WHERE name = ?", [project])
    task_ids = [r[0] for r in read(db_path, "SELECT task_id FROM tasks WHERE project_id = ? ORDER BY task_id",
                                   [project_id])]
    started = time.perf_counter()
    annotators = make_annotators(server, info, count)
    users_s = time.perf_counter() - started
    with StubProcess(latency=0.0) as stub:
        serve = start_serve(info, db_path, project, tmp / f"serve-home-{ls_project_id}", stub.base_url)
        watcher = GoldWatcher(db_path, project_id)
        try:
            _wait(lambda: _pulled(db_path, project_id), "serve's first pull")
            watcher.start()
            sent = submit_all(info, annotators, task_ids, each)
            wanted = set(sent["ids"])
            _wait(lambda: watcher.holds(wanted), "every annotation in SQLite")
            lag = time.perf_counter() - sent["last"]
            time.sleep(3.0)  # any late pull would write now: the count below is then final
            serve_peak = vm_peak_mb(serve.pid)
        finally:
            watcher.done.set()
            if watcher.is_alive():
                watcher.join(10)
            serve.terminate()
            serve.wait(60)
    on_server = server_annotations(ls, info, ls_project_id)
    rows = gold_ids(db_path, project_id)
    webhooks = read(db_path, "SELECT webhooks FROM serve_links WHERE project_id = ?", [project_id])
    people = read(db_path, "SELECT COUNT(DISTINCT annotator) FROM gold WHERE project_id = ?", [project_id])[0][0]
    return {"annotators": count, "each": each, "users_s": users_s, "submitted": len(sent["ids"]),
            "submit_errors": len(sent["errors"]), "error_examples": sent["errors"][:5],
            "submit_s": sent["seconds"], "submit_per_s": sent["per_s"], "lag_s": lag,
            **lags(sent["times"], watcher.seen),
            "server_annotations": len(on_server), "gold_rows": len(rows), "gold_distinct": len(set(rows)),
            "duplicates": len(rows) - len(set(rows)), "missing": len(set(on_server) - set(rows)),
            "exactly_once": sorted(rows) == sorted(on_server) and set(on_server) >= wanted,
            "gold_annotators": people, "webhooks": webhooks[0][0] if webhooks else 0, "serve_peak_mb": serve_peak}


def _pulled(db_path: Path, project_id: str) -> bool:
    return bool(read(db_path, "SELECT pulled_at FROM projects WHERE id = ?", [project_id])[0][0])


def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {DEADLINE:.0f} s")
        time.sleep(0.05)
