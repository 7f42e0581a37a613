"""Which gold counts on a task: one annotation (the newest, or the ground truth), or the majority per field.

Pure: plain gold rows in (dicts with `annotation_id`, `annotator`, `completed_by`,
`ground_truth`, `updated_at`, and `data` / `spans` already decoded from JSON), a
`Chosen` out. The latest and ground-truth rules are evaluation's own
(`evaluate.load.choose`), so `eval` and `export` always agree on which annotation
counts.

Majority, per field: every annotator of the task counts once (their newest
annotation). A span is kept when a strict majority of those annotators marked it
exactly (same field, label, start and end). Any other field takes the value most
annotators gave; when two or more values share the top count the field is a tie:
it is left empty (None) and named in `Chosen.ties`, never decided silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..evaluate.load import choose
from ..hashing import canonical_json
from ..kinds import REGION_KINDS, RELATIONS, SPANS, FieldSpec
from ..kinds.relations import record_key, records_of, rows_of

GOLD_MODES = ("latest", "ground-truth", "majority")


@dataclass(frozen=True)
class Chosen:
    """The gold of one task: its field values, its spans, and the annotations behind them."""

    rows: list[dict]
    """The annotations it comes from, by annotation id (one, or one per annotator for majority)."""
    values: dict[str, Any]
    """Non-span field -> value (None for a tie); a relation field's value is its list of relations."""
    spans: list[dict]
    """`{field, label, text, start, end}` with offsets into the sentence, sorted (relation ends also carry
    their `relation` and `role`)."""
    ties: tuple[str, ...] = ()
    ground_truth: bool = False


def span_key(span: dict) -> tuple:
    """What makes two spans the same span."""
    return (span["field"], span["start"], span["end"], str(span["label"]))


def _sorted_spans(spans: list[dict], specs: Sequence[FieldSpec]) -> list[dict]:
    order = {spec.name: i for i, spec in enumerate(specs)}
    return sorted(spans, key=lambda s: (order.get(s["field"], len(order)), s["start"], s["end"], str(s["label"])))


def _when(row: dict) -> tuple[str, int]:
    return (row["updated_at"] or "", row["annotation_id"])


def annotator_of(row: dict) -> str:
    """Who made an annotation: the email, else the Label Studio user id."""
    return row["annotator"] or str(row["completed_by"])


def newest_per_annotator(rows: Sequence[dict]) -> list[dict]:
    """Each annotator's newest annotation, by annotation id."""
    newest: dict[str, dict] = {}
    for row in sorted(rows, key=_when):
        newest[annotator_of(row)] = row
    return sorted(newest.values(), key=lambda r: r["annotation_id"])


def _single(row: dict, specs: Sequence[FieldSpec]) -> Chosen:
    names = {spec.name for spec in specs if spec.kind in REGION_KINDS}
    spans = [s for s in row["spans"] if s["field"] in names]
    values = {spec.name: row["data"].get(spec.name) for spec in specs if spec.kind != SPANS}
    return Chosen([row], values, _sorted_spans(spans, specs), (), bool(row["ground_truth"]))


def _vote_key(value: Any) -> str:
    """Equal values give equal keys; several choices count as a set."""
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        value = sorted(value, key=lambda v: (type(v).__name__, v))
    return canonical_json(value)


def _plurality(values: list[Any]) -> tuple[Any, bool]:
    """(the value given most often, whether it is a tie)."""
    counts = Counter(_vote_key(v) for v in values)
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, True
    first = {}
    for v in values:
        first.setdefault(_vote_key(v), v)
    return first[ranked[0][0]], False


def majority(rows: Sequence[dict], specs: Sequence[FieldSpec]) -> Chosen:
    """The majority gold of one task (see the module docstring)."""
    voters = newest_per_annotator(rows)
    names = {spec.name for spec in specs if spec.kind == SPANS}
    votes: Counter = Counter()
    examples: dict[tuple, dict] = {}
    for row in voters:
        mine = {span_key(s): s for s in row["spans"] if s["field"] in names}
        votes.update(mine.keys())
        for key, span in mine.items():
            examples.setdefault(key, span)
    spans = [examples[key] for key, n in votes.items() if 2 * n > len(voters)]
    values, ties = {}, []
    for spec in specs:
        if spec.kind == SPANS:
            continue
        if spec.kind == RELATIONS:
            values[spec.name], ends = _relation_majority(spec, voters)
            spans += ends
            continue
        values[spec.name], tie = _plurality([row["data"].get(spec.name) for row in voters])
        if tie:
            ties.append(spec.name)
    return Chosen(voters, values, _sorted_spans(spans, specs), tuple(ties), False)


def _relation_majority(spec: FieldSpec, voters: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """The relations more than half the annotators gave (both ends and the label the same): (items, ends)."""
    votes: Counter = Counter()
    examples: dict[tuple, dict] = {}
    for row in voters:
        mine = {record_key(spec, r): r for r in records_of(spec, row["data"].get(spec.name), row["spans"])}
        votes.update(mine.keys())
        for key, record in mine.items():
            examples.setdefault(key, record)
    return rows_of(spec, [examples[key] for key, n in votes.items() if 2 * n > len(voters)])


def choose_gold(rows: Sequence[dict], mode: str, specs: Sequence[FieldSpec]) -> Chosen:
    """The gold of one task's ok annotations under `mode` (latest, ground-truth or majority)."""
    if mode not in GOLD_MODES:
        raise InputError(f"unknown --gold {mode!r}; use one of {', '.join(GOLD_MODES)}")
    if not rows:
        raise ValueError("a task without annotations has no gold")
    if mode == "majority":
        return majority(rows, specs)
    return _single(choose(list(rows), mode)[0], specs)
