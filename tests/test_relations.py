"""Relations between spans (claims: a source, what it claims, the stance), fast and without Label Studio.

The sentence and its two opposing claims are in tests/support/claims.py, every figure worked out by hand
from its offsets.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from annotator.annotate import annotate
from annotator.errors import InputError
from annotator.evaluate.agreement import Annotation, agreement
from annotator.evaluate.compare import evaluate, headline_figure
from annotator.evaluate.html import render
from annotator.export import export
from annotator.ingest import DocInput, ingest
from annotator.kinds import RELATIONS
from annotator.kinds.relations import ground_relation_fields, records_of, rows_of
from annotator.labelstudio.config import config_fields, label_config
from annotator.labelstudio.convert import draft_to_result, result_to_gold
from annotator.labelstudio.page import instructions_html
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.claims import (
    BROKEN,
    DRAFT,
    FOILED,
    KYIV,
    KYIV_CLAIM,
    MOSCOW_CLAIM,
    SENTENCE,
    TWO_CLAIMS,
    USER_SCHEMA,
    V2,
    claim,
    drafted,
    pair,
)
from tests.support.export_files import read_jsonl
from tests.support.gold_db import add_document, add_gold, add_project
from tests.support.stub_llm import StubLLM


@pytest.fixture(scope="module")
def user_schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "causality.py"
    path.write_text(USER_SCHEMA)
    return load_schema(str(path))


def test_the_claims_field_is_a_relation_field_and_the_llm_sees_plain_words():
    claims = V2.field("claims")
    assert claims.kind == RELATIONS and V2.relation_fields() == [claims]
    assert claims.labels == ("SOURCE", "CLAIM")
    assert claims.relation.ends == (("source", "SOURCE"), ("content", "CLAIM"))
    assert (claims.relation.label_field, claims.relation.labels) == ("stance", ("claims", "denies"))
    item = V2.llm_json_schema()["properties"]["claims"]["items"]
    assert item["required"] == ["source", "content", "stance"] and item["additionalProperties"] is False
    assert item["properties"]["source"] == {
        "description": "Who makes the claim: the source's exact words, copied from the sentence.", "type": "string"}
    assert item["properties"]["stance"]["enum"] == ["claims", "denies"]
    assert "span_label" not in json.dumps(V2.llm_json_schema())
    assert [s.name for s in V2.span_fields()] == ["entities"]


def test_a_user_schema_with_its_own_relation_field_needs_no_code(user_schema):
    links = user_schema.field("links")
    assert links.kind == RELATIONS and links.labels == ("EVENT",)  # both ends carry the same label
    assert links.relation.roles == ("cause", "effect") and links.relation.labels == ("causes", "prevents")
    assert user_schema.field("topic").kind == "choice"


def test_a_model_with_one_marked_end_is_no_kind_and_the_error_names_relations(tmp_path):
    path = tmp_path / "half.py"
    path.write_text(USER_SCHEMA.replace('effect: str = Field(description="The event caused.", '
                                        'json_schema_extra={"span_label": "EVENT"})', "effect: str"))
    with pytest.raises(InputError, match=r"field 'links' .* relations \(list of a model with two str ends"):
        load_schema(str(path))


def test_grounding_places_both_ends_and_drops_a_relation_with_an_end_outside_the_sentence():
    data = {"claims": [*TWO_CLAIMS, {"source": "Kyiv", "content": "the attack never happened", "stance": "denies"}]}
    spans, dropped = ground_relation_fields(V2.fields, data, SENTENCE)
    # Canonical order: by the ends' offsets, so the Kyiv fighters' claim (source at 0) comes first.
    assert data["claims"] == [{"source": KYIV, "content": BROKEN, "stance": "claims"},
                              {"source": "Moscow", "content": FOILED, "stance": "claims"}]
    assert dropped == [{"field": "claims", "source": "Kyiv", "content": "the attack never happened",
                        "stance": "denies"}]
    assert [(s["start"], s["end"], s["label"], s["relation"], s["role"]) for s in spans] == [
        (0, 37, "SOURCE", 0, "source"), (48, 85, "CLAIM", 0, "content"),
        (93, 99, "SOURCE", 1, "source"), (105, 171, "CLAIM", 1, "content")]
    assert all(SENTENCE[s["start"]:s["end"]] == s["text"] for s in spans)
    assert records_of(V2.field("claims"), data["claims"], spans) == [KYIV_CLAIM, MOSCOW_CLAIM]


def test_grounding_takes_the_sentences_words_and_keeps_a_repeated_relation_once():
    spec = V2.field("claims")
    data = {"claims": [{"source": "moscow", "content": f"“{FOILED}.”", "stance": "claims"},
                       {"source": "Moscow", "content": FOILED, "stance": "claims"},
                       {"source": "Moscow", "content": BROKEN, "stance": "denies"}]}
    spans, dropped = ground_relation_fields(V2.fields, data, SENTENCE)
    assert dropped == []
    assert data["claims"] == [{"source": "Moscow", "content": BROKEN, "stance": "denies"},
                              {"source": "Moscow", "content": FOILED, "stance": "claims"}]
    # One source, two relations: the same mention each time.
    assert {(s["start"], s["end"]) for s in spans if s["role"] == "source"} == {(93, 99)}
    items, again = rows_of(spec, records_of(spec, data["claims"], spans))
    assert (items, again) == (data["claims"], spans)


def test_an_end_that_also_occurs_inside_the_other_end_takes_the_occurrence_outside_it(user_schema):
    sentence = "Reports of panic spread, and the panic caused a stampede."
    data = {"links": [{"cause": "panic", "effect": "Reports of panic spread", "how": "causes"}], "topic": "war"}
    spans, _ = ground_relation_fields(user_schema.fields, data, sentence)
    # "panic" at 11 lies inside the effect [0:23]: the cause is the second "panic", at 33.
    assert [(s["start"], s["end"], s["role"]) for s in spans] == [(33, 38, "cause"), (0, 23, "effect")]


def invented_claim_responder(body: dict) -> dict:
    """A 'model' that finds both claims of SENTENCE and invents a third whose content is not in it."""
    return {"entities": [{"text": "Moscow", "label": "LOCATION"}], "event_type": "battle",
            "claims": [*TWO_CLAIMS, {"source": "Moscow", "content": "no border was crossed", "stance": "denies"}]}


def test_a_draft_keeps_the_grounded_claims_and_counts_the_dropped_one(tmp_path):
    db = open_db(tmp_path / "a.db")
    ingest(db, [DocInput(text=SENTENCE, origin="test:claims")])
    with StubLLM(responder=invented_claim_responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="test", model="stub", max_retries=0)
        report = annotate(db, client, V2, load_prompt(None, V2.name), concurrency=1)
    assert report.by_status == {"ok": 1} and report.dropped_spans == 1
    (draft,) = db.query("SELECT * FROM drafts")
    assert draft["n_dropped"] == 1
    assert json.loads(draft["dropped_spans"]) == [{"field": "claims", "source": "Moscow",
                                                   "content": "no border was crossed", "stance": "denies"}]
    data, spans = json.loads(draft["data"]), json.loads(draft["spans"])
    assert data["claims"] == [{"source": KYIV, "content": BROKEN, "stance": "claims"},
                              {"source": "Moscow", "content": FOILED, "stance": "claims"}]
    assert records_of(V2.field("claims"), data["claims"], spans) == [KYIV_CLAIM, MOSCOW_CLAIM]
    assert [(s["field"], s["start"]) for s in spans if s["field"] == "entities"] == [("entities", 93)]


# --------------------------------------------------------------------------- Label Studio config and results


def test_the_config_has_the_ends_as_labels_and_the_stances_as_relations():
    root = ET.fromstring(label_config(V2))
    claims = next(e for e in root.iter("Labels") if e.get("name") == "claims")
    assert [(label.get("alias"), label.get("value")) for label in claims] == [("SOURCE", "Source"), ("CLAIM", "Claim")]
    (relations,) = root.iter("Relations")
    assert [r.get("value") for r in relations] == ["claims", "denies"]
    assert config_fields(label_config(V2))["<Relations>"] == ("relations", (), ("claims", "denies"), False)
    assert "Relations" not in label_config(load_schema("news_events"))


def test_a_draft_with_two_claims_becomes_four_regions_and_two_relations_and_comes_back_identical():
    data, spans = drafted(DRAFT)
    result = draft_to_result(V2, SENTENCE, data, spans)
    regions = {r["id"]: (r["value"]["start"], r["value"]["end"], r["value"]["labels"]) for r in result
               if r.get("from_name") == "claims"}
    assert regions == {"claims-0": (0, 37, ["SOURCE"]), "claims-1": (48, 85, ["CLAIM"]),
                       "claims-2": (93, 99, ["SOURCE"]), "claims-3": (105, 171, ["CLAIM"])}
    assert [r for r in result if r["type"] == "relation"] == [
        {"from_id": "claims-0", "to_id": "claims-1", "type": "relation", "direction": "right", "labels": ["claims"]},
        {"from_id": "claims-2", "to_id": "claims-3", "type": "relation", "direction": "right", "labels": ["claims"]}]
    gold, gold_spans, errors = result_to_gold(V2, SENTENCE, result)
    assert errors == [] and gold == data and gold_spans == spans


def region(rid: str, start: int, stop: int, label: str, field: str = "claims") -> dict:
    return {"id": rid, "from_name": field, "to_name": "text", "type": "labels",
            "value": {"start": start, "end": stop, "text": SENTENCE[start:stop], "labels": [label]}}


def link(a: str, b: str, *labels: str, direction: str = "right") -> dict:
    return {"from_id": a, "to_id": b, "type": "relation", "direction": direction, "labels": list(labels)}


BASE = [{"id": "e", "from_name": "event_type", "to_name": "text", "type": "choices", "value": {"choices": ["battle"]}},
        region("m", 93, 99, "SOURCE"), region("f", 105, 171, "CLAIM"), region("b", 48, 85, "CLAIM")]


def test_gold_reads_each_end_by_its_label_whichever_way_the_arrow_was_drawn():
    # Moscow claims the foiling and denies the break-in, the second arrow drawn from the claim back to Moscow.
    gold, spans, errors = result_to_gold(V2, SENTENCE, [*BASE, link("m", "f", "claims"),
                                                        link("b", "m", "denies", direction="left")])
    assert errors == []
    assert gold["claims"] == [{"source": "Moscow", "content": BROKEN, "stance": "denies"},
                              {"source": "Moscow", "content": FOILED, "stance": "claims"}]
    assert [(s["start"], s["relation"], s["role"]) for s in spans] == [
        (93, 0, "source"), (48, 0, "content"), (93, 1, "source"), (105, 1, "content")]


def test_what_does_not_fit_a_relation_is_an_error_never_dropped_silently(user_schema):
    cases = [
        ([*BASE, link("m", "f"), link("m", "b", "denies")], "has label(s) []; choose one of ['claims', 'denies']"),
        ([*BASE, link("m", "f", "claims", "denies"), link("m", "b", "denies")], "has label(s) ['claims', 'denies']"),
        ([*BASE, link("f", "b", "claims"), link("m", "b", "denies")], "it links CLAIM to CLAIM; a relation of claims "
                                                                      "links SOURCE to CLAIM"),
        ([*BASE, link("m", "f", "claims")], "CLAIM 'they had broken into the Kursk region' is in no relation"),
        ([*BASE, link("m", "f", "claims"), link("m", "x", "denies")], "links a region that is not in the annotation"),
        ([*BASE, region("e1", 93, 99, "LOCATION", "entities"), link("e1", "f", "claims"), link("m", "b", "claims")],
         "it links regions of claims and entities"),
    ]
    for result, message in cases:
        _, _, errors = result_to_gold(V2, SENTENCE, result)
        assert any(message in e for e in errors), (message, errors)
    _, _, errors = result_to_gold(load_schema("news_events"), SENTENCE, [link("m", "f", "claims")])
    assert errors[0] == "result item 0: relations are not part of schema news_events"


def test_a_user_relation_with_one_label_on_both_ends_follows_the_arrow(user_schema):
    sentence = "The shelling caused a fire that destroyed the market."
    result = [{"id": "t", "from_name": "topic", "to_name": "text", "type": "choices", "value": {"choices": ["war"]}},
              {"id": "a", "from_name": "links", "to_name": "text", "type": "labels",
               "value": {"start": 4, "end": 12, "labels": ["EVENT"]}},
              {"id": "b", "from_name": "links", "to_name": "text", "type": "labels",
               "value": {"start": 22, "end": 26, "labels": ["EVENT"]}},
              link("b", "a", "causes", direction="left")]
    gold, spans, errors = result_to_gold(user_schema, sentence, result)
    assert errors == [] and gold == {"links": [{"cause": "shelling", "effect": "fire", "how": "causes"}],
                                     "topic": "war"}
    again = draft_to_result(user_schema, sentence, gold, spans)
    assert [r for r in again if r["type"] == "relation"] == [link("links-0", "links-1", "causes")]


# --------------------------------------------------------------------------- evaluation


def test_eval_scores_relations_by_both_ends_and_the_label():
    pairs = [pair([claim(KYIV, BROKEN), claim("Moscow", FOILED)], [claim("Moscow", FOILED), claim(KYIV, BROKEN)]),
             # One right; the stance of Moscow -> BROKEN wrong; the fighters' claim missed.
             pair([claim("Moscow", FOILED), claim("Moscow", BROKEN)],
                  [claim("Moscow", FOILED), claim("Moscow", BROKEN, "denies"), claim(KYIV, BROKEN)])]
    (group,) = evaluate(V2.fields, pairs)["groups"]
    claims = group["fields"]["claims"]
    assert claims["kind"] == "relations"
    # exact: TP 2 + 1, FP 0 + 1, FN 0 + 2 -> P 3/4, R 3/5, F1 6/9
    assert claims["exact"] == {"tp": 3, "fp": 1, "fn": 2, "precision": 0.75, "recall": 0.6,
                               "f1": pytest.approx(2 / 3)}
    # ends only: Moscow -> BROKEN now matches: TP 4, FP 0, FN 1
    assert claims["unlabelled"] == {"tp": 4, "fp": 0, "fn": 1, "precision": 1.0, "recall": 0.8,
                                    "f1": pytest.approx(8 / 9)}
    assert claims["per_label"]["claims"] == {"tp": 3, "fp": 1, "fn": 1, "precision": 0.75, "recall": 0.75,
                                             "f1": 0.75}
    assert claims["per_label"]["denies"] == {"tp": 0, "fp": 0, "fn": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert headline_figure(claims) == pytest.approx(2 / 3)
    assert group["effort"]["unchanged"] == 1  # the first annotation kept the draft as it was
    page = render({"groups": [group]}, "eval", "claims")
    assert "unlabelled" in page and "denies" in page


# --------------------------------------------------------------------------- export

HEADLINE = "Fighters enter Kursk"
DOCUMENT = f"{HEADLINE}\n{SENTENCE}"
SHIFT = len(HEADLINE) + 1  # the sentence starts at 21 in the document


@pytest.fixture
def gold_db(tmp_path):
    db = open_db(tmp_path / "gold.db")
    add_document(db, "k", DOCUMENT, [HEADLINE, SENTENCE], headline=True)
    add_project(db, V2, "p2", "Claims")
    db["tasks"].insert({"project_id": "p2", "sentence_id": "k-s1", "task_id": 31, "pushed_at": "x"})
    both, _ = drafted({**DRAFT, "claims": TWO_CLAIMS})
    only_moscow, _ = drafted({**DRAFT, "claims": [claim("Moscow", FOILED, "denies")]})
    for annotation_id, who, data in ((301, "ana@x", both), (302, "ben@x", only_moscow), (303, "cy@x", both)):
        values, spans = drafted(data)
        add_gold(db, V2, "p2", "k-s1", 31, annotation_id, who, {"event_type": "battle", "claims": values["claims"]},
                 spans, f"2024-07-0{annotation_id - 300}")
    return db


def shift(record: dict, by: int) -> dict:
    return {k: {**v, "start": v["start"] + by, "end": v["end"] + by} if isinstance(v, dict) else v
            for k, v in record.items()}


def test_jsonl_has_each_claim_with_both_ends_at_sentence_and_document_level(gold_db, tmp_path):
    export(gold_db, V2, "jsonl", tmp_path / "s.jsonl", gold="majority")
    (record,) = read_jsonl(tmp_path / "s.jsonl")
    # Two of three annotators gave both claims; ben's lone denial is one vote of three.
    assert record["claims"] == [KYIV_CLAIM, MOSCOW_CLAIM] and record["annotators"] == ["ana@x", "ben@x", "cy@x"]
    export(gold_db, V2, "jsonl", tmp_path / "b.jsonl")  # latest: cy's
    assert read_jsonl(tmp_path / "b.jsonl")[0]["claims"] == [KYIV_CLAIM, MOSCOW_CLAIM]
    export(gold_db, V2, "jsonl", tmp_path / "d.jsonl", level="document")
    (doc,) = read_jsonl(tmp_path / "d.jsonl")
    assert doc["claims"] == [shift(KYIV_CLAIM, SHIFT), shift(MOSCOW_CLAIM, SHIFT)]
    assert all(DOCUMENT[e["start"]:e["end"]] == e["text"] for r in doc["claims"] for e in (r["source"], r["content"]))
    assert "claims" not in doc["sentences"][0] and doc["entities"] == [
        {"start": 93 + SHIFT, "end": 99 + SHIFT, "label": "LOCATION", "text": "Moscow"}]


def test_spacy_keeps_the_ends_as_a_span_group_and_the_claims_in_user_data(gold_db, tmp_path):
    spacy = pytest.importorskip("spacy")
    from spacy.tokens import DocBin

    export(gold_db, V2, "spacy", tmp_path / "g.spacy")
    (doc,) = DocBin().from_disk(tmp_path / "g.spacy").get_docs(spacy.blank("en").vocab)
    assert [(s.start_char, s.end_char, s.label_) for s in doc.spans["claims"]] == [
        (0, 37, "SOURCE"), (48, 85, "CLAIM"), (93, 99, "SOURCE"), (105, 171, "CLAIM")]
    assert list(doc.user_data["claims"]) == [KYIV_CLAIM, MOSCOW_CLAIM]  # msgpack gives a tuple back
    assert [(e.text, e.label_) for e in doc.ents] == [("Moscow", "LOCATION")]


def test_labelstudio_export_writes_the_relations_back(gold_db, tmp_path):
    export(gold_db, V2, "labelstudio", tmp_path / "t.json")
    (task,) = json.loads((tmp_path / "t.json").read_text())
    result = task["annotations"][0]["result"]
    assert [r["labels"] for r in result if r["type"] == "relation"] == [["claims"], ["claims"]]
    gold, _, errors = result_to_gold(V2, SENTENCE, result)
    assert errors == [] and gold["claims"] == [claim(KYIV, BROKEN), claim("Moscow", FOILED)]


def test_hf_dataset_gives_the_claims_back(gold_db, tmp_path):
    datasets = pytest.importorskip("datasets")
    export(gold_db, V2, "hf", tmp_path / "hf")
    (row,) = datasets.load_from_disk(str(tmp_path / "hf"))
    assert row["claims"] == [KYIV_CLAIM, MOSCOW_CLAIM]


def test_the_v2_prompt_is_the_schemas_default_and_its_examples_hold_opposing_claims_in_their_own_words():
    prompt = load_prompt(None, V2.name)
    assert prompt.version == "news_events_v2.v1"
    messages = prompt.messages(V2, SENTENCE)
    assert "  - source: Who makes the claim" in messages[0]["content"]
    assert "    - denies: The source denies" in messages[0]["content"]
    examples = list(zip(messages[1:-1:2], messages[2:-1:2], strict=True))
    stances = []
    for user, assistant in examples:
        sentence = user["content"].split("Sentence: ", 1)[1]
        answer = V2.model.model_validate_json(assistant["content"]).model_dump(mode="json")
        assert all(e["text"] in sentence for e in answer["entities"])
        assert all(c["source"] in sentence and c["content"] in sentence for c in answer["claims"])
        stances.append([(c["source"], c["stance"]) for c in answer["claims"]])
    assert stances == [[("Rebels", "claims"), ("the defence ministry", "denies")], [],
                       [("Local officials", "claims"), ("the army", "claims")]]


def test_the_instructions_say_how_to_link_the_ends_and_list_the_stances():
    page = instructions_html(V2)
    claims = page[page.index("<h3>Claims</h3>"):page.index("<h3>Event type</h3>")]
    assert "<b>Create Relation</b>" in claims and "Each relation runs Source → Claim." in claims
    assert "<td><b>denies</b></td><td>The source denies, rejects or disputes" in claims
    assert "<td><kbd>9</kbd></td><td><b>Source</b></td>" in claims  # the ends' labels keep their hotkeys


def test_agreement_on_claims_matches_relations_by_their_ends_offsets_and_stance():
    spec = V2.field("claims")

    def answer(task: int, who: str, records: list[dict]) -> Annotation:
        items, spans = rows_of(spec, records)
        return Annotation(task, who, {"event_type": "battle", "attribution": "claimed", "claims": items}, spans)

    moscow_denies = {**MOSCOW_CLAIM, "stance": "denies"}
    report = agreement(V2.fields, [answer(1, "a", [KYIV_CLAIM, MOSCOW_CLAIM]), answer(1, "b", [KYIV_CLAIM, moscow_denies]),
                                   answer(2, "a", [KYIV_CLAIM]), answer(2, "b", [])])
    claims = report["fields"]["claims"]
    # b against a. Task 1: Kyiv's claim matches, Moscow's differs in stance only (tp 1, fp 1, fn 1);
    # task 2: a's claim is missed (fn 1). Exact: tp 1, fp 1, fn 2 -> 2/(2+1+2).
    assert claims["kind"] == "relations" and claims["f1_exact"] == pytest.approx(0.4)
    # Both ends alone: task 1 tp 2, task 2 fn 1 -> 4/(4+0+1).
    assert claims["f1_unlabelled"] == pytest.approx(0.8) and claims["pairs"]["a|b"]["f1_exact"] == pytest.approx(0.4)
    # "claims": tp 1, fn 1 + 1 -> 2/(2+2); "denies": b's one is not a's (fp 1) -> 0.
    assert claims["per_label"] == {"claims": {"f1_exact": 0.5}, "denies": {"f1_exact": 0.0}}
    # Only claims differ: task 2 disagrees fully on 1 field of n, task 1 on half of one (1 - 2*1/(2+2)).
    n = len(V2.fields)
    assert report["disagreements"] == [{"task_id": 2, "disagreement": pytest.approx(1 / n)},
                                       {"task_id": 1, "disagreement": pytest.approx(0.5 / n)}]
