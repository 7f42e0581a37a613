"""The generated Label Studio config: valid for LabelInterface, every value escaped and kept."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from label_studio_sdk.label_interface import LabelInterface
from pydantic import BaseModel

from annotator.errors import InputError
from annotator.labelstudio.config import CONTEXT_NAME, TEXT_NAME, label_colour, label_config
from annotator.schema import Schema, describe, load_schema
from tests.support.nasty_schema import all_kinds

NASTY = ("A & B", "<tag>", 'say "hi"', "it's", "x > y", "naïve 🇺🇦")


def test_default_schema_config_validates():
    schema = load_schema("news_events")
    xml = label_config(schema)
    interface = LabelInterface(xml)
    interface.validate()
    assert set(interface._controls) == {f.name for f in schema.fields}
    for spec in schema.fields:
        control = interface.get_control(spec.name)
        assert control.to_name == [TEXT_NAME]
        assert list(control.labels) == list(spec.labels)
    root = ET.fromstring(xml)
    # The sentence is the one object tag that reads task data: Label Studio requires the key of every tag with a
    # name and a $value at import, so a task imported by hand with only {"text": ...} is accepted.
    assert [(e.tag, e.get("value")) for e in root.iter() if e.get("name") and (e.get("value") or "")[:1] == "$"] \
        == [("Text", "$text")]
    # The sentence comes first; the headline and the sentences before it follow, in the context block;
    # label descriptions are hover hints.
    order = [e.get("name") or e.get("value") for e in root.iter() if e.tag in ("Header", "Text")]
    assert order.index(TEXT_NAME) < order.index("$headline") < order.index(f"${CONTEXT_NAME}")
    person = next(lab for lab in root.iter("Label") if lab.get("alias") == "PERSON")
    assert "named person" in person.get("hint")
    # Every span label has its own colour.
    colours = [lab.get("background") for lab in root.iter("Label")]
    assert len(set(colours)) == len(colours)
    # No control targets the context.
    assert all(c.get("toName") == TEXT_NAME for c in root.iter() if c.get("toName"))


def test_all_kinds_with_nasty_values_validate_and_round_trip():
    schema = all_kinds()
    assert [f.kind for f in schema.fields] == ["spans", "choice", "choices", "text", "number", "number", "bool"]
    xml = label_config(schema)
    for raw in ('"A & B"', "<tag>", 'say "hi"'):
        assert raw not in xml  # escaped, never literal
    interface = LabelInterface(xml)
    interface.validate()
    assert list(interface.get_control("mentions").labels) == ["A & B", "<tag>", 'say "hi"']
    assert list(interface.get_control("tone").labels) == ["A & B", "<tag>", 'say "hi"']
    assert list(interface.get_control("tags").labels) == ["it's", "x > y", "naïve 🇺🇦"]
    assert list(interface.get_control("urgent").labels) == ["true", "false"]
    root = ET.fromstring(xml)
    tags = {c.get("name"): c for c in root.iter() if c.get("toName")}
    assert {n: c.tag for n, c in tags.items()} == {
        "mentions": "Labels", "tone": "Choices", "tags": "Choices", "note": "TextArea", "count": "Number",
        "ratio": "Number", "urgent": "Choices"}
    assert tags["tone"].get("choice") == "single-radio" and tags["tags"].get("choice") == "multiple"
    assert tags["urgent"].get("choice") == "single-radio"
    assert tags["count"].get("step") == "1" and tags["ratio"].get("step") == "any"
    assert tags["ratio"].get("required") is None and tags["count"].get("required") == "true"
    label = next(lab for lab in root.iter("Label") if lab.get("value") == "A & B")
    assert label.get("hint") == 'hint with "quotes" & <angle>'
    choice = next(c for c in tags["tone"].iter("Choice") if c.get("value") == "A & B")
    assert choice.get("hint") == "both & more"
    headers = [h.get("value") for h in root.iter("Header")]
    assert "Mentions" in headers  # a short title; the description goes to the instructions
    # A prediction using every nasty value passes the SDK's check.
    result = [
        {"id": "m0", "from_name": "mentions", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 1, "text": "x", "labels": ['say "hi"']}},
        {"id": "t", "from_name": "tone", "to_name": "text", "type": "choices", "value": {"choices": ["<tag>"]}},
        {"id": "g", "from_name": "tags", "to_name": "text", "type": "choices",
         "value": {"choices": ["it's", "naïve 🇺🇦"]}},
    ]
    assert interface.validate_prediction({"result": result}, return_errors=True) == []


def test_reserved_field_names_are_refused():
    class Bad(BaseModel):
        text: str

    with pytest.raises(InputError, match="reserved"):
        label_config(Schema("bad", Bad, describe(Bad)))


def test_colours_are_distinct_beyond_the_palette():
    colours = [label_colour(i) for i in range(60)]
    assert len(set(colours)) == 60
    assert all(len(c) == 7 and c.startswith("#") for c in colours)


@pytest.mark.labelstudio
def test_server_accepts_the_configs(labelstudio):
    from label_studio_sdk import LabelStudio

    ls = LabelStudio(base_url=labelstudio.url, api_key=labelstudio.token)
    for schema in (load_schema("news_events"), all_kinds()):
        project = ls.projects.create(title=f"config check {schema.name}", label_config=label_config(schema))
        try:
            assert ls.projects.get(id=project.id).label_config == label_config(schema)
        finally:
            ls.projects.delete(id=project.id)
