"""The SQL edge of export (`records.py` is its pure core): submitted gold by task, in document order, with
the drafts it started from.

Only annotations with status ok and the schema's hash count, made by a person; with
`include_accepted`, a sentence no person annotated gives its draft accepted from the
model (status accepted, annotator `model:...`), and each record says its source. An annotation's draft
follows evaluation's rule (`annotator.evaluate.load`): the draft whose Label Studio
prediction it was created from (`gold.parent_prediction` =
`predictions.ls_prediction_id` in the same project), else the newest ok draft of
the sentence in the draft set the project shows. Only draft ids are held in memory;
draft contents are read when asked for.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence

import sqlite_utils

from ..errors import InputError
from ..evaluate.load import MODEL_ANNOTATOR, ProjectRow, _shown_draft_set, projects
from ..gold import choose_gold
from ..schema import Schema
from ..store import DraftStatus, GoldStatus
from .records import SentenceGold
from .report import ExportReport

Progress = Callable[[str, int, int], None]
"""progress(description, done, total)."""

_GOLD = """
    SELECT g.task_id, g.sentence_id, g.annotation_id, g.annotator, g.completed_by, g.ground_truth, g.updated_at,
           g.parent_prediction, g.data, g.spans, g.status, s.document_id, s.idx, s.start AS sentence_start,
           s."end" AS sentence_end, s.text
    FROM gold g JOIN sentences s ON s.id = g.sentence_id JOIN documents d ON d.id = s.document_id
    WHERE g.project_id = ? AND g.status IN (?, ?) AND g.schema_hash = ?
    ORDER BY d.rowid, s.idx, g.task_id, g.annotation_id"""
_PERSON = f"(g.annotator IS NULL OR substr(g.annotator, 1, {len(MODEL_ANNOTATOR)}) != '{MODEL_ANNOTATOR}')"


def select_projects(db: sqlite_utils.Database, name: str | None, url: str | None) -> list[ProjectRow]:
    """The projects to export (all when no name is given); none at all is an error."""
    found = projects(db, name, url)
    if not found:
        raise InputError("no Label Studio project in this database; run `annotator push` and `annotator pull` first")
    return found


def count_tasks(db: sqlite_utils.Database, schema: Schema, chosen: Sequence[ProjectRow],
                include_accepted: bool = False) -> tuple[int, int]:
    """(sentences with submitted gold of the schema, a person's or with `include_accepted` the model's accepted;
    submitted annotations made with other schemas)."""
    tasks = other = 0
    for project in chosen:
        row = db.execute(f"""SELECT count(DISTINCT CASE WHEN g.schema_hash = ? AND (g.status = ? OR ?) THEN
                             g.sentence_id END), sum(g.schema_hash != ? AND g.status = ?)
                             FROM gold g JOIN sentences s ON s.id = g.sentence_id
                             WHERE g.project_id = ? AND (g.status = ? AND {_PERSON} OR g.status = ? AND ?)""",
                         [schema.hash, GoldStatus.OK.value, int(include_accepted), schema.hash, GoldStatus.OK.value,
                          project.id, GoldStatus.OK.value, GoldStatus.ACCEPTED.value,
                          int(include_accepted)]).fetchone()
        tasks, other = tasks + (row[0] or 0), other + (row[1] or 0)
    return tasks, other


class DraftIndex:
    """Which draft each annotation of one project started from."""

    def __init__(self, db: sqlite_utils.Database, schema: Schema, project: ProjectRow) -> None:
        self.db = db
        self.by_prediction = {r["ls_prediction_id"]: (r["id"], r["status"]) for r in db.query("""
            SELECT p.ls_prediction_id, d.id, d.status FROM predictions p JOIN drafts d ON d.id = p.draft_id
            WHERE p.project_id = ? AND p.ls_prediction_id IS NOT NULL""", [project.id])}
        draft_set = _shown_draft_set(db, project, schema)
        where, params = "d.schema_hash = ?", [schema.hash]
        if draft_set is not None:
            where, params = "d.model = ? AND d.prompt_version = ? AND d.schema_hash = ?", list(draft_set)
        self.newest: dict[str, str] = {}
        for r in db.query(f"""
                SELECT d.sentence_id, d.id FROM drafts d WHERE {where} AND d.status = ? AND d.sentence_id IN (
                  SELECT sentence_id FROM gold WHERE project_id = ?) ORDER BY d.created_at, d.rowid""",
                          [*params, DraftStatus.OK.value, project.id]):
            self.newest[r["sentence_id"]] = r["id"]

    def draft_id(self, row: dict) -> str | None:
        """The id of the ok draft an annotation started from, or None."""
        linked = self.by_prediction.get(row["parent_prediction"])
        if linked is not None:
            return linked[0] if linked[1] == DraftStatus.OK else None
        return self.newest.get(row["sentence_id"])

    def drafts(self, ids: Sequence[str | None]) -> list[dict]:
        """The distinct drafts of `ids`, decoded, in order."""
        out = []
        for draft_id in dict.fromkeys(i for i in ids if i is not None):
            row = next(iter(self.db.query(
                "SELECT id, model, prompt_version, schema_hash, data, spans FROM drafts WHERE id = ?", [draft_id])))
            out.append(_decoded(row))
        return out


def _decoded(row: dict) -> dict:
    return {**row, "data": json.loads(row["data"] or "{}"), "spans": json.loads(row["spans"] or "[]")}


def from_model(row: dict) -> bool:
    """A gold row accepted from the model (status accepted, or an annotator `model:...`), not made by a person."""
    return row["status"] == GoldStatus.ACCEPTED or (row["annotator"] or "").startswith(MODEL_ANNOTATOR)


def task_groups(rows: Iterable[dict], include_accepted: bool) -> Iterator[tuple[list[dict], str]]:
    """(the rows of one task that count, their source "person" or "model"), from rows in sentence order: each
    task's annotations made by a person; with `include_accepted`, the accepted row of a sentence no person
    annotated (a person's answer always wins)."""
    for _, sentence_rows in itertools.groupby(rows, key=lambda r: r["sentence_id"]):
        found = list(sentence_rows)
        person = [r for r in found if not from_model(r)]
        if person:
            for _, task_rows in itertools.groupby(person, key=lambda r: r["task_id"]):
                yield list(task_rows), "person"
        elif include_accepted:
            yield found, "model"


def project_gold(db: sqlite_utils.Database, schema: Schema, project: ProjectRow, mode: str, include_drafts: bool,
                 report: ExportReport, include_accepted: bool = False) -> Iterator[SentenceGold]:
    """Each task's gold in one project, in document and sentence order; counts go to `report`."""
    index = DraftIndex(db, schema, project)
    statuses = [GoldStatus.OK.value, GoldStatus.ACCEPTED.value if include_accepted else GoldStatus.OK.value]
    rows = db.query(_GOLD, [project.id, *statuses, schema.hash])
    for group, source in task_groups(rows, include_accepted):
        task_rows = [_decoded(r) for r in group]
        task_id = task_rows[0]["task_id"]
        chosen = choose_gold(task_rows, mode, schema.fields)
        draft_ids = [index.draft_id(r) for r in chosen.rows]
        first = task_rows[0]
        report.sentences += 1
        report.annotations += len(chosen.rows)
        report.spans += len(chosen.spans)
        report.without_draft += draft_ids.count(None)
        report.ties += len(chosen.ties)
        report.ties_by_field.update(chosen.ties)
        report.gold_rules[chosen.rule] += 1
        yield SentenceGold(project.name, task_id, first["sentence_id"], first["document_id"], first["idx"],
                           first["text"], first["sentence_start"], first["sentence_end"], chosen, draft_ids,
                           index.drafts(draft_ids) if include_drafts else [], source if include_accepted else None)


class Documents:
    """Document texts and sentence counts, read once per document (gold comes in document order)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._id: str | None = None
        self._text = ""
        self._sentences = 0

    def _load(self, document_id: str) -> None:
        if document_id != self._id:
            self._text = self.db.execute("SELECT text FROM documents WHERE id = ?", [document_id]).fetchone()[0]
            self._sentences = self.db.execute("SELECT count(*) FROM sentences WHERE document_id = ?",
                                              [document_id]).fetchone()[0]
            self._id = document_id

    def text(self, document_id: str) -> str:
        """The document's full text."""
        self._load(document_id)
        return self._text

    def sentence_count(self, document_id: str) -> int:
        """How many sentences the document has."""
        self._load(document_id)
        return self._sentences
