"""Conflict news, version 2: entity spans, the sentence's event type, and who claims what.

Version 1 (`news_events`) gives a sentence one attribution and a flat list of sources;
here every claim is a relation from its source's words to the claimed content's words,
with its stance, so "Kyiv said X, while Moscow denied it" holds two claims.
"""

from __future__ import annotations

from enum import StrEnum
from typing import get_args

from pydantic import BaseModel, ConfigDict, Field

from annotator.kinds import SPAN_LABEL
from annotator.schema import load_schema

_V1 = load_schema("news_events").model
"""Entities and event types are version 1's, unchanged (loaded from the built-in file, wherever it is installed)."""
Entity = get_args(_V1.model_fields["entities"].annotation)[0]
EventType = _V1.model_fields["event_type"].annotation
EVENT_TYPES = _V1.model_fields["event_type"].json_schema_extra["labels"]


class Stance(StrEnum):
    """Where the source stands on the content."""

    CLAIMS = "claims"
    DENIES = "denies"


STANCES = {
    "claims": "The source asserts the content ('said', 'claimed', 'according to', 'reported').",
    "denies": "The source denies, rejects or disputes the content ('denied', 'rejected', 'dismissed').",
}


class Claim(BaseModel):
    """One source's claim (or denial) made in the sentence."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="Who makes the claim: the source's exact words, copied from the sentence.",
                        json_schema_extra={SPAN_LABEL: "SOURCE"})
    content: str = Field(description="What is claimed or denied: the exact words of the claim, copied from the "
                                     "sentence (without 'said that').",
                         json_schema_extra={SPAN_LABEL: "CLAIM"})
    stance: Stance = Field(description="Whether the source claims the content or denies it.",
                           json_schema_extra={"labels": STANCES})


class NewsEventsV2(BaseModel):
    """Entities, event type and the claims of one sentence of conflict news."""

    model_config = ConfigDict(extra="forbid")

    entities: list[Entity] = Field(
        description="Every entity mentioned in the sentence, each with its exact words and kind."
    )
    event_type: EventType = Field(
        description="The kind of event the sentence reports.", json_schema_extra={"labels": EVENT_TYPES}
    )
    claims: list[Claim] = Field(
        description="Every claim or denial credited to a source in the sentence: the source's words, the claimed "
                    "words and the stance; empty when the writer states everything as fact."
    )


SCHEMA = NewsEventsV2
