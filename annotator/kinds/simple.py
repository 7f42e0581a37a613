"""The kinds of plain fields: spans, one or several choices, yes/no, free text, numbers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .base import (
    DecodeError,
    FieldSpec,
    Kind,
    _extra,
    _label_texts,
    _list_item,
    _required,
    _shown,
    choice_values,
    label_str,
    span_model,
)


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
    """Every choice in the result values as its stored label (a display name is read as its label); unknown ones
    are a DecodeError."""
    out: list[str] = []
    for value in values:
        choices = value.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise DecodeError("value.choices is not a list of strings")
        unknown = [c for c in choices if spec.stored(c) is None]
        if unknown:
            raise DecodeError(f"{unknown} not among the field's values {list(spec.labels)}")
        out.extend(spec.stored(c) for c in choices)  # type: ignore[misc]
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
