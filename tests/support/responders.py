"""Responders for the stub server: a plausible news_events LLM, at the project's own seams."""

from __future__ import annotations

import re
from typing import Any

_CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*\b")
_NUMBER = re.compile(r"\b\d+\b")


def target_sentence(body: dict[str, Any]) -> str:
    """The sentence being annotated: the `Sentence:` line of the last user message."""
    user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    match = re.search(r"^Sentence: (.*)$", user, re.MULTILINE | re.DOTALL)
    return match.group(1) if match else user


def news_answer(sentence: str, invented: str | None = "Atlantis") -> dict[str, Any]:
    """A schema-valid news_events answer: capitalised words as places, numbers as quantities.

    `invented` adds a span that is not in the sentence, which grounding must drop.
    """
    entities = [{"text": m.group(0), "label": "LOCATION"} for m in _CAPITALISED.finditer(sentence)]
    entities += [{"text": m.group(0), "label": "QUANTITY"} for m in _NUMBER.finditer(sentence)]
    if invented:
        entities.append({"text": invented, "label": "LOCATION"})
    said = " said" in sentence
    sources = [{"text": entities[0]["text"], "label": "SOURCE"}] if said and entities else []
    return {"entities": entities, "event_type": "none", "attribution": "claimed" if sources else "asserted",
            "sources": sources}


def news_responder(body: dict[str, Any]) -> dict[str, Any]:
    """Stub responder: answer the request's sentence."""
    return news_answer(target_sentence(body))
