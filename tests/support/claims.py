"""Claims (relations between spans): a sentence with two opposing claims, and drafts and pairs made of them.

Every figure is worked out by hand from the offsets:

    0      "Groups of pro-Kyiv volunteer fighters"           [0:37]   SOURCE
    48     "they had broken into the Kursk region"            [48:85]  CLAIM
    93     "Moscow"                                           [93:99]  SOURCE
    105    "it had foiled ... infiltrate the border"          [105:171] CLAIM
"""

from __future__ import annotations

import json

from annotator.evaluate.compare import Pair
from annotator.kinds.relations import ground_relation_fields
from annotator.schema import load_schema

V2 = load_schema("news_events_v2")
SENTENCE = ("Groups of pro-Kyiv volunteer fighters said that they had broken into the Kursk region, while Moscow "
            "said it had foiled multiple Ukrainian attempts to infiltrate the border.")
KYIV, BROKEN = "Groups of pro-Kyiv volunteer fighters", "they had broken into the Kursk region"
FOILED = "it had foiled multiple Ukrainian attempts to infiltrate the border"
TWO_CLAIMS = [{"source": "Moscow", "content": FOILED, "stance": "claims"},
              {"source": KYIV, "content": BROKEN, "stance": "claims"}]


def end(start: int, stop: int, label: str) -> dict:
    """The end of a relation at SENTENCE[start:stop]."""
    return {"start": start, "end": stop, "label": label, "text": SENTENCE[start:stop]}


KYIV_CLAIM = {"source": end(0, 37, "SOURCE"), "content": end(48, 85, "CLAIM"), "stance": "claims"}
MOSCOW_CLAIM = {"source": end(93, 99, "SOURCE"), "content": end(105, 171, "CLAIM"), "stance": "claims"}

USER_SCHEMA = '''
from typing import Literal
from pydantic import BaseModel, Field

class Link(BaseModel):
    cause: str = Field(description="The event that causes.", json_schema_extra={"span_label": "EVENT"})
    effect: str = Field(description="The event caused.", json_schema_extra={"span_label": "EVENT"})
    how: Literal["causes", "prevents"]

class Causality(BaseModel):
    """Which event leads to which."""
    links: list[Link] = Field(description="Every causal link between two events of the sentence.")
    topic: Literal["war", "other"]

SCHEMA = Causality
'''

OTHER = "Shelling caused a fire that destroyed the market."
"""A sentence with no claim in it."""


def claims_responder(body: dict) -> dict:
    """Two opposing claims of SENTENCE, and a third whose content is not in the sentence."""
    if "Sentence: " + SENTENCE not in body["messages"][-1]["content"]:
        return {"entities": [], "event_type": "none", "claims": []}
    return {"entities": [{"text": "Moscow", "label": "LOCATION"}, {"text": "Kursk region", "label": "LOCATION"}],
            "event_type": "battle",
            "claims": [{"source": "Moscow", "content": FOILED, "stance": "claims"},
                       {"source": KYIV, "content": BROKEN, "stance": "claims"},
                       {"source": "Moscow", "content": "no border was crossed", "stance": "denies"}]}


def drafted(data: dict) -> tuple[dict, list[dict]]:
    """A draft's data and spans for `data` (claims grounded, entities as given with offsets)."""
    data = json.loads(json.dumps(data))
    spans, _ = ground_relation_fields(V2.fields, data, SENTENCE)
    ents = [{"field": "entities", "label": e["label"], "text": e["text"], "start": SENTENCE.index(e["text"]),
             "end": SENTENCE.index(e["text"]) + len(e["text"])} for e in data["entities"]]
    return data, ents + spans


DRAFT = {"entities": [{"text": "Moscow", "label": "LOCATION"}], "event_type": "battle", "claims": TWO_CLAIMS}


def pair(draft_claims: list[dict], gold_claims: list[dict]) -> Pair:
    """DRAFT with `draft_claims` against the same with `gold_claims`, as eval compares them."""
    draft, draft_spans = drafted({**DRAFT, "claims": draft_claims})
    gold, gold_spans = drafted({**DRAFT, "claims": gold_claims})
    return Pair("stub", "p.v1", V2.hash, draft, draft_spans, gold, gold_spans)


def claim(source: str, content: str, stance: str = "claims") -> dict:
    """A claim as the LLM writes it: both ends' words and the stance."""
    return {"source": source, "content": content, "stance": stance}
