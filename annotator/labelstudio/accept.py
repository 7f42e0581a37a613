"""`push --route`: which new tasks go to people and which drafts are accepted from the model (SQLite edge).

The project's latest routing (`annotator route`) decides each sentence that has a
draft to push and no task yet: its newest draft's calibrated confidence
(`confidence.route.draft_confidences`, with the maps of the calibration version the
routing used) at or above the threshold is ACCEPTED, below it the sentence goes to
people. A sentence with an annotation a person made is never accepted; neither is
anything while the routing's audit says its guarantee is broken
(`confidence.audit`), nor when the routing has no threshold.

An accepted draft becomes a gold row with status `accepted` and annotator
`model:<model version>` (no task, no annotation id: pull never touches it), and a
`routed` row; a hash-stable share of the accepted (`--audit`, a hash of the sentence
id, as `--blind` chooses) is also sent to people as a blind task, without a
prediction. Decisions are written in one transaction before anything is sent: a
push that dies after it finds them again, and an accepted sentence is never decided
twice. The tasks for people go in order of increasing confidence, so Label
Studio's default order (by task id) serves the weakest drafts first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from ..confidence.audit import routing_state
from ..confidence.route import (
    calibration_maps,
    draft_confidences,
    latest_routing,
    waiting,
    with_human_gold,
)
from ..errors import InputError
from ..schema import Schema
from ..store import GoldStatus, content_id, now

MODEL_PREFIX = "model:"


def is_audited(sentence_id: str, share: float) -> bool:
    """Whether an accepted sentence is in the audit share: a hash of its id, so every push agrees."""
    if share <= 0:
        return False
    return int(hashlib.sha256(f"audit:{sentence_id}".encode()).hexdigest()[:8], 16) / 0x1_0000_0000 < share


@dataclass
class RouteOutcome:
    """What one `push --route` decided."""

    version: int
    threshold: float | None
    broken: bool = False
    """The audit's interval lies above the risk: nothing was accepted."""
    accepted: int = 0
    audited: int = 0
    """Of the accepted, sent blind to people as well."""
    to_people: int = 0
    human_gold: int = 0
    """Sent to people because a person already annotated the sentence (whatever its confidence)."""
    order: dict[str, float] = field(default_factory=dict)
    """Sentence id -> confidence of the sentences sent to people, for the order of the new tasks."""


def accepted_sentences(db: sqlite_utils.Database, project_id: str) -> dict[str, bool]:
    """The project's accepted sentences, each with whether it is audited."""
    return {r["sentence_id"]: bool(r["audit"]) for r in db.query(
        "SELECT sentence_id, audit FROM routed WHERE project_id = ? AND accepted = 1", [project_id])}


def is_audit(db: sqlite_utils.Database, project_id: str, sentence_id: str) -> bool:
    """Whether the sentence was accepted in the project and audited: its task is blind."""
    return db.execute("SELECT 1 FROM routed WHERE project_id = ? AND sentence_id = ? AND accepted = 1 AND audit = 1",
                      [project_id, sentence_id]).fetchone() is not None


def route_push(db: sqlite_utils.Database, schema: Schema, project: Any, drafts: Iterable[Mapping],
               tasks: Mapping[str, int], audit: float | None,
               version_of: Callable[[Mapping], str]) -> tuple[RouteOutcome | None, dict[str, bool]]:
    """(what routing decided, None without `audit`: no routing asked; the project's accepted sentences ->
    audited, for `plan_push`). `project` has the `id` and `name` of the project pushed to."""
    outcome = None if audit is None else route_new(db, schema, project.id, project.name, drafts, tasks, audit,
                                                   version_of)
    return outcome, accepted_sentences(db, project.id)


def _draft_rows(db: sqlite_utils.Database, ids: list[str]) -> dict[str, dict]:
    out = {}
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        out.update((r["id"], r) for r in db.query(
            f"SELECT id, sentence_id, model, prompt_version, schema_hash, data, spans FROM drafts WHERE id IN "
            f"({','.join('?' * len(part))})", part))
    return out


def accepted_gold(schema: Schema, project_id: str, draft: Mapping, annotator: str, stamp: str) -> dict:
    """The gold row of an accepted draft: status accepted, the draft's data and spans, no task or annotation."""
    return {"id": content_id("accepted", project_id, draft["sentence_id"]), "project_id": project_id,
            "task_id": None, "sentence_id": draft["sentence_id"], "annotation_id": None, "annotator": annotator,
            "completed_by": None, "status": GoldStatus.ACCEPTED.value, "schema_name": schema.name,
            "schema_hash": schema.hash, "data": draft["data"], "spans": draft["spans"], "errors": None,
            "raw_result": None, "lead_time": None, "ground_truth": 0, "created_at": stamp, "updated_at": stamp,
            "parent_prediction": None, "pulled_at": None}


def route_new(db: sqlite_utils.Database, schema: Schema, project_id: str, project_name: str,
              drafts: Iterable[Mapping], tasks: Mapping[str, int], audit: float,
              version_of: Callable[[Mapping], str]) -> RouteOutcome:
    """Decide and record every sentence with a draft to push, no task and no decision to accept yet.

    `drafts` are push's draft rows, `tasks` the sentences with a task, `version_of` the model version a draft
    is sent under (its accepted row's annotator is `model:` and that version)."""
    if not 0 <= audit < 1:
        raise InputError(f"--audit {audit} is not a share of the accepted tasks; give a number from 0 to below 1")
    routing = latest_routing(db, project_id)
    if routing is None:
        raise InputError(f"project {project_name!r} has no routing yet; run `annotator calibrate --project "
                         f"{project_name!r}` and `annotator route --project {project_name!r}` first")
    state = routing_state(db, schema, project_id)
    outcome = RouteOutcome(routing.version, routing.threshold, broken=bool(state and state.broken))
    newest = {sid: did for sid, did in waiting(db, project_id, drafts).items() if sid not in tasks}
    if not newest:
        return outcome
    confidence = draft_confidences(db, schema, calibration_maps(db, project_id, routing.calibration_version),
                                   newest.values())
    human = with_human_gold(db, newest)
    chosen = {sid: not outcome.broken and sid not in human and routing.accepts(confidence[did])
              for sid, did in newest.items()}
    rows = _draft_rows(db, [did for sid, did in newest.items() if chosen[sid]])
    stamp, gold, routed = now(), [], []
    for sid, did in newest.items():
        audited = chosen[sid] and is_audited(sid, audit)
        gold_id = None
        if chosen[sid]:
            gold.append(accepted_gold(schema, project_id, rows[did], MODEL_PREFIX + version_of(rows[did]), stamp))
            gold_id = gold[-1]["id"]
            outcome.accepted, outcome.audited = outcome.accepted + 1, outcome.audited + audited
        else:
            outcome.order[sid] = confidence[did]
            outcome.human_gold += sid in human
        routed.append({"project_id": project_id, "sentence_id": sid, "routing_version": routing.version,
                       "draft_id": did, "confidence": confidence[did], "accepted": int(chosen[sid]),
                       "audit": int(audited), "gold_id": gold_id, "routed_at": stamp})
    outcome.to_people = len(outcome.order)
    with db.atomic():
        db["gold"].insert_all(gold, pk="id", ignore=True)
        db["routed"].upsert_all(routed, pk=("project_id", "sentence_id"))
    return outcome


__all__ = ["MODEL_PREFIX", "RouteOutcome", "accepted_gold", "accepted_sentences", "is_audit", "is_audited",
           "route_new", "route_push"]
