"""Pure conversions between drafts/gold rows and Label Studio `result` items.

Each field kind's codec (`annotator.kinds`) turns values into result values and
back; this module adds what is Label Studio's own: region ids, `from_name` /
`to_name`, and text offsets. Span text is always sliced from the sentence (never
taken from `value.text`, which Label Studio may alter).

Offsets in SQLite are Python string indices into the sentence, and Label Studio's
1.23 editor counts Unicode code points too, not UTF-16 code units. Checked in
Chromium on a live 1.23.2 server: a region dragged over "Kharkiv" in "🇺🇦 Ukrainian
forces said 𝒳 drones hit Kharkiv overnight." is saved as start 38 (code points;
UTF-16 would be 41), and predictions with UTF-16 offsets are drawn two characters to
the right of their words (label-studio PR #1559 / label-studio-frontend PR #308).
Older editors counted UTF-16 units: set OFFSET_UNIT = "utf16" for those.

A relation field's ends are regions of its own control (each distinct end once) and
each relation a `relation` item `{"from_id", "to_id", "type": "relation",
"direction": "right", "labels": [label]}` from its first end to its second
(`kinds/relations.py`). Reading gold, a relation belongs to the field whose regions it
links; which end is which is read from the regions' labels (from the direction when
both ends carry the same label).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..kinds import RELATIONS, SPANS, DecodeError, FieldSpec
from ..kinds.relations import assemble, regions_and_links, rows_of
from ..schema import Schema
from ..spans import python_offset, utf16_offset
from .config import TEXT_NAME

OFFSET_UNIT = "codepoint"
"""How Label Studio counts text offsets: "codepoint" (1.23's editor) or "utf16" (old editors)."""


def to_ls_offset(text: str, index: int) -> int:
    """Python index into `text` -> Label Studio offset."""
    return utf16_offset(text, index) if OFFSET_UNIT == "utf16" else index


def from_ls_offset(text: str, offset: int) -> int:
    """Label Studio offset -> Python index; ValueError if it is outside the text or splits a character."""
    if OFFSET_UNIT == "utf16":
        return python_offset(text, offset)
    if not 0 <= offset <= len(text):
        raise ValueError(f"offset {offset} is outside the text ({len(text)} characters)")
    return offset


def _span_sort_key(span: dict) -> tuple[int, int, str]:
    return (span["start"], span["end"], span["label"])


def collapse_spans(spans: list[dict]) -> list[dict]:
    """Spans sorted by (start, end, label), each (start, end, label) once.

    Label Studio can hand back one span twice in an annotation (an autosaved region
    restored, then drawn again by the annotator); gold keeps it once. `annotator
    status` counts the copies from the raw results.
    """
    unique = {(s["start"], s["end"], s["label"]): s for s in reversed(spans)}
    return sorted(unique.values(), key=_span_sort_key)


def _check_span(sentence: str, span: dict) -> None:
    start, end = span["start"], span["end"]
    if not (0 <= start < end <= len(sentence)) or sentence[start:end] != span["text"]:
        raise ValueError(f"span {span!r} does not match the sentence at [{start}:{end}] ({sentence[start:end]!r})")


def draft_to_result(schema: Schema, sentence_text: str, data: dict, spans: list[dict]) -> list[dict]:
    """Label Studio result items for one draft.

    `data` is the draft's instance dict and `spans` its grounded spans `{field, label,
    text, start, end}` with Python offsets (span fields are read from these). Region
    ids are unique within the result. Raises ValueError if a span does not match the
    sentence or a label is not in the schema: nothing wrong may reach Label Studio.
    """
    result: list[dict] = []
    for spec in schema.fields:
        base = {"from_name": spec.name, "to_name": TEXT_NAME, "type": spec.codec.result_type}
        if spec.kind == SPANS:
            mine = [s for s in spans if s.get("field") == spec.name]
            for span in mine:
                _check_span(sentence_text, span)
            for k, value in enumerate(spec.codec.encode(spec, None, mine)):
                value = {**value, "start": to_ls_offset(sentence_text, value["start"]),
                         "end": to_ls_offset(sentence_text, value["end"])}
                result.append({"id": f"{spec.name}-{k}", **base, "value": value})
            continue
        if spec.kind == RELATIONS:
            result += _relation_items(spec, sentence_text, data.get(spec.name), spans, base)
            continue
        value = data.get(spec.name)
        if value is None:
            continue
        for value_item in spec.codec.encode(spec, value, []):
            result.append({"id": spec.name, **base, "value": value_item})
    return result


def _relation_items(spec: FieldSpec, sentence: str, items: list[dict] | None, spans: list[dict],
                    base: dict) -> list[dict]:
    """A relation field's regions (each distinct end once) and its relation items between them."""
    mine = [s for s in spans if s.get("field") == spec.name]
    for span in mine:
        _check_span(sentence, span)
    regions, links = regions_and_links(spec, items, mine)
    out = [{"id": f"{spec.name}-{k}", **base, "value": {**value, "start": to_ls_offset(sentence, value["start"]),
                                                          "end": to_ls_offset(sentence, value["end"])}}
           for k, value in enumerate(regions)]
    out += [{"from_id": f"{spec.name}-{a}", "to_id": f"{spec.name}-{b}", "type": "relation", "direction": "right",
             "labels": [label]} for a, b, label in links]
    return out


def _int_offset(value: Any) -> int | None:
    """An offset as int, or None if it is not a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _item_problem(schema: Schema, specs: dict[str, FieldSpec], item: Any) -> str | None:
    """Why a result item cannot be read, or None."""
    if not isinstance(item, dict):
        return "not an object"
    if item.get("type") == "relation":
        if not any(spec.kind == RELATIONS for spec in specs.values()):
            return f"relations are not part of schema {schema.name}"
        return None if item.get("from_id") and item.get("to_id") else "a relation without from_id and to_id"
    spec = specs.get(item.get("from_name"))  # type: ignore[arg-type]
    if spec is None:
        return f"control {item.get('from_name')!r} is not a field of schema {schema.name}"
    if item.get("to_name") != TEXT_NAME:
        return f"to_name is {item.get('to_name')!r}, expected {TEXT_NAME!r}"
    if str(item.get("type", "")).lower() != spec.codec.result_type:
        return f"type is {item.get('type')!r}, expected {spec.codec.result_type!r}"
    if not isinstance(item.get("value"), dict):
        return "value is not an object"
    return None


def result_to_gold(schema: Schema, sentence_text: str, result: Any) -> tuple[dict | None, list[dict], list[str]]:
    """Convert an annotation's result items to (instance dict, spans, errors).

    Spans get Python offsets and their text sliced from `sentence_text`. The instance
    dict is built in the drafts' canonical form (span lists sorted by start, end,
    label, a span repeated with the same label kept once) and validated with the schema's pydantic model: when valid it is the
    model's dump, otherwise the dict as built, with the validation errors. Unknown
    controls, unknown labels and bad offsets are errors, never silently dropped. The
    dict is None only when `result` is not a list.
    """
    if not isinstance(result, list):
        return None, [], [f"result is {type(result).__name__}, not a list of items"]
    errors: list[str] = []
    items = _sorted_items(schema, result, errors)
    spans: list[dict] = []
    built: dict[str, Any] = {}
    for spec in schema.fields:
        if spec.kind == SPANS:
            mine: list[dict] = []
            for where, value in items.values[spec.name]:
                errors.extend(_read_span(spec, sentence_text, value, where, mine))
            mine = collapse_spans(mine)
            built[spec.name] = [{"text": s["text"], "label": spec.raw(s["label"])} for s in mine]
            spans.extend(mine)
        elif spec.kind == RELATIONS:
            records = _read_relations(spec, sentence_text, items.regions[spec.name], items.links[spec.name], errors)
            built[spec.name], ends = rows_of(spec, records)
            spans.extend(ends)
        else:
            present, value = _decode_field(spec, items.values[spec.name], sentence_text, errors)
            if present:
                built[spec.name] = value
    try:
        instance = schema.model.model_validate(built)
    except ValidationError as exc:
        errors.extend(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors())
        return _jsonable(built), spans, errors
    return instance.model_dump(mode="json"), spans, errors


@dataclass
class _Items:
    """An annotation's result items by field: values of plain fields, regions (whole items) of relation
    fields, and relation items by the relation field whose regions they link."""

    values: dict[str, list[tuple[str, dict]]]
    regions: dict[str, list[tuple[str, dict]]]
    links: dict[str, list[tuple[str, dict]]]


def _sorted_items(schema: Schema, result: list, errors: list[str]) -> _Items:
    """Sort the result items by field; unreadable ones are errors."""
    specs = {spec.name: spec for spec in schema.fields}
    relation_names = [spec.name for spec in schema.fields if spec.kind == RELATIONS]
    out = _Items({name: [] for name in specs}, {name: [] for name in relation_names},
                 {name: [] for name in relation_names})
    owner: dict[str, str] = {}
    relations = []
    for i, item in enumerate(result):
        problem = _item_problem(schema, specs, item)
        name = item.get("from_name") if isinstance(item, dict) else None
        where = f"result item {i}" + (f" ({name})" if name in specs else "")
        if problem:
            errors.append(f"{where}: {problem}")
        elif item.get("type") == "relation":
            relations.append((f"result item {i} (relation)", item))
        elif name in out.regions:
            out.regions[name].append((where, item))
            owner[str(item.get("id"))] = name
        else:
            out.values[name].append((where, item["value"]))
            owner[str(item.get("id"))] = name
    for where, item in relations:
        ends = {owner.get(str(item["from_id"])), owner.get(str(item["to_id"]))}
        if None in ends:
            errors.append(f"{where}: it links a region that is not in the annotation")
        elif len(ends) > 1 or not ends <= set(relation_names):
            errors.append(f"{where}: it links regions of {' and '.join(sorted(ends))}; a relation links the ends "
                          f"of one relation field ({', '.join(relation_names)})")
        else:
            out.links[ends.pop()].append((where, item))
    return out


def _read_relations(spec: FieldSpec, sentence: str, regions: list[tuple[str, dict]],
                    links: list[tuple[str, dict]], errors: list[str]) -> list[dict]:
    """The records of a relation field from its regions and relation items; what does not fit goes to `errors`."""
    by_id: dict[str, tuple[str, dict]] = {}
    for where, item in regions:
        found: list[dict] = []
        errors.extend(_read_span(spec, sentence, item["value"], where, found))
        if len(found) > 1:
            errors.append(f"{where}: a relation end has one label, not {[s['label'] for s in found]}")
        elif found:
            by_id[str(item.get("id"))] = (where, found[0])
    usable = [(w, item) for w, item in links if str(item["from_id"]) in by_id and str(item["to_id"]) in by_id]
    records, problems = assemble(spec, by_id, usable)
    errors.extend(problems)
    return records


def _decode_field(spec: FieldSpec, found: list[tuple[str, dict]], sentence: str,
                  errors: list[str]) -> tuple[bool, Any]:
    """(present, raw value) of a non-span field; a missing or undecodable field is left to validation."""
    if found:
        try:
            value, _ = spec.codec.decode(spec, [v for _, v in found], sentence)
            if value is not None or spec.nullable:
                return True, value
        except DecodeError as exc:
            errors.append(f"{found[-1][0]}: {exc}")
    return spec.codec.missing(spec)


def _read_span(spec: FieldSpec, sentence: str, value: dict, where: str, out: list[dict]) -> list[str]:
    """Append the spans of one labels item to `out`; return its errors."""
    ls_start, ls_end = _int_offset(value.get("start")), _int_offset(value.get("end"))
    if ls_start is None or ls_end is None:
        return [f"{where}: start/end {value.get('start')!r}/{value.get('end')!r} are not text offsets"]
    try:
        start, end = from_ls_offset(sentence, ls_start), from_ls_offset(sentence, ls_end)
    except ValueError as exc:
        return [f"{where}: {exc}"]
    if not 0 <= start < end:
        return [f"{where}: empty or reversed span [{ls_start}:{ls_end}]"]
    labels = value.get("labels")
    if not isinstance(labels, list) or not labels:
        return [f"{where}: span {sentence[start:end]!r} has no label"]
    errors = []
    for given in labels:
        label = spec.stored(given) if isinstance(given, str) else None  # a display name is read as its label
        if label is None:
            errors.append(f"{where}: label {given!r} is not among the field's labels {list(spec.labels)}")
            continue
        out.append({"field": spec.name, "label": label, "text": sentence[start:end], "start": start, "end": end})
    return errors


def _jsonable(value: Any) -> Any:
    """Enums to their values, recursively (for an instance dict that failed validation)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
