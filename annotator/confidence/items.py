"""Calibration items: a draft judged against its gold, one right-or-wrong item at a time (pure).

A gold annotation is judged against the draft eval compares it with (the draft its
task was pre-filled from, else the newest draft of the project's model version):

- a choice, bool, text or number field is one item, right when the draft's value is
  the gold value (text as eval compares it: case and runs of white space aside);
  several choices are right when they are the same set;
- a span field gives one item per drafted span, right when its (start, end, label)
  is among the gold spans of that field; the same items are also kept by label;
- a relation field gives one item per drafted relation, right when the same ends
  (offsets and labels) and label are in the gold.

Each item carries the raw signals the draft stored for it (`drafts.signals`:
"agreement" and "logprob", where not null) and always "grounded", the draft-level
heuristic (grounded share x first-attempt validity, `draft_score`), so drafts made
before signals were stored still give items. A field is right as a whole when its
value is (a span or relation field: when the drafted ones are exactly the gold
ones), and the draft when every field is.

`ItemPool` gathers the items of many drafts by field and by span label, and keeps
where each draft's items of each field lie, so a draft's confidence can be made
from its fields' probabilities afterwards (their product).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from ..evaluate.metrics import normalise_text
from ..kinds import CHOICES, RELATIONS, SPANS, TEXT, FieldSpec
from ..kinds.base import label_str
from ..kinds.relations import end_key, record_key, relation_keys

SIGNAL_PRIORITY = ("agreement", "logprob", "grounded")
"""The signal a field is calibrated on: the first of these that every one of its items carries."""


@dataclass(frozen=True)
class Item:
    """One judgement: the raw signals behind it (by name), whether it was right, and its group (its task)."""

    signals: Mapping[str, float]
    right: bool
    group: Hashable


@dataclass
class DraftItems:
    """One draft against one gold annotation: items by field and by span label, and each field right as a whole."""

    group: Hashable
    fields: dict[str, list[Item]] = field(default_factory=dict)
    labels: dict[str, dict[str, list[Item]]] = field(default_factory=dict)
    right: dict[str, bool] = field(default_factory=dict)

    @property
    def all_right(self) -> bool:
        """Every field right."""
        return all(self.right.values())


def _number(value: object, name: str) -> float | None:
    """A stored signal value as a float; None when null or not a number (NaN included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not (name == "logprob" and value < 0)):
        return None
    return value


def _carried(entry: object, grounded: float) -> dict[str, float]:
    """The signals of one stored entry ({"logprob", "agreement"}) with the draft's grounded score."""
    out = {"grounded": grounded}
    if isinstance(entry, Mapping):
        for name in ("agreement", "logprob"):
            value = _number(entry.get(name), name)
            if value is not None:
                out[name] = value
    return out


def _section(signals: Mapping | None, part: str, name: str) -> object:
    section = signals.get(part) if isinstance(signals, Mapping) else None
    return section.get(name) if isinstance(section, Mapping) else None


def _as_set(value: object) -> set[str]:
    return {label_str(v) for v in value} if isinstance(value, list) else set()


def same_value(spec: FieldSpec, draft: object, gold: object) -> bool:
    """A non-region field's draft value is the gold value (see the module docstring)."""
    if spec.kind == CHOICES:
        return _as_set(draft) == _as_set(gold)
    if spec.kind == TEXT:
        return normalise_text(draft) == normalise_text(gold)
    return draft == gold and isinstance(draft, bool) == isinstance(gold, bool)


def _span_items(spec: FieldSpec, draft_spans: Sequence[dict], gold_spans: Sequence[dict], entries: object,
                grounded: float, group: Hashable) -> tuple[list[tuple[str, Item]], bool]:
    """(label, item) per drafted span of the field, in the draft's order, and whether they are exactly the gold."""
    mine = [s for s in draft_spans if s.get("field") == spec.name and "relation" not in s]
    gold = sorted(end_key(s) for s in gold_spans if s.get("field") == spec.name and "relation" not in s)
    stored: dict[tuple, list] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping) and {"start", "end", "label"} <= entry.keys():
            stored.setdefault(end_key(entry), []).append(entry)
    gold_set, out = set(gold), []
    for span in mine:
        key = end_key(span)
        entry = stored[key].pop(0) if stored.get(key) else None
        out.append((key[2], Item(_carried(entry, grounded), key in gold_set, group)))
    return out, sorted(end_key(s) for s in mine) == gold


def _relation_items(spec: FieldSpec, draft_data: Mapping, draft_spans: Sequence[dict], gold_data: Mapping,
                    gold_spans: Sequence[dict], entries: object, grounded: float,
                    group: Hashable) -> tuple[list[Item], bool]:
    """An item per drafted relation that has both ends (its stored signals by its index), and whether the
    drafted relations are exactly the gold ones."""
    shape = spec.relation
    items = draft_data.get(spec.name) if isinstance(draft_data.get(spec.name), list) else []
    stored = entries if isinstance(entries, list) and len(entries) == len(items) else [None] * len(items)
    ends = {(s.get("relation"), s.get("role")): s for s in draft_spans if s.get("field") == spec.name}
    gold = relation_keys(spec, gold_data.get(spec.name), gold_spans)
    gold_set, out, keys = set(gold), [], []
    for i, (item, entry) in enumerate(zip(items, stored, strict=True)):
        found = [ends.get((i, role)) for role in shape.roles]
        if not isinstance(item, Mapping) or not all(found):
            continue
        record = {**dict(zip(shape.roles, found, strict=True)), shape.label_field: label_str(item.get(shape.label_field))}
        key = record_key(spec, record)
        keys.append(key)
        out.append(Item(_carried(entry, grounded), key in gold_set, group))
    return out, sorted(keys) == sorted(gold)


def draft_items(fields: Sequence[FieldSpec], draft_data: Mapping, draft_spans: Sequence[dict],
                signals: Mapping | None, grounded: float, gold_data: Mapping, gold_spans: Sequence[dict],
                group: Hashable) -> DraftItems:
    """The items of one draft (its data, grounded spans, stored signals or None, `draft_score`) against one gold
    annotation (its data and spans); every item of it in `group`."""
    out = DraftItems(group)
    for spec in fields:
        if spec.kind == SPANS:
            labelled, out.right[spec.name] = _span_items(
                spec, draft_spans, gold_spans, _section(signals, "spans", spec.name), grounded, group)
            out.fields[spec.name] = [item for _, item in labelled]
            by_label: dict[str, list[Item]] = {}
            for label, item in labelled:
                by_label.setdefault(label, []).append(item)
            out.labels[spec.name] = by_label
        elif spec.kind == RELATIONS:
            out.fields[spec.name], out.right[spec.name] = _relation_items(
                spec, draft_data, draft_spans, gold_data, gold_spans, _section(signals, "relations", spec.name),
                grounded, group)
        else:
            right = same_value(spec, draft_data.get(spec.name), gold_data.get(spec.name))
            entry = _section(signals, "fields", spec.name)
            out.fields[spec.name] = [Item(_carried(entry, grounded), right, group)]
            out.right[spec.name] = right
    return out


@dataclass(frozen=True)
class DraftPlace:
    """Where one draft's items lie in an ItemPool: per field, the (start, stop) of its slice; and its verdict."""

    group: Hashable
    right: bool
    slices: dict[str, tuple[int, int]]


class ItemPool:
    """The items of many drafts: by field, by span label (span fields only), and each draft's place."""

    def __init__(self, fields: Sequence[FieldSpec]) -> None:
        self.specs = tuple(fields)
        self.fields: dict[str, list[Item]] = {spec.name: [] for spec in fields}
        self.labels: dict[str, dict[str, list[Item]]] = {spec.name: {} for spec in fields if spec.kind == SPANS}
        self.drafts: list[DraftPlace] = []

    def add(self, drafted: DraftItems) -> None:
        """Take one draft's items."""
        slices = {}
        for name, items in drafted.fields.items():
            start = len(self.fields[name])
            self.fields[name].extend(items)
            slices[name] = (start, len(self.fields[name]))
        for name, by_label in drafted.labels.items():
            for label, items in by_label.items():
                self.labels[name].setdefault(label, []).extend(items)
        self.drafts.append(DraftPlace(drafted.group, drafted.all_right, slices))

    def __len__(self) -> int:
        return len(self.drafts)


def choose_signal(items: Sequence[Item]) -> str:
    """The first signal of SIGNAL_PRIORITY that every item carries ("grounded" when there is no item)."""
    for name in SIGNAL_PRIORITY:
        if items and all(name in item.signals for item in items):
            return name
    return SIGNAL_PRIORITY[-1]


__all__ = ["SIGNAL_PRIORITY", "DraftItems", "DraftPlace", "Item", "ItemPool", "choose_signal", "draft_items",
           "same_value"]
