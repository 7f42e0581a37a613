"""`annotator calibrate`: a project's calibration maps, fitted on its human gold and kept as versions (SQLite edge).

The gold is what eval reads for the project by default (`--gold adjudicated`,
`annotator.gold`): per task the annotation marked ground truth, else the strict
majority of its annotators, else the newest submitted annotation (pre-filled and
blind tasks alike; never skipped, deleted or invalid), made by a person (rows
accepted from the model, annotator `model:...`, are left out before choosing),
against the draft eval compares it with. How many tasks each rule decided is kept
with the figures (`gold_rules`). Every field and every label of a span field gets an isotonic map from its
signal to P(right) (`figures.py`), and the whole draft one from the product of
its fields'; every figure reported is cross-fitted (5 folds, one task's items in
one fold). A field or label with too little gold keeps its raw signal: its map is
null.

A version is stored in `calibrations` with the hash of the gold it was fitted on;
the same gold again stores nothing ("unchanged"), more or changed gold stores the
next version. Two runs at once take the write lock in turn, and the second finds
the first's version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlite_utils

from ..errors import InputError
from ..evaluate.load import ProjectRow, pair_rows, projects
from ..schema import Schema
from ..settings import redact_url
from ..store import content_id, dumps, now
from .calibration import MIN_ITEMS
from .figures import FOLDS, Assessed, PoolFigures, assess_pool
from .items import ItemPool, draft_items
from .metrics import require


@dataclass
class Calibration:
    """One stored version of a project's calibration, and whether this run made it."""

    project: ProjectRow
    version: int
    unchanged: bool
    gold_hash: str
    gold: int
    created_at: str
    maps: dict
    figures: dict

    def raw(self) -> list[str]:
        """The fields and labels ("field LABEL") that keep their raw signal."""
        names = [name for name, f in self.figures["fields"].items() if not f["calibrated"]]
        return names + [f"{name} {label}" for name, labels in self.figures["labels"].items()
                        for label, f in labels.items() if not f["calibrated"]]

    def to_json(self) -> dict:
        """What `calibrate --json` prints."""
        return {"project": self.project.name, "url": redact_url(self.project.url), "version": self.version,
                "unchanged": self.unchanged, "gold_hash": self.gold_hash, "gold": self.gold,
                "created_at": self.created_at, **self.figures, "raw_signal": self.raw()}


def one_project(db: sqlite_utils.Database, name: str, url: str | None) -> ProjectRow:
    """The recorded project of that title (on `url`); one line when there is none or several."""
    found = projects(db, name, url)
    if len(found) > 1:
        servers = ", ".join(redact_url(p.url) for p in found)
        raise InputError(f"project {name!r} is on several servers ({servers}); pick one with --url")
    return found[0]


def gold_pool(db: sqlite_utils.Database, schema: Schema, project: ProjectRow,
              rules: dict[str, int] | None = None) -> tuple[ItemPool, str]:
    """The project's human gold as calibration items (grouped by task), and the hash of the rows behind them;
    `rules` counts the tasks by the rule that decided their gold."""
    pool, keys = ItemPool(schema.fields), []
    for row, pair in pair_rows(db, schema, [project], human=True):
        pool.add(draft_items(schema.fields, pair.draft_data, pair.draft_spans, pair.signals, pair.grounded,
                             pair.gold_data, pair.gold_spans, row["task_id"]))
        keys += [(gold_id, updated_at, row["draft_id"]) for gold_id, updated_at in row["gold_rows"]]
        if rules is not None:
            rules[row["gold_rule"]] = rules.get(row["gold_rule"], 0) + 1
    return pool, content_id("calibration gold", schema.hash, sorted(keys))


def _entry(a: Assessed) -> tuple[dict, dict]:
    fitted = a.fitted_map()
    return ({"signal": a.signal, "n": a.n, "map": fitted.to_json() if fitted else None},
            {**a.calibration(), "calibrated": a.calibrated})


def stored_forms(figures: PoolFigures) -> tuple[dict, dict]:
    """(maps, figures) as stored: per field, per span label and for the whole draft."""
    fields = {name: _entry(a) for name, a in figures.fields.items()}
    labels = {name: {label: _entry(a) for label, a in by_label.items()} for name, by_label in figures.labels.items()}
    draft = _entry(figures.draft)
    settings = {"folds": FOLDS, "min_items": MIN_ITEMS}
    maps = {**settings, "fields": {k: v[0] for k, v in fields.items()},
            "labels": {k: {label: v[0] for label, v in ls.items()} for k, ls in labels.items()}, "draft": draft[0]}
    shown = {"fields": {k: v[1] for k, v in fields.items()},
             "labels": {k: {label: v[1] for label, v in ls.items()} for k, ls in labels.items()}, "draft": draft[1]}
    return maps, shown


def _latest(db: sqlite_utils.Database, project: ProjectRow) -> dict | None:
    return next(iter(db.query("SELECT * FROM calibrations WHERE project_id = ? ORDER BY version DESC LIMIT 1",
                              [project.id])), None)


def _from_row(project: ProjectRow, row: dict, unchanged: bool) -> Calibration:
    return Calibration(project, row["version"], unchanged, row["gold_hash"], row["gold"], row["created_at"],
                       json.loads(row["maps"]), json.loads(row["figures"]))


def latest_calibration(db: sqlite_utils.Database, project: ProjectRow) -> Calibration | None:
    """The project's newest stored version, or None."""
    row = _latest(db, project)
    return None if row is None else _from_row(project, row, True)


def latest_maps(db: sqlite_utils.Database, project_id: str) -> tuple[int, dict] | None:
    """(version, maps) of the project's newest calibration (by its `projects.id`), or None before the first."""
    row = db.execute("SELECT version, maps FROM calibrations WHERE project_id = ? ORDER BY version DESC LIMIT 1",
                     [project_id]).fetchone()
    return None if row is None else (row[0], json.loads(row[1]))


def calibrate(db: sqlite_utils.Database, schema: Schema, project: ProjectRow) -> Calibration:
    """Fit the project's maps on its human gold and store them as the next version (unless the gold is the same)."""
    require("sklearn.isotonic", "calibrate")
    rules: dict[str, int] = {}
    pool, gold_hash = gold_pool(db, schema, project, rules)
    if not len(pool):
        raise InputError(f"project {project.name!r} has no gold made by a person with a draft of schema "
                         f"{schema.name} to compare with; pull the annotations first "
                         f"(annotator pull --project {project.name!r})")
    latest = _latest(db, project)
    if latest is not None and latest["gold_hash"] == gold_hash:
        return _from_row(project, latest, True)
    maps, figures = stored_forms(assess_pool(pool, FOLDS))
    figures["gold_rules"] = rules
    with db.atomic():
        latest = _latest(db, project)  # again, under the write lock: another run may have stored it meanwhile
        if latest is not None and latest["gold_hash"] == gold_hash:
            return _from_row(project, latest, True)
        version = (latest["version"] if latest else 0) + 1
        row = {"id": content_id("calibration", project.id, version), "project_id": project.id, "version": version,
               "schema_hash": schema.hash, "gold_hash": gold_hash, "gold": len(pool), "created_at": now(),
               "maps": dumps(maps), "figures": dumps(figures)}
        db["calibrations"].insert(row)
    return _from_row(project, row, False)


__all__ = ["Calibration", "calibrate", "gold_pool", "latest_calibration", "latest_maps", "one_project",
           "stored_forms"]
