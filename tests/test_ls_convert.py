"""Draft -> Label Studio result -> gold: exact round trips, emoji-safe offsets, errors never dropped."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from annotator.annotate.drafter import Drafter
from annotator.labelstudio import convert
from annotator.labelstudio.config import label_config, validate_config
from annotator.labelstudio.convert import draft_to_result, result_to_gold
from annotator.schema import load_schema
from annotator.store import dumps
from tests.support.nasty_schema import all_kinds

NEWS = load_schema("news_events")

SENTENCES = [
    # Flag emoji (two astral code points) before every span, repeated mentions.
    ("🇺🇦 Ukrainian forces said Russian drones hit Kharkiv overnight, and Kharkiv officials confirmed it.",
     {"entities": [{"text": "Kharkiv", "label": "LOCATION"}, {"text": "Ukrainian forces", "label": "ARMED_GROUP"},
                   {"text": "Kharkiv", "label": "LOCATION"}, {"text": "drones", "label": "WEAPON"},
                   {"text": "Kharkiv officials", "label": "ORG"}],
      "event_type": "explosion_remote_violence", "attribution": "claimed",
      "sources": [{"text": "Ukrainian forces", "label": "SOURCE"}]}),
    # Mathematical letters, an emoji in the middle and at the very end.
    ("𝐁𝐑𝐄𝐀𝐊𝐈𝐍𝐆: 😀 Police in Lagos arrested 12 protesters on Monday 🔥",
     {"entities": [{"text": "Police", "label": "ARMED_GROUP"}, {"text": "Lagos", "label": "LOCATION"},
                   {"text": "12 protesters", "label": "QUANTITY"}, {"text": "Monday", "label": "DATETIME"}],
      "event_type": "strategic_development", "attribution": "asserted", "sources": []}),
    # Nothing to mark.
    ("Plain ASCII with no entities.",
     {"entities": [], "event_type": "none", "attribution": "asserted", "sources": []}),
]


def make_draft(schema, sentence: str, payload: dict) -> tuple[dict, list[dict]]:
    """A draft's (data, spans) exactly as the drafter stores them (`annotate/drafter.py`)."""
    instance = schema.model.model_validate(payload).model_dump(mode="json")
    row: dict = {}
    Drafter._ground(SimpleNamespace(schema=schema), instance, sentence, row)
    assert row["status"] == "ok" and row["n_dropped"] == 0
    return json.loads(row["data"]), json.loads(row["spans"])


@pytest.fixture(params=["codepoint", "utf16"])
def unit(request, monkeypatch):
    """Run a test with either offset unit (Label Studio 1.23 counts code points)."""
    monkeypatch.setattr(convert, "OFFSET_UNIT", request.param)
    return request.param


@pytest.mark.parametrize(("sentence", "payload"), SENTENCES)
def test_round_trip_is_exact(sentence, payload, unit):
    data, spans = make_draft(NEWS, sentence, payload)
    result = draft_to_result(NEWS, sentence, data, spans)
    gold, gold_spans, errors = result_to_gold(NEWS, sentence, result)
    assert errors == []
    assert dumps(gold) == dumps(data)  # same values, same key and list order
    assert gold_spans == spans


def test_offsets_are_code_points_and_text_is_the_sentences():
    sentence, payload = SENTENCES[0]
    data, spans = make_draft(NEWS, sentence, payload)
    result = draft_to_result(NEWS, sentence, data, spans)
    regions = [r for r in result if r["type"] == "labels"]
    assert len(regions) == len(spans) == 6
    for region, span in zip(regions, spans, strict=True):
        v = region["value"]
        assert sentence[v["start"]:v["end"]] == v["text"] == span["text"]
        assert (v["start"], v["end"]) == (span["start"], span["end"])
    kharkiv = [r["value"]["start"] for r in regions if r["value"]["text"] == "Kharkiv"]
    assert len(kharkiv) == 2 and kharkiv[0] != kharkiv[1]
    ids = [r["id"] for r in result]
    assert len(set(ids)) == len(ids)


def test_utf16_unit_for_old_editors(monkeypatch):
    monkeypatch.setattr(convert, "OFFSET_UNIT", "utf16")
    sentence, payload = SENTENCES[0]
    data, spans = make_draft(NEWS, sentence, payload)
    utf16 = sentence.encode("utf-16-le")
    for region, span in zip([r for r in draft_to_result(NEWS, sentence, data, spans) if r["type"] == "labels"],
                            spans, strict=True):
        v = region["value"]
        assert utf16[2 * v["start"]:2 * v["end"]].decode("utf-16-le") == v["text"] == span["text"]
        assert v["start"] == span["start"] + 2  # the flag is 2 code points, 4 UTF-16 units
    splitting = [{"id": "z", "from_name": "entities", "to_name": "text", "type": "labels",
                  "value": {"start": 1, "end": 6, "labels": ["LOCATION"]}}]
    assert "splits a character" in " ".join(result_to_gold(NEWS, sentence, splitting)[2])


def test_every_prediction_passes_the_sdk_check():
    interface = validate_config(label_config(NEWS))
    for sentence, payload in SENTENCES:
        data, spans = make_draft(NEWS, sentence, payload)
        prediction = {"model_version": "m|v1|h", "result": draft_to_result(NEWS, sentence, data, spans)}
        assert interface.validate_prediction(prediction, return_errors=True) == []


def test_all_kinds_round_trip(unit):
    schema = all_kinds()
    interface = validate_config(label_config(schema))
    sentence = "😀 Say \"hi\" to <tag> & A & B, it's fine 🇺🇦."
    cases = [
        {"mentions": [{"text": "<tag>", "label": "<tag>"}, {"text": "A & B", "label": "A & B"},
                      {"text": 'Say "hi"', "label": 'say "hi"'}],
         "tone": "A & B", "tags": ["naïve 🇺🇦", "it's"], "note": "line one\nline two 😀",
         "count": 3, "ratio": 0.25, "urgent": False},
        {"mentions": [], "tone": "<tag>", "tags": [], "note": "", "count": 0, "ratio": None, "urgent": True},
    ]
    for payload in cases:
        data, spans = make_draft(schema, sentence, payload)
        result = draft_to_result(schema, sentence, data, spans)
        assert interface.validate_prediction({"result": result}, return_errors=True) == []
        gold, gold_spans, errors = result_to_gold(schema, sentence, result)
        assert errors == []
        assert dumps(gold) == dumps(data)
        assert gold_spans == spans


def test_value_text_is_never_trusted():
    sentence, payload = SENTENCES[0]
    data, spans = make_draft(NEWS, sentence, payload)
    result = draft_to_result(NEWS, sentence, data, spans)
    for item in result:
        if item["type"] == "labels":
            item["value"]["text"] = "collapsed   whitespace"
    gold, gold_spans, errors = result_to_gold(NEWS, sentence, result)
    assert errors == [] and gold_spans == spans and dumps(gold) == dumps(data)


def test_annotator_edits_come_back_sorted():
    sentence = "🇺🇦 Russian drones hit Kharkiv."
    result = [  # out of order, as an annotator may create them; code-point offsets (the flag is 2)
        {"id": "b", "from_name": "entities", "to_name": "text", "type": "labels",
         "value": {"start": 22, "end": 29, "text": "Kharkiv", "labels": ["LOCATION"]}},
        {"id": "a", "from_name": "entities", "to_name": "text", "type": "labels",
         "value": {"start": 11, "end": 17, "text": "drones", "labels": ["WEAPON"]}},
        {"id": "c", "from_name": "event_type", "to_name": "text", "type": "choices",
         "value": {"choices": ["explosion_remote_violence"]}},
        {"id": "d", "from_name": "attribution", "to_name": "text", "type": "choices",
         "value": {"choices": ["asserted"]}},
    ]
    gold, spans, errors = result_to_gold(NEWS, sentence, result)
    assert errors == []
    assert gold == {"entities": [{"text": "drones", "label": "WEAPON"}, {"text": "Kharkiv", "label": "LOCATION"}],
                    "event_type": "explosion_remote_violence", "attribution": "asserted", "sources": []}
    assert [(s["start"], s["end"]) for s in spans] == [(11, 17), (22, 29)]
    assert [sentence[s["start"]:s["end"]] for s in spans] == ["drones", "Kharkiv"]


def test_problems_are_errors_not_silent_drops():
    sentence = "🇺🇦 Russian drones hit Kharkiv."
    result = [
        {"id": "x", "from_name": "mood", "to_name": "text", "type": "choices", "value": {"choices": ["sad"]}},
        {"id": "y", "from_name": "entities", "to_name": "text", "type": "labels",
         "value": {"start": 11, "end": 17, "labels": ["VEHICLE"]}},
        {"id": "z", "from_name": "entities", "to_name": "text", "type": "labels",
         "value": {"start": 1, "end": 99, "labels": ["LOCATION"]}},  # past the end of the sentence
        {"id": "w", "from_name": "event_type", "to_name": "text", "type": "choices",
         "value": {"choices": ["war"]}},
        {"from_id": "y", "to_id": "z", "type": "relation", "direction": "right", "labels": []},
    ]
    gold, spans, errors = result_to_gold(NEWS, sentence, result)
    text = " | ".join(errors)
    assert "control 'mood' is not a field" in text
    assert "label 'VEHICLE'" in text
    assert "outside the text" in text
    assert "['war'] not among" in text
    assert "relations" in text
    assert "event_type: Field required" in text and "attribution: Field required" in text
    assert spans == [] and gold is not None and gold["entities"] == []


def test_missing_optional_values_take_defaults():
    schema = all_kinds()
    sentence = "Nothing here."
    result = [
        {"id": "t", "from_name": "tone", "to_name": "text", "type": "choices", "value": {"choices": ["<tag>"]}},
        {"id": "c", "from_name": "count", "to_name": "text", "type": "number", "value": {"number": 2.0}},
        {"id": "u", "from_name": "urgent", "to_name": "text", "type": "choices", "value": {"choices": ["true"]}},
    ]
    gold, spans, errors = result_to_gold(schema, sentence, result)
    assert errors == []
    assert gold == {"mentions": [], "tone": "<tag>", "tags": [], "note": "", "count": 2, "ratio": None,
                    "urgent": True}
    assert result_to_gold(schema, sentence, "nonsense")[0] is None


def test_bad_drafts_never_reach_label_studio():
    sentence = "Russian drones hit Kharkiv."
    bad = [{"field": "entities", "label": "LOCATION", "text": "Kharkiv", "start": 0, "end": 7}]
    with pytest.raises(ValueError, match="does not match"):
        draft_to_result(NEWS, sentence, {"event_type": "none", "attribution": "asserted"}, bad)


def test_display_names_sent_through_the_api_are_read_as_the_stored_values():
    """The labeling config shows `Battle` and stores `battle`: an annotation made through the API with either is
    the same gold, stored as the alias; a value that is neither stays an error."""
    sentence = "Police in Lagos arrested 12 protesters."

    def item(name: str, kind: str, value: dict) -> dict:
        return {"id": name, "from_name": name, "to_name": "text", "type": kind, "value": value}

    by_name = [item("event_type", "choices", {"choices": ["Battle"]}),
               item("attribution", "choices", {"choices": ["Claimed"]}),
               item("entities", "labels", {"start": 0, "end": 6, "labels": ["Armed group"]})]
    by_alias = [item("event_type", "choices", {"choices": ["battle"]}),
                item("attribution", "choices", {"choices": ["claimed"]}),
                item("entities", "labels", {"start": 0, "end": 6, "labels": ["ARMED_GROUP"]})]
    gold, spans, errors = result_to_gold(NEWS, sentence, by_name)
    assert errors == []
    assert (gold["event_type"], gold["attribution"], gold["entities"]) == (
        "battle", "claimed", [{"text": "Police", "label": "ARMED_GROUP"}])
    assert spans == [{"field": "entities", "label": "ARMED_GROUP", "text": "Police", "start": 0, "end": 6}]
    assert result_to_gold(NEWS, sentence, by_alias) == (gold, spans, [])
    schema = all_kinds()  # yes/no shown as Yes and No, stored as true and false
    urgent = [item("urgent", "choices", {"choices": ["Yes"]})]
    assert result_to_gold(schema, sentence, urgent)[0]["urgent"] is True
    _, _, errors = result_to_gold(NEWS, sentence, [item("event_type", "choices", {"choices": ["BATTLE"]})])
    assert any("['BATTLE'] not among" in e for e in errors)
