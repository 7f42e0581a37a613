"""Pull gold from Label Studio: one validated row per annotation, writing only what changed.

`diff_gold` (pure) compares the gold rows already stored with a page of server
tasks and returns the rows to write and the counts. `pull` (the edge) is
incremental: it asks the Data Manager only for tasks whose `updated_at` moved past
a watermark (creating, editing, skipping or deleting an annotation all touch the
task). A gold row keeps `parent_prediction`, Label Studio's id of the prediction
the annotation started from, which `predictions.ls_prediction_id` records for the
draft behind it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlite_utils
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from ..errors import LabelStudioError
from ..locks import hold
from ..schema import Schema
from ..store import GoldStatus, content_id, dumps, now
from .api import Progress, calling, id_range_query, iso_time, normalize_url, shift_time, task_pages
from .convert import result_to_gold
from .overlap import observed
from .projects import Project, check_schema, project_scope, recorded_project, server_project

OVERLAP = dt.timedelta(seconds=2)
"""Safety margin against writes whose timestamp was taken before they were committed."""

_INCLUDE = ("id,updated_at,data,annotations,result,completed_by,was_cancelled,lead_time,"
            "created_at,parent_prediction,ground_truth,task")
_COMPARED = ("task_id", "sentence_id", "annotator", "status", "raw_result", "lead_time", "ground_truth",
             "created_at", "updated_at", "parent_prediction", "data", "spans", "errors")
_FULL_QUERY = {"filters": {"conjunction": "or", "items": [
    {"filter": "filter:tasks:total_annotations", "operator": "greater", "type": "Number", "value": 0},
    {"filter": "filter:tasks:cancelled_annotations", "operator": "greater", "type": "Number", "value": 0},
]}}


@dataclass
class PullReport:
    """What a pull did. `project_id` is the project's key in SQLite, `ls_project_id` its id on the server."""

    project_id: str = ""
    ls_project_id: int = 0
    full: bool = False
    tasks_seen: int = 0
    annotations_seen: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def written(self) -> int:
        """Gold rows inserted, updated or marked deleted."""
        return self.inserted + self.updated + self.deleted


# --------------------------------------------------------------------------- pure core


@dataclass
class GoldDiff:
    """What one page of server tasks changes in `gold`."""

    writes: list[dict] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    annotation_ids: set[int] = field(default_factory=set)
    """Every annotation id the page holds."""
    newest: str | None = None
    """The latest task `updated_at` on the page."""


@dataclass(frozen=True)
class GoldSource:
    """What a gold row is built from besides the task: the project, the schema, our sentences, the users."""

    schema: Schema
    project: Project
    sentence_of: Mapping[int, str] = field(default_factory=dict)
    """Task id -> sentence id recorded at push."""
    texts: Mapping[str, str] = field(default_factory=dict)
    """Sentence id -> the sentence's text in SQLite."""
    users: Mapping[int, str] = field(default_factory=dict)
    """User id -> email."""


def annotator_of(users: Mapping[int, str], completed_by: Any) -> str | None:
    """Who made an annotation: an email when known, else the user id."""
    if isinstance(completed_by, dict):
        return completed_by.get("email") or (str(completed_by["id"]) if completed_by.get("id") else None)
    if completed_by is None:
        return None
    return users.get(completed_by) or str(completed_by)


def gold_row(source: GoldSource, task: dict, annotation: dict) -> dict:
    """The gold row for one annotation (validated unless it is a skip)."""
    project, schema = source.project, source.schema
    sid = source.sentence_of.get(task["id"]) or (task.get("data") or {}).get("sentence_id")
    sid = sid if isinstance(sid, str) else None
    text = (task.get("data") or {}).get("text")
    raw, completed_by = annotation.get("result"), annotation.get("completed_by")
    row = {
        "id": content_id("gold", project.url, project.ls_id, annotation["id"]),
        "project_id": project.id, "task_id": task["id"], "sentence_id": sid, "annotation_id": annotation["id"],
        "annotator": annotator_of(source.users, completed_by),
        "completed_by": completed_by if isinstance(completed_by, int) else None,
        "schema_name": schema.name, "schema_hash": schema.hash, "raw_result": dumps(raw),
        "lead_time": annotation.get("lead_time"), "ground_truth": int(bool(annotation.get("ground_truth"))),
        "created_at": iso_time(annotation.get("created_at")), "updated_at": iso_time(annotation.get("updated_at")),
        "parent_prediction": annotation.get("parent_prediction"),
        "data": None, "spans": None, "errors": None,
    }
    if annotation.get("was_cancelled"):
        return {**row, "status": GoldStatus.SKIPPED.value}
    if not isinstance(text, str):
        return {**row, "status": GoldStatus.INVALID.value, "errors": dumps(["the task has no text"])}
    data, spans, errors = result_to_gold(schema, text, raw)
    own = source.texts.get(sid) if sid else None
    if own is not None and own != text:
        errors = [*errors, "the task's text differs from the sentence in the database"]
    status = GoldStatus.INVALID if errors else GoldStatus.OK
    return {**row, "status": status.value, "data": None if data is None else dumps(data), "spans": dumps(spans),
            "errors": dumps(errors) if errors else None}


def diff_gold(existing: Iterable[dict], tasks: Sequence[dict], source: GoldSource, *, stamp: str) -> GoldDiff:
    """The gold rows to write for a page of server tasks, given the rows stored for those tasks.

    A new annotation is inserted, a changed one updated, an unchanged one left alone;
    a stored annotation that its task no longer lists is marked deleted (the row is
    kept). Written rows carry `pulled_at = stamp`.
    """
    stored = {r["annotation_id"]: r for r in existing}
    diff = GoldDiff()
    for task in tasks:
        stamp_task = iso_time(task.get("updated_at"))
        if stamp_task and (diff.newest is None or stamp_task > diff.newest):
            diff.newest = stamp_task
        listed: set[int] = set()
        for annotation in task.get("annotations") or []:
            if not isinstance(annotation, dict) or annotation.get("id") is None:
                continue
            listed.add(annotation["id"])
            row = gold_row(source, task, annotation)
            diff.by_status[row["status"]] = diff.by_status.get(row["status"], 0) + 1
            old = stored.get(annotation["id"])
            if old is not None and all(old[k] == row[k] for k in _COMPARED):
                diff.unchanged += 1
                continue
            diff.inserted, diff.updated = diff.inserted + (old is None), diff.updated + (old is not None)
            diff.writes.append({**row, "pulled_at": stamp})
        diff.annotation_ids |= listed
        for old in stored.values():
            if old["task_id"] == task["id"] and old["annotation_id"] not in listed \
                    and old["status"] != GoldStatus.DELETED:
                diff.writes.append({**old, "status": GoldStatus.DELETED.value, "pulled_at": stamp})
                diff.deleted += 1
    return diff


def next_watermark(newest: str | None, previous: str | None, server_now: str | None) -> str | None:
    """Where the next incremental pull starts.

    After what this pull saw, but never after the server's clock (minus OVERLAP) when
    it started: a write stamped earlier but committed later is not missed.
    """
    mark = max(filter(None, [newest, previous]), default=None)
    if server_now:
        limit = shift_time(server_now, -OVERLAP)
        return limit if mark is None or limit < mark else mark
    if newest:
        return max(filter(None, [shift_time(newest, -OVERLAP), previous]))
    return mark


# --------------------------------------------------------------------------- edge


def _users(ls: LabelStudio) -> dict[int, str]:
    """User id -> email, or an empty map when the key may not list users."""
    try:
        return {u.id: u.email for u in ls.users.list() if u.id is not None and u.email}
    except (httpx.HTTPError, ApiError):
        return {}


def _query(project: Project, full: bool) -> dict:
    if full:
        return _FULL_QUERY
    return {"filters": {"conjunction": "and", "items": [
        {"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime",
         "value": project.pull_watermark},
    ]}}


def _apply_page(db: sqlite_utils.Database, page: list[dict], source: GoldSource, report: PullReport) -> GoldDiff:
    """Diff one page of tasks against SQLite and write the changes in one transaction."""
    pid = source.project.id
    task_ids = [t["id"] for t in page]
    existing = list(db.query(f"SELECT * FROM gold WHERE project_id = ? AND task_id IN "
                             f"({','.join('?' * len(task_ids))})", [pid, *task_ids]))
    sids = [s for s in (source.sentence_of.get(t["id"]) or (t.get("data") or {}).get("sentence_id") for t in page)
            if isinstance(s, str)]
    texts = {r["id"]: r["text"] for r in db.query(
        f"SELECT id, text FROM sentences WHERE id IN ({','.join('?' * len(sids))})", sids)} if sids else {}
    diff = diff_gold(existing, page, GoldSource(source.schema, source.project, source.sentence_of, texts,
                                                source.users), stamp=now())
    if diff.writes:
        with db.atomic():
            db["gold"].upsert_all(diff.writes, pk="id")
    report.tasks_seen += len(page)
    report.annotations_seen += len(diff.annotation_ids)
    report.inserted, report.updated = report.inserted + diff.inserted, report.updated + diff.updated
    report.deleted, report.unchanged = report.deleted + diff.deleted, report.unchanged + diff.unchanged
    for status, n in diff.by_status.items():
        report.by_status[status] = report.by_status.get(status, 0) + n
    return diff


def _mark_gone(db: sqlite_utils.Database, project: Project, seen: set[int]) -> int:
    """After a full pull: mark deleted the annotations no listed task holds (all deleted, or the task itself).

    Rows that are no annotation (drafts accepted from the model: no annotation id) are never Label Studio's."""
    gone = [r for r in db.query("SELECT * FROM gold WHERE project_id = ? AND status NOT IN (?, ?)",
                                [project.id, GoldStatus.DELETED.value, GoldStatus.ACCEPTED.value])
            if r["annotation_id"] not in seen]
    if gone:
        stamp = now()
        with db.atomic():
            db["gold"].upsert_all([{**r, "status": GoldStatus.DELETED.value, "pulled_at": stamp} for r in gone],
                                  pk="id")
    return len(gone)


def _annotation_gone(ls: LabelStudio, project: Project, annotation_id: int) -> bool:
    with calling(project.url, f"checking that annotation {annotation_id} of project {project.name!r} is deleted"):
        try:
            ls.annotations.get(id=annotation_id, request_options={"max_retries": 0})
        except ApiError as exc:
            if exc.status_code != 404:
                raise
            return True
    return False


def gone_from_server(ls: LabelStudio, project: Project, annotation_ids: Iterable[int],
                     task_ids: Iterable[int]) -> tuple[set[int], set[int]]:
    """Which of these annotations and tasks Label Studio no longer has: (annotations, tasks).

    A deletion webhook is a hint, Label Studio the authority: an annotation is gone when
    its GET answers 404; the tasks are looked up in one listing (opening a task would
    ask the ML backend for a prediction). Any other failure is a LabelStudioError, so
    nothing is marked on a guess.
    """
    annotations = {a for a in sorted(set(annotation_ids)) if _annotation_gone(ls, project, a)}
    tasks = sorted(set(task_ids))
    listed: set[int] = set()
    if tasks:
        for page in task_pages(ls, url=project.url, ls_project_id=project.ls_id, query=id_range_query(tasks),
                               include="id", doing=f"checking which tasks of project {project.name!r} are deleted"):
            listed.update(t["id"] for t in page)
    return annotations, set(tasks) - listed


def pull(db: sqlite_utils.Database, ls: LabelStudio, schema: Schema, project_name: str, *, url: str,
         full: bool = False, progress: Progress | None = None) -> PullReport:
    """Bring the project's submitted annotations into `gold`, writing only what changed.

    Each annotation is one row (several annotators on a task are several rows),
    validated against the schema, with a `GoldStatus`: ok, invalid (errors kept),
    skipped (the annotator skipped the task), or deleted (gone from the server; the
    row is kept). The first pull, or `full=True`, lists every annotated task; later
    pulls ask only for tasks updated since the last pull's watermark. A task deleted
    outright on the server is only noticed by a full pull.
    """
    url = normalize_url(url)
    with hold(db, project_scope(url, project_name), f"pushing to or pulling from project {project_name!r}"):
        return _pull(db, ls, schema, project_name, url, full, progress)


def _pull(db: sqlite_utils.Database, ls: LabelStudio, schema: Schema, project_name: str, url: str, full: bool,
          progress: Progress | None) -> PullReport:
    started = time.monotonic()
    project = recorded_project(db, project_name, url=url)
    if project is None:
        raise LabelStudioError(f"no project {project_name!r} on {url} in this database; push to it first")
    check_schema(project, schema)
    server, server_now = server_project(ls, project, f"reading project {project_name!r}")
    report = PullReport(project_id=project.id, ls_project_id=project.ls_id, full=full or not project.pull_watermark)
    source = GoldSource(schema, project, users=_users(ls), sentence_of={
        r["task_id"]: r["sentence_id"] for r in db.query(
            "SELECT task_id, sentence_id FROM tasks WHERE project_id = ?", [project.id])})
    seen: set[int] = set()
    newest: str | None = None
    for page in task_pages(ls, url=url, ls_project_id=project.ls_id, query=_query(project, report.full),
                           include=_INCLUDE, doing=f"listing the annotated tasks of project {project_name!r}",
                           after="gold pulled so far is kept; run pull again", progress=progress):
        diff = _apply_page(db, page, source, report)
        seen |= diff.annotation_ids
        newest = max(filter(None, [newest, diff.newest]), default=None)
    if report.full:
        report.deleted += _mark_gone(db, project, seen)
    db["projects"].update(project.id, {"pull_watermark": next_watermark(newest, project.pull_watermark, server_now),
                                       "pulled_at": now(), **observed(server)})
    report.seconds = time.monotonic() - started
    return report
