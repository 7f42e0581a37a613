"""The SQL edge of evaluation: gold annotations, the drafts they started from, and who annotated what.

An annotation's draft is the one whose Label Studio prediction it was created from
(`gold.parent_prediction` = `predictions.ls_prediction_id`). Where there is none (a
blind task, or an annotation made without opening the prediction), it is the newest
ok draft of the sentence for the draft set the project shows (the model, prompt and
schema of its model version).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import sqlite_utils

from ..errors import InputError
from ..schema import Schema
from ..settings import redact_url
from ..store import DraftStatus, GoldStatus
from .agreement import Annotation
from .compare import Pair

GOLD_CHOICES = ("latest", "ground-truth", "all")


@dataclass(frozen=True)
class ProjectRow:
    """A recorded Label Studio project."""

    id: str
    ls_id: int
    name: str
    url: str

    def task_link(self, task_id: int) -> str:
        """The task's page in Label Studio."""
        return f"{redact_url(self.url)}/projects/{self.ls_id}/data?task={task_id}"


def projects(db: sqlite_utils.Database, name: str | None = None, url: str | None = None) -> list[ProjectRow]:
    """Recorded projects, filtered by name and URL; an unknown name is an error."""
    rows = [ProjectRow(r["id"], r["ls_id"], r["name"], r["url"]) for r in db.query(
        "SELECT id, ls_id, name, url FROM projects ORDER BY name, url")]
    if name is not None:
        rows = [p for p in rows if p.name == name and (url is None or p.url == url.rstrip("/"))]
        if not rows:
            raise InputError(f"no project {name!r} in this database; check --project (see `annotator status`)")
    return rows


def choose(rows: list[dict], mode: str) -> list[dict]:
    """The annotations that count on one task: the newest, the ground truth (else newest), or all."""
    if mode not in GOLD_CHOICES:
        raise InputError(f"unknown --gold {mode!r}; use one of {', '.join(GOLD_CHOICES)}")
    if mode == "all" or not rows:
        return rows
    newest = max(rows, key=lambda r: (r["updated_at"] or "", r["annotation_id"]))
    if mode == "ground-truth":
        truth = [r for r in rows if r["ground_truth"]]
        if truth:
            return [max(truth, key=lambda r: (r["updated_at"] or "", r["annotation_id"]))]
    return [newest]


def _gold_by_task(db: sqlite_utils.Database, schema: Schema, project: ProjectRow,
                  annotator: str | None) -> dict[int, list[dict]]:
    sql = ("SELECT g.*, coalesce(t.blind, 0) AS blind FROM gold g LEFT JOIN tasks t ON t.project_id = g.project_id "
           "AND t.task_id = g.task_id WHERE g.project_id = ? AND g.status = ? AND g.schema_hash = ?")
    params: list = [project.id, GoldStatus.OK.value, schema.hash]
    if annotator is not None:
        sql, params = sql + " AND g.annotator = ?", [*params, annotator]
    by_task: dict[int, list[dict]] = {}
    for row in db.query(sql, params):
        by_task.setdefault(row["task_id"], []).append(row)
    return by_task


def _shown_draft_set(db: sqlite_utils.Database, project: ProjectRow, schema: Schema) -> tuple | None:
    """(model, prompt_version, schema_hash) of the drafts behind the project's model version."""
    row = next(iter(db.query("""
        SELECT d.model, d.prompt_version, d.schema_hash FROM projects pr
        JOIN predictions p ON p.project_id = pr.id AND p.model_version = pr.model_version
        JOIN drafts d ON d.id = p.draft_id WHERE pr.id = ? LIMIT 1""", [project.id])), None)
    return (row["model"], row["prompt_version"], row["schema_hash"]) if row else None


def _newest_drafts(db: sqlite_utils.Database, project: ProjectRow, draft_set: tuple | None,
                   schema: Schema) -> dict[str, dict]:
    """Sentence id -> newest ok draft of the draft set, for the sentences annotated in the project."""
    where, params = "d.schema_hash = ?", [schema.hash]
    if draft_set is not None:
        where, params = "d.model = ? AND d.prompt_version = ? AND d.schema_hash = ?", list(draft_set)
    out: dict[str, dict] = {}
    for d in db.query(f"""
            SELECT d.* FROM drafts d WHERE {where} AND d.status = ? AND d.sentence_id IN (
              SELECT sentence_id FROM gold WHERE project_id = ?) ORDER BY d.created_at, d.rowid""",
                      [*params, DraftStatus.OK.value, project.id]):
        out[d["sentence_id"]] = d
    return out


def eval_pairs(db: sqlite_utils.Database, schema: Schema, *, project: str | None = None, url: str | None = None,
               annotator: str | None = None, gold: str = "latest") -> tuple[list[Pair], int]:
    """(pairs of gold and draft, annotations left out for want of a draft)."""
    pairs, missing, decoded = [], 0, {}
    for proj in projects(db, project, url):
        by_prediction = {r["ls_prediction_id"]: r for r in db.query("""
            SELECT p.ls_prediction_id, d.* FROM predictions p JOIN drafts d ON d.id = p.draft_id
            WHERE p.project_id = ? AND p.ls_prediction_id IS NOT NULL""", [proj.id])}
        newest = _newest_drafts(db, proj, _shown_draft_set(db, proj, schema), schema)
        for rows in _gold_by_task(db, schema, proj, annotator).values():
            for g in choose(rows, gold):
                draft = by_prediction.get(g["parent_prediction"]) or newest.get(g["sentence_id"])
                if draft is None or draft["status"] != DraftStatus.OK:
                    missing += 1
                    continue
                pairs.append(Pair.from_rows(draft, g, bool(g["blind"]), decoded))
    return pairs, missing


def agreement_annotations(db: sqlite_utils.Database, schema: Schema, *, project: str | None = None,
                          url: str | None = None) -> Iterator[tuple[ProjectRow, list[Annotation]]]:
    """Each project's annotations: one per annotator and task (the newest), submitted and not deleted."""
    for proj in projects(db, project, url):
        annotations = []
        for rows in _gold_by_task(db, schema, proj, None).values():
            newest: dict[str, dict] = {}
            for r in sorted(rows, key=lambda r: (r["updated_at"] or "", r["annotation_id"])):
                newest[r["annotator"] or str(r["completed_by"])] = r
            annotations += [Annotation(r["task_id"], who, json.loads(r["data"] or "{}"), json.loads(r["spans"] or "[]"))
                            for who, r in newest.items()]
        yield proj, annotations
