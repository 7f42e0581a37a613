"""What every field kind shares: FieldSpec (a schema field as the tool sees it), the Kind interface, helpers.

Each kind is one class (`simple.py`, `relations.py`), registered in `KINDS`
(`annotator/kinds/__init__.py`), the one place that knows them all. It says which pydantic annotations it takes (`detect`),
which Label Studio control shows it (`control`), how a draft's value becomes Label
Studio result values (`encode`), and how an annotation's result values become the
value pydantic validates (`decode`). The prompt, the labeling config, the
conversions and the evaluation all go through `KINDS`; adding a kind is adding a
class and registering it there.

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
    relation: Any = None
    """A relation field's shape (`relations.RelationShape`: its two ends and its label); None for other kinds."""

    @property
    def codec(self) -> Kind:
        """The kind's codec."""
        from . import KINDS  # the registry imports every kind, and they import this module

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

    def stored(self, value: str) -> str | None:
        """The label a value from Label Studio means: the label itself (the config's alias), or the label whose
        display name it is (what an annotation made through the API may hold); None when it is neither."""
        if value in self.labels:
            return value
        named = [label for label in self.labels if self.display(label) == value]
        return named[0] if len(named) == 1 else None


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
    """How evaluation compares draft and gold: spans, relations, choice, choices, text or number."""

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
