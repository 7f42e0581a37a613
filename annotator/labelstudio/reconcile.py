"""Reconcile SQLite with the server after a push that died after an import.

The server may hold tasks and predictions this database never recorded (the
import went through, the answer was lost), prediction ids never read, or have lost
tasks we recorded (deleted on the server). `plan_reconcile` (pure) works out what
to record and what to forget from plain rows; `reconcile` lists the project's
tasks and its predictions and applies the plan in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlite_utils
from label_studio_sdk import LabelStudio

from ..store import now
from .api import calling, task_pages
from .predictions import LIST_LIMIT, list_predictions, match_predictions, server_predictions
from .projects import Project


@dataclass
class ReconcilePlan:
    """What the server knows that SQLite does not, and what SQLite holds that the server lost."""

    forget: list[tuple[str, int]] = field(default_factory=list)
    """(sentence id, task id) recorded here whose task is gone from the server."""
    tasks: list[tuple[str, int]] = field(default_factory=list)
    """(sentence id, task id) to record: the sentence's oldest task on the server."""
    predictions: list[dict] = field(default_factory=list)
    """New `predictions` rows: draft_id, task_id, model_version, ls_prediction_id."""
    prediction_ids: dict[str, int] = field(default_factory=dict)
    """Draft id -> prediction id for rows recorded without one."""
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    """(task id, its annotations) of server tasks whose sentence already has another task: duplicates."""


def plan_reconcile(server_tasks: Iterable[dict], known_tasks: Mapping[str, int], drafts: Sequence[dict],
                   pushed: Sequence[dict]) -> ReconcilePlan:
    """The plan, from plain rows.

    - server_tasks: {"id", "sentence_id" (None if not ours), "predictions": [{"id", "model_version"}]}, by id;
    - known_tasks: sentence id -> task id recorded here;
    - drafts: the drafts this push may send: {"id", "sentence_id", "model_version", "created_at"};
    - pushed: `predictions` rows recorded here: {"draft_id", "task_id", "model_version",
      "ls_prediction_id", "created_at" (the draft's)}.

    A draft counts as pushed when its sentence's task carries a free prediction of its
    model version, in either form; predictions go to drafts oldest first
    (`match_predictions`) and are recorded with the version string the server holds.
    """
    server_tasks = list(server_tasks)
    on_server = {t["id"] for t in server_tasks}
    plan = ReconcilePlan(forget=[(sid, tid) for sid, tid in known_tasks.items() if tid not in on_server])
    forgotten = {tid for _, tid in plan.forget}
    mapped = {sid: tid for sid, tid in known_tasks.items() if tid not in forgotten}
    wanted = {d["sentence_id"] for d in drafts}
    for task in sorted(server_tasks, key=lambda t: t["id"]):  # the oldest task of a sentence is its task
        sid = task.get("sentence_id")
        if not isinstance(sid, str):
            continue
        if sid in mapped and mapped[sid] != task["id"]:
            plan.duplicates.append((task["id"], task.get("annotations") or 0))
        elif sid in wanted and sid not in mapped:
            mapped[sid] = task["id"]
            plan.tasks.append((sid, task["id"]))
    kept = [p for p in pushed if p["task_id"] not in forgotten]
    without_id = [p for p in kept if p["ls_prediction_id"] is None]
    sent = {p["draft_id"] for p in kept}
    candidates = sorted(
        [(p["created_at"] or "", p["draft_id"], p["task_id"], p["model_version"]) for p in without_id]
        + [(d["created_at"] or "", d["id"], mapped[d["sentence_id"]], d["model_version"])
           for d in drafts if d["sentence_id"] in mapped and d["id"] not in sent])
    taken = {p["ls_prediction_id"] for p in kept if p["ls_prediction_id"] is not None}
    found = server_predictions(server_tasks)
    matched = match_predictions([(draft, task, version) for _, draft, task, version in candidates], found, taken)
    server_version = {prediction_id: version for _, prediction_id, version in found}
    recorded = {p["draft_id"] for p in without_id}
    for _, draft, task, _version in candidates:
        if draft not in matched:
            continue
        if draft in recorded:
            plan.prediction_ids[draft] = matched[draft]
        else:  # recorded as the server holds it (an older push wrote the older form)
            plan.predictions.append({"draft_id": draft, "task_id": task,
                                     "model_version": server_version[matched[draft]],
                                     "ls_prediction_id": matched[draft]})
    return plan


def _server_tasks(ls: LabelStudio, project: Project, project_total: int) -> list[dict]:
    """Every task of the project: id, our sentence id, and its predictions (id, model version).

    Lists the predictions in one request (and the tasks without them, which is much
    cheaper) unless the project holds more than LIST_LIMIT predictions.
    """
    after = "nothing was changed; run push again"
    listed = project_total <= LIST_LIMIT
    predictions: dict[int, list[dict]] = {}
    for task_id, prediction_id, version in list_predictions(ls, project, after) if listed else []:
        predictions.setdefault(task_id, []).append({"id": prediction_id, "model_version": version})
    out = []
    for page in task_pages(ls, url=project.url, ls_project_id=project.ls_id, query={},
                           include="id,data,total_annotations,cancelled_annotations" if listed
                           else "id,data,total_annotations,cancelled_annotations,predictions",
                           doing=f"listing the tasks of project {project.name!r}", after=after):
        for task in page:
            sid = (task.get("data") or {}).get("sentence_id")
            found = predictions.get(task["id"], []) if listed else [
                {"id": p["id"], "model_version": p.get("model_version") or ""}
                for p in task.get("predictions") or [] if isinstance(p, dict)]
            out.append({"id": task["id"], "sentence_id": sid if isinstance(sid, str) else None,
                        "predictions": found, "annotations": (task.get("total_annotations") or 0)
                        + (task.get("cancelled_annotations") or 0)})
    return out


def reconcile(db: sqlite_utils.Database, ls: LabelStudio, project: Project, drafts: Sequence[dict], *,
              project_total: int, blind: Callable[[str], bool] = lambda sid: False) -> ReconcilePlan:
    """Record what the server holds that SQLite misses, and forget tasks the server lost; returns the plan applied.

    `drafts` are the drafts this push may send (see `plan_reconcile`);
    `project_total` is how many predictions the server says the project holds;
    `blind` says whether an adopted task was sent blind (the push's rule). A
    forgotten task's sentence is pushed again.
    """
    server_tasks = _server_tasks(ls, project, project_total)
    known = {r["sentence_id"]: r["task_id"] for r in db.query(
        "SELECT sentence_id, task_id FROM tasks WHERE project_id = ?", [project.id])}
    pushed = list(db.query("""
        SELECT p.draft_id, p.task_id, p.model_version, p.ls_prediction_id, d.created_at
        FROM predictions p JOIN drafts d ON d.id = p.draft_id WHERE p.project_id = ?""", [project.id]))
    plan = plan_reconcile(server_tasks, known, drafts, pushed)
    stamp, pid = now(), project.id
    with db.atomic():
        for sid, tid in plan.forget:
            db.execute("DELETE FROM predictions WHERE project_id = ? AND task_id = ?", [pid, tid])
            db.execute("DELETE FROM tasks WHERE project_id = ? AND sentence_id = ?", [pid, sid])
        db["tasks"].insert_all([{"project_id": pid, "sentence_id": sid, "task_id": tid, "pushed_at": stamp,
                                 "blind": int(blind(sid))} for sid, tid in plan.tasks],
                               pk=("project_id", "sentence_id"), ignore=True)
        db["predictions"].insert_all([{"project_id": pid, **row, "pushed_at": stamp} for row in plan.predictions],
                                     pk=("project_id", "draft_id"))
        db.conn.executemany("UPDATE predictions SET ls_prediction_id = ? WHERE project_id = ? AND draft_id = ?",
                            [(lsid, pid, draft) for draft, lsid in plan.prediction_ids.items()])
    return plan


def delete_duplicates(ls: LabelStudio, project: Project, duplicates: Sequence[tuple[int, int]]) -> list[int]:
    """Delete the duplicate tasks that carry no annotation; the ids deleted."""
    deleted = []
    for task_id, annotated in duplicates:
        if annotated:
            continue
        with calling(project.url, f"deleting duplicate task {task_id} of project {project.name!r}",
                     "tasks deleted so far are gone; run push --dedupe again"):
            ls.tasks.delete(id=task_id)
        deleted.append(task_id)
    return deleted
