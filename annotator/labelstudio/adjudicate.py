"""Disputed tasks marked for a reviewer in Label Studio: a Data Manager view of their own, most disputed first.

Label Studio's Data Manager filters and sorts tasks by their own fields and by keys of
their `data` (never by `meta`), so each disputed task that is not settled carries its
disagreement in `data` under `DISAGREEMENT_KEY`, and the view `VIEW_TITLE` shows the
tasks that have the key, sorted by it from the highest, with the key as a column.
Re-running replaces the set: the key is written where it is missing or different and
taken off the tasks no longer disputed (settled by a ground-truth mark, or agreeing
now). Nothing else of a task's data changes, and its annotations never do.

Pure: `plan_marks`, `view_data`, `view_action`, `view_link`. Edge: `adjudicate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils
from label_studio_sdk import LabelStudio

from ..errors import InputError
from ..evaluate.adjudicate import Disputed, disputes, summary
from ..evaluate.load import people_gold
from ..locks import hold
from ..schema import Schema
from ..settings import redact_url
from .api import calling, id_range_query, normalize_url, task_pages
from .config import TEXT_NAME
from .page import column_ids
from .projects import Project, project_scope, recorded_project

DISAGREEMENT_KEY = "adjudicate_disagreement"
"""The task data key that holds a disputed task's disagreement (0 to 1) while it waits for a reviewer."""
VIEW_TITLE = "Adjudicate"
COLUMN = f"tasks:data.{DISAGREEMENT_KEY}"
SHOWN_COLUMNS = {
    "explore": (f"tasks:data.{TEXT_NAME}", "tasks:id", COLUMN, "tasks:total_annotations", "tasks:annotators"),
    "labeling": (f"tasks:data.{TEXT_NAME}", COLUMN),
}
KEPT = ("filters", "ordering", "hiddenColumns", "columnsDisplayType")
"""What a re-run restores in its view when it was changed (column widths set by hand stay)."""

HOW_TO = (
    "Open the view: it lists only the tasks whose annotators disagree, the most disputed first. Open a task and "
    "compare its annotations (one tab each, at the top of the labeling page). If one is right, mark it ground "
    "truth with the star on its tab. If none is, correct one, submit it as your own annotation, and mark yours "
    "with the star. Then run `annotator pull --project {name}`: eval, export and calibrate take the ground "
    "truth for that task, and `annotator adjudicate --project {name}` lists it as settled."
)


# --------------------------------------------------------------------------- pure core


def stored_score(disagreement: float) -> float:
    """The value written in the task's data: rounded, and above 0 for every disputed task."""
    return max(round(disagreement, 4), 0.0001)


def plan_marks(marked: Mapping[int, Any], wanted: Mapping[int, float]) -> tuple[dict[int, float], list[int]]:
    """(task -> value to write, tasks to take the key off) from what the tasks carry now and what they should."""
    write = {task: value for task, value in wanted.items() if marked.get(task) != value}
    return write, sorted(task for task in marked if task not in wanted)


def view_data(columns: Sequence[str]) -> dict:
    """The view's `data`: the tasks that carry the key, most disputed first, the shown columns only."""
    hidden = {mode: [c for c in columns if c not in shown] for mode, shown in SHOWN_COLUMNS.items()}
    return {"title": VIEW_TITLE, "type": "list", "target": "tasks", "ordering": [f"-{COLUMN}"],
            "columnsDisplayType": {COLUMN: "Number"}, "hiddenColumns": hidden,
            "filters": {"conjunction": "and", "items": [
                {"filter": f"filter:{COLUMN}", "operator": "greater_or_equal", "type": "Number", "value": 0}]}}


def view_action(views: Sequence[Mapping], wanted: Mapping) -> tuple[str, int | None]:
    """("create", None), ("update", view id) or ("keep", view id) for the view titled VIEW_TITLE."""
    ours = [v for v in views if (v.get("data") or {}).get("title") == VIEW_TITLE]
    if not ours:
        return "create", None
    view = min(ours, key=lambda v: v["id"])
    data = view.get("data") or {}
    return ("keep" if all(data.get(k) == wanted.get(k) for k in KEPT) else "update"), view["id"]


def view_link(url: str, ls_project_id: int, view_id: int) -> str:
    """The view's page in Label Studio."""
    return f"{redact_url(url)}/projects/{ls_project_id}/data?tab={view_id}"


@dataclass
class Adjudication:
    """What `adjudicate` found and marked."""

    project: str
    url: str
    below: float | None
    disputed: list[Disputed]
    view_id: int = 0
    link: str = ""
    written: int = 0
    """Tasks whose mark was written (new, or a changed disagreement)."""
    cleared: int = 0
    """Tasks whose mark was taken off (settled, or agreeing now)."""
    missing: list[int] = field(default_factory=list)
    """Disputed tasks the server no longer has."""

    @property
    def open(self) -> list[Disputed]:
        """The disputed tasks without a ground-truth mark, most disputed first."""
        return [d for d in self.disputed if not d.settled and d.task_id not in self.missing]

    @property
    def settled(self) -> list[Disputed]:
        """The disputed tasks settled by a ground-truth mark."""
        return [d for d in self.disputed if d.settled]

    def how_to(self) -> str:
        """One paragraph: how a reviewer settles a task."""
        return HOW_TO.format(name=_quoted(self.project))

    def to_json(self) -> dict:
        """What `adjudicate --json` prints."""
        return {"project": self.project, "url": redact_url(self.url), "below": self.below,
                "view": {"id": self.view_id, "title": VIEW_TITLE, "link": self.link},
                **summary(self.disputed), "written": self.written, "cleared": self.cleared, "missing": self.missing,
                "tasks": [d.to_json() for d in self.open], "settled_tasks": [d.to_json() for d in self.settled],
                "how_to": self.how_to()}


def _quoted(name: str) -> str:
    return f'"{name}"' if any(c.isspace() for c in name) else name


# --------------------------------------------------------------------------- edge


def adjudicate(db: sqlite_utils.Database, ls: LabelStudio, schema: Schema, project_name: str, *, url: str,
               below: float | None = None) -> Adjudication:
    """Find the project's disputed tasks in the pulled gold and mark the open ones in its view `VIEW_TITLE`."""
    if below is not None and not 0 < below <= 1:
        raise InputError(f"--below {below:g} is not an agreement; give one between 0 and 1 (e.g. 0.8)")
    url = normalize_url(url)
    project = recorded_project(db, project_name, url=url)
    if project is None:
        raise InputError(f"no project {project_name!r} on {url} in this database; push to it and pull first")
    with hold(db, f"{project_scope(url, project_name)} adjudicate", f"marking the disputed tasks of {project_name!r}"):
        found = disputes(schema.fields, people_gold(db, schema, project), below)  # type: ignore[arg-type]
        result = Adjudication(project_name, url, below, found)
        wanted = {d.task_id: stored_score(d.disagreement) for d in found if not d.settled}
        _mark(ls, project, wanted, result)
        _save_view(ls, project, result)
    return result


def _task_data(ls: LabelStudio, project: Project, query: dict, doing: str) -> dict[int, dict]:
    return {t["id"]: t.get("data") or {} for page in task_pages(
        ls, url=project.url, ls_project_id=project.ls_id, query=query, include="id,data", doing=doing) for t in page}


def _mark(ls: LabelStudio, project: Project, wanted: dict[int, float], result: Adjudication) -> None:
    """Write the key on the wanted tasks, take it off the others that carry it."""
    name = project.name
    marked = _task_data(ls, project, {"filters": view_data([])["filters"]},
                        f"listing the tasks of project {name!r} marked for adjudication")
    write, clear = plan_marks({t: data.get(DISAGREEMENT_KEY) for t, data in marked.items()}, wanted)
    data = dict(marked)
    unread = sorted(t for t in write if t not in data)
    if unread:
        found = _task_data(ls, project, id_range_query(unread), f"reading the disputed tasks of project {name!r}")
        data.update({t: d for t, d in found.items() if t in write})
    result.missing = sorted(t for t in write if t not in data)
    for task_id, value in sorted(write.items()):
        if task_id in data:
            with calling(project.url, f"marking task {task_id} of project {name!r} for adjudication"):
                ls.tasks.update(id=str(task_id), data={**data[task_id], DISAGREEMENT_KEY: value})
            result.written += 1
    for task_id in clear:
        kept = {k: v for k, v in data[task_id].items() if k != DISAGREEMENT_KEY}
        with calling(project.url, f"taking task {task_id} of project {name!r} off the adjudication view"):
            ls.tasks.update(id=str(task_id), data=kept)
        result.cleared += 1


def _save_view(ls: LabelStudio, project: Project, result: Adjudication) -> None:
    """Create or update the view (its filter, order and columns); keep it when it is as wanted."""
    name = project.name
    with calling(project.url, f"reading the data manager of project {name!r}"):
        response = ls._client_wrapper.httpx_client.request("api/dm/columns", method="GET",
                                                             params={"project": project.ls_id})
        response.raise_for_status()
        views = [v.model_dump(mode="json") for v in ls.views.list(project=project.ls_id)]
    columns = column_ids(response.json().get("columns") or [])
    wanted = view_data(columns if COLUMN in columns else [*columns, COLUMN])
    action, view_id = view_action(views, wanted)
    with calling(project.url, f"saving the view {VIEW_TITLE!r} of project {name!r}"):
        if action == "create":
            view_id = ls.views.create(project=project.ls_id, data=wanted).id  # type: ignore[arg-type]
        elif action == "update":
            ls.views.update(id=str(view_id), project=project.ls_id, data=wanted)  # type: ignore[arg-type]
    result.view_id = int(view_id or 0)
    result.link = view_link(project.url, project.ls_id, result.view_id)
