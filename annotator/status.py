"""Counts for `annotator status`: what is stored and what it cost, and each project's live link."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from .backend.state import live_state
from .store import DraftStatus, GoldStatus

DUPLICATE_SPANS = """(
  SELECT count(*) - count(DISTINCT g.id || quote(json_extract(r.value, '$.from_name'))
           || quote(json_extract(r.value, '$.value.start')) || quote(json_extract(r.value, '$.value.end'))
           || quote(l.value))
  FROM gold g,
    json_each(CASE WHEN json_valid(g.raw_result) THEN
                CASE WHEN json_type(g.raw_result) = 'array' THEN g.raw_result END END) r,
    json_each(CASE WHEN r.type = 'object' THEN
                CASE WHEN json_extract(r.value, '$.type') = 'labels' AND json_type(r.value, '$.value.labels') = 'array'
                     THEN json_extract(r.value, '$.value.labels') END END) l
  WHERE g.project_id = p.id AND g.status IN (?, ?))"""
"""Spans Label Studio sent more than once within one live annotation of project `p` (same control, start,
end and label): pull keeps each once (`labelstudio.convert.collapse_spans`); this counts the copies dropped."""


def _rows(db: sqlite_utils.Database, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    """Query results as a list of dicts."""
    return list(db.query(sql, params or []))


def summary(db: sqlite_utils.Database) -> dict[str, Any]:
    """Documents, sentences (and how many are boilerplate), drafts by status, tokens, failures, projects."""
    out: dict[str, Any] = {
        "documents": db["documents"].count,
        "sentences": db["sentences"].count,
        "boilerplate": db["sentences"].count_where("boilerplate = 1"),
        "drafts": _rows(db, """
            SELECT schema_name, prompt_version, model, status, count(*) AS n,
                   sum(CASE WHEN cached = 0 THEN prompt_tokens ELSE 0 END) AS prompt_tokens,
                   sum(CASE WHEN cached = 0 THEN completion_tokens ELSE 0 END) AS completion_tokens,
                   sum(n_dropped) AS dropped_spans
            FROM drafts GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""),
        "failures": _rows(db, """
            SELECT status, substr(error, 1, instr(error || ':', ':') - 1) AS reason, count(*) AS n
            FROM drafts WHERE status != ? GROUP BY 1, 2 ORDER BY n DESC""", [DraftStatus.OK]),
    }
    if "projects" in db.table_names():
        out["projects"] = _rows(db, f"""
            SELECT p.id, p.name, p.ls_id, p.url, p.pulled_at AS last_pull_at, p.overlap,
              (SELECT count(*) FROM tasks t WHERE t.project_id = p.id) AS pushed,
              (SELECT count(DISTINCT g.task_id) FROM gold g WHERE g.project_id = p.id
                 AND g.status IN (?, ?)) AS annotated,
              (SELECT count(DISTINCT g.task_id) FROM gold g WHERE g.project_id = p.id
                 AND g.status = ?) AS skipped,
              {DUPLICATE_SPANS} AS duplicate_spans
            FROM projects p ORDER BY p.name, p.url""",
                                [GoldStatus.OK, GoldStatus.INVALID, GoldStatus.SKIPPED, GoldStatus.OK, GoldStatus.INVALID])
        for p in out["projects"]:
            p["pending"] = max(0, p["pushed"] - p["annotated"] - p["skipped"])
            p.update(_per_task(db, p))
            p["confidence"] = _confidence(db, p["id"])
            p["routing"] = _routing(db, p)
            p["live"] = _live(db, p.pop("id"))
    return out


def _per_task(db: sqlite_utils.Database, project: dict[str, Any]) -> dict[str, Any]:
    """The project's overlap (annotators a task; 1 until a push or pull records it), its pushed tasks by their
    number of submitted annotations (item i: tasks with i), and how many have at least the overlap; all from the
    gold pulled so far (`labelstudio.overlap`)."""
    from .labelstudio.overlap import annotation_counts, histogram, project_overlap

    n = project_overlap(project)
    tasks = histogram(annotation_counts(db, project["id"]), n)
    return {"overlap": n, "annotations_per_task": tasks, "complete": sum(tasks[n:])}


def _confidence(db: sqlite_utils.Database, project_id: str) -> dict[str, Any]:
    """What scores the project's predictions: its newest calibration ({"calibrated": True, "version", "gold"}),
    or the raw signals before one ({"calibrated": False})."""
    row = db.execute("SELECT version, gold FROM calibrations WHERE project_id = ? ORDER BY version DESC LIMIT 1",
                     [project_id]).fetchone() if "calibrations" in db.table_names() else None
    return {"calibrated": True, "version": row[0], "gold": row[1]} if row else {"calibrated": False}


def _routing(db: sqlite_utils.Database, project: dict[str, Any]) -> dict[str, Any] | None:
    """The project's latest routing and what it did (`confidence.audit`), or None if never routed.

    The audit needs the project's schema; when it does not load, its figures are None."""
    if "routings" not in db.table_names():
        return None
    from .confidence.audit import routing_state
    from .errors import AnnotatorError
    from .labelstudio.projects import project_schema

    if not db.execute("SELECT 1 FROM routings WHERE project_id = ?", [project["id"]]).fetchone():
        return None
    try:
        schema = project_schema(db, project["name"], project["url"], None)
    except AnnotatorError:
        schema = None
    state = routing_state(db, schema, project["id"])
    if state is None:
        return None
    return {"version": state.routing.version, **state.block(), "audit_answered": state.audit_answered,
            "expected_wrong": state.expected_wrong, "broken": state.broken,
            "broken_line": state.broken_line(project["name"]) if state.broken else None}


def _live(db: sqlite_utils.Database, project_id: str) -> dict[str, Any] | None:
    """What `serve` recorded of the project's live link (backend, webhooks, predictions), or None if never served."""
    if "serve_links" not in db.table_names():
        return None
    state = live_state(db, project_id)
    if state is None:
        return None
    return {k: v for k, v in state.items() if k not in ("project_id", "last_pull_at")}
