"""Field kinds, known in one place: how a pydantic field is recognised, and its Label Studio codec.

Each kind is one class. It says which pydantic annotations it takes (`detect`),
which Label Studio control shows it (`control`), how a draft's value becomes Label
Studio result values (`encode`), and how an annotation's result values become the
value pydantic validates (`decode`). The prompt, the labeling config, the
conversions and the evaluation all go through `KINDS`; adding a kind is adding a
class here.

Offsets are Python string indices; Label Studio 1.23 counts code points too, so
they pass through unchanged (`labelstudio/convert.py` owns that rule).
"""

from __future__ import annotations

import enum
import types
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel


@dataclass(frozen=True)
class FieldSpec:
    """One top-level field of a schema: what the prompt, Label Studio and evaluation need of it."""

    name: str
    kind: str
    description: str = ""
    labels: tuple[str, ...] = ()
    label_descriptions: dict[str, str] = field(default_factory=dict)
    required: bool = True
    integer: bool = False
    nullable: bool = False
    has_default: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    """Label string -> the raw value pydantic expects (enum member value or Literal value)."""
    title: str = ""
    """The field's short display title (pydantic `Field(title=...)`); empty: made from the name."""
    label_names: dict[str, str] = field(default_factory=dict)
    """Label string -> its display name (json_schema_extra `label_names`); missing: made from the label."""

    @property
    def codec(self) -> Kind:
        """The kind's codec."""
        return KINDS[self.kind]

    @property
    def heading(self) -> str:
        """The field's title for people: `title`, else its name in words ("event_type" -> "Event type")."""
        return self.title or readable(self.name)

    def raw(self, label: str) -> Any:
        """The value pydantic expects for a label string."""
        return self.values.get(label, label)

    def display(self, label: str) -> str:
        """A label's name for people; the stored value stays `label`."""
        return self.label_names.get(label) or readable(label)


def readable(value: str) -> str:
    """A machine name in words ("ARMED_GROUP" -> "Armed group"; ORG stays); other text is kept as written."""
    words = value.replace("_", " ").split()
    acronym = value.isupper() and len(value) <= 3
    if acronym or not (value.isupper() or value.islower()) or not all(w.isalnum() for w in words):
        return value
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:]


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(inner type, is_optional) for `X | None` and `Optional[X]`."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def choice_values(tp: Any) -> dict[str, Any] | None:
    """Label string -> raw value for an enum or Literal type, else None."""
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {str(m.value): m.value for m in tp}
    if get_origin(tp) is Literal:
        return {str(a): a for a in get_args(tp)}
    return None


def label_str(value: Any) -> str:
    """The string Label Studio shows for an enum/Literal value."""
    return str(value.value if isinstance(value, enum.Enum) else value)


def _list_item(tp: Any) -> Any | None:
    """The item type of `list[X]`, else None."""
    if get_origin(tp) is list:
        args = get_args(tp)
        return args[0] if args else Any
    return None


def span_model(tp: Any) -> type[BaseModel] | None:
    """The span model if `tp` is a pydantic model with `text: str` and an enum/Literal `label`."""
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return None
    fields = tp.model_fields
    if "text" not in fields or "label" not in fields:
        return None
    if fields["text"].annotation is not str or choice_values(fields["label"].annotation) is None:
        return None
    return tp


def _extra(info: Any) -> dict:
    """A field's json_schema_extra when it is a dict."""
    extra = getattr(info, "json_schema_extra", None)
    return extra if isinstance(extra, dict) else {}


def _label_texts(info: Any) -> dict:
    """Label descriptions (`labels`) and display names (`label_names`) from a field's json_schema_extra."""
    extra = _extra(info)
    return {"label_descriptions": dict(extra.get("labels", {})), "label_names": dict(extra.get("label_names", {}))}


REQUIRED_MESSAGES = {"choice": "{}: choose one answer.", "bool": "{}: choose yes or no.",
                     "text": "{}: write an answer.", "number": "{}: enter a number."}
"""The message Label Studio shows when a required field is left empty, by kind."""


class DecodeError(ValueError):
    """A Label Studio result value that does not fit its field."""


class Kind:
    """A field kind: detection, Label Studio control, and the result codec."""

    name: ClassVar[str]
    result_type: ClassVar[str]
    """The `type` of its Label Studio result items."""
    metric: ClassVar[str]
    """How evaluation compares draft and gold: spans, choice, choices, text or number."""

    def detect(self, tp: Any, info: Any) -> dict | None:
        """FieldSpec attributes if the (non-optional) annotation `tp` is of this kind, else None."""
        raise NotImplementedError

    def control(self, spec: FieldSpec, to_name: str, colours: Any) -> ET.Element:
        """The Label Studio control element for the field."""
        raise NotImplementedError

    def encode(self, spec: FieldSpec, value: Any, spans: list[dict]) -> list[dict]:
        """Label Studio result `value`s for a draft's value (spans: the field's grounded spans)."""
        raise NotImplementedError

    def decode(self, spec: FieldSpec, values: list[dict], sentence: str) -> tuple[Any, list[dict]]:
        """The raw field value (and spans) from the field's result `value`s; DecodeError if impossible."""
        raise NotImplementedError

    def missing(self, spec: FieldSpec) -> tuple[bool, Any]:
        """(present, value) for a field with no result item: what an empty control means."""
        if spec.nullable and not spec.has_default:
            return True, None
        return False, None


def _required(spec: FieldSpec, attrs: dict) -> dict:
    """`attrs` with required and a readable requiredMessage when the field must be filled."""
    if spec.required:
        attrs.update(required="true", requiredMessage=REQUIRED_MESSAGES[spec.kind].format(spec.heading))
    return attrs


def _shown(spec: FieldSpec, value: str) -> dict:
    """A Label's or Choice's attributes: its display name as `value`, the stored value as `alias`."""
    name = spec.display(value)
    return {"value": value} if name == value else {"value": name, "alias": value}


def _choice_control(spec: FieldSpec, to_name: str, multiple: bool) -> ET.Element:
    """Radio buttons for one answer, checkboxes for several; display names shown, schema values stored."""
    attrs = {"name": spec.name, "toName": to_name, "choice": "multiple" if multiple else "single-radio",
             "showInline": "true"}
    element = ET.Element("Choices", attrs if multiple else _required(spec, attrs))
    for value in spec.labels:
        choice = _shown(spec, value)
        if spec.label_descriptions.get(value):
            choice["hint"] = spec.label_descriptions[value]
        ET.SubElement(element, "Choice", choice)
    return element


def _choices_of(spec: FieldSpec, values: list[dict]) -> list[str]:
    """Every choice string in the result values; unknown ones are a DecodeError."""
    out: list[str] = []
    for value in values:
        choices = value.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise DecodeError("value.choices is not a list of strings")
        unknown = [c for c in choices if c not in spec.labels]
        if unknown:
            raise DecodeError(f"{unknown} not among the field's values {list(spec.labels)}")
        out.extend(choices)
    return out


def _one(values: list[Any]) -> Any:
    if len(values) > 1:
        raise DecodeError("one value expected, got several")
    return values[0]


class Spans(Kind):
    """`list[SpanModel]`: labelled spans of the sentence, shown with `<Labels>`."""

    name, result_type, metric = "spans", "labels", "spans"

    def detect(self, tp, info):
        model = span_model(_list_item(tp))
        if model is None:
            return None
        label = model.model_fields["label"]
        values = choice_values(label.annotation) or {}
        return {"labels": tuple(values), "values": values, **_label_texts(label)}

    def control(self, spec, to_name, colours):
        element = ET.Element("Labels", {"name": spec.name, "toName": to_name})
        for value in spec.labels:
            attrs = {**_shown(spec, value), "background": next(colours)}
            if spec.label_descriptions.get(value):
                attrs["hint"] = spec.label_descriptions[value]
            ET.SubElement(element, "Label", attrs)
        return element

    def encode(self, spec, value, spans):
        out = []
        for span in spans:
            if str(span["label"]) not in spec.labels:
                raise ValueError(f"span label {span['label']!r} is not a label of field {spec.name!r}")
            out.append({"start": span["start"], "end": span["end"], "text": span["text"],
                        "labels": [str(span["label"])]})
        return out

    def decode(self, spec, values, sentence):
        raise NotImplementedError("spans are decoded region by region (labelstudio.convert)")

    def missing(self, spec):
        return True, []


class Choice(Kind):
    """An enum or Literal: one choice, `<Choices choice="single">`."""

    name, result_type, metric = "choice", "choices", "choice"

    def detect(self, tp, info):
        values = choice_values(tp)
        if values is None:
            return None
        return {"labels": tuple(values), "values": values, **_label_texts(info)}

    def control(self, spec, to_name, colours):
        return _choice_control(spec, to_name, multiple=False)

    def encode(self, spec, value, spans):
        label = label_str(value)
        if label not in spec.labels:
            raise ValueError(f"field {spec.name!r}: {[label]} not among its values {list(spec.labels)}")
        return [{"choices": [label]}]

    def decode(self, spec, values, sentence):
        choices = _choices_of(spec, values)
        return (spec.raw(_one(choices)) if choices else None), []


class Choices(Kind):
    """`list[enum]`: several choices, `<Choices choice="multiple">`."""

    name, result_type, metric = "choices", "choices", "choices"

    def detect(self, tp, info):
        item = _list_item(tp)
        values = choice_values(item) if item is not None else None
        if values is None:
            return None
        return {"labels": tuple(values), "values": values, **_label_texts(info)}

    def control(self, spec, to_name, colours):
        return _choice_control(spec, to_name, multiple=True)

    def encode(self, spec, value, spans):
        labels = [label_str(v) for v in value]
        unknown = [c for c in labels if c not in spec.labels]
        if unknown:
            raise ValueError(f"field {spec.name!r}: {unknown} not among its values {list(spec.labels)}")
        return [{"choices": labels}] if labels else []

    def decode(self, spec, values, sentence):
        return [spec.raw(c) for c in _choices_of(spec, values)], []

    def missing(self, spec):
        return True, []


class Bool(Kind):
    """`bool`: a yes/no choice drawn as two single choices."""

    name, result_type, metric = "bool", "choices", "choice"

    def detect(self, tp, info):
        if tp is not bool:
            return None
        return {"labels": ("true", "false"), "values": {"true": True, "false": False},
                "label_names": {"true": "Yes", "false": "No", **_extra(info).get("label_names", {})}}

    def control(self, spec, to_name, colours):
        return _choice_control(spec, to_name, multiple=False)

    def encode(self, spec, value, spans):
        return [{"choices": ["true" if value else "false"]}]

    def decode(self, spec, values, sentence):
        choices = _choices_of(spec, values)
        return (_one(choices) == "true" if choices else None), []


class Text(Kind):
    """`str` that is not a span: free text, `<TextArea>`."""

    name, result_type, metric = "text", "textarea", "text"

    def detect(self, tp, info):
        return {} if tp is str else None

    def control(self, spec, to_name, colours):
        attrs = {"name": spec.name, "toName": to_name, "rows": "2", "maxSubmissions": "1", "editable": "true"}
        return ET.Element("TextArea", _required(spec, attrs))

    def encode(self, spec, value, spans):
        return [] if value == "" else [{"text": [str(value)]}]

    def decode(self, spec, values, sentence):
        text = _one(values).get("text")
        if isinstance(text, str):
            text = [text]
        if not isinstance(text, list) or not all(isinstance(t, str) for t in text):
            raise DecodeError("value.text is not a list of strings")
        return "\n".join(text), []

    def missing(self, spec):
        if spec.required:
            return True, ""  # an empty text box sends no result item
        return super().missing(spec)


class Number(Kind):
    """`int` / `float`: `<Number>`."""

    name, result_type, metric = "number", "number", "number"

    def detect(self, tp, info):
        return {"integer": tp is int} if tp in (int, float) else None

    def control(self, spec, to_name, colours):
        attrs = {"name": spec.name, "toName": to_name, "step": "1" if spec.integer else "any"}
        return ET.Element("Number", _required(spec, attrs))

    def encode(self, spec, value, spans):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"field {spec.name!r} holds {value!r}, not a number")
        return [{"number": value}]

    def decode(self, spec, values, sentence):
        number = _one(values).get("number")
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise DecodeError(f"value.number is {number!r}, not a number")
        return (int(number) if spec.integer and float(number).is_integer() else number), []


KINDS: dict[str, Kind] = {k.name: k for k in (Spans(), Choices(), Choice(), Bool(), Text(), Number())}
"""Every kind by name, in detection order (spans before choices: both are lists)."""

SPANS, CHOICE, CHOICES, TEXT, NUMBER, BOOL = "spans", "choice", "choices", "text", "number", "bool"


def field_spec(name: str, info: Any) -> FieldSpec | None:
    """The FieldSpec of a pydantic field, or None if no kind takes its annotation."""
    tp, optional = unwrap_optional(info.annotation)
    for kind in KINDS.values():
        found = kind.detect(tp, info)
        if found is not None:
            required = info.is_required() and not optional
            return FieldSpec(name=name, kind=kind.name, description=info.description or "", required=required,
                             nullable=optional, has_default=not info.is_required(), title=info.title or "", **found)
    return None
