"""A schema with one field of every kind whose values and hints need escaping in a labeling config."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from annotator.schema import Schema, describe


class Tone(StrEnum):
    """Choice values that need escaping."""

    AMP = "A & B"
    LT = "<tag>"
    QUOTE = 'say "hi"'


class Tag(StrEnum):
    """Several-choice values."""

    APOS = "it's"
    GT = "x > y"
    UNI = "naïve 🇺🇦"


class Mention(BaseModel):
    """A span whose labels need escaping."""

    text: str
    label: Literal["A & B", "<tag>", 'say "hi"'] = Field(
        json_schema_extra={"labels": {"A & B": 'hint with "quotes" & <angle>', "<tag>": "a tag"}})


class AllKinds(BaseModel):
    """One field of every kind."""

    mentions: list[Mention] = Field(description='Mentions of "things" & <stuff>')
    tone: Tone = Field(description="The tone.", json_schema_extra={"labels": {"A & B": "both & more"}})
    tags: list[Tag] = Field(description="Tags, several allowed.")
    note: str = Field(description="A free note.")
    count: int = Field(description="How many.")
    ratio: float | None = Field(default=None, description="A ratio.")
    urgent: bool = Field(description="Is it urgent?")


def all_kinds() -> Schema:
    """AllKinds as a schema."""
    return Schema("all_kinds", AllKinds, describe(AllKinds))
