"""Conflict news: entity spans, the sentence's event type, and who claims what."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class EntityLabel(StrEnum):
    """Kinds of entity marked in the sentence."""

    PERSON = "PERSON"
    ORG = "ORG"
    ARMED_GROUP = "ARMED_GROUP"
    LOCATION = "LOCATION"
    FACILITY = "FACILITY"
    DATETIME = "DATETIME"
    QUANTITY = "QUANTITY"
    WEAPON = "WEAPON"


ENTITY_LABELS = {
    "PERSON": "A named person, or a person named by title (e.g. 'the defence minister').",
    "ORG": "A civilian organization: government body, ministry, agency, company, party, news agency, NGO.",
    "ARMED_GROUP": "A military force, militia, rebel or insurgent group, police unit acting as a combatant.",
    "LOCATION": "A country, region, city, town, village, district or geographic feature.",
    "FACILITY": "A building or structure: hospital, school, airport, bridge, base, checkpoint, market.",
    "DATETIME": "A date, day, time or period ('on Tuesday', 'at about 3 am', 'last week').",
    "QUANTITY": "A count or amount, usually of people or things ('at least 12', 'dozens', '300 km').",
    "WEAPON": "A weapon or munition: drone, missile, rocket, artillery shell, rifle, car bomb, IED.",
}


class EventType(StrEnum):
    """ACLED-style event types."""

    BATTLE = "battle"
    EXPLOSION = "explosion_remote_violence"
    VIOLENCE_AGAINST_CIVILIANS = "violence_against_civilians"
    PROTEST = "protest"
    RIOT = "riot"
    STRATEGIC_DEVELOPMENT = "strategic_development"
    NONE = "none"


EVENT_TYPES = {
    "battle": "Armed clash between organized armed groups (incl. state forces).",
    "explosion_remote_violence": "Air or drone strike, shelling, missile attack, bombing, IED, landmine.",
    "violence_against_civilians": "Deliberate violence by an armed group against unarmed civilians: killings, abductions, sexual violence.",
    "protest": "A public demonstration by non-violent demonstrators.",
    "riot": "Violent demonstration or mob violence.",
    "strategic_development": "Non-violent but significant: agreements, ceasefires, troop movements, arrests, looting, base takeovers.",
    "none": "The sentence reports no event of the kinds above.",
}


class Attribution(StrEnum):
    """Who stands behind the sentence's statement."""

    ASSERTED = "asserted"
    CLAIMED = "claimed"
    DENIED = "denied"


ATTRIBUTIONS = {
    "asserted": "The writer states it as fact, with no source credited.",
    "claimed": "A source is credited with the statement ('said', 'according to', 'claimed').",
    "denied": "A source denies or rejects the statement.",
}


class Entity(BaseModel):
    """An entity mentioned in the sentence."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The entity's exact words, copied from the sentence.")
    label: EntityLabel = Field(description="The kind of entity.", json_schema_extra={"labels": ENTITY_LABELS})


class SourceLabel(StrEnum):
    """The one label a source span carries."""

    SOURCE = "SOURCE"


class Source(BaseModel):
    """The person or body credited with the statement."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The source's exact words, copied from the sentence.")
    label: SourceLabel = Field(
        description="Always SOURCE.",
        json_schema_extra={"labels": {"SOURCE": "The person, group or outlet the statement is credited to."}},
    )


class NewsEvents(BaseModel):
    """Entities, event type and attribution of one sentence of conflict news."""

    model_config = ConfigDict(extra="forbid")

    entities: list[Entity] = Field(
        description="Every entity mentioned in the sentence, each with its exact words and kind."
    )
    event_type: EventType = Field(
        description="The kind of event the sentence reports.", json_schema_extra={"labels": EVENT_TYPES}
    )
    attribution: Attribution = Field(
        description="Whether the writer asserts the statement, a source claims it, or a source denies it.",
        json_schema_extra={"labels": ATTRIBUTIONS},
    )
    sources: list[Source] = Field(
        description="The words naming who the statement is credited to; empty when asserted."
    )


SCHEMA = NewsEvents
