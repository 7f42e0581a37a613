"""A Label Studio task -> its sentence in SQLite; a task imported by hand is stored as a document first.

A pushed task names its sentence (`data.sentence_id`) and is recorded in `tasks`.
A task imported straight into Label Studio has only its text: it is ingested as a
document of one sentence (content ids: the same text is the same document, so a
second task with it costs nothing), and the task is recorded in `tasks` so pull
joins its gold to the sentence and push never imports the sentence again. The
tool drafts sentences, so a task whose text is several sentences gets no draft.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlite_utils

from ..annotate.writes import is_busy
from ..ingest import MAX_SENTENCE_CHARS, DocInput, ingest, split_sentences
from ..labelstudio.projects import Project
from ..store import content_id, now
from .protocol import task_text

_SENTENCE_COLUMNS = "s.id, s.document_id, s.idx, s.start, s.text"


@dataclass(frozen=True)
class TaskSentence:
    """A task and the sentence it shows; `shift` is where the sentence starts in the task's text."""

    task_id: int
    text: str | None
    sentence: Mapping | None = None
    shift: int = 0
    problem: str | None = None

    @property
    def sentence_id(self) -> str | None:
        return self.sentence["id"] if self.sentence is not None else None


# --------------------------------------------------------------------------- pure core


def match_known(tasks: Sequence[Mapping], by_id: Mapping[str, Mapping],
                linked: Mapping[int, Mapping]) -> list[TaskSentence | None]:
    """Each task's sentence when the task names it (`data.sentence_id`) or is recorded in `tasks`.

    A task with no text gets its problem; None means the task's text is still to be looked up.
    A sentence counts only when its text is the task's text (a task edited on the server is new text).
    """
    found: list[TaskSentence | None] = []
    for task in tasks:
        text = task_text(task)
        if text is None:
            found.append(TaskSentence(task["id"], None, problem=f"task {task['id']} has no text in data.text"))
            continue
        sid = (task.get("data") or {}).get("sentence_id")
        candidates = [by_id.get(sid) if isinstance(sid, str) else None, linked.get(task["id"])]
        row = next((r for r in candidates if r is not None and r["text"] == text), None)
        found.append(TaskSentence(task["id"], text, row) if row is not None else None)
    return found


def one_sentence_problem(task_id: int, text: str) -> str | None:
    """Why a task's text cannot be drafted as one sentence (several, or one too long), or None."""
    spans = split_sentences(text)
    if len(spans) != 1:
        return (f"task {task_id}: its text is {len(spans)} sentences and the tool drafts one sentence per task; "
                f"import one sentence per task, or ingest the document and push it")
    ((start, end),) = spans
    if end - start > MAX_SENTENCE_CHARS:
        return (f"task {task_id}: its text is one sentence of {end - start:,} characters, over the "
                f"{MAX_SENTENCE_CHARS:,} a sentence may have to be drafted; split it into shorter tasks in "
                "Label Studio")
    return None


# --------------------------------------------------------------------------- edge


def _in(column: str, n: int) -> str:
    return f"{column} IN ({','.join('?' * n)})"


class TaskSentences:
    """Finds (or stores) the sentence of each task of one project."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def resolve(self, db: sqlite_utils.Database, tasks: Sequence[Mapping]) -> list[TaskSentence]:
        """The sentence of every task, in task order (tasks imported by hand are ingested and recorded)."""
        sids = sorted({s for t in tasks if isinstance(s := (t.get("data") or {}).get("sentence_id"), str)})
        by_id = {r["id"]: r for r in db.query(
            f"SELECT {_SENTENCE_COLUMNS} FROM sentences s WHERE {_in('s.id', len(sids))}", sids)} if sids else {}
        task_ids = [t["id"] for t in tasks]
        linked = {r["task_id"]: r for r in db.query(
            f"SELECT t.task_id, {_SENTENCE_COLUMNS} FROM tasks t JOIN sentences s ON s.id = t.sentence_id "
            f"WHERE t.project_id = ? AND {_in('t.task_id', len(task_ids))}", [self.project.id, *task_ids])}
        found = match_known(tasks, by_id, linked)
        out = [known if known is not None else self._from_text(db, task) for known, task in zip(found, tasks,
                                                                                                  strict=True)]
        self._link(db, [t for t in out if t.sentence is not None and t.task_id not in linked])
        return out

    def _from_text(self, db: sqlite_utils.Database, task: Mapping) -> TaskSentence:
        """The sentence of a task known only by its text: stored as a one-sentence document if new."""
        text, task_id = task_text(task), task["id"]
        assert text is not None  # match_known answered the tasks without text
        problem = one_sentence_problem(task_id, text)
        if problem:
            return TaskSentence(task_id, text, problem=problem)
        origin = f"{self.project.link}/data?task={task_id}"
        try:
            report = ingest(db, [DocInput(text=text, origin=origin, source="labelstudio")])
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            return TaskSentence(task_id, text, problem=f"task {task_id}: the database is locked by another "
                                                       "process, so its text cannot be stored yet (asked again later)")
        if report.problems:
            return TaskSentence(task_id, text, problem=f"task {task_id}: {report.problems[0].message}")
        rows = list(db.query(f"SELECT {_SENTENCE_COLUMNS} FROM sentences s WHERE s.document_id = ? ORDER BY s.idx",
                             [content_id("document", text)]))
        if len(rows) != 1:
            return TaskSentence(task_id, text, problem=f"task {task_id}: its text is stored as a document of "
                                                       f"{len(rows)} sentences; push that document instead")
        return TaskSentence(task_id, text, rows[0], shift=rows[0]["start"])

    def _link(self, db: sqlite_utils.Database, found: Sequence[TaskSentence]) -> None:
        """Record tasks met for the first time (a second task with the same sentence stays unrecorded)."""
        if not found:
            return
        stamp = now()
        try:
            with db.atomic():
                db.conn.executemany(
                    "INSERT OR IGNORE INTO tasks (project_id, sentence_id, task_id, pushed_at) VALUES (?, ?, ?, ?)",
                    [(self.project.id, t.sentence_id, t.task_id, stamp) for t in found])
        except sqlite3.OperationalError as exc:  # locked by another process: recorded by a later ask
            if not is_busy(exc):
                raise
