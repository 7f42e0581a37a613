"""Field kinds, known in one place: how a pydantic field is recognised, and its Label Studio codec.

    base.py       what every kind shares: FieldSpec (a schema field as the tool sees it), the Kind interface
    simple.py     the plain kinds: spans, one or several choices, yes/no, free text, numbers
    relations.py  relations between spans: a list of a model with two span ends and one label

`KINDS` below is the one registry: the prompt, the labeling config, the conversions,
the evaluation and the exports all go through it.
"""

from __future__ import annotations

from typing import Any

from .base import (
    REQUIRED_MESSAGES,
    DecodeError,
    FieldSpec,
    Kind,
    choice_values,
    label_str,
    readable,
    span_model,
    unwrap_optional,
)
from .relations import RELATIONS, SPAN_LABEL, Relations, RelationShape
from .simple import Bool, Choice, Choices, Number, Spans, Text

KINDS: dict[str, Kind] = {k.name: k for k in (Spans(), Relations(), Choices(), Choice(), Bool(), Text(), Number())}
"""Every kind by name, in detection order (spans and relations before choices: all are lists)."""

SPANS, CHOICE, CHOICES, TEXT, NUMBER, BOOL = "spans", "choice", "choices", "text", "number", "bool"

REGION_KINDS = (SPANS, RELATIONS)
"""Kinds whose values are regions of the sentence (kept in `spans` with offsets, drawn under the sentence)."""


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


__all__ = ["BOOL", "CHOICE", "CHOICES", "KINDS", "NUMBER", "REGION_KINDS", "RELATIONS", "REQUIRED_MESSAGES",
           "SPANS", "SPAN_LABEL", "TEXT", "DecodeError", "FieldSpec", "Kind", "RelationShape", "choice_values",
           "field_spec", "label_str", "readable", "span_model", "unwrap_optional"]
