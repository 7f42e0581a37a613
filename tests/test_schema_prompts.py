"""Schema introspection and loading, and prompt rendering."""

from __future__ import annotations

import json
import textwrap

import pytest

from annotator.errors import InputError
from annotator.kinds import BOOL, CHOICE, CHOICES, NUMBER, SPANS, TEXT
from annotator.prompts import load_prompt, split_messages
from annotator.schema import load_schema
from annotator.spans import ground

ALL_KINDS = textwrap.dedent('''
    from enum import Enum
    from typing import Literal
    from pydantic import BaseModel, Field

    class Tag(str, Enum):
        A = "a & b"
        B = "<b>"

    class Mention(BaseModel):
        text: str
        label: Literal["X", "Y"]

    class Everything(BaseModel):
        """All six field kinds."""
        mentions: list[Mention] = Field(description="spans")
        tag: Tag = Field(description="one", json_schema_extra={"labels": {"a & b": "first"}})
        tags: list[Tag] = Field(description="several")
        note: str = Field(description="free text")
        count: int = Field(description="a number")
        urgent: bool = Field(description="yes or no")
        maybe: Tag | None = None

    SCHEMA = Everything
''')


def test_default_schema_fields() -> None:
    s = load_schema("news_events")
    kinds = {f.name: f.kind for f in s.fields}
    assert kinds == {"entities": SPANS, "event_type": CHOICE, "attribution": CHOICE, "sources": SPANS}
    ents = s.field("entities")
    assert "ARMED_GROUP" in ents.labels and "WEAPON" in ents.labels
    assert set(ents.label_descriptions) == set(ents.labels)
    assert set(s.field("event_type").label_descriptions) == set(s.field("event_type").labels)
    assert all(f.description for f in s.fields)
    assert len(s.hash) == 12 and s.hash == load_schema("news_events").hash


def test_strict_llm_schema_is_closed_and_inlined() -> None:
    js = load_schema("news_events").llm_json_schema()
    text = json.dumps(js)
    assert "$ref" not in text and "$defs" not in text and '"labels"' not in text
    assert js["additionalProperties"] is False and set(js["required"]) == set(js["properties"])
    item = js["properties"]["entities"]["items"]
    assert item["additionalProperties"] is False and item["required"] == ["text", "label"]


def test_schema_from_file_with_all_kinds(tmp_path) -> None:
    path = tmp_path / "everything.py"
    path.write_text(ALL_KINDS)
    s = load_schema(str(path))
    assert [(f.name, f.kind) for f in s.fields] == [
        ("mentions", SPANS), ("tag", CHOICE), ("tags", CHOICES), ("note", TEXT), ("count", NUMBER),
        ("urgent", BOOL), ("maybe", CHOICE)]
    assert s.field("tag").labels == ("a & b", "<b>")
    assert s.field("tag").label_descriptions == {"a & b": "first"}
    assert s.field("count").integer and not s.field("maybe").required


def test_unknown_schema_and_unsupported_field(tmp_path) -> None:
    with pytest.raises(InputError, match="unknown schema 'nope'"):
        load_schema("nope")
    bad = tmp_path / "bad.py"
    bad.write_text("from pydantic import BaseModel\nclass Bad(BaseModel):\n    data: dict\nSCHEMA = Bad\n")
    with pytest.raises(InputError, match="field 'data'"):
        load_schema(str(bad))


def test_prompt_renders_examples_as_chat_turns_with_context() -> None:
    schema = load_schema("news_events")
    prompt = load_prompt("news_events.v1", "news_events")
    assert prompt.version == "news_events.v1"
    msgs = prompt.messages(schema, "Police said 3 died.", "Clashes in Mora", ["Fighting resumed."])
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "ARMED_GROUP: A military force" in msgs[0]["content"]
    assert msgs[-1]["content"] == "Headline: Clashes in Mora\nContext: Fighting resumed.\nSentence: Police said 3 died."
    assert "JSON schema" not in msgs[0]["content"]
    with_schema = prompt.messages(schema, "x", include_schema=True)
    assert '"additionalProperties": false' in with_schema[0]["content"]
    # The system prompt and examples are a common prefix across sentences (server-side prompt caching).
    other = prompt.messages(schema, "Another sentence.", None, [])
    assert msgs[:5] == other[:5]


def test_worked_examples_are_valid_and_grounded() -> None:
    schema = load_schema("news_events")
    msgs = load_prompt("news_events.v1", "news_events").messages(schema, "x")
    pairs = [(msgs[i], msgs[i + 1]) for i in range(1, len(msgs) - 1, 2)]
    assert len(pairs) == 2
    for user, assistant in pairs:
        sentence = user["content"].split("Sentence: ", 1)[1]
        data = schema.model.model_validate_json(assistant["content"]).model_dump(mode="json")
        for spec in schema.span_fields():
            _, _, dropped = ground(sentence, spec.name, data[spec.name])
            assert dropped == []


def test_generic_prompt_for_other_schemas_and_bad_refs(tmp_path) -> None:
    path = tmp_path / "everything.py"
    path.write_text(ALL_KINDS)
    prompt = load_prompt(None, "everything")
    assert prompt.version == "generic.v1"
    assert "mentions (spans)" in prompt.messages(load_schema(str(path)), "s")[0]["content"]
    with pytest.raises(InputError, match="unknown prompt"):
        load_prompt("news_events.v9", "news_events")
    with pytest.raises(InputError):
        split_messages("=== system ===\nonly a system message")
