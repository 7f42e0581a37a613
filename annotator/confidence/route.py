"""`annotator route`: which drafts may skip review, a threshold chosen on the project's gold and kept as versions
(SQLite edge).

The gold is the one the project's latest calibration was fitted on (the same rows:
a gold that changed since asks for `calibrate` first). Each gold task's whole draft
has its out-of-sample probability of being right (`figures.assess_pool`, cross-fitted
by task) and is wrong when any field differs from the gold; `routing.choose_threshold`
finds the lowest threshold whose accepted tasks err at most `risk` with probability
at least 1 - `delta`. With none (too little gold), nothing is accepted, and
`gold_needed` says how many gold tasks a guarantee takes at the gold's error rate.

A version is stored in `routings` with the calibration version it used; the same
calibration, risk and delta as the latest version store nothing ("unchanged").
The current drafts (those push would send: the newest draft of each sentence with
no task and not accepted yet) get their confidence from the calibration's maps
(`apply.draft_confidence`), so the share the threshold would accept is known before
anything is pushed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlite_utils

from ..errors import InputError
from ..evaluate.load import MODEL_ANNOTATOR, ProjectRow
from ..schema import Schema
from ..settings import redact_url
from ..store import GoldStatus, content_id, now
from .apply import draft_confidence
from .calibrate import Calibration, gold_pool, latest_calibration
from .figures import FOLDS, assess_pool
from .routing import Choice, choose_threshold, gold_needed

HUMAN_GOLD = (f"EXISTS (SELECT 1 FROM gold h WHERE h.sentence_id = {{sentence}} AND h.status IN "
              f"('{GoldStatus.OK.value}', '{GoldStatus.INVALID.value}') AND (h.annotator IS NULL OR "
              f"substr(h.annotator, 1, {len(MODEL_ANNOTATOR)}) != '{MODEL_ANNOTATOR}'))")
"""SQL: the sentence has an annotation a person made (any project, any schema): it is never accepted."""


@dataclass(frozen=True)
class StoredRouting:
    """One stored version of a project's routing."""

    version: int
    calibration_version: int
    risk: float
    delta: float
    threshold: float | None
    """None: no threshold can be guaranteed; nothing is accepted."""
    n: int
    accepted: int
    errors: int
    bound: float | None
    created_at: str

    def accepts(self, confidence: float) -> bool:
        """Whether a draft of this calibrated confidence is accepted."""
        return self.threshold is not None and confidence >= self.threshold


@dataclass
class RouteResult:
    """What `annotator route` found and stored."""

    project: ProjectRow
    routing: StoredRouting
    unchanged: bool
    gold_errors: int
    """Gold tasks whose draft was wrong, out of `routing.n`."""
    needed: int | None
    """With no threshold: the gold tasks a guarantee takes at the gold's error rate (None: none will do)."""
    drafts: int
    """Sentences push --route would decide now (a draft, no task, not accepted yet), by their newest draft."""
    drafts_accepted: int

    def to_json(self) -> dict:
        """What `route --json` prints."""
        r = self.routing
        return {"project": self.project.name, "url": redact_url(self.project.url), "version": r.version,
                "unchanged": self.unchanged, "calibration_version": r.calibration_version, "risk": r.risk,
                "delta": r.delta, "threshold": r.threshold, "n": r.n, "accepted": r.accepted, "errors": r.errors,
                "bound": r.bound, "gold_errors": self.gold_errors, "gold_needed": self.needed,
                "more_gold_needed": None if self.needed is None else max(0, self.needed - r.n),
                "drafts": self.drafts, "drafts_accepted": self.drafts_accepted,
                "accept_share": self.drafts_accepted / self.drafts if self.drafts else None}


def choose(probs: Sequence[float], right: Sequence[bool], risk: float, delta: float) -> tuple[Choice, int | None]:
    """The threshold chosen on gold drafts' probabilities, and with none, the gold a guarantee takes at their
    error rate (None when that rate is at or above `risk`, or there is no gold)."""
    choice = choose_threshold(probs, [not r for r in right], risk, delta)
    if choice.threshold is not None or not right:
        return choice, None
    return choice, gold_needed(sum(not r for r in right) / len(right), risk, delta)


def _from_row(row: Mapping) -> StoredRouting:
    return StoredRouting(row["version"], row["calibration_version"], row["risk"], row["delta"], row["threshold"],
                         row["n"], row["accepted"], row["errors"], row["bound"], row["created_at"])


def latest_routing(db: sqlite_utils.Database, project_id: str) -> StoredRouting | None:
    """The project's newest routing version, or None."""
    row = next(iter(db.query("SELECT * FROM routings WHERE project_id = ? ORDER BY version DESC LIMIT 1",
                             [project_id])), None)
    return None if row is None else _from_row(row)


def calibration_maps(db: sqlite_utils.Database, project_id: str, version: int) -> dict:
    """The stored maps of one calibration version of the project."""
    row = next(iter(db.query("SELECT maps FROM calibrations WHERE project_id = ? AND version = ?",
                             [project_id, version])), None)
    if row is None:
        raise InputError(f"calibration version {version} of this project is missing; run `annotator calibrate` "
                         "and `annotator route` again")
    return json.loads(row["maps"])


def _parsed(text: str | None) -> dict | None:
    try:
        value = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def draft_confidences(db: sqlite_utils.Database, schema: Schema, maps: Mapping | None,
                      draft_ids: Iterable[str]) -> dict[str, float]:
    """Each draft's calibrated whole-draft confidence (`apply.draft_confidence`), by draft id."""
    from ..labelstudio.predictions import draft_score

    ids, out = list(draft_ids), {}
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        for row in db.query(f"SELECT id, data, spans, signals, n_dropped, attempts FROM drafts WHERE id IN "
                            f"({','.join('?' * len(part))})", part):
            out[row["id"]] = draft_confidence(schema.fields, maps, json.loads(row["data"] or "{}"),
                                              json.loads(row["spans"] or "[]"), _parsed(row["signals"]),
                                              draft_score(row)).draft
    return out


def newest_drafts(drafts: Iterable[Mapping]) -> dict[str, str]:
    """Sentence id -> the id of its newest draft, among push's draft rows ({"id", "sentence_id", "created_at"})."""
    newest: dict[str, tuple] = {}
    for d in drafts:
        key = (d["created_at"] or "", d["id"])
        if d["sentence_id"] not in newest or key > newest[d["sentence_id"]]:
            newest[d["sentence_id"]] = key
    return {sid: key[1] for sid, key in newest.items()}


def with_human_gold(db: sqlite_utils.Database, sentence_ids: Iterable[str]) -> set[str]:
    """The sentences among these that have an annotation a person made (`HUMAN_GOLD`)."""
    ids, out = list(sentence_ids), set()
    for start in range(0, len(ids), 900):
        part = ids[start:start + 900]
        out |= {r["id"] for r in db.query(f"SELECT s.id FROM sentences s WHERE s.id IN ({','.join('?' * len(part))}) "
                                          f"AND {HUMAN_GOLD.format(sentence='s.id')}", part)}
    return out


def waiting(db: sqlite_utils.Database, project_id: str, drafts: Iterable[Mapping]) -> dict[str, str]:
    """Sentence id -> its newest draft, for the sentences `push --route` would decide now: a draft among
    `drafts` (push's rows), no task in the project, not accepted there yet."""
    taken = {r["sentence_id"] for r in db.query("SELECT sentence_id FROM tasks WHERE project_id = ? UNION "
                                                "SELECT sentence_id FROM routed WHERE project_id = ? AND accepted = 1",
                                                [project_id, project_id])}
    return {sid: did for sid, did in newest_drafts(drafts).items() if sid not in taken}


def _current_share(db: sqlite_utils.Database, schema: Schema, project: ProjectRow, calibration: Calibration,
                   threshold: float | None) -> tuple[int, int]:
    """(sentences push --route would decide now, how many of them the threshold accepts)."""
    from ..labelstudio.push import eligible_drafts

    newest = waiting(db, project.id, eligible_drafts(db, schema, None, None))
    if threshold is None or not newest:
        return len(newest), 0
    confidence = draft_confidences(db, schema, calibration.maps, newest.values())
    human = with_human_gold(db, newest)
    return len(newest), sum(sid not in human and confidence[did] >= threshold for sid, did in newest.items())


def route(db: sqlite_utils.Database, schema: Schema, project: ProjectRow, risk: float, delta: float) -> RouteResult:
    """Choose the project's threshold on its calibrated gold and store it as the next version (unless the
    latest has the same calibration, risk and delta)."""
    calibration = latest_calibration(db, project)
    if calibration is None:
        raise InputError(f"project {project.name!r} has no calibration yet; run "
                         f"`annotator calibrate --project {project.name!r}` first")
    pool, gold_hash = gold_pool(db, schema, project)
    if gold_hash != calibration.gold_hash:
        raise InputError(f"the gold of project {project.name!r} changed since calibration version "
                         f"{calibration.version}; run `annotator calibrate --project {project.name!r}` first")
    right = [place.right for place in pool.drafts]
    choice, needed = choose(assess_pool(pool, FOLDS).draft.probs, right, risk, delta)
    with db.atomic():  # under the write lock: two runs at once store one version
        stored, same = _store(db, project, calibration.version, choice)
    drafts, accepted = _current_share(db, schema, project, calibration, stored.threshold)
    return RouteResult(project, stored, same, sum(not r for r in right), needed, drafts, accepted)


def _store(db: sqlite_utils.Database, project: ProjectRow, calibration_version: int,
           choice: Choice) -> tuple[StoredRouting, bool]:
    """(the routing in force, whether it was already the latest version): the next version unless the latest has
    the same calibration version, risk and delta."""
    latest = latest_routing(db, project.id)
    if latest is not None and (latest.calibration_version, latest.risk, latest.delta) == (
            calibration_version, choice.risk, choice.delta):
        return latest, True
    version = (latest.version if latest else 0) + 1
    row = {"id": content_id("routing", project.id, version), "project_id": project.id, "version": version,
           "calibration_version": calibration_version, "risk": choice.risk, "delta": choice.delta,
           "threshold": choice.threshold, "n": choice.n, "accepted": choice.accepted, "errors": choice.errors,
           "bound": choice.bound, "created_at": now()}
    db["routings"].insert(row)
    return _from_row(row), False


__all__ = ["HUMAN_GOLD", "RouteResult", "StoredRouting", "calibration_maps", "choose", "draft_confidences",
           "latest_routing", "newest_drafts", "route", "waiting", "with_human_gold"]
