"""What a project's routing did, and its blind audit: the figures `eval`, `status` and `push --route` read
(SQLite edge).

Everything is of the latest routing version (the guarantee in force): the tasks it
accepted, sent to people and audited (`routed`), the expected number of wrong
accepted tasks (the sum of 1 - confidence over them), and the audit: an audited
task's human gold (status ok, made by a person, of the schema; chosen as eval chooses it,
`gold.adjudicated`: ground truth, else a strict majority, else the newest) against the
draft that was accepted, wrong when any field differs (as calibration judges a
whole draft, `items.draft_items`). Its realized error rate has an exact two-sided
95% interval (`routing.clopper_pearson_interval`); when the interval lies entirely
above the routing's risk, the guarantee is broken: `push --route` accepts nothing
until a newer routing version (calibrate with the audit's gold, then route again).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sqlite_utils

from ..evaluate.load import MODEL_ANNOTATOR, ProjectRow
from ..gold import adjudicated
from ..schema import Schema
from ..store import GoldStatus
from .items import draft_items
from .route import StoredRouting, latest_routing
from .routing import clopper_pearson_interval

AUDIT_LEVEL = 0.95

_AUDITED = f"""
    SELECT r.sentence_id, d.data AS draft_data, d.spans AS draft_spans, g.data, g.spans, g.updated_at,
           g.annotation_id, g.ground_truth, g.annotator, g.completed_by
    FROM routed r JOIN drafts d ON d.id = r.draft_id
    JOIN gold g ON g.project_id = r.project_id AND g.sentence_id = r.sentence_id AND g.status = ?
      AND g.schema_hash = ? AND (g.annotator IS NULL OR substr(g.annotator, 1, {len(MODEL_ANNOTATOR)}) != ?)
    WHERE r.project_id = ? AND r.routing_version = ? AND r.accepted = 1 AND r.audit = 1
    ORDER BY r.sentence_id"""


@dataclass(frozen=True)
class RoutingState:
    """The latest routing of a project, what it did, and its audit."""

    routing: StoredRouting
    accepted: int
    to_people: int
    audited: int
    expected_wrong: float
    """The sum of 1 - confidence over the accepted tasks."""
    audit_answered: int | None
    """Audited tasks with human gold (None: not measured, e.g. the schema could not be loaded)."""
    audit_errors: int | None

    @property
    def audit_error_rate(self) -> float | None:
        return self.audit_errors / self.audit_answered if self.audit_answered else None

    @property
    def audit_ci(self) -> tuple[float, float] | None:
        """The exact 95% interval of the audit's error rate (None with no audit answered, or without scipy)."""
        if not self.audit_answered or importlib.util.find_spec("scipy") is None:
            return None
        return clopper_pearson_interval(self.audit_errors or 0, self.audit_answered, AUDIT_LEVEL)

    @property
    def broken(self) -> bool:
        """The audit's interval lies entirely above the risk: the guarantee does not hold."""
        ci = self.audit_ci
        return ci is not None and ci[0] > self.routing.risk

    def block(self) -> dict:
        """Exactly what `eval --json` adds to the project's group under "routing"."""
        ci = self.audit_ci
        return {"risk": self.routing.risk, "delta": self.routing.delta, "threshold": self.routing.threshold,
                "accepted": self.accepted, "to_people": self.to_people, "audited": self.audited,
                "audit_errors": self.audit_errors if self.audit_answered else None,
                "audit_error_rate": self.audit_error_rate, "audit_ci": list(ci) if ci else None}

    def broken_line(self, name: str) -> str:
        """The one line saying the guarantee is broken and what to do."""
        low, high = self.audit_ci or (0.0, 1.0)
        return (f"Routing of project {name!r} is broken: the audit's error rate {self.audit_errors} of "
                f"{self.audit_answered} (95% CI {low:.1%}–{high:.1%}) lies above the risk {self.routing.risk:g}; "
                f"push --route accepts nothing until you run `annotator calibrate` and `annotator route` again")


def _audit(db: sqlite_utils.Database, schema: Schema, project_id: str, version: int) -> tuple[int, int]:
    """(audited tasks with human gold, how many of their accepted drafts were wrong)."""
    answered = errors = 0
    rows = db.query(_AUDITED, [GoldStatus.OK.value, schema.hash, MODEL_ANNOTATOR, project_id, version])
    for rows_of_one in _by_sentence(rows):
        first = rows_of_one[0]
        gold = adjudicated([{**r, "data": json.loads(r["data"] or "{}"), "spans": json.loads(r["spans"] or "[]")}
                            for r in rows_of_one], schema.fields)
        judged = draft_items(schema.fields, json.loads(first["draft_data"] or "{}"),
                             json.loads(first["draft_spans"] or "[]"), None, 1.0, gold.values, gold.spans,
                             first["sentence_id"])
        answered += 1
        errors += not judged.all_right
    return answered, errors


def _by_sentence(rows: Iterable[dict]) -> Iterator[list[dict]]:
    current: list[dict] = []
    for row in rows:
        if current and current[0]["sentence_id"] != row["sentence_id"]:
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def routing_state(db: sqlite_utils.Database, schema: Schema | None, project: ProjectRow | str) -> RoutingState | None:
    """The project's latest routing and what it did (None: never routed); without `schema`, no audit figures."""
    project_id = project if isinstance(project, str) else project.id
    routing = latest_routing(db, project_id)
    if routing is None:
        return None
    row = db.execute("""SELECT coalesce(sum(accepted), 0), coalesce(sum(1 - accepted), 0),
                               coalesce(sum(accepted * audit), 0),
                               coalesce(sum(CASE WHEN accepted = 1 THEN 1 - confidence END), 0.0)
                        FROM routed WHERE project_id = ? AND routing_version = ?""",
                     [project_id, routing.version]).fetchone()
    answered, errors = _audit(db, schema, project_id, routing.version) if schema is not None else (None, None)
    return RoutingState(routing, row[0], row[1], row[2], float(row[3]), answered, errors)


def attach_routing(db: sqlite_utils.Database, schema: Schema, report: dict,
                   scope: Iterable[ProjectRow]) -> list[tuple[ProjectRow, RoutingState]]:
    """Each routed project of `scope` with its state; the state's `block()` goes to the eval group of the drafts
    the project shows (its model version), when no other project of the scope shows the same."""
    from ..evaluate.load import _shown_draft_set

    found, by_key = [], {}
    for project in scope:
        state = routing_state(db, schema, project)
        if state is not None:
            found.append((project, state))
            by_key.setdefault(_shown_draft_set(db, project, schema), []).append(state)
    for group in report["groups"]:
        states = by_key.get((group["model"], group["prompt_version"], group["schema_hash"])) or []
        if len(states) == 1:
            group["routing"] = states[0].block()
    return found


def summary_line(name: str, state: RoutingState) -> str:
    """What routing did in a project, and its audit against the guarantee, in one line."""
    r = state.routing
    threshold = "none (nothing accepted)" if r.threshold is None else f"{r.threshold:.4g}"
    line = (f"Routing of project {name!r} (version {r.version}, threshold {threshold}): {state.accepted} accepted, "
            f"{state.to_people} sent to people, {state.audited} audited; expected wrong among the accepted "
            f"{state.expected_wrong:.1f}. ")
    ci = state.audit_ci
    if not state.audit_answered or ci is None:
        return line + f"Audit: none answered yet (guarantee: at most {r.risk:g} wrong, with probability " \
                      f"{1 - r.delta:g})."
    return line + (f"Audit: {state.audit_errors} of {state.audit_answered} wrong ({state.audit_error_rate:.1%}, "
                   f"95% CI {ci[0]:.1%}–{ci[1]:.1%}) against the guarantee of at most {r.risk:g} wrong "
                   f"(with probability {1 - r.delta:g}).")


__all__ = ["AUDIT_LEVEL", "RoutingState", "attach_routing", "routing_state", "summary_line"]
