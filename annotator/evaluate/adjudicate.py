"""Which tasks need someone to decide, pure: each task's gold rows in, the disputed tasks out, most disputed first.

A task is disputed when two or more people annotated it (each counts once, with their
newest annotation) and they do not all say the same in some field: spans and relations
compared as whole sets, several choices as a set (`gold.differing_fields`, the
comparison the adjudicated rule votes with). Its disagreement is the one `agreement`
lists (`agreement.task_disagreement`: over every pair of annotators and every field,
0 when all agree, up to 1), and its agreement is 1 minus that. With `below`, only tasks
whose agreement is under it are disputed. A disputed task is settled once one of its
annotations is marked ground truth in Label Studio (the adjudicated rule then takes it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..gold import annotator_of, differing_fields, ground_truth_row, newest_per_annotator
from ..kinds import FieldSpec
from .agreement import Annotation, task_disagreement


@dataclass(frozen=True)
class Disputed:
    """A task whose annotators disagree."""

    task_id: int
    disagreement: float
    """0 to 1 (`agreement.task_disagreement`)."""
    fields: tuple[str, ...]
    """The fields in which they differ, in schema order."""
    annotators: tuple[str, ...]
    settled: bool
    """One of its annotations is marked ground truth."""

    def to_json(self) -> dict:
        """As `adjudicate --json` lists it."""
        return {"task_id": self.task_id, "disagreement": self.disagreement, "fields": list(self.fields),
                "annotators": list(self.annotators), "settled": self.settled}


def disputed_task(specs: Sequence[FieldSpec], task_id: int, rows: Sequence[dict],
                  below: float | None = None) -> Disputed | None:
    """The task as disputed (from its ok gold rows made by people, data and spans decoded), or None."""
    voters = newest_per_annotator(rows)
    if len(voters) < 2:
        return None
    fields = differing_fields(voters, specs)
    if not fields:
        return None
    answers = {annotator_of(r): Annotation(task_id, annotator_of(r), r["data"], r["spans"]) for r in voters}
    score = task_disagreement(tuple(specs), answers)
    if below is not None and 1 - score >= below:
        return None
    return Disputed(task_id, score, tuple(fields), tuple(sorted(answers)), ground_truth_row(rows) is not None)


def disputes(specs: Sequence[FieldSpec], tasks: Iterable[tuple[int, Sequence[dict]]],
             below: float | None = None) -> list[Disputed]:
    """Every disputed task of (task id, its rows), most disputed first (then by task id)."""
    found = [d for task_id, rows in tasks if (d := disputed_task(specs, task_id, rows, below)) is not None]
    return sorted(found, key=lambda d: (-d.disagreement, d.task_id))


def summary(found: Sequence[Disputed]) -> dict:
    """How many tasks disagree, and how many of them are settled (`agreement --json`'s `adjudication`)."""
    settled = sum(d.settled for d in found)
    return {"disagreeing": len(found), "settled": settled, "open": len(found) - settled}
