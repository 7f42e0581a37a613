"""The annotator's page without a server: config layout and names, instructions, the view, the score,
the short model version read in both forms, and identical spans collapsed on pull and counted by status."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from enum import StrEnum

import pytest
from pydantic import BaseModel, Field

from annotator.errors import InputError
from annotator.evaluate.load import ProjectRow, _shown_draft_set
from annotator.kinds import readable
from annotator.labelstudio.config import (
    CONTEXT_NAME,
    TEXT_NAME,
    hotkeys,
    label_config,
    validate_config,
)
from annotator.labelstudio.convert import draft_to_result, result_to_gold
from annotator.labelstudio.page import (
    SCORE_COLUMN,
    VIEW_TITLE,
    column_ids,
    instructions_html,
    same_text,
    view_action,
    view_data,
)
from annotator.labelstudio.predictions import (
    draft_score,
    match_predictions,
    model_version_of,
    prediction_of,
    shown_version,
    version_key,
)
from annotator.labelstudio.projects import same_fields
from annotator.labelstudio.reconcile import plan_reconcile
from annotator.schema import Schema, describe, load_schema
from annotator.status import summary
from annotator.store import open_db

NEWS = load_schema("news_events")


# --------------------------------------------------------------------------- the labeling config


def test_sentence_comes_first_and_labels_show_names_while_results_store_schema_values():
    xml = label_config(NEWS)
    root = ET.fromstring(xml)
    objects = [t.get("name") for t in root.iter("Text")]
    assert objects == [TEXT_NAME]  # the sentence is the one object (its context is in headers)
    assert [h.get("value") for h in root.iter("Header")].count(f"${CONTEXT_NAME}") == 1
    assert next(root.iter("Text")).get("showLabels") == "true"
    armed = next(lab for lab in root.iter("Label") if lab.get("alias") == "ARMED_GROUP")
    assert armed.get("value") == "Armed group" and armed.get("hotkey") == "3"
    org = next(lab for lab in root.iter("Label") if lab.get("value") == "ORG")
    assert org.get("alias") is None  # a short capitalised name is shown as it is
    event = next(c for c in root.iter("Choices") if c.get("name") == "event_type")
    assert event.get("choice") == "single-radio"
    assert event.get("requiredMessage") == "Event type: choose one answer."
    assert [c.get("value") for c in event][:2] == ["Battle", "Explosion remote violence"]
    headers = [h.get("value") for h in root.iter("Header")]
    assert {"Entities", "Sources", "Event type", "Attribution", "Earlier in the article"} <= set(headers)
    assert not any(NEWS.field("entities").description in h for h in headers)  # long texts: instructions
    # Label Studio and the SDK read the stored values (aliases), so predictions keep the schema's values.
    interface = validate_config(xml)
    assert list(interface.get_control("entities").labels) == list(NEWS.field("entities").labels)
    assert list(interface.get_control("event_type").labels) == list(NEWS.field("event_type").labels)
    sentence = "Rebels attacked Mora."
    spans = [{"field": "entities", "label": "ARMED_GROUP", "text": "Rebels", "start": 0, "end": 6}]
    data = {"entities": [{"text": "Rebels", "label": "ARMED_GROUP"}], "event_type": "battle",
            "attribution": "asserted", "sources": []}
    result = draft_to_result(NEWS, sentence, data, spans)
    assert interface.validate_prediction({"result": result}, return_errors=True) == []


def test_hotkeys_follow_label_studios_order_spans_first():
    keys = hotkeys(NEWS)
    # 8 entity labels and SOURCE take 1-9; the 7 event types 0 q w e t a s; attribution d f g.
    assert [keys[("entities", v)] for v in NEWS.field("entities").labels] == list("12345678")
    assert keys[("sources", "SOURCE")] == "9"
    assert [keys[("event_type", v)] for v in NEWS.field("event_type").labels] == list("0qwetas")
    assert [keys[("attribution", v)] for v in NEWS.field("attribution").labels] == list("dfg")


class Tone(StrEnum):
    """Values with names given by the schema."""

    CALM = "calm"
    ANGRY = "angry_tone"


class Titled(BaseModel):
    """A schema that names its field and values."""

    tone: Tone = Field(title="Tone of voice", description="How it sounds.",
                       json_schema_extra={"label_names": {"angry_tone": "Angry!"}})
    urgent: bool


def test_titles_and_label_names_come_from_the_schema():
    schema = Schema("titled", Titled, describe(Titled))
    tone, urgent = schema.field("tone"), schema.field("urgent")
    assert (tone.heading, tone.display("calm"), tone.display("angry_tone")) == ("Tone of voice", "Calm", "Angry!")
    assert (urgent.heading, urgent.display("true"), urgent.display("false")) == ("Urgent", "Yes", "No")
    root = ET.fromstring(label_config(schema))
    choices = {c.get("alias"): c.get("value") for c in root.iter("Choice")}
    assert choices == {"calm": "Calm", "angry_tone": "Angry!", "true": "Yes", "false": "No"}
    assert next(c for c in root.iter("Choices") if c.get("name") == "urgent").get("requiredMessage") == \
        "Urgent: choose yes or no."


def test_readable_names():
    assert [readable(v) for v in ("explosion_remote_violence", "ARMED_GROUP", "ORG", "A & B", "naïve 🇺🇦")] == [
        "Explosion remote violence", "Armed group", "ORG", "A & B", "naïve 🇺🇦"]


def test_two_values_shown_under_one_name_are_refused():
    class Clash(BaseModel):
        tone: Tone = Field(json_schema_extra={"label_names": {"angry_tone": "Calm"}})

    with pytest.raises(InputError, match="label_names"):
        label_config(Schema("clash", Clash, describe(Clash)))


def test_same_fields_ignores_the_layout_but_not_the_labels():
    old = ('<View><Header value="$headline"/><Text name="context" value="$context"/>'
           '<Labels name="entities" toName="text">' + "".join(f'<Label value="{v}"/>'
                                                               for v in NEWS.field("entities").labels) +
           '</Labels><Labels name="sources" toName="text"><Label value="SOURCE"/></Labels>'
           '<Text name="text" value="$text"/>'
           '<Choices name="event_type" toName="text" choice="single">' + "".join(
               f'<Choice value="{v}"/>' for v in NEWS.field("event_type").labels) + '</Choices>'
           '<Choices name="attribution" toName="text" choice="single"><Choice value="asserted"/>'
           '<Choice value="claimed"/><Choice value="denied"/></Choices></View>')
    assert same_fields(old, label_config(NEWS))
    assert not same_fields(old.replace('<Label value="SOURCE"/>', '<Label value="SOURCE"/><Label value="X"/>'),
                           label_config(NEWS))
    assert not same_fields("<View>not a config", label_config(NEWS))


# --------------------------------------------------------------------------- instructions and view


def test_instructions_list_the_workflow_every_field_label_key_and_description():
    text = instructions_html(NEWS)
    assert "<b>first</b> press the label's key (or click the label), <b>then</b> drag over the words" in text
    for spec in NEWS.fields:
        assert f"<h3>{spec.heading}</h3>" in text and spec.description in text
    assert "<td><kbd>3</kbd></td><td><b>Armed group</b></td><td>A military force, militia" in text
    assert "<td><kbd>q</kbd></td><td><b>Explosion remote violence</b></td>" in text
    assert "(e.g. &#x27;the defence minister&#x27;)" in text  # escaped
    assert same_text(text, text.replace("<table>", "<table><tbody>").replace("&#x27;", "'"))
    assert not same_text(text, text.replace("Armed group", "Armed band"))


def test_view_shows_the_sentence_and_score_hides_the_hashes_and_sorts_by_score():
    columns = [{"id": "text", "parent": "data", "target": "tasks"}, {"id": "context", "parent": "data"},
               {"id": "sentence_id", "parent": "data"}, {"id": "id", "target": "tasks"},
               {"id": "predictions_score"}, {"id": "inner_id"}, {"id": "data", "children": ["text"]}]
    ids = column_ids(columns)
    assert ids == ["tasks:data.text", "tasks:data.context", "tasks:data.sentence_id", "tasks:id",
                   SCORE_COLUMN, "tasks:inner_id"]
    data = view_data(ids)
    assert data["title"] == VIEW_TITLE and data["ordering"] == [SCORE_COLUMN]  # lowest score first
    assert data["hiddenColumns"]["explore"] == ["tasks:data.sentence_id", "tasks:inner_id"]
    assert data["hiddenColumns"]["labeling"] == ["tasks:data.context", "tasks:data.sentence_id", "tasks:id",
                                                 "tasks:inner_id"]
    assert data["columnsWidth"]["tasks:data.text"] > data["columnsWidth"]["tasks:data.context"]
    assert view_action([{"id": 3, "data": {"title": "Default"}}], data) == ("create", None)
    ours = {"id": 5, "data": {**data, "columnsWidth": {"tasks:data.text": 900}}}  # widths set by hand stay
    assert view_action([{"id": 3, "data": {"title": "Default"}}, ours], data) == ("keep", 5)
    assert view_action([{"id": 5, "data": {**data, "ordering": ["-tasks:id"]}}], data) == ("update", 5)


# --------------------------------------------------------------------------- score and model version


def draft_row(spans: int, dropped: int, attempts: int) -> dict:
    return {"spans": json.dumps([{"field": "entities"}] * spans), "n_dropped": dropped, "attempts": attempts}


def test_draft_score_is_grounded_share_times_first_attempt_validity():
    assert draft_score(draft_row(3, 1, 1)) == 0.75  # 3 of 4 spans found, valid at once
    assert draft_score(draft_row(3, 1, 2)) == 0.375  # ... after one re-ask
    assert draft_score(draft_row(0, 0, 1)) == 1.0  # nothing to ground, valid at once
    assert draft_score(draft_row(0, 2, 3)) == 0.0
    assert draft_score({"spans": None, "n_dropped": None, "attempts": None}) == 1.0
    # Two claims kept (each two grounded ends), one entity kept, one claim dropped: 3 of 4 items.
    ends = [{"field": "claims", "relation": i, "role": role} for i in (0, 1) for role in ("source", "content")]
    claims = {"spans": json.dumps([{"field": "entities"}, *ends]), "n_dropped": 1, "attempts": 1}
    assert draft_score(claims) == 0.75


def test_prediction_carries_its_score_and_a_short_version():
    sentence = "Rebels attacked Mora."
    draft = {"id": "d1", "model": "gpt-4o-mini", "prompt_version": "news_events.v1", "schema_hash": NEWS.hash,
             "data": json.dumps({"entities": [{"text": "Rebels", "label": "ARMED_GROUP"}], "event_type": "battle",
                                 "attribution": "asserted", "sources": []}),
             "spans": json.dumps([{"field": "entities", "label": "ARMED_GROUP", "text": "Rebels", "start": 0,
                                   "end": 6}]), "n_dropped": 1, "attempts": 1}
    prediction, why = prediction_of(NEWS, validate_config(label_config(NEWS)), draft, sentence)
    assert why == "" and prediction["score"] == 0.5
    assert prediction["model_version"] == f"gpt-4o-mini · news_events.v1 · {NEWS.hash[:6]}"


def test_version_key_reads_both_forms_and_matching_pairs_old_predictions():
    draft = {"model": "org/model|x", "prompt_version": "p.v1", "schema_hash": "abcdef123456"}
    new, old = model_version_of(draft), "org/model|x|p.v1|abcdef123456"
    assert new == "org/model|x · p.v1 · abcdef"
    assert version_key(new) == version_key(old) == ("org/model|x", "p.v1", "abcdef")
    assert version_key("something else") == ("something else",)
    # A draft sent in the new form finds the prediction an older push made in the old form, and back.
    assert match_predictions([("d1", 10, new)], [(10, 100, old)]) == {"d1": 100}
    assert match_predictions([("d1", 10, old)], [(10, 100, new), (10, 101, "m · p · other")]) == {"d1": 100}


def test_drafts_a_project_shows_in_the_older_form_keep_being_sent_under_it():
    draft = {"model": "m", "prompt_version": "v1", "schema_hash": NEWS.hash}
    old = f"m|v1|{NEWS.hash}"
    assert shown_version(draft, old) == old  # its earlier predictions stay pre-filled
    assert shown_version(draft, f"m2|v1|{NEWS.hash}") == f"m · v1 · {NEWS.hash[:6]}"
    assert shown_version(draft, None) == f"m · v1 · {NEWS.hash[:6]}"


def test_reconcile_records_the_version_the_server_holds():
    old = f"m|v1|{NEWS.hash}"
    server_tasks = [{"id": 10, "sentence_id": "s1", "predictions": [{"id": 100, "model_version": old}]}]
    drafts = [{"id": "a1", "sentence_id": "s1", "created_at": "2025-01-01",
               "model_version": model_version_of({"model": "m", "prompt_version": "v1", "schema_hash": NEWS.hash})}]
    plan = plan_reconcile(server_tasks, {}, drafts, [])
    assert plan.predictions == [{"draft_id": "a1", "task_id": 10, "model_version": old, "ls_prediction_id": 100}]


def test_evaluation_finds_the_shown_drafts_under_either_form(tmp_path):
    db = open_db(tmp_path / "a.db")
    db["drafts"].insert_all([{"id": "d1", "model": "m", "prompt_version": "v1", "schema_hash": NEWS.hash},
                             {"id": "d2", "model": "m2", "prompt_version": "v1", "schema_hash": NEWS.hash}])
    db["projects"].insert({"id": "p", "ls_id": 1, "name": "p", "url": "u", "model_version": f"m|v1|{NEWS.hash}"})
    db["predictions"].insert_all([
        {"project_id": "p", "draft_id": "d1", "task_id": 1, "model_version": f"m|v1|{NEWS.hash}"},
        {"project_id": "p", "draft_id": "d2", "task_id": 1, "model_version": f"m2 · v1 · {NEWS.hash[:6]}"}])
    row = ProjectRow("p", 1, "p", "u")
    assert _shown_draft_set(db, row, NEWS) == ("m", "v1", NEWS.hash)
    db["projects"].update("p", {"model_version": f"m2 · v1 · {NEWS.hash[:6]}"})
    assert _shown_draft_set(db, row, NEWS) == ("m2", "v1", NEWS.hash)
    db["projects"].update("p", {"model_version": f"m · v1 · {NEWS.hash[:6]}"})  # new form of the old rows
    assert _shown_draft_set(db, row, NEWS) == ("m", "v1", NEWS.hash)


# --------------------------------------------------------------------------- identical spans


def span_item(start: int, end: int, label: str, field: str = "entities", rid: str = "r") -> dict:
    return {"id": rid, "from_name": field, "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "labels": [label]}}


SENTENCE = "Rebels attacked Mora on Sunday."
CHOICES = [{"id": "e", "from_name": "event_type", "to_name": "text", "type": "choices",
            "value": {"choices": ["battle"]}},
           {"id": "a", "from_name": "attribution", "to_name": "text", "type": "choices",
            "value": {"choices": ["asserted"]}}]


def test_pull_keeps_an_identical_span_once():
    result = [span_item(16, 20, "LOCATION", rid="r1"), span_item(0, 6, "ARMED_GROUP", rid="r2"),
              span_item(16, 20, "LOCATION", rid="r3"),  # restored autosave, drawn again
              span_item(16, 20, "PERSON", rid="r4"),  # same words, another label: kept
              span_item(0, 6, "SOURCE", field="sources", rid="r5"), *CHOICES]
    data, spans, errors = result_to_gold(NEWS, SENTENCE, result)
    assert errors == []
    assert [(s["field"], s["text"], s["label"]) for s in spans] == [
        ("entities", "Rebels", "ARMED_GROUP"), ("entities", "Mora", "LOCATION"), ("entities", "Mora", "PERSON"),
        ("sources", "Rebels", "SOURCE")]
    assert data["entities"] == [{"text": "Rebels", "label": "ARMED_GROUP"}, {"text": "Mora", "label": "LOCATION"},
                                {"text": "Mora", "label": "PERSON"}]


def test_status_counts_the_identical_spans_of_live_annotations(tmp_path):
    db = open_db(tmp_path / "a.db")
    db["projects"].insert_all([{"id": "p1", "ls_id": 1, "name": "one", "url": "u"},
                               {"id": "p2", "ls_id": 2, "name": "two", "url": "u"}])
    twice = [span_item(16, 20, "LOCATION"), span_item(16, 20, "LOCATION")]
    thrice = [*twice, span_item(16, 20, "LOCATION"), span_item(0, 6, "ARMED_GROUP"), span_item(0, 6, "ARMED_GROUP")]

    def gold(gid: str, project: str, status: str, result: object) -> dict:
        return {"id": gid, "project_id": project, "task_id": 1, "annotation_id": int(gid[1:]), "status": status,
                "raw_result": json.dumps(result)}

    db["gold"].insert_all([
        gold("g1", "p1", "ok", twice + CHOICES),  # 1 copy
        gold("g2", "p1", "invalid", thrice),  # 2 + 1 copies
        gold("g3", "p1", "deleted", twice),  # not counted: deleted
        gold("g4", "p1", "ok", [span_item(16, 20, "LOCATION"), span_item(16, 20, "PERSON"),
                                span_item(16, 20, "LOCATION", field="sources"), "junk", 5]),  # none
        gold("g5", "p2", "ok", {"not": "a list"}),  # none
        gold("g6", "p2", "ok", [span_item(16, 20, "LOCATION"), span_item(16, 20, "LOCATION")]),  # 1 copy
    ])
    counts = {p["name"]: p["duplicate_spans"] for p in summary(db)["projects"]}
    assert counts == {"one": 4, "two": 1}
