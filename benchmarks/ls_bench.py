"""Items 4 and 5: push and pull against a real Label Studio, each against the raw API call in the same run."""

from __future__ import annotations

import copy
import time
from typing import Any

import httpx

from annotator.annotate import annotate
from annotator.labelstudio.api import IMPORT_OPTIONS, open_client
from annotator.labelstudio.config import label_config
from annotator.labelstudio.pull import pull
from annotator.labelstudio.push import push
from annotator.llm import LLMClient
from annotator.services.labelstudio import LabelStudioServer
from benchmarks.common import MODEL, PROMPT, SCHEMA, Result, StubProcess, check, fresh_db

SETUP_CHUNK = 2000


class LabelStudioFixture:
    """One Label Studio on a fresh data dir for the run, a database with drafts, the captured push payload."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.server: LabelStudioServer | None = None
        self.info: Any = None
        self.db: Any = None
        self.payload: list[dict] | None = None

    def start(self) -> Any:
        if self.info is None:
            print("  starting Label Studio on a fresh data dir (about 25 s)...", flush=True)
            started = time.perf_counter()
            self.server = LabelStudioServer(base_dir=self.ctx.tmp / "labelstudio")
            self.info = self.server.start()
            print(f"  Label Studio at {self.info.url} after {time.perf_counter() - started:.0f} s", flush=True)
        return self.info

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server, self.info = None, None

    def client(self):
        info = self.start()
        return open_client(info.url, info.token, timeout=600)

    def drafts_db(self, n: int):
        """`n` sentences with an ok draft each, from the real annotate pipeline against the stub."""
        if self.db is None:
            self.db = fresh_db(self.ctx.tmp, "labelstudio", n)
            with StubProcess(latency=0.0) as stub:
                client = LLMClient(base_url=stub.base_url, api_key="bench", model=MODEL)
                report = annotate(self.db, client, SCHEMA, PROMPT, concurrency=4)
            if report.by_status != {"ok": n}:
                raise RuntimeError(f"annotate did not draft every sentence: {report.by_status}")
        return self.db

    def raw_import(self, project_id: int, tasks: list[dict]) -> tuple[float, list[int]]:
        """One bulk import over plain HTTP (httpx, JSON body): seconds and task ids."""
        info = self.start()
        started = time.perf_counter()
        response = httpx.post(f"{info.url}/api/projects/{project_id}/import", params={"return_task_ids": "true"},
                              json=tasks, headers={"Authorization": f"Token {info.token}"}, timeout=1800)
        seconds = time.perf_counter() - started
        response.raise_for_status()
        return seconds, response.json().get("task_ids") or []

    def raw_export(self, project_id: int) -> tuple[float, list[dict]]:
        """The raw export call (GET /api/projects/{id}/export?exportType=JSON): seconds and tasks."""
        info = self.start()
        started = time.perf_counter()
        response = httpx.get(f"{info.url}/api/projects/{project_id}/export", params={"exportType": "JSON"},
                             headers={"Authorization": f"Token {info.token}"}, timeout=1800)
        response.raise_for_status()
        tasks = response.json()
        return time.perf_counter() - started, tasks


def _new_project(ls, title: str) -> int:
    return ls.projects.create(title=title, label_config=label_config(SCHEMA),
                              request_options={"max_retries": 0}).id


def bench_push(ctx: Any) -> None:
    """Push N drafted sentences: push() vs one raw bulk import of the same payload; vs one SDK call per task."""
    n, sample = ctx.sizes.push_n, ctx.sizes.sdk_sample
    fx = ctx.labelstudio
    db = fx.drafts_db(n)
    ls = fx.client()
    url = fx.info.url

    # push() into project A, recording what it sends (the payload for the raw baseline).
    push_a, first, captured = recorded_push(db, ls, "bench push A", url)
    payload = fx.payload = [task for chunk in captured for task in chunk]
    if first.tasks_created != n or len(payload) != n:
        raise RuntimeError(f"push created {first.tasks_created} tasks ({len(payload)} sent), wanted {n}")

    # The same payload as one raw bulk import, between two pushes (A B A: the server slows as it fills).
    raw_s, ids = fx.raw_import(_new_project(ls, "bench raw bulk import"), payload)
    if len(ids) != n:
        raise RuntimeError(f"the raw import returned {len(ids)} task ids for {n} tasks")
    started = time.perf_counter()
    second = push(db, ls, SCHEMA, "bench push B", url=url)
    push_b = time.perf_counter() - started
    if second.tasks_created != n:
        raise RuntimeError(f"the second push created {second.tasks_created} tasks, wanted {n}")
    push_s = (push_a + push_b) / 2

    # One SDK call per task, on a sample.
    pid = _new_project(ls, "bench sdk per task")
    started = time.perf_counter()
    for task in payload[:sample]:
        ls.projects.import_tasks(id=pid, request=[task], return_task_ids=True, request_options=IMPORT_OPTIONS)
    sdk_s = time.perf_counter() - started
    per_task_sdk, per_task_push = sdk_s / sample, push_s / n

    details = {"tasks": n, "push_s": [push_a, push_b], "raw_import_s": raw_s, "chunks": len(captured),
               "sdk_sample": sample, "sdk_sample_s": sdk_s, "predictions": first.predictions_created,
               "per_task_ms": {"push": per_task_push * 1000, "sdk": per_task_sdk * 1000}}
    ratio = push_s / raw_s
    ctx.add(Result("push", f"push {n:,} drafted sentences vs one raw bulk import", push_s, "s", raw_s,
                   "raw import s", ratio, "<= 1.5", check(ratio, "<= 1.5"),
                   f"push runs {push_a:.1f} s and {push_b:.1f} s around the raw import; "
                   f"{len(captured)} import calls of up to 1,000 tasks", details))
    ctx.add(Result("push_vs_sdk", f"speed-up over one SDK call per task ({sample} tasks sampled)",
                   per_task_sdk / per_task_push, "x", None, "", per_task_sdk / per_task_push, "", None,
                   f"{per_task_sdk * 1000:.1f} ms a task with one SDK call each, {per_task_push * 1000:.2f} ms "
                   f"with push", details))


def _changed(result: list[dict]) -> list[dict]:
    """The same annotation with another event type (what an annotator's correction looks like)."""
    out = [item for item in copy.deepcopy(result) if item.get("from_name") != "event_type"]
    out.append({"id": "bench-event", "from_name": "event_type", "to_name": "text", "type": "choices",
                "value": {"choices": ["riot"]}})
    return out


def bench_pull(ctx: Any) -> None:
    """Pull N annotated tasks: pull() vs the raw export call; a re-pull after some annotations changed."""
    n, changed = ctx.sizes.pull_n, ctx.sizes.pull_changed
    fx = ctx.labelstudio
    db = fx.drafts_db(n)
    ls = fx.client()
    url = fx.info.url
    if fx.payload is None or len(fx.payload) < n:  # --only pull: build the payload with a push
        bench_push_payload(ctx)
    tasks = [{**t, "annotations": [{"result": (t.get("predictions") or [{}])[0].get("result") or []}]}
             for t in fx.payload[:n]]

    # Set up: a project holding n tasks, each with an annotation (and the prediction), imported in bulk;
    # push adopts it (same title and config) and records sentence -> task.
    pid = _new_project(ls, "bench pull")
    started = time.perf_counter()
    for i in range(0, len(tasks), SETUP_CHUNK):
        ls.projects.import_tasks(id=pid, request=tasks[i:i + SETUP_CHUNK], return_task_ids=True,
                                 request_options=IMPORT_OPTIONS)
    adopted = push(db, ls, SCHEMA, "bench pull", url=url)
    setup_s = time.perf_counter() - started
    if adopted.tasks_reconciled != n or adopted.tasks_created:
        raise RuntimeError(f"push did not adopt the {n} imported tasks: {adopted}")
    time.sleep(2.5)  # past pull's 2 s overlap margin, so the re-pull sees only the changed tasks

    export_before, exported = fx.raw_export(pid)
    started = time.perf_counter()
    full = pull(db, ls, SCHEMA, "bench pull", url=url)
    pull_s = time.perf_counter() - started
    export_after, _ = fx.raw_export(pid)
    export_s = (export_before + export_after) / 2
    if full.inserted != n or len(exported) != n:
        raise RuntimeError(f"full pull inserted {full.inserted} gold rows, export had {len(exported)}; wanted {n}")

    # Change `changed` annotations, spread over the project, then pull again.
    step = max(1, len(exported) // changed)
    picked = [t["annotations"][0] for t in exported[::step][:changed]]
    started = time.perf_counter()
    for annotation in picked:
        ls.annotations.update(id=annotation["id"], result=_changed(annotation["result"]))
    update_s = time.perf_counter() - started
    started = time.perf_counter()
    again = pull(db, ls, SCHEMA, "bench pull", url=url)
    repull_s = time.perf_counter() - started
    if again.updated != changed:
        raise RuntimeError(f"re-pull updated {again.updated} gold rows, wanted {changed}: {again}")

    details = {"tasks": n, "setup_s": setup_s, "pull_s": pull_s, "export_s": [export_before, export_after],
               "full": {"tasks_seen": full.tasks_seen, "inserted": full.inserted},
               "changed": changed, "update_s": update_s, "repull_s": repull_s,
               "repull": {"tasks_seen": again.tasks_seen, "updated": again.updated, "unchanged": again.unchanged}}
    ratio = pull_s / export_s
    ctx.add(Result("pull", f"pull {n:,} annotated tasks vs the raw export call", pull_s, "s", export_s,
                   "raw export s", ratio, "<= 1.5", check(ratio, "<= 1.5"),
                   f"exports {export_before:.1f} s and {export_after:.1f} s around the pull", details))
    ratio = repull_s / pull_s
    ctx.add(Result("pull_incremental", f"re-pull after {changed} annotations changed", repull_s, "s", pull_s,
                   "full pull s", ratio, "<= 0.1", check(ratio, "<= 0.1"),
                   f"saw {again.tasks_seen} tasks, updated {again.updated} gold rows", details))


def recorded_push(db: Any, ls: Any, project: str, url: str) -> tuple[float, Any, list[list[dict]]]:
    """push() timed, with the request of every import call it makes recorded."""
    captured: list[list[dict]] = []
    sdk_import = ls.projects.import_tasks

    def recording(**kw: Any) -> Any:
        captured.append(list(kw["request"]))  # references only: nothing measurable added to push's time
        return sdk_import(**kw)

    ls.projects.import_tasks = recording
    try:
        started = time.perf_counter()
        report = push(db, ls, SCHEMA, project, url=url)
        return time.perf_counter() - started, report, captured
    finally:
        ls.projects.import_tasks = sdk_import


def bench_push_payload(ctx: Any) -> None:
    """The push payload without the push benchmark (for --only pull): one push, recorded."""
    fx = ctx.labelstudio
    _, _, captured = recorded_push(fx.db, fx.client(), "bench push payload", fx.info.url)
    fx.payload = [task for chunk in captured for task in chunk]
