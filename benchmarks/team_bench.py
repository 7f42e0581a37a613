"""Teams at scale: push and pull of N tasks against Label Studio on SQLite and on PostgreSQL in one run, then
eight annotators submitting through the API at once while `annotator serve` pulls by webhooks.

    python -m benchmarks.team_bench                  # 100,000 tasks
    python -m benchmarks.team_bench --tasks 2000     # a smoke run

N sentences are ingested and drafted once (the stub LLM in its own process) and the database is copied for each
Label Studio, each on a fresh data dir; PostgreSQL is a fresh cluster in a temporary directory (Debian's
binaries, tests/support/pg_cluster.py, restarted with fsync on), stopped after. On each:

- push: `push` of all N tasks with their predictions, in its own process (its peak RSS, and Label Studio's
  during the step: VmHWM, reset before each step);
- set-up for pull: the pushed tasks are read back through the Data Manager and imported into a second project,
  each with an annotation (the prediction's result) and its prediction, then `push` to that project adopts
  the tasks (it reconciles with the server) so SQLite knows them;
- pull: `pull` of all N annotated tasks (the first, full pull), a re-pull with nothing new, then a re-pull after
  a few changes through the API (10 annotations updated, 10 added, 5 deleted: it must write exactly those);
- team: eight users made through the API, each with its own token, annotate the pushed project at once
  (two annotators a task) while `annotator serve --register` pulls on each webhook (its timer set to an
  hour); every annotation the server lists must be in SQLite exactly once (by annotation id), and each
  annotation's lag from its submit to its gold row is measured (SQLite polled every 50 ms).

Figures go to benchmarks/results/team.json (team-figures.json: every figure) and a side-by-side table is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from annotator.annotate import annotate
from annotator.labelstudio.api import IMPORT_OPTIONS, open_client, task_pages
from annotator.labelstudio.config import label_config
from annotator.llm import LLMClient
from annotator.services.labelstudio import LabelStudioServer
from benchmarks.common import (
    MODEL,
    PROMPT,
    RESULTS,
    ROOT,
    SCHEMA,
    Result,
    StubProcess,
    fmt,
    fresh_db,
    save,
)
from benchmarks.team_annotators import annotation_result, bench_annotators, read, vm_peak_mb
from tests.support import pg_cluster

DATABASES = ("sqlite", "postgresql")
PUSHED, PULLED = "team push", "team pull"
ANNOTATORS, EACH = 8, 125
CHANGED = {"updated": 10, "inserted": 10, "deleted": 5}
"""The re-pull after changes: annotations changed through the API, each kind spread over the project."""


def drafted(tmp: Path, n: int) -> tuple[Path, float]:
    """A database of `n` sentences with an ok draft each (annotate against the stub); its path and seconds."""
    started = time.perf_counter()
    db = fresh_db(tmp, "drafts", n)
    with StubProcess(latency=0.0) as stub:
        report = annotate(db, LLMClient(base_url=stub.base_url, api_key="bench", model=MODEL), SCHEMA, PROMPT,
                          concurrency=8)
    if report.by_status != {"ok": n}:
        raise RuntimeError(f"annotate did not draft every sentence: {report.by_status}")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return tmp / "drafts.db", time.perf_counter() - started


def child(step: str, db_path: Path, info: Any, project: str) -> dict:
    """`push` or `pull` in its own process (benchmarks/ls_child.py): seconds, peak RSS, the report, and Label
    Studio's peak RSS during the step."""
    env = {**os.environ, "LABEL_STUDIO_URL": info.url, "LABEL_STUDIO_API_KEY": info.token}
    reset_peak(info.pid)
    done = subprocess.run([sys.executable, "-m", "benchmarks.ls_child", step, "--db", str(db_path),
                           "--project", project], env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{step} failed: {done.stderr.strip()[-1500:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "ls_peak_mb": vm_peak_mb(info.pid)}


def reset_peak(pid: int | None) -> None:
    """Start a process's peak resident set (VmHWM) afresh from its current size."""
    if pid:
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def change_a_few(info: Any, db_path: Path, project: str) -> dict[str, int]:
    """Change CHANGED's annotations of `project` through the API (spread over its tasks): what a pull must write."""
    (project_id,), = read(db_path, "SELECT id FROM projects WHERE name = ?", [project])
    rows = read(db_path, "SELECT task_id, annotation_id FROM gold WHERE project_id = ? AND status = 'ok' "
                         "ORDER BY task_id", [project_id])
    picked = rows[::max(1, len(rows) // sum(CHANGED.values()))]
    updated, added = picked[:CHANGED["updated"]], picked[CHANGED["updated"]:CHANGED["updated"] + CHANGED["inserted"]]
    deleted = picked[len(updated) + len(added):sum(CHANGED.values())]
    with httpx.Client(base_url=info.url, headers={"Authorization": f"Token {info.token}"}, timeout=120) as http:
        for _, annotation_id in updated:
            http.patch(f"/api/annotations/{annotation_id}/", json={"result": annotation_result("riot")}
                       ).raise_for_status()
        for task_id, _ in added:
            http.post(f"/api/tasks/{task_id}/annotations/", json={"result": annotation_result("protest"),
                                                                  "lead_time": 3.0}).raise_for_status()
        for _, annotation_id in deleted:
            http.delete(f"/api/annotations/{annotation_id}/").raise_for_status()
    return {"updated": len(updated), "inserted": len(added), "deleted": len(deleted)}


def annotated_copy(ls: Any, info: Any, source: int, title: str) -> dict:
    """The pushed project's tasks read back and imported into a new project `title`, each with an annotation
    (its prediction's result) and its prediction: seconds, tasks."""
    started = time.perf_counter()
    pid = ls.projects.create(title=title, label_config=label_config(SCHEMA), request_options={"max_retries": 0}).id
    copied = 0
    for page in task_pages(ls, url=info.url, ls_project_id=source, query={}, include="id,data,predictions",
                           doing="reading the pushed tasks"):
        tasks = [{"data": t["data"],
                  "predictions": [{k: p.get(k) for k in ("model_version", "score", "result")} for p in t["predictions"]],
                  "annotations": [{"result": t["predictions"][-1]["result"], "lead_time": 4.2}]} for t in page]
        ls.projects.import_tasks(id=pid, request=tasks, return_task_ids=True, request_options=IMPORT_OPTIONS)
        copied += len(tasks)
    return {"seconds": time.perf_counter() - started, "tasks": copied, "ls_project_id": pid}


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL cluster (fsync on, as a real server), stopped and removed after: a database URL."""
    cluster = pg_cluster.PostgresCluster.start()
    try:
        data, log = str(cluster.root / "data"), str(cluster.root / "server.log")
        options = f"-p {cluster.port} -k {cluster.root} -c listen_addresses=127.0.0.1 -c fsync=on"
        cluster._run("pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop")
        cluster._run("pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "-t", "60", "start")
        if cluster.sql("SHOW fsync") != [["on"]]:
            raise RuntimeError("PostgreSQL did not restart with fsync on")
        yield cluster.create_database("labelstudio", "labelstudio", secrets.token_urlsafe(12))
    finally:
        cluster.stop()


def run_on(kind: str, tmp: Path, n: int, drafts: Path, database: str | None, each: int,
           out: dict[str, Any]) -> dict:
    """Push, pull and the team on one Label Studio (SQLite, or the PostgreSQL `database`), into `out`."""
    db_path = tmp / f"{kind}.db"
    shutil.copy(drafts, db_path)
    server = LabelStudioServer(base_dir=tmp / f"labelstudio-{kind}", database=database)
    print(f"--- {kind}: starting Label Studio on a fresh data dir ({clock()})", flush=True)
    started = time.perf_counter()
    info = server.start()
    out.update({"database": info.database.split(" ")[0], "start_s": time.perf_counter() - started})
    try:
        ls = open_client(info.url, info.token, timeout=600)
        out["push"] = step("push", child("push", db_path, info, PUSHED), {"tasks_created": n})
        reset_peak(info.pid)
        out["copy"] = annotated_copy(ls, info, out["push"]["report"]["ls_project_id"], PULLED)
        out["copy"]["ls_peak_mb"] = vm_peak_mb(info.pid)
        print(f"  set-up: {n:,} annotated tasks imported in {out['copy']['seconds']:.0f} s ({clock()})", flush=True)
        out["adopt"] = step("adopting push", child("push", db_path, info, PULLED), {"tasks_reconciled": n})
        out["pull"] = step("pull", child("pull", db_path, info, PULLED), {"inserted": n})
        out["repull"] = step("re-pull, nothing new", child("pull", db_path, info, PULLED),
                             {"inserted": 0, "updated": 0, "deleted": 0})
        out["changed"] = change_a_few(info, db_path, PULLED)
        out["repull_changed"] = step("re-pull after changes", child("pull", db_path, info, PULLED), out["changed"])
        print(f"  team: {ANNOTATORS} annotators, {each} annotations each, serve on webhooks ({clock()})", flush=True)
        reset_peak(info.pid)
        out["team"] = bench_annotators(server, info, ls, db_path, PUSHED, tmp, ANNOTATORS, each)
        out["team"]["ls_peak_mb"] = vm_peak_mb(info.pid)
        if not out["team"]["exactly_once"]:
            raise RuntimeError(f"SQLite does not hold every annotation exactly once: {out['team']}")
        t = out["team"]
        print(f"  {t['submitted']:,} annotations at {t['submit_per_s']:.1f}/s, all in SQLite {t['lag_s']:.2f} s "
              f"after the last submit; lag submit -> gold p50 {t['lag_submit_p50_s']:.2f} s, "
              f"p95 {t['lag_submit_p95_s']:.2f} s ({clock()})", flush=True)
    finally:
        server.stop()
    return out


def clock() -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime())


def step(what: str, measured: dict, want: dict[str, int]) -> dict:
    """Check a child's report (each field of `want` as wanted) and say what it took."""
    got = {field: measured["report"][field] for field in want}
    if got != want:
        raise RuntimeError(f"{what}: {got}, wanted {want}: {measured['report']}")
    print(f"  {what}: {measured['seconds']:.1f} s, peak RSS {measured['peak_mb']:.0f} MB, Label Studio "
          f"{fmt(measured['ls_peak_mb'])} MB ({clock()})", flush=True)
    return measured


def run_team(tmp: Path, n: int, each: int = EACH, add: Callable[[Result], Any] | None = None,
             keep: Path | None = None) -> dict:
    """The whole benchmark in `tmp`: figures by database (written to `keep` as each is done), each added as
    Results through `add`."""
    drafts, draft_s = drafted(tmp, n)
    print(f"  {n:,} sentences ingested and drafted in {draft_s:.0f} s (set-up, once; {clock()})", flush=True)
    figures: dict[str, Any] = {"tasks": n, "draft_s": draft_s}
    for kind in DATABASES:
        figures[kind] = {}
        try:
            with postgres() if kind == "postgresql" else contextlib.nullcontext() as url:
                run_on(kind, tmp, n, drafts, url, each, figures[kind])
        finally:  # what was measured is kept, even when a later step fails
            if keep is not None:
                keep.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    for result in results(figures):
        (add or print_line)(result)
    return figures


def print_line(result: Result) -> None:
    print(result.line(), flush=True)


def rows(n: int) -> list[tuple[str, Callable[[dict], str]]]:
    """The side-by-side table's rows: a label and how to show it from one database's figures."""
    def rate(key: str) -> Callable[[dict], str]:
        return lambda d: (f"{d[key]['seconds']:.1f} s, {n / d[key]['seconds']:,.0f} tasks/s; {d[key]['peak_mb']:.0f}"
                          f" MB / {fmt(d[key]['ls_peak_mb'])} MB")
    repull = ("{seconds:.2f} s, {report[tasks_seen]:,} tasks seen, {report[inserted]} inserted, "
              "{report[updated]} updated, {report[deleted]} deleted")
    lag = ("p50 {lag_submit_p50_s:.2f} s, p95 {lag_submit_p95_s:.2f} s (from the 201: p50 {lag_created_p50_s:.2f} s,"
           " p95 {lag_created_p95_s:.2f} s)")
    return [
        (f"push {n:,} tasks with their predictions (wall, tasks/s; peak RSS of push / of Label Studio)",
         rate("push")),
        (f"pull {n:,} annotated tasks, the first (full) pull (same)", rate("pull")),
        ("re-pull, nothing new", lambda d: repull.format(**d["repull"])),
        ("re-pull after 10 annotations updated, 10 added, 5 deleted", lambda d: repull.format(**d["repull_changed"])),
        ("set-up: annotated copy imported (not timed as pull)",
         lambda d: f"{d['copy']['seconds']:.0f} s ({n / d['copy']['seconds']:,.0f} tasks/s)"),
        ("set-up: `push` adopting the copy (reconcile)", rate("adopt")),
        (f"{ANNOTATORS} annotators at once: annotations submitted, rate, POST p50 / p95",
         lambda d: f"{d['team']['submitted']:,} at {d['team']['submit_per_s']:.1f}/s, {d['team']['post_p50_s']:.2f}"
                   f" / {d['team']['post_p95_s']:.2f} s ({d['team']['submit_errors']} failed POSTs retried)"),
        ("submit -> gold row in SQLite (serve on webhooks)", lambda d: lag.format(**d["team"])),
        ("last submit -> every annotation in SQLite; webhooks",
         lambda d: f"{d['team']['lag_s']:.2f} s; {d['team']['webhooks']:,} webhooks"),
        ("annotations on the server / gold rows / distinct ids / duplicates / missing",
         lambda d: f"{d['team']['server_annotations']:,} / {d['team']['gold_rows']:,} / "
                   f"{d['team']['gold_distinct']:,} / {d['team']['duplicates']} / {d['team']['missing']}"),
        ("peak RSS during the team: serve / Label Studio",
         lambda d: f"{fmt(d['team']['serve_peak_mb'])} / {fmt(d['team']['ls_peak_mb'])} MB"),
    ]


def table(figures: dict) -> str:
    kinds = [k for k in DATABASES if k in figures]
    out = ["| | " + " | ".join(f"Label Studio on {'SQLite' if k == 'sqlite' else 'PostgreSQL'}" for k in kinds)
           + " |", "|---|" + "---|" * len(kinds)]
    for label, show in rows(figures["tasks"]):
        out.append(f"| {label} | " + " | ".join(show(figures[k]) for k in kinds) + " |")
    return "\n".join(out)


def results(figures: dict) -> list[Result]:
    """Each database's figures, PostgreSQL's against SQLite's from the same run."""
    n, lite, out = figures["tasks"], figures["sqlite"], []
    for kind in DATABASES:
        d, base = figures[kind], kind != "sqlite"
        for name, title, key in (("push", f"push {n:,} tasks", "push"), ("pull", f"first pull of {n:,} tasks", "pull")):
            rate, on_lite = n / d[key]["seconds"], n / lite[key]["seconds"]
            out.append(Result(f"team_{name}_{kind}", f"{title}, Label Studio on {kind}", rate, "tasks/s",
                              on_lite if base else None, "on SQLite" if base else "", rate / on_lite if base else None,
                              note=f"{d[key]['seconds']:.1f} s, peak RSS {d[key]['peak_mb']:.0f} MB, Label Studio "
                              f"{fmt(d[key]['ls_peak_mb'])} MB", details={"figures": d[key], "tasks": n}))
        repull = d["repull_changed"]
        out.append(Result(f"team_repull_{kind}", f"re-pull after {sum(d['changed'].values())} changes, {kind}",
                          repull["seconds"], "s", note=f"{repull['report']['tasks_seen']} tasks seen",
                          passed=True, details={"figures": repull, "changed": d["changed"]}))
        team = d["team"]
        out.append(Result(f"team_annotators_{kind}", f"{ANNOTATORS} annotators at once, serve on webhooks, {kind}",
                          team["lag_submit_p50_s"], "s submit -> gold (p50)", target="== 0",
                          ratio=team["duplicates"] + team["missing"], passed=team["exactly_once"],
                          note=f"p95 {team['lag_submit_p95_s']:.2f} s; {team['submitted']:,} annotations at "
                          f"{team['submit_per_s']:.1f}/s, duplicates {team['duplicates']}, missing {team['missing']}",
                          details=team))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=100_000, help="tasks pushed and pulled on each database")
    ap.add_argument("--each", type=int, default=EACH, help=f"annotations each of the {ANNOTATORS} annotators submits")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    keep = RESULTS / "team-figures.json"
    with tempfile.TemporaryDirectory(prefix="annotator-team-") as tmp:
        collected: list[Result] = []
        figures = run_team(Path(tmp), args.tasks, args.each, add=lambda r: (collected.append(r), print_line(r)),
                           keep=keep)
    path = save(collected, RESULTS / "team.json")
    print()
    print(table(figures))
    print(f"\n{args.tasks:,} tasks on both databases in {time.perf_counter() - started:.0f} s; figures in "
          f"{path.relative_to(ROOT)} and {keep.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
