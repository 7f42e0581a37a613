"""Relations between spans: a `list[Model]` whose model has two span ends and one label.

A relation field is a list of objects such as

    class Claim(BaseModel):
        source: str = Field(description="...", json_schema_extra={"span_label": "SOURCE"})
        content: str = Field(description="...", json_schema_extra={"span_label": "CLAIM"})
        stance: Stance  # an enum or Literal: the relation's label

The two `str` fields marked with `span_label` are the ends (the first is where the
arrow starts), given by their words like every span; the enum or Literal is the
relation's label. The model holds nothing else.

The same relations take three forms:

- the instance (what the LLM answers and pydantic validates):
  `[{"source": "Moscow", "content": "it had foiled ...", "stance": "claims"}]`;
- its grounded ends, kept in a draft's or gold's `spans` like every span, each naming
  its relation (index into the list) and role:
  `{"field": "claims", "label": "SOURCE", "text": "Moscow", "start": 97, "end": 103,
  "relation": 1, "role": "source"}`;
- records, self-contained (export, evaluation):
  `{"source": {"start", "end", "label", "text"}, "content": {...}, "stance": "claims"}`.

`records_of` reads the first two into records, `rows_of` writes records back; both
keep the canonical order (by the ends' offsets and labels, then the label), each
relation once. In Label Studio the ends are regions of the field's own `<Labels>`
control (named after the field), each distinct end one region, and every relation a
`relation` result item between two regions, its label from the config's one
`<Relations>` block (`labelstudio/convert.py`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..spans import find
from .base import FieldSpec, Kind, _extra, _list_item, choice_values, label_str
from .simple import Spans

SPAN_LABEL = "span_label"
"""The json_schema_extra key that makes a `str` field of a relation model one of its ends."""

RELATIONS = "relations"


@dataclass(frozen=True)
class RelationShape:
    """A relation field's model: its two ends (role, span label), from-end first, and its label field."""

    ends: tuple[tuple[str, str], ...]
    label_field: str
    labels: tuple[str, ...]
    """The relation's labels as Label Studio stores them."""
    values: dict[str, Any]
    """Label string -> the raw value pydantic expects."""
    descriptions: dict[str, str]

    @property
    def roles(self) -> tuple[str, ...]:
        """The ends' field names, from-end first."""
        return tuple(role for role, _ in self.ends)


def _end_label(info: Any) -> str | None:
    """The span label of a relation end (a `str` field with `span_label`), else None."""
    label = _extra(info).get(SPAN_LABEL)
    return label if info.annotation is str and isinstance(label, str) and label else None


def relation_shape(tp: Any) -> RelationShape | None:
    """The shape of a relation model: two ends and one enum/Literal label, nothing else; else None."""
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return None
    fields = tp.model_fields
    ends = [(name, label) for name, info in fields.items() if (label := _end_label(info))]
    label_fields = [name for name, info in fields.items() if choice_values(info.annotation) is not None]
    if len(ends) != 2 or len(label_fields) != 1 or len(fields) != 3:
        return None
    info = fields[label_fields[0]]
    values = choice_values(info.annotation) or {}
    return RelationShape(tuple(ends), label_fields[0], tuple(values), values, dict(_extra(info).get("labels", {})))


class Relations(Kind):
    """`list[Model]` with two span ends and a label: relations between spans, `<Labels>` + `<Relations>`."""

    name, result_type, metric = RELATIONS, "labels", RELATIONS

    def detect(self, tp, info):
        item = _list_item(tp)
        shape = relation_shape(item)
        if shape is None:
            return None
        labels = tuple(dict.fromkeys(label for _, label in shape.ends))
        descriptions: dict[str, str] = {}
        for role, label in shape.ends:
            descriptions.setdefault(label, item.model_fields[role].description or "")
        return {"labels": labels, "values": {label: label for label in labels}, "label_descriptions": descriptions,
                "relation": shape}

    def control(self, spec, to_name, colours):
        return Spans().control(spec, to_name, colours)

    def encode(self, spec, value, spans):
        return regions_and_links(spec, value, spans)[0]

    def decode(self, spec, values, sentence):
        raise NotImplementedError("relations are decoded with their regions (labelstudio.convert)")

    def missing(self, spec):
        return True, []


def relations_control(specs: Iterable[FieldSpec]) -> ET.Element | None:
    """The config's one `<Relations>` block: every relation field's labels, once each; None without any."""
    labels = dict.fromkeys(label for spec in specs if spec.kind == RELATIONS for label in spec.relation.labels)
    if not labels:
        return None
    element = ET.Element("Relations", {"choice": "single"})  # one label a relation (1.23's editor offers several)
    for label in labels:
        ET.SubElement(element, "Relation", {"value": label})
    return element


# --------------------------------------------------------------------------- the three forms


def end_key(end: dict) -> tuple[int, int, str]:
    """An end (or span) as (start, end, label)."""
    return (end["start"], end["end"], str(end["label"]))


def record_key(spec: FieldSpec, record: dict) -> tuple:
    """What makes two relations the same: both ends (offsets and labels) and the label."""
    shape = spec.relation
    return (*(end_key(record[role]) for role in shape.roles), str(record[shape.label_field]))


def canonical(spec: FieldSpec, records: Iterable[dict]) -> list[dict]:
    """Records sorted by `record_key`, each relation once."""
    unique = {record_key(spec, r): r for r in records}
    return [unique[key] for key in sorted(unique)]


def _end(span: dict) -> dict:
    return {"start": span["start"], "end": span["end"], "label": str(span["label"]), "text": span["text"]}


def records_of(spec: FieldSpec, items: Sequence[dict] | None, spans: Iterable[dict]) -> list[dict]:
    """The records of an instance's relation list and its grounded ends (other fields' spans are ignored).

    A relation whose ends are not both among the spans (it cannot be placed) is left out.
    """
    shape = spec.relation
    ends = {(s.get("relation"), s.get("role")): s for s in spans if s.get("field") == spec.name}
    out = []
    for i, item in enumerate(items or []):
        found = [ends.get((i, role)) for role in shape.roles]
        if all(found):
            record = {role: _end(span) for role, span in zip(shape.roles, found, strict=True)}
            out.append({**record, shape.label_field: label_str(item.get(shape.label_field))})
    return out


def shifted(record: dict, shift: int) -> dict:
    """A record with its ends' offsets moved by `shift` (into a document)."""
    return {k: ({**v, "start": v["start"] + shift, "end": v["end"] + shift} if isinstance(v, dict) else v)
            for k, v in record.items()}


def ends_of(spec: FieldSpec, records: Iterable[dict]) -> list[dict]:
    """Every distinct end of the records, sorted, as `{start, end, label, text}`."""
    ends = {end_key(r[role]): r[role] for r in records for role in spec.relation.roles}
    return [ends[key] for key in sorted(ends)]


def relation_keys(spec: FieldSpec, items: Sequence[dict] | None, spans: Iterable[dict]) -> list[tuple]:
    """The `record_key` of every relation of an instance's list (evaluation compares these)."""
    return [record_key(spec, r) for r in records_of(spec, items, spans)]


def rows_of(spec: FieldSpec, records: Iterable[dict]) -> tuple[list[dict], list[dict]]:
    """(the instance's relation list, its ends as spans) from records, in canonical order, each relation once."""
    shape = spec.relation
    items, spans = [], []
    for i, record in enumerate(canonical(spec, records)):
        item: dict[str, Any] = {}
        for role in shape.roles:
            end = record[role]
            item[role] = end["text"]
            spans.append({"field": spec.name, **_end(end), "relation": i, "role": role})
        label = str(record[shape.label_field])
        item[shape.label_field] = shape.values.get(label, label)
        items.append(item)
    return items, spans


# --------------------------------------------------------------------------- grounding


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def ground_relations(sentence: str, spec: FieldSpec, items: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """(records of the relations whose two ends are both in the sentence, the items dropped).

    Each end is found as a span is (exact, then case-insensitive, then whitespace-tolerant);
    the same words in several relations are the same mention (one region), the first
    occurrence that does not overlap the other end.
    """
    shape = spec.relation
    records, dropped = [], []
    for item in items:
        options = [find(sentence, str(item.get(role) or "")) for role in shape.roles]
        pairs = [(a, b) for a in options[0] for b in options[1]]
        pair = next((p for p in pairs if not _overlap(*p)), pairs[0] if pairs else None)
        if pair is None:
            dropped.append(item)
            continue
        record: dict[str, Any] = {role: {"start": s, "end": e, "label": label, "text": sentence[s:e]}
                                  for (role, label), (s, e) in zip(shape.ends, pair, strict=True)}
        records.append({**record, shape.label_field: label_str(item.get(shape.label_field))})
    return records, dropped


def ground_relation_fields(fields: Iterable[FieldSpec], data: dict, sentence: str) -> tuple[list[dict], list[dict]]:
    """Ground every relation field of a validated answer in place: (the ends as spans, dropped items with their field)."""
    spans: list[dict] = []
    dropped: list[dict] = []
    for spec in fields:
        if spec.kind == RELATIONS:
            records, lost = ground_relations(sentence, spec, data.get(spec.name) or [])
            data[spec.name], ends = rows_of(spec, records)
            spans += ends
            dropped += [{"field": spec.name, **item} for item in lost]
    return spans, dropped


# --------------------------------------------------------------------------- Label Studio


def regions_and_links(spec: FieldSpec, items: Sequence[dict] | None,
                      spans: Iterable[dict]) -> tuple[list[dict], list[tuple[int, int, str]]]:
    """(every distinct end once as a region value {start, end, text, labels}, each relation as
    (from region, to region, label)); ValueError for a label the schema does not have."""
    shape = spec.relation
    regions: list[dict] = []
    index: dict[tuple, int] = {}
    links = []
    for record in records_of(spec, items, spans):
        ends = []
        for role in shape.roles:
            end = record[role]
            if end["label"] not in spec.labels:
                raise ValueError(f"relation end label {end['label']!r} is not a label of field {spec.name!r}")
            if end_key(end) not in index:
                index[end_key(end)] = len(regions)
                regions.append({"start": end["start"], "end": end["end"], "text": end["text"],
                                "labels": [end["label"]]})
            ends.append(index[end_key(end)])
        label = record[shape.label_field]
        if label not in shape.labels:
            raise ValueError(f"field {spec.name!r}: relation label {label!r} not among {list(shape.labels)}")
        links.append((ends[0], ends[1], label))
    return regions, links


def _roles(spec: FieldSpec, a: dict, b: dict, direction: Any) -> tuple[dict, dict] | str:
    """(from end, to end) of a relation drawn from region `a` to `b`, or why it does not fit the field."""
    (_, first), (_, second) = spec.relation.ends
    if first != second:  # the regions' labels say which end is which, whichever way the arrow was drawn
        if (a["label"], b["label"]) in ((first, second), (second, first)):
            return (a, b) if a["label"] == first else (b, a)
        return f"it links {a['label']} to {b['label']}; a relation of {spec.name} links {first} to {second}"
    if a["label"] != first or b["label"] != first:
        return f"it links {a['label']} to {b['label']}; a relation of {spec.name} links {first} to {first}"
    return (b, a) if direction == "left" else (a, b)


def assemble(spec: FieldSpec, regions: dict[str, tuple[str, dict]],
             links: Sequence[tuple[str, dict]]) -> tuple[list[dict], list[str]]:
    """Records from an annotation's regions of the field (region id -> (where, span)) and its relation
    items (where, item); errors for what does not fit. Every region must be an end of a relation."""
    shape = spec.relation
    records, errors, used = [], [], set()
    for where, item in links:
        ids = str(item["from_id"]), str(item["to_id"])
        (_, a), (_, b) = regions[ids[0]], regions[ids[1]]
        used.update(ids)
        labels = item.get("labels") or []
        words = f"the relation {a['text']!r} -> {b['text']!r}"
        if len(labels) != 1 or labels[0] not in shape.labels:
            errors.append(f"{where}: {words} has label(s) {labels}; choose one of {list(shape.labels)}")
            continue
        ends = _roles(spec, a, b, item.get("direction"))
        if isinstance(ends, str):
            errors.append(f"{where}: {words} does not fit: {ends}")
            continue
        records.append({**{role: _end(end) for role, end in zip(shape.roles, ends, strict=True)},
                        shape.label_field: labels[0]})
    for region_id, (where, span) in regions.items():
        if region_id not in used:
            errors.append(f"{where}: {span['label']} {span['text']!r} is in no relation of {spec.name}; "
                          "link it to its other end, or delete it")
    return records, errors
