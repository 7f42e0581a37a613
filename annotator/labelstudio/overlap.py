"""Overlap: how many annotators each task goes to, set on the project; how many annotations each task has.

Label Studio's Community edition (checked on 1.23.2) gives a task through its labeling
queue (`/api/projects/ID/next`) to `maximum_annotations` different annotators, never
twice to one, and keeps it in the queue until that many submitted it (the task is then
`is_labeled`). `overlap_cohort_percentage` is the share of tasks that need that many (the
others need one): at 100 every task does. An import gives each new task the project's
current maximum, and a change re-sets the existing tasks. An annotation posted straight
to a task (the API, the data manager) is not limited, so a task can have more.

The project's overlap is recorded in `projects.overlap` by every push (the server's value,
or the one `push --overlap` sets) and pull (the server's value), so `status` can show
the tasks by their number of annotations offline, as of the last pull.

Pure: `check_overlap`, `parse_overlap`, `overlap_update`, `overlap_note`, `histogram`.
Edge: `set_overlap` (push), `observed` (pull), `annotation_counts` (status).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..store import GoldStatus

if TYPE_CHECKING:
    import sqlite_utils
    from label_studio_sdk import LabelStudio

    from .projects import Project

ALL_TASKS = 100
"""`overlap_cohort_percentage` at which every task needs the project's maximum of annotators."""

DEFAULT = 1
"""Label Studio's `maximum_annotations` for a new project: one annotator a task."""

COUNTED = (GoldStatus.OK.value, GoldStatus.INVALID.value)
"""Gold that is a submitted annotation (Label Studio's `total_annotations`: not skipped, deleted or accepted)."""


# --------------------------------------------------------------------------- pure core


def _refuse(given: object) -> InputError:
    return InputError(f"--overlap {given} is not a number of annotators; give a whole number from 1 up, e.g. "
                      f"--overlap 3 (each task to three different annotators)")


def check_overlap(n: object) -> None:
    """Refuse an overlap that is not a whole number of annotators from 1 up (None: leave the project's as it is)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise _refuse(n)


def parse_overlap(text: str | None) -> int | None:
    """The overlap a command line gives (None when not given); one line when it is no whole number from 1 up."""
    if text is None:
        return None
    if not text.strip().isascii() or not text.strip().isdigit():
        raise _refuse(text)
    n = int(text)
    check_overlap(n)
    return n


def overlap_update(maximum: int | None, cohort: int | None, n: int) -> dict[str, int]:
    """The project settings to send so every task needs `n` annotators ({} when the server has them already)."""
    wanted = {"maximum_annotations": n, "overlap_cohort_percentage": ALL_TASKS}
    have = {"maximum_annotations": maximum or DEFAULT,
            "overlap_cohort_percentage": ALL_TASKS if cohort is None else cohort}
    return {} if have == wanted else wanted


def _tasks(n: int) -> str:
    return "1 annotator" if n == 1 else f"{n} annotators"


def overlap_note(maximum: int | None, cohort: int | None, n: int) -> str:
    """What setting the overlap to `n` changed, in words ("" for nothing)."""
    if not overlap_update(maximum, cohort, n):
        return ""
    was = _tasks(maximum or DEFAULT)
    if cohort is not None and cohort < ALL_TASKS and (maximum or DEFAULT) > 1:
        was += f" for {cohort}% of the tasks, 1 for the rest"
    return f"each task now goes to {_tasks(n)} (was {was})"


def histogram(counts: Iterable[int], n: int) -> list[int]:
    """Tasks by their number of annotations: item i is how many tasks have i annotations.

    Always 0 to `n` (the project's overlap); a task with more than `n` (posted past the
    labeling queue, or the overlap lowered since) gets its own item beyond.
    """
    out = [0] * (max(n, 0) + 1)
    for c in counts:
        if c >= len(out):
            out += [0] * (c + 1 - len(out))
        out[c] += 1
    return out


# --------------------------------------------------------------------------- edge


def observed(server: Any) -> dict[str, int]:
    """What to record of the server's project: its `maximum_annotations` as `projects.overlap` ({} if unknown)."""
    maximum = getattr(server, "maximum_annotations", None)
    return {"overlap": maximum} if isinstance(maximum, int) else {}


def set_overlap(db: sqlite_utils.Database, ls: LabelStudio, project: Project, server: Any, n: int | None) -> str:
    """Give the project's every task `n` annotators (None: leave the server's setting); record it; what changed.

    The server's settings are read from `server` (the project as push read it); only a
    difference is sent, so a push with the same `n` changes nothing.
    """
    from .api import calling

    maximum = getattr(server, "maximum_annotations", None)
    cohort = getattr(server, "overlap_cohort_percentage", None)
    note, record = "", observed(server)
    if n is not None:
        update = overlap_update(maximum, cohort, n)
        if update:
            with calling(project.url, f"setting the overlap of project {project.name!r} to {n}"):
                ls.projects.update(id=project.ls_id, **update)
            note = overlap_note(maximum, cohort, n)
        record = {"overlap": n}
    if record:
        db["projects"].update(project.id, record)
    return note


def annotation_counts(db: sqlite_utils.Database, project_id: str) -> list[int]:
    """Each pushed task's number of submitted annotations in the gold pulled so far (Label Studio's
    `total_annotations` as of the last pull)."""
    marks = ",".join("?" * len(COUNTED))
    return [r["n"] for r in db.query(f"""
        SELECT (SELECT count(*) FROM gold g WHERE g.project_id = t.project_id AND g.task_id = t.task_id
                  AND g.status IN ({marks})) AS n
        FROM tasks t WHERE t.project_id = ?""", [*COUNTED, project_id])]


def project_overlap(project: Mapping[str, Any]) -> int:
    """A project row's overlap: recorded, else Label Studio's default (a project not pushed or pulled since)."""
    return project.get("overlap") or DEFAULT
