"""Pure conversions between drafts/gold rows and Label Studio `result` items.

Offsets in SQLite are Python string indices into the sentence. Both directions go
through `to_ls_offset` / `from_ls_offset`, and span text is always sliced from the
sentence (never taken from `value.text`, which Label Studio may alter).

Label Studio's unit: the 1.23.2 editor counts Unicode code points, i.e. Python
indices, not UTF-16 code units. Checked in Chromium on a live 1.23.2 server: a
region dragged over "Kharkiv" in "🇺🇦 Ukrainian forces said 𝒳 drones hit Kharkiv
overnight." is saved as start 38 (code points; UTF-16 would be 41), and predictions
with UTF-16 offsets are drawn two characters to the right of their words, while
code-point offsets are drawn on them (the editor was changed to store code points
for emoji, label-studio PR #1559 / label-studio-frontend PR #308). Older editors
counted UTF-16 units: set OFFSET_UNIT = "utf16" for those.
"""

from __future__ import annotations

import enum
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..schema import BOOL, CHOICE, CHOICES, NUMBER, SPANS, TEXT, FieldSpec, Schema, _unwrap_optional
from ..spans import python_offset, utf16_offset
from .config import CONTROL_TYPES, TEXT_NAME

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


def draft_to_result(schema: Schema, sentence_text: str, data: dict, spans: list[dict]) -> list[dict]:
    """Label Studio result items for one draft.

    `data` is the draft's instance dict (choices, text, numbers are read from it) and
    `spans` its grounded spans `{field, label, text, start, end}` with Python offsets
    (span fields are read from these, not from `data`). Region ids are unique within
    the result. Raises ValueError if a span does not match the sentence or its label
    is not in the schema: nothing with a wrong offset may reach Label Studio.
    """
    result: list[dict] = []
    for spec in schema.fields:
        rtype = CONTROL_TYPES[spec.kind]
        base = {"from_name": spec.name, "to_name": TEXT_NAME, "type": rtype}
        if spec.kind == SPANS:
            mine = [s for s in spans if s.get("field") == spec.name]
            for k, span in enumerate(mine):
                start, end, label = span["start"], span["end"], str(span["label"])
                if not (0 <= start < end <= len(sentence_text)) or sentence_text[start:end] != span["text"]:
                    raise ValueError(
                        f"span {span!r} does not match the sentence at [{start}:{end}] "
                        f"({sentence_text[start:end]!r})"
                    )
                if label not in spec.labels:
                    raise ValueError(f"span label {label!r} is not a label of field {spec.name!r}")
                result.append({
                    "id": f"{spec.name}-{k}", **base,
                    "value": {"start": to_ls_offset(sentence_text, start), "end": to_ls_offset(sentence_text, end),
                              "text": sentence_text[start:end], "labels": [label]},
                })
            continue
        value = data.get(spec.name)
        if value is None:
            continue
        if spec.kind == CHOICE:
            choices = [_label_str(value)]
        elif spec.kind == CHOICES:
            choices = [_label_str(v) for v in value]
        elif spec.kind == BOOL:
            choices = ["true" if value else "false"]
        elif spec.kind == TEXT:
            if value == "":
                continue
            result.append({"id": spec.name, **base, "value": {"text": [str(value)]}})
            continue
        elif spec.kind == NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"field {spec.name!r} holds {value!r}, not a number")
            result.append({"id": spec.name, **base, "value": {"number": value}})
            continue
        else:  # pragma: no cover - describe() only produces the kinds above
            raise ValueError(f"field {spec.name!r} has unknown kind {spec.kind!r}")
        if not choices:
            continue
        unknown = [c for c in choices if c not in spec.labels]
        if unknown:
            raise ValueError(f"field {spec.name!r}: {unknown} not among its values {list(spec.labels)}")
        result.append({"id": spec.name, **base, "value": {"choices": choices}})
    return result


def _label_str(value: Any) -> str:
    """The string Label Studio shows for an enum/Literal value."""
    if isinstance(value, enum.Enum):
        value = value.value
    return str(value)


def _raw_values(tp: Any) -> dict[str, Any]:
    """Label string -> the value pydantic expects, for an enum or Literal type."""
    tp, _ = _unwrap_optional(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {str(m.value): m.value for m in tp}
    if get_origin(tp) is Literal:
        return {str(a): a for a in get_args(tp)}
    return {}


def _field_values(schema: Schema, spec: FieldSpec) -> dict[str, Any]:
    """Label string -> raw value for a field's labels (span labels, choices)."""
    tp, _ = _unwrap_optional(schema.model.model_fields[spec.name].annotation)
    if spec.kind in (SPANS, CHOICES):
        (item,) = get_args(tp) or (Any,)
        if spec.kind == SPANS and isinstance(item, type) and issubclass(item, BaseModel):
            return _raw_values(item.model_fields["label"].annotation)
        return _raw_values(item)
    return _raw_values(tp)


def _nullable(schema: Schema, name: str) -> bool:
    """True if the field accepts None."""
    _, optional = _unwrap_optional(schema.model.model_fields[name].annotation)
    return optional


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


def result_to_gold(schema: Schema, sentence_text: str, result: Any) -> tuple[dict | None, list[dict], list[str]]:
    """Convert an annotation's result items to (instance dict, spans, errors).

    Spans get Python offsets and their text sliced from `sentence_text`. The instance
    dict is built in the drafts' canonical form (span lists sorted by start, end,
    label) and validated with the schema's pydantic model: when valid it is the
    model's dump, otherwise the dict as built, with the validation errors. Unknown
    controls, unknown labels and bad offsets are errors, never silently dropped. The
    dict is None only when `result` is not a list.
    """
    errors: list[str] = []
    if not isinstance(result, list):
        return None, [], [f"result is {type(result).__name__}, not a list of items"]
    specs = {spec.name: spec for spec in schema.fields}
    found_spans: dict[str, list[dict]] = {s.name: [] for s in schema.fields if s.kind == SPANS}
    values: dict[str, Any] = {}
    for i, item in enumerate(result):
        where = f"result item {i}"
        if not isinstance(item, dict):
            errors.append(f"{where}: not an object")
            continue
        if item.get("type") == "relation":
            errors.append(f"{where}: relations are not part of schema {schema.name}")
            continue
        name = item.get("from_name")
        spec = specs.get(name)  # type: ignore[arg-type]
        if spec is None:
            errors.append(f"{where}: control {name!r} is not a field of schema {schema.name}")
            continue
        where = f"{where} ({name})"
        if item.get("to_name") != TEXT_NAME:
            errors.append(f"{where}: to_name is {item.get('to_name')!r}, expected {TEXT_NAME!r}")
            continue
        expected = CONTROL_TYPES[spec.kind]
        if str(item.get("type", "")).lower() != expected:
            errors.append(f"{where}: type is {item.get('type')!r}, expected {expected!r}")
            continue
        value = item.get("value")
        if not isinstance(value, dict):
            errors.append(f"{where}: value is not an object")
            continue
        if spec.kind == SPANS:
            errors.extend(_read_span(spec, sentence_text, value, where, found_spans[spec.name]))
        elif spec.kind in (CHOICE, CHOICES, BOOL):
            choices = value.get("choices")
            if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
                errors.append(f"{where}: value.choices is not a list of strings")
                continue
            unknown = [c for c in choices if c not in spec.labels]
            if unknown:
                errors.append(f"{where}: {unknown} not among the field's values {list(spec.labels)}")
                choices = [c for c in choices if c in spec.labels]
            if spec.kind == CHOICES:
                values.setdefault(spec.name, []).extend(choices)
            elif name in values or len(choices) > 1:
                errors.append(f"{where}: one value expected, got several")
            elif choices:
                values[spec.name] = choices[0]
        elif spec.kind == TEXT:
            text = value.get("text")
            if isinstance(text, str):
                text = [text]
            if not isinstance(text, list) or not all(isinstance(t, str) for t in text):
                errors.append(f"{where}: value.text is not a list of strings")
            elif name in values:
                errors.append(f"{where}: given twice")
            else:
                values[spec.name] = "\n".join(text)
        elif spec.kind == NUMBER:
            number = value.get("number")
            if isinstance(number, bool) or not isinstance(number, int | float):
                errors.append(f"{where}: value.number is {number!r}, not a number")
            elif name in values:
                errors.append(f"{where}: given twice")
            else:
                values[spec.name] = int(number) if spec.integer and float(number).is_integer() else number

    spans: list[dict] = []
    built: dict[str, Any] = {}
    for spec in schema.fields:
        if spec.kind == SPANS:
            mine = sorted(found_spans[spec.name], key=_span_sort_key)
            raw = _field_values(schema, spec)
            built[spec.name] = [{"text": s["text"], "label": raw.get(s["label"], s["label"])} for s in mine]
            spans.extend(mine)
            continue
        if spec.name not in values:
            if spec.kind == CHOICES:
                built[spec.name] = []
            elif spec.kind == TEXT and spec.required:
                built[spec.name] = ""  # an empty text box sends no result item
            elif _nullable(schema, spec.name) and schema.model.model_fields[spec.name].is_required():
                built[spec.name] = None
            # otherwise: left out, so the model's default applies or "Field required" is reported
            continue
        value = values[spec.name]
        if spec.kind in (CHOICE, CHOICES):
            raw = _field_values(schema, spec)
            value = [raw.get(v, v) for v in value] if spec.kind == CHOICES else raw.get(value, value)
        elif spec.kind == BOOL:
            value = value == "true"
        built[spec.name] = value

    try:
        instance = schema.model.model_validate(built)
    except ValidationError as exc:
        errors.extend(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        return _jsonable(built), spans, errors
    return instance.model_dump(mode="json"), spans, errors


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
    for label in labels:
        if label not in spec.labels:
            errors.append(f"{where}: label {label!r} is not among the field's labels {list(spec.labels)}")
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
