"""The routing tests' database, built row by row so every figure can be worked out by hand.

Project "Route" (id pr, news_events, model version m|v1|hash): gold task i (2000 + i)
holds sentence r{i}-s0 and its pushed draft (event battle, attribution asserted, no
span), answered by ana@x. The draft is right when the gold says battle, wrong when it
says riot. event_type's stored agreement is 0.9 when right and 0.2 when wrong;
attribution (always right) carries only a logprob, log(0.8); no spans on either side.

Calibrated (5 folds by task), event_type maps 0.9 -> 1 and 0.2 -> 0 in every fold,
attribution 1, the span fields have no item (product 1): each gold draft's whole-draft
out-of-sample probability is exactly 1.0 when right and 0.0 when wrong.

Waiting drafts (no task): w{k}-s0 with agreement 0.9 (confidence 1.0 through the
stored maps) or 0.2 (0.0).
"""

from __future__ import annotations

import math
from pathlib import Path

from annotator.store import dumps, open_db
from tests.support.cli import run_json
from tests.support.gold_db import NEWS, add_document, add_draft, add_gold, add_project

SENT = "Rebels attacked Mora on Sunday."
VERSION = f"m|v1|{NEWS.hash}"


def signals(agreement: float) -> dict:
    return {"version": 1, "samples": 4, "grounded": 1.0, "first_attempt_valid": True, "reasks": 0,
            "fields": {"event_type": {"logprob": -0.05, "agreement": agreement},
                       "attribution": {"logprob": math.log(0.8), "agreement": None}},
            "spans": {"entities": [], "sources": []}, "relations": {}}


def add_waiting(db, name: str, agreement: float, created: str = "2024-04-01") -> str:
    """A sentence with a draft and no task; its sentence id."""
    add_document(db, name, SENT, [SENT])
    sid = f"{name}-s0"
    add_draft(db, NEWS, f"dr-{name}", sid, {"event_type": "battle", "attribution": "asserted"}, [], created)
    db["drafts"].update(f"dr-{name}", {"signals": dumps(signals(agreement))})
    return sid


def add_gold_task(db, i: int, right: bool, project: str = "pr") -> None:
    sid, task = add_waiting(db, f"r{i}", 0.9 if right else 0.2), 2000 + i
    db["tasks"].insert({"project_id": project, "sentence_id": sid, "task_id": task, "pushed_at": "x", "blind": 0})
    db["predictions"].insert({"project_id": project, "draft_id": f"dr-r{i}", "task_id": task,
                              "model_version": VERSION, "pushed_at": "x", "ls_prediction_id": 5000 + i})
    add_gold(db, NEWS, project, sid, task, 7000 + i, "ana@x",
             {"event_type": "battle" if right else "riot", "attribution": "asserted"}, [], "2024-05-01T10:00",
             parent=5000 + i)


def build(db, right: int, wrong: int) -> None:
    """Project Route with `right` then `wrong` gold tasks."""
    add_project(db, NEWS, "pr", "Route")
    for i in range(right + wrong):
        add_gold_task(db, i, i < right)


def make_routed(path: Path) -> Path:
    """50 right and 10 wrong gold tasks, calibrated; five waiting drafts (w0-w4 at 0.9, 0.2, 0.9, 0.9, 0.2),
    w3's sentence annotated by a person in another project."""
    db = open_db(path)
    build(db, 50, 10)
    for k, agreement in enumerate((0.9, 0.2, 0.9, 0.9, 0.2)):
        add_waiting(db, f"w{k}", agreement)
    add_project(db, NEWS, "p-other", "Other")
    add_gold(db, NEWS, "p-other", "w3-s0", 1, 9001, "cy@x", {"event_type": "battle", "attribution": "asserted"}, [],
             "2024-05-01T10:00")
    db.close()
    assert run_json("calibrate", "--db", str(path), "-p", "Route")["gold"] == 60
    return path
