"""A database of drafts made for Label Studio, and what the server and the gold hold afterwards.

DOCS are two documents (emoji, a headline); `responder` is a deterministic 'model' that marks
every known entity mention, one event type and the source, plus one invented span that grounding
drops. `drafted_db` runs the real annotate pipeline on them against the stub LLM.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from label_studio_sdk import LabelStudio

from annotator.annotate import annotate
from annotator.ingest import DocInput, ingest
from annotator.llm import LLMClient
from annotator.prompts import load_prompt
from annotator.store import open_db
from tests.support.drafting import SCHEMA
from tests.support.stub_llm import StubLLM

DOCS = [
    DocInput(
        text=("Drones strike Kharkiv\n\n"
              "🇺🇦 Ukrainian forces said Russian drones hit Kharkiv overnight. "
              "Officials in Kharkiv said two people were wounded in Kharkiv. "
              "The Russian defence ministry denied the attack."),
        origin="test:1", headline=True),
    DocInput(
        text=("Police in Lagos arrested 12 protesters on Monday. "
              "Witnesses said the police fired tear gas 😷 at the crowd."),
        origin="test:2"),
]

ENTITIES = {"Ukrainian forces": "ARMED_GROUP", "Russian drones": "WEAPON", "Kharkiv": "LOCATION",
            "Officials": "PERSON", "two people": "QUANTITY", "The Russian defence ministry": "ORG",
            "Police": "ARMED_GROUP", "police": "ARMED_GROUP", "Lagos": "LOCATION", "12 protesters": "QUANTITY",
            "Monday": "DATETIME", "tear gas": "WEAPON", "Witnesses": "PERSON", "overnight": "DATETIME"}


def responder(body: dict) -> dict:
    """A deterministic 'model': marks every known entity mention, one event type, the source."""
    sentence = body["messages"][-1]["content"].split("Sentence:", 1)[1].strip()
    entities = []
    for words, label in ENTITIES.items():
        entities += [{"text": words, "label": label} for _ in re.finditer(rf"\b{re.escape(words)}\b", sentence)]
    entities.append({"text": "an invented span", "label": "ORG"})  # dropped by grounding
    source = next((w for w in ("Ukrainian forces", "Officials", "Witnesses", "The Russian defence ministry")
                   if w in sentence), None)
    return {
        "entities": entities,
        "event_type": "explosion_remote_violence" if "drones" in sentence else "strategic_development",
        "attribution": "denied" if "denied" in sentence else "claimed" if source else "asserted",
        "sources": [{"text": source, "label": "SOURCE"}] if source else [],
    }


def make_drafts(db, model: str = "stub-model") -> None:
    """Run the real annotate pipeline against the stub LLM."""
    with StubLLM(responder=responder) as stub:
        client = LLMClient(base_url=stub.base_url, api_key="test", model=model, max_retries=0)
        report = annotate(db, client, SCHEMA, load_prompt(None, SCHEMA.name), concurrency=2)
    assert report.by_status == {"ok": report.done} and report.done > 0


def drafted_db(path: Path):
    """A database at `path` holding DOCS, every sentence drafted by the stub 'model'."""
    database = open_db(path)
    ingest(database, DOCS)
    make_drafts(database)
    return database


def project_name() -> str:
    """A project name no other test uses."""
    return f"test {uuid.uuid4().hex[:10]}"


def server_tasks(ls: LabelStudio, pid: int) -> list[dict]:
    """Every task of project `pid` on the server, as JSON."""
    return [t.model_dump(mode="json") for t in ls.tasks.list(project=pid, fields="all", page_size=100)]


def drafts_by_sentence(db, model: str = "stub-model") -> dict[str, dict]:
    return {d["sentence_id"]: d for d in db.query("SELECT * FROM drafts WHERE model = ?", [model])}


def gold_rows(db) -> dict[int, dict]:
    """The gold rows by Label Studio annotation id."""
    return {r["annotation_id"]: r for r in db.query("SELECT * FROM gold")}


def gold_by_sentence(db, sentence_id: str) -> list[dict]:
    return list(db.query("SELECT * FROM gold WHERE sentence_id = ?", [sentence_id]))
