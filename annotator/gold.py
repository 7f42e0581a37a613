"""Which gold counts on a task, and which rule decided it (pure): one place for eval, export, calibrate and
adjudicate.

Plain gold rows in (dicts with `annotation_id`, `annotator`, `completed_by`,
`ground_truth`, `updated_at`, and `data` / `spans` already decoded from JSON), a
`Chosen` out. The rules (`--gold`):

- latest: the newest annotation (by `updated_at`, then annotation id).
- ground-truth: the newest annotation marked ground truth in Label Studio, else the newest.
- majority (export): per field, every annotator of the task counts once (their
  newest annotation). A span is kept when a strict majority of those annotators
  marked it exactly (same field, label, start and end). Any other field takes the
  value most annotators gave; when two or more values share the top count the field
  is a tie: it is left empty (None) and named in `Chosen.ties`, never decided silently.
- adjudicated (the default): the ground truth when the task has one; else, with two
  or more annotators, their strict majority when every field has one (more than half
  of the annotators gave the field the same value: spans and relations compared as
  whole sets, several choices as a set), each field taking that value; else the newest.
- all (eval): every annotation on its own.

`Chosen.rule` says which rule decided a task: "ground-truth", "majority", "latest" (or
"all"). A task with one annotator is never a majority: its rule is "latest" (or
"ground-truth").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .hashing import canonical_json
from .kinds import REGION_KINDS, RELATIONS, SPANS, FieldSpec
from .kinds.relations import record_key, records_of, rows_of

GOLD_RULES = ("adjudicated", "latest", "ground-truth", "majority")
"""The rules export takes (`--gold`); the first is the default of eval, export and calibrate."""
EVAL_RULES = ("adjudicated", "latest", "ground-truth", "all")
"""The rules eval takes: every annotation on its own (all) instead of a vote that may leave ties."""
DECIDED_BY = ("ground-truth", "majority", "latest")
"""What decided a task, in order of preference (`Chosen.rule`)."""


@dataclass(frozen=True)
class Chosen:
    """The gold of one task: its field values, its spans, the annotations behind them, and the rule that decided."""

    rows: list[dict]
    """The annotations it comes from, by annotation id (one, or one per annotator for majority)."""
    values: dict[str, Any]
    """Non-span field -> value (None for a tie); a relation field's value is its list of relations."""
    spans: list[dict]
    """`{field, label, text, start, end}` with offsets into the sentence, sorted (relation ends also carry
    their `relation` and `role`)."""
    ties: tuple[str, ...] = ()
    ground_truth: bool = False
    rule: str = "latest"
    """Which rule decided: "ground-truth", "majority", "latest" or "all"."""


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


def ground_truth_row(rows: Sequence[dict]) -> dict | None:
    """The newest annotation marked ground truth, or None."""
    truth = [r for r in rows if r["ground_truth"]]
    return max(truth, key=_when) if truth else None


def choose(rows: list[dict], mode: str) -> list[dict]:
    """The annotations that count on one task, undecoded rows welcome: the newest, the ground truth (else the
    newest), or all."""
    if mode not in ("latest", "ground-truth", "all"):
        raise InputError(f"unknown --gold {mode!r}; use one of latest, ground-truth, all")
    if mode == "all" or not rows:
        return rows
    truth = ground_truth_row(rows) if mode == "ground-truth" else None
    return [truth or max(rows, key=_when)]


def _single(row: dict, specs: Sequence[FieldSpec], rule: str) -> Chosen:
    names = {spec.name for spec in specs if spec.kind in REGION_KINDS}
    spans = [s for s in row["spans"] if s["field"] in names]
    values = {spec.name: row["data"].get(spec.name) for spec in specs if spec.kind != SPANS}
    return Chosen([row], values, _sorted_spans(spans, specs), (), bool(row["ground_truth"]), rule)


def value_key(value: Any) -> str:
    """Equal values give equal keys; several choices count as a set."""
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        value = sorted(value, key=lambda v: (type(v).__name__, v))
    return canonical_json(value)


def field_key(spec: FieldSpec, data: dict, spans: Sequence[dict]) -> Hashable:
    """What one annotation says in one field, as a key: equal keys, the same answer (spans and relations as
    sets, several choices as a set)."""
    if spec.kind == SPANS:
        return tuple(sorted(span_key(s) for s in spans if s.get("field") == spec.name))
    if spec.kind == RELATIONS:
        return tuple(sorted(record_key(spec, r) for r in records_of(spec, data.get(spec.name), spans)))
    return value_key(data.get(spec.name))


def differing_fields(voters: Sequence[dict], specs: Sequence[FieldSpec]) -> list[str]:
    """The fields in which these annotations (one per annotator) do not all say the same."""
    return [spec.name for spec in specs
            if len({field_key(spec, r["data"], r["spans"]) for r in voters}) > 1]


def _plurality(values: list[Any]) -> tuple[Any, bool]:
    """(the value given most often, whether it is a tie)."""
    counts = Counter(value_key(v) for v in values)
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, True
    first = {}
    for v in values:
        first.setdefault(value_key(v), v)
    return first[ranked[0][0]], False


def majority(rows: Sequence[dict], specs: Sequence[FieldSpec]) -> Chosen:
    """The majority gold of one task, ties left empty (see the module docstring)."""
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
    rule = "majority" if len(voters) > 1 else "latest"
    return Chosen(voters, values, _sorted_spans(spans, specs), tuple(ties), False, rule)


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


def strict_majority(rows: Sequence[dict], specs: Sequence[FieldSpec]) -> Chosen | None:
    """The gold more than half of the task's annotators agree on, field by field; None with fewer than two
    annotators or when some field has no strict majority. Each field's value (and its spans) is taken whole from
    the newest annotation of its majority."""
    voters = newest_per_annotator(rows)
    if len(voters) < 2:
        return None
    values: dict[str, Any] = {}
    spans: list[dict] = []
    for spec in specs:
        groups: dict[Hashable, list[dict]] = {}
        for row in voters:
            groups.setdefault(field_key(spec, row["data"], row["spans"]), []).append(row)
        top = max(groups.values(), key=len)
        if 2 * len(top) <= len(voters):
            return None
        source = max(top, key=_when)
        if spec.kind != SPANS:
            values[spec.name] = source["data"].get(spec.name)
        if spec.kind in REGION_KINDS:
            spans += [s for s in source["spans"] if s["field"] == spec.name]
    return Chosen(voters, values, _sorted_spans(spans, specs), (), False, "majority")


def adjudicated(rows: Sequence[dict], specs: Sequence[FieldSpec]) -> Chosen:
    """Ground truth, else the strict majority, else the newest (see the module docstring)."""
    truth = ground_truth_row(rows)
    if truth is not None:
        return _single(truth, specs, "ground-truth")
    return strict_majority(rows, specs) or _single(max(rows, key=_when), specs, "latest")


def choose_gold(rows: Sequence[dict], mode: str, specs: Sequence[FieldSpec]) -> Chosen:
    """The gold of one task's ok annotations under `mode` (adjudicated, latest, ground-truth or majority)."""
    if mode not in GOLD_RULES:
        raise InputError(f"unknown --gold {mode!r}; use one of {', '.join(GOLD_RULES)}")
    if not rows:
        raise ValueError("a task without annotations has no gold")
    if mode == "adjudicated":
        return adjudicated(rows, specs)
    if mode == "majority":
        return majority(rows, specs)
    row = choose(list(rows), mode)[0]
    return _single(row, specs, "ground-truth" if mode == "ground-truth" and row["ground_truth"] else "latest")


def choose_each(rows: Sequence[dict], mode: str, specs: Sequence[FieldSpec]) -> list[Chosen]:
    """`choose_gold`, and for eval's "all" every annotation on its own (rule "all")."""
    if mode == "all":
        return [_single(row, specs, "all") for row in sorted(rows, key=lambda r: r["annotation_id"])]
    if mode not in EVAL_RULES and mode not in GOLD_RULES:
        raise InputError(f"unknown --gold {mode!r}; use one of {', '.join(EVAL_RULES)}")
    return [choose_gold(rows, mode, specs)]


def rules_line(counts: dict[str, int]) -> str:
    """One line of how many tasks each rule decided, e.g. "gold decided by ground truth 2, majority 1, latest 5"."""
    order = [*DECIDED_BY, "all"]
    parts = [f"{rule.replace('-', ' ')} {counts[rule]}" for rule in sorted(counts, key=lambda r: (
        order.index(r) if r in order else len(order), r)) if counts[rule]]
    return f"gold decided by {', '.join(parts)}" if parts else "no gold decided"
