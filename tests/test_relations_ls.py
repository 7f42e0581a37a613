"""Claims through a real Label Studio: drafted by the stub LLM, pushed, accepted, pulled, evaluated, exported.

The opposing-claims sentence is drafted with two claims (and a third whose content
is not in the sentence, which grounding drops); the prediction is accepted as it is,
and the gold pulled back must be the draft, field for field and offset for offset.
A user schema with a relation field of its own takes the same road.
"""

from __future__ import annotations

import json
import uuid

import pytest

from annotator.evaluate.compare import evaluate
from annotator.evaluate.load import eval_pairs
from annotator.export import export
from annotator.labelstudio.api import open_client
from annotator.labelstudio.pull import pull
from annotator.labelstudio.push import push
from annotator.schema import load_schema
from tests.support.claims import (
    KYIV_CLAIM,
    MOSCOW_CLAIM,
    OTHER,
    SENTENCE,
    USER_SCHEMA,
    V2,
    claims_responder,
)
from tests.support.drafting import drafted_texts

pytestmark = pytest.mark.labelstudio

def accept_and_pull(db, ls, schema, name, url):
    """Push, accept every prediction as it is (an annotation made from it), pull; the server's tasks."""
    report = push(db, ls, schema, name, url=url)
    assert report.invalid_predictions == [] and report.predictions_created == report.tasks_created
    tasks = [t.model_dump(mode="json") for t in ls.tasks.list(project=report.ls_project_id, fields="all")]
    for task in tasks:
        prediction = task["predictions"][0]
        ls.annotations.create(id=task["id"], result=prediction["result"], parent_prediction=prediction["id"])
    pulled = pull(db, ls, schema, name, url=url)
    assert pulled.inserted == len(tasks)
    return tasks


@pytest.fixture(scope="module")
def ls(labelstudio):
    return open_client(labelstudio.url, labelstudio.token)


def test_two_opposing_claims_round_trip_to_identical_gold_then_eval_and_export(tmp_path, ls, labelstudio):
    db = drafted_texts(tmp_path, V2, claims_responder, [SENTENCE])
    (draft,) = db.query("SELECT * FROM drafts")
    assert draft["n_dropped"] == 1 and json.loads(draft["dropped_spans"])[0]["content"] == "no border was crossed"
    tasks = accept_and_pull(db, ls, V2, f"claims {uuid.uuid4().hex[:8]}", labelstudio.url)
    result = tasks[0]["predictions"][0]["result"]
    relations = [r for r in result if r["type"] == "relation"]
    assert [(r["from_id"], r["to_id"], r["labels"]) for r in relations] == [
        ("claims-0", "claims-1", ["claims"]), ("claims-2", "claims-3", ["claims"])]
    (gold,) = db.query("SELECT * FROM gold")
    assert gold["status"] == "ok" and gold["errors"] is None
    assert json.loads(gold["data"]) == json.loads(draft["data"])
    assert json.loads(gold["spans"]) == json.loads(draft["spans"])

    (group,) = evaluate(V2.fields, eval_pairs(db, V2))["groups"]
    assert group["fields"]["claims"]["exact"] == {"tp": 2, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0,
                                                  "f1": 1.0}
    assert group["effort"]["unchanged"] == 1
    export(db, V2, "jsonl", tmp_path / "gold.jsonl")
    (record,) = [json.loads(line) for line in (tmp_path / "gold.jsonl").read_text().splitlines()]
    assert record["claims"] == [KYIV_CLAIM, MOSCOW_CLAIM]


def test_a_user_schema_with_its_own_relation_field_goes_through_label_studio(tmp_path, ls, labelstudio):
    path = tmp_path / "causality.py"
    path.write_text(USER_SCHEMA)
    schema = load_schema(str(path))

    def responder(body: dict) -> dict:
        return {"links": [{"cause": "Shelling", "effect": "a fire", "how": "causes"},
                          {"cause": "a fire", "effect": "the market", "how": "causes"}], "topic": "war"}

    db = drafted_texts(tmp_path, schema, responder, [OTHER])
    (draft,) = db.query("SELECT * FROM drafts")
    accept_and_pull(db, ls, schema, f"links {uuid.uuid4().hex[:8]}", labelstudio.url)
    (gold,) = db.query("SELECT * FROM gold")
    assert gold["status"] == "ok"
    # "a fire" is one region, the effect of one link and the cause of the next.
    assert json.loads(gold["data"]) == json.loads(draft["data"]) == {
        "links": [{"cause": "Shelling", "effect": "a fire", "how": "causes"},
                  {"cause": "a fire", "effect": "the market", "how": "causes"}], "topic": "war"}
    assert json.loads(gold["spans"]) == json.loads(draft["spans"])
