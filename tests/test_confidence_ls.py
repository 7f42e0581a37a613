"""Confidence in Label Studio: each predicted region carries its own score, the prediction the whole draft's."""

from __future__ import annotations

import json
import math
import uuid

import pytest

from annotator.annotate import annotate
from annotator.ingest import DocInput, ingest
from annotator.labelstudio.api import open_client
from annotator.labelstudio.config import label_config, validate_config
from annotator.labelstudio.predictions import prediction_of
from annotator.labelstudio.push import push
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.schema import load_schema
from annotator.store import open_db
from tests.support.responders import news_responder
from tests.support.stub_llm import StubLLM

SCHEMA = load_schema("news_events")
TEXT = "Rebels shelled Port Selva on Monday, the army said. Kyiv 🇺🇦 denied it."


def drafted(tmp_path) -> tuple:
    db = open_db(tmp_path / "a.db")
    ingest(db, [DocInput(text=TEXT, origin="t")])
    with StubLLM(responder=news_responder) as stub:
        stub.logprobs = "send"
        stub.token_logprob = lambda token: -0.05 * len(token)
        client = LLMClient(base_url=stub.base_url, api_key="k", model="stub", max_retries=0)
        report = annotate(db, client, SCHEMA, load_prompt(None, SCHEMA.name))
    assert report.by_status == {"ok": 2}
    return db, {d["sentence_id"]: d for d in db.query("SELECT * FROM drafts")}


def expected_raw(draft: dict) -> tuple[dict, float]:
    """Each entity region's raw score, exp(its log-probability), and the draft's: the product of every part."""
    signals = json.loads(draft["signals"])
    regions = {(s["start"], s["end"], s["label"]): math.exp(s["logprob"]) for s in signals["spans"]["entities"]}
    sources = [math.exp(s["logprob"]) for s in signals["spans"]["sources"]]
    fields = [math.exp(f["logprob"]) for f in signals["fields"].values()]
    return regions, math.prod(regions.values()) * math.prod(sources) * math.prod(fields)


@pytest.mark.labelstudio
def test_label_studio_keeps_a_score_on_each_predicted_region(tmp_path, labelstudio):
    db, drafts = drafted(tmp_path)
    ls = open_client(labelstudio.url, labelstudio.token)
    report = push(db, ls, SCHEMA, f"scores {uuid.uuid4().hex[:8]}", url=labelstudio.url)
    assert report.invalid_predictions == [] and report.predictions_created == 2
    seen = 0
    for task in ls.tasks.list(project=report.ls_project_id, fields="all"):
        task = task.model_dump(mode="json")
        (prediction,) = task["predictions"]
        regions, draft_score = expected_raw(drafts[task["data"]["sentence_id"]])
        assert prediction["score"] == pytest.approx(round(draft_score, 4), abs=1e-4)
        shown = {(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]): r["score"]
                 for r in prediction["result"] if r["from_name"] == "entities"}
        assert shown.keys() == regions.keys()
        for key, score in shown.items():
            assert score == pytest.approx(round(regions[key], 4), abs=1e-4)
        seen += len(shown)
    assert seen >= 4  # Rebels, Port Selva, Monday; Kyiv (after the emoji's two code points: same offsets)


def test_a_calibration_scores_the_regions_and_the_prediction(tmp_path):
    db, drafts = drafted(tmp_path)
    interface = validate_config(label_config(SCHEMA))
    flat = {"signal": "logprob", "n": 40, "map": {"signal": "logprob", "xs": [0.0, 1.0], "ys": [0.8, 0.8], "n": 40}}
    maps = {"fields": {name: flat for name in ("entities", "event_type", "attribution", "sources")},
            "labels": {}, "draft": {"signal": "fields_product", "n": 40,
                                    "map": {"signal": "fields_product", "xs": [0.0, 1.0], "ys": [0.25, 0.75], "n": 40}}}
    for draft in drafts.values():
        text = next(db.query("SELECT text FROM sentences WHERE id = ?", [draft["sentence_id"]]))["text"]
        prediction, why = prediction_of(SCHEMA, interface, draft, text, maps=maps)
        assert why == ""
        spans = [r for r in prediction["result"] if r["from_name"] in ("entities", "sources")]
        assert spans and all(r["score"] == 0.8 for r in spans)
        n_spans = len(spans)
        product = 0.8 ** (n_spans + 2)  # every span and the two choices at 0.8
        assert prediction["score"] == round(0.25 + 0.5 * product, 4)
