"""The SQL edge of evaluation: gold annotations, the drafts they started from, and who annotated what.

An annotation's draft is the one whose Label Studio prediction it was created from
(`gold.parent_prediction` = `predictions.ls_prediction_id`). Where there is none (a
blind task, or an annotation made without opening the prediction), it is the newest
ok draft of the sentence for the draft set the project shows (the model, prompt and
schema of its model version).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import sqlite_utils

from ..errors import InputError
from ..gold import choose_each
from ..schema import Schema
from ..settings import redact_url
from ..store import DraftStatus, GoldStatus
from .agreement import Annotation
from .compare import Pair


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
    """(model, prompt_version, schema_hash) of the drafts behind the project's model version.

    The version may be in the current form or the older `model|prompt|hash` one (`version_key`).
    """
    from ..labelstudio.predictions import version_key

    shown = next(iter(db.query("SELECT model_version FROM projects WHERE id = ?", [project.id])), {})
    if not shown.get("model_version"):
        return None
    wanted = version_key(shown["model_version"])
    for row in db.query("""
            SELECT p.model_version, d.model, d.prompt_version, d.schema_hash FROM predictions p
            JOIN drafts d ON d.id = p.draft_id WHERE p.project_id = ?
            GROUP BY p.model_version, d.model, d.prompt_version, d.schema_hash""", [project.id]):
        if version_key(row["model_version"]) == wanted:
            return row["model"], row["prompt_version"], row["schema_hash"]
    return None


_GOLD_WITH_DRAFT = """
    SELECT g.task_id, g.annotation_id, g.updated_at, g.ground_truth, g.annotator, g.completed_by, g.lead_time,
           g.data, g.spans,
           g.id AS gold_id, g.sentence_id, coalesce(t.blind, 0) AS blind, d.id AS draft_id, d.model,
           d.prompt_version, d.schema_hash, d.status, d.data AS draft_data, d.spans AS draft_spans, d.n_dropped,
           d.attempts, d.signals
    FROM gold g
    LEFT JOIN tasks t ON t.project_id = g.project_id AND t.task_id = g.task_id
    LEFT JOIN predictions p ON p.project_id = g.project_id AND p.ls_prediction_id = g.parent_prediction
    LEFT JOIN drafts d ON d.id = coalesce(p.draft_id, (
        SELECT d2.id FROM drafts d2 WHERE d2.sentence_id = g.sentence_id AND d2.schema_hash = ?
          AND (? IS NULL OR (d2.prompt_version = ? AND d2.model = ?)) AND d2.status = 'ok'
        ORDER BY d2.created_at DESC, d2.rowid DESC LIMIT 1))
    WHERE g.project_id = ? AND g.status = ? AND g.schema_hash = ? {annotator}
    ORDER BY g.task_id, g.annotation_id"""

MODEL_ANNOTATOR = "model:"
"""Gold rows whose annotator starts with this were accepted from the model, not made by a person."""


@dataclass
class EvalInput:
    """The pairs an `eval` reads, streamed; `missing` counts annotations left out for want of a draft, `rules` the
    gold compared by the rule that decided it (ground-truth, majority, latest; all)."""

    missing: int = 0
    rules: dict[str, int] = field(default_factory=dict)


def _task_rows(db: sqlite_utils.Database, schema: Schema, project: ProjectRow,
               annotator: str | None, human: bool = False) -> Iterator[list[dict]]:
    """Each task's gold rows (status ok, the schema's; with `human`, none accepted from the model) joined to the
    draft they started from, task by task."""
    shown = _shown_draft_set(db, project, schema)  # None: any draft of the schema, the newest
    model, prompt, schema_hash = shown or (None, None, schema.hash)
    params = [schema_hash, model, prompt, model, project.id, GoldStatus.OK.value, schema.hash]
    where = "AND g.annotator = ?" if annotator is not None else ""
    if human:
        where += f" AND (g.annotator IS NULL OR substr(g.annotator, 1, {len(MODEL_ANNOTATOR)}) != '{MODEL_ANNOTATOR}')"
    sql = _GOLD_WITH_DRAFT.format(annotator=where)
    cursor = db.execute(sql, [*params, *([annotator] if annotator is not None else [])])
    names = [c[0] for c in cursor.description]
    for _, rows in itertools.groupby((dict(zip(names, row, strict=True)) for row in cursor),
                                     key=lambda r: r["task_id"]):
        yield list(rows)


def pair_rows(db: sqlite_utils.Database, schema: Schema, scope: Iterable[ProjectRow], *,
              annotator: str | None = None, gold: str = "adjudicated", human: bool = False,
              counts: EvalInput | None = None) -> Iterator[tuple[dict, Pair]]:
    """(gold row joined to its draft, the pair) one at a time; annotations without a draft are counted in `counts`.

    Each task's gold is chosen by `gold` (`annotator.gold`). The row yielded is the newest annotation the gold
    rests on (its draft, lead time and annotator), with `gold_rule`, the rule that decided, and `gold_rows`,
    (gold id, updated at) of every annotation behind the gold. With `human`, rows accepted from the model
    (annotator `model:...`) are left out before choosing."""
    from ..labelstudio.predictions import draft_score

    counts = counts if counts is not None else EvalInput()
    decoded: dict[str, tuple[dict, list, dict | None, float]] = {}
    for proj in scope:
        for rows in _task_rows(db, schema, proj, annotator, human):
            task = [{**r, "data": json.loads(r["data"] or "{}"), "spans": json.loads(r["spans"] or "[]")} for r in rows]
            for chosen in choose_each(task, gold, schema.fields):
                g = max(chosen.rows, key=lambda r: (r["updated_at"] or "", r["annotation_id"]))
                if g["draft_id"] is None or g["status"] != DraftStatus.OK:
                    counts.missing += 1
                    continue
                counts.rules[chosen.rule] = counts.rules.get(chosen.rule, 0) + 1
                if g["draft_id"] not in decoded:
                    decoded.clear()  # a task's annotations share their draft: keep just the last one
                    decoded[g["draft_id"]] = (json.loads(g["draft_data"] or "{}"), json.loads(g["draft_spans"] or "[]"),
                                              _signals(g["signals"]), draft_score(
                                                  {"spans": g["draft_spans"], "n_dropped": g["n_dropped"],
                                                   "attempts": g["attempts"]}))
                draft_data, draft_spans, signals, grounded = decoded[g["draft_id"]]
                row = {**g, "gold_rule": chosen.rule, "gold_rows": [(r["gold_id"], r["updated_at"]) for r in chosen.rows]}
                yield row, Pair(g["model"], g["prompt_version"], g["schema_hash"], draft_data, draft_spans,
                                dict(chosen.values), list(chosen.spans), bool(g["blind"]), g["lead_time"],
                                g["annotator"], g["sentence_id"], signals, grounded)


def _signals(text: str | None) -> dict | None:
    """A draft's stored signals (None: made before signals were stored, or not an object)."""
    try:
        value = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def eval_pairs(db: sqlite_utils.Database, schema: Schema, *, project: str | None = None, url: str | None = None,
               annotator: str | None = None, gold: str = "adjudicated",
               counts: EvalInput | None = None) -> Iterator[Pair]:
    """Pairs of human gold and draft, one at a time; annotations without a draft are counted in `counts`.

    Rows accepted from the model (annotator `model:...`) are never human gold: left out before choosing."""
    for _, pair in pair_rows(db, schema, projects(db, project, url), annotator=annotator, gold=gold, human=True,
                             counts=counts):
        yield pair


def annotators(db: sqlite_utils.Database, schema: Schema, *, project: str | None = None,
               url: str | None = None) -> list[str]:
    """Who has gold (submitted, not deleted) of `schema` in the projects named, sorted."""
    ids = [p.id for p in projects(db, project, url)]
    if not ids:
        return []
    rows = db.query(f"SELECT DISTINCT annotator FROM gold WHERE project_id IN ({','.join('?' * len(ids))}) "
                    "AND status = ? AND schema_hash = ? AND annotator IS NOT NULL ORDER BY annotator",
                    [*ids, GoldStatus.OK.value, schema.hash])
    return [r["annotator"] for r in rows]


def agreement_annotations(db: sqlite_utils.Database, schema: Schema, *, project: str | None = None,
                          url: str | None = None) -> Iterator[tuple[ProjectRow, Iterator[dict[str, Annotation]]]]:
    """Each project, with its tasks' answers by annotator streamed task by task (the newest answer of each
    annotator; submitted, not deleted, made by a person: never a row accepted from the model)."""
    for proj in projects(db, project, url):
        yield proj, _answers_by_task(db, schema, proj)


def _answers_by_task(db: sqlite_utils.Database, schema: Schema, project: ProjectRow) -> Iterator[dict[str, Annotation]]:
    cursor = db.execute(f"""
        SELECT task_id, annotation_id, updated_at, annotator, completed_by, data, spans FROM gold
        WHERE project_id = ? AND status = ? AND schema_hash = ? AND (annotator IS NULL
          OR substr(annotator, 1, {len(MODEL_ANNOTATOR)}) != '{MODEL_ANNOTATOR}')
        ORDER BY task_id, updated_at, annotation_id""", [project.id, GoldStatus.OK.value, schema.hash])
    for task_id, rows in itertools.groupby(cursor, key=lambda r: r[0]):
        newest = {}
        for _, _, _, who, completed_by, data, spans in rows:  # later rows are newer: they win
            newest[who or str(completed_by)] = (data, spans)
        if len(newest) >= 2:
            yield {who: Annotation(task_id, who, json.loads(data or "{}"), json.loads(spans or "[]"))
                   for who, (data, spans) in newest.items()}


def people_gold(db: sqlite_utils.Database, schema: Schema, project: ProjectRow) -> Iterator[tuple[int, list[dict]]]:
    """(task id, its gold rows) task by task: submitted, not deleted, of the schema, made by a person; data and
    spans decoded (what `evaluate.adjudicate` reads)."""
    cursor = db.execute(f"""
        SELECT task_id, annotation_id, updated_at, ground_truth, annotator, completed_by, data, spans FROM gold
        WHERE project_id = ? AND status = ? AND schema_hash = ? AND (annotator IS NULL
          OR substr(annotator, 1, {len(MODEL_ANNOTATOR)}) != '{MODEL_ANNOTATOR}')
        ORDER BY task_id, annotation_id""", [project.id, GoldStatus.OK.value, schema.hash])
    names = [c[0] for c in cursor.description]
    for task_id, rows in itertools.groupby((dict(zip(names, row, strict=True)) for row in cursor),
                                           key=lambda r: r["task_id"]):
        yield task_id, [{**r, "data": json.loads(r["data"] or "{}"), "spans": json.loads(r["spans"] or "[]")}
                        for r in rows]
