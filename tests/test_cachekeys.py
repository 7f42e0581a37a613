"""The fast cache keys of a run are the keys `LLMClient.cache_key` defines, byte for byte."""

from __future__ import annotations

import hashlib

import pytest

from annotator.llm import LLMClient
from annotator.llm.cachekeys import RequestKeys, cache_key
from annotator.llm.modes import MODES

SCHEMA = {"type": "object", "properties": {"b": {"type": "string"}, "a": {"enum": ["é", "ü"]}}, "required": ["a"]}
SHARED = [{"role": "system", "content": "Annotate.\nÜnïcode «quotes» and \"escapes\" \\ 🇺🇦"},
          {"role": "user", "content": "Example"}, {"role": "assistant", "content": "{\"a\": \"é\"}"}]


def test_the_definition_is_sha256_of_sorted_compact_json() -> None:
    assert cache_key({"b": 1, "a": "é"}) == hashlib.sha256('{"a":"é","b":1}'.encode()).hexdigest()


@pytest.mark.parametrize("mode", MODES)
def test_request_keys_equal_the_client_keys_in_every_mode(mode: str) -> None:
    client = LLMClient(base_url="http://user:secret@127.0.0.1:9/v1", api_key="k", model="m", seed=7)
    keys = client.request_keys(mode, SCHEMA)
    for sentence in ["Troops left Mali.", "Удар по Харкову 🇺🇦 — «двоє загиблих»", ""]:
        messages = [*SHARED, {"role": "user", "content": sentence}]
        params = client.params(mode, messages, SCHEMA)
        assert keys.key(messages) == client.cache_key(params)
        assert keys.key(messages, {"_examples": ["g2", "g1"]}) == client.cache_key({**params, "_examples": ["g2", "g1"]})


def test_messages_of_other_shapes_and_a_changed_turn_change_the_key() -> None:
    keys = RequestKeys({"model": "m", "temperature": 0.0})
    tool_turn = {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]}
    messages = [*SHARED, tool_turn, {"role": "user", "content": "x"}]
    assert keys.key(messages) == cache_key({"model": "m", "temperature": 0.0, "messages": messages})
    changed = [{**SHARED[0], "content": SHARED[0]["content"] + " "}, *messages[1:]]
    assert keys.key(changed) != keys.key(messages)


def test_keys_stay_the_definition_when_the_shared_turns_change_between_requests() -> None:
    """The hash of the turns before the last is kept between keys: other leading turns (a re-ask, other
    examples, a one-turn request) must never reuse it."""
    base = {"model": "m", "temperature": 0.0, "response_format": {"type": "json_object"}}
    keys = RequestKeys(base)
    reask = [*SHARED, {"role": "user", "content": "x"}, {"role": "assistant", "content": "{"},
             {"role": "user", "content": "Your reply was rejected."}]
    other_examples = [SHARED[0], {"role": "user", "content": "Another example"}, *SHARED[2:],
                      {"role": "user", "content": "x"}]
    shapes = [[*SHARED, {"role": "user", "content": "x"}], reask, other_examples,
              [{"role": "user", "content": "x"}], [*SHARED, {"role": "user", "content": "y"}]]
    for messages in [*shapes, *reversed(shapes), *shapes]:
        assert keys.key(messages) == cache_key({**base, "messages": messages})
    assert len({keys.key(m) for m in shapes}) == len(shapes)
