"""A gold database built row by row, so every figure can be checked by hand (export, eval, calibrate, route).

Two schemas: the default news_events, and `AllKinds` with every field kind. Offsets
are Python indices (code points): 🇺🇦 is two, 👨‍👩‍👧 is five (three people, two
zero-width joiners). export_files.py reads each export format back.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from annotator.schema import Schema, describe, load_schema
from annotator.store import dumps

NEWS = load_schema("news_events")

# --------------------------------------------------------------------------- a schema with every field kind


class Tag(BaseModel):
    text: str
    label: Literal["PLACE", "THING"]


class Mood(StrEnum):
    CALM = "calm"
    TENSE = "tense"


class Topic(StrEnum):
    WAR = "war"
    AID = "aid"
    TRADE = "trade"


class AllKinds(BaseModel):
    tags: list[Tag]
    mood: Mood
    topics: list[Topic]
    urgent: bool
    note: str
    casualties: int
    confidence: float
    level: Literal[1, 2, 3] | None = None


KINDS = Schema("all_kinds", AllKinds, describe(AllKinds))

# --------------------------------------------------------------------------- the texts

HEADLINE = "Strikes in the east"
S1 = "🇺🇦 Ukrainian forces said 👨‍👩‍👧 families fled Kharkiv."
S2 = "مرحبا שלום Officials in Odesa reported drones."
DOC1 = f"{HEADLINE}\r\n{S1}\r\n{S2}"
S3 = "The mayor said 3 people died in Kherson."
S4 = "Police denied the report."
DOC2 = f"{S3} {S4}"
K1 = "Aid trucks reached Mariupol 🚚 at dawn."
K2 = "שלום! Kharkiv 🏙️ was quiet."
KDOC = f"{K1}\r\n{K2}"


def add_document(db, doc_id: str, text: str, sentences: list[str], headline: bool = False) -> None:
    db["documents"].insert({"id": doc_id, "external_id": doc_id, "title": "", "source": "", "origin": "test",
                            "text": text, "created_at": "2024-01-01"})
    pos = 0
    for idx, sentence in enumerate(sentences):
        start = text.index(sentence, pos)
        pos = start + len(sentence)
        db["sentences"].insert({"id": f"{doc_id}-s{idx}", "document_id": doc_id, "idx": idx, "start": start,
                                "end": pos, "text": sentence, "is_headline": int(headline and idx == 0)})


def add_project(db, schema: Schema, project_id: str, name: str) -> None:
    db["projects"].insert({"id": project_id, "ls_id": len(project_id), "name": name, "url": "http://ls.test",
                           "schema_name": schema.name, "schema_hash": schema.hash, "label_config": "",
                           "model_version": f"m|v1|{schema.hash}", "created_at": "2024-01-01"})


def instance(schema: Schema, values: dict, spans: list[dict]) -> dict:
    """The validated instance dict of gold or a draft, span fields read from the spans."""
    built = dict(values)
    for spec in schema.span_fields():
        built[spec.name] = [{"text": s["text"], "label": s["label"]} for s in spans if s["field"] == spec.name]
    return schema.model.model_validate(built).model_dump(mode="json")


def spans_of(text: str, *items: tuple[str, str, int, int]) -> list[dict]:
    return [{"field": f, "label": label, "text": text[start:end], "start": start, "end": end}
            for f, label, start, end in items]


def add_gold(db, schema: Schema, project_id: str, sentence_id: str, task_id: int, annotation_id: int,
             annotator: str, values: dict, spans: list[dict], updated_at: str, *, ground_truth: int = 0,
             status: str = "ok", parent: int | None = None, schema_hash: str | None = None) -> None:
    db["gold"].insert({
        "id": f"g{annotation_id}", "project_id": project_id, "task_id": task_id, "sentence_id": sentence_id,
        "annotation_id": annotation_id, "annotator": annotator, "completed_by": annotation_id % 7,
        "status": status, "schema_name": schema.name, "schema_hash": schema_hash or schema.hash,
        "data": dumps(instance(schema, values, spans)), "spans": dumps(spans), "errors": "[]",
        "raw_result": "[]", "lead_time": 3.0, "ground_truth": ground_truth, "created_at": updated_at,
        "updated_at": updated_at, "parent_prediction": parent, "pulled_at": updated_at})


def add_draft(db, schema: Schema, draft_id: str, sentence_id: str, values: dict, spans: list[dict], created: str,
              *, model: str = "m", run_key: str = "") -> None:
    db["drafts"].insert({
        "id": draft_id, "sentence_id": sentence_id, "schema_name": schema.name, "schema_hash": schema.hash,
        "prompt_version": "v1", "model": model, "mode": "json_schema", "status": "ok",
        "data": dumps(instance(schema, values, spans)), "spans": dumps(spans), "created_at": created,
        "run_key": run_key})


def news_values(event: str, attribution: str) -> dict:
    return {"event_type": event, "attribution": attribution}


# Hand offsets: S1 🇺🇦 0-2, Ukrainian forces 3-19, 👨‍👩‍👧 25-30, Kharkiv 45-52; S2 Officials in Odesa 11-29,
# Odesa 24-29, "drone" 39-44 (inside the token "drones" 39-45); S3 The mayor 0-9, mayor 4-9, 3 people 15-23,
# Kherson 32-39; S4 Police 0-6.
S1_SPANS = spans_of(S1, ("entities", "LOCATION", 0, 2), ("entities", "ARMED_GROUP", 3, 19),
                    ("entities", "LOCATION", 45, 52), ("sources", "SOURCE", 3, 19))
S2_SPANS = spans_of(S2, ("entities", "LOCATION", 24, 29), ("entities", "WEAPON", 39, 44),
                    ("sources", "SOURCE", 11, 29))


def build_news(db) -> None:
    add_document(db, "d1", DOC1, [HEADLINE, S1, S2], headline=True)
    add_document(db, "d2", DOC2, [S3, S4])
    add_project(db, NEWS, "p1", "Conflict news")
    for task_id, sentence_id in ((11, "d1-s1"), (12, "d1-s2"), (13, "d2-s0"), (14, "d2-s1")):
        db["tasks"].insert({"project_id": "p1", "sentence_id": sentence_id, "task_id": task_id, "pushed_at": "x"})
    # Drafts: S1's was pushed as prediction 501; S2 has two of the shown set (the newer counts) and a newer
    # one of another model (not shown in the project).
    add_draft(db, NEWS, "draft-s1", "d1-s1", news_values("battle", "claimed"),
              spans_of(S1, ("entities", "ARMED_GROUP", 3, 19), ("entities", "LOCATION", 45, 52),
                       ("sources", "SOURCE", 3, 19)), "2024-04-01")
    db["predictions"].insert({"project_id": "p1", "draft_id": "draft-s1", "task_id": 11,
                              "model_version": f"m|v1|{NEWS.hash}", "pushed_at": "x", "ls_prediction_id": 501})
    add_draft(db, NEWS, "draft-s2-old", "d1-s2", news_values("none", "asserted"), [], "2024-04-01")
    add_draft(db, NEWS, "draft-s2-new", "d1-s2", news_values("explosion_remote_violence", "claimed"),
              spans_of(S2, ("entities", "LOCATION", 24, 29)), "2024-04-02", run_key="r2")
    add_draft(db, NEWS, "draft-s2-other", "d1-s2", news_values("riot", "claimed"), [], "2024-04-03",
              model="other-model")
    g = "p1"
    add_gold(db, NEWS, g, "d1-s1", 11, 101, "ana@x", news_values("violence_against_civilians", "claimed"),
             S1_SPANS, "2024-05-01T10:00", parent=501)
    add_gold(db, NEWS, g, "d1-s1", 11, 102, "ben@x", news_values("battle", "claimed"), [], "2024-05-02T10:00",
             status="skipped")
    add_gold(db, NEWS, g, "d1-s2", 12, 103, "ana@x", news_values("explosion_remote_violence", "claimed"),
             S2_SPANS, "2024-05-01T11:00")
    # S3: three annotators (ben's is marked ground truth, cy's is the newest).
    add_gold(db, NEWS, g, "d2-s0", 13, 104, "ana@x", news_values("violence_against_civilians", "claimed"),
             spans_of(S3, ("entities", "PERSON", 4, 9), ("entities", "QUANTITY", 15, 23),
                      ("entities", "LOCATION", 32, 39), ("sources", "SOURCE", 0, 9)), "2024-05-03T09:00")
    add_gold(db, NEWS, g, "d2-s0", 13, 105, "ben@x", news_values("battle", "claimed"),
             spans_of(S3, ("entities", "PERSON", 4, 9), ("entities", "LOCATION", 32, 39),
                      ("sources", "SOURCE", 0, 9)), "2024-05-03T10:00", ground_truth=1)
    add_gold(db, NEWS, g, "d2-s0", 13, 106, "cy@x", news_values("explosion_remote_violence", "asserted"),
             spans_of(S3, ("entities", "PERSON", 0, 9), ("entities", "LOCATION", 32, 39),
                      ("entities", "QUANTITY", 15, 23)), "2024-05-03T11:00")
    # S4: ana annotated twice (only her newest counts), ben once.
    add_gold(db, NEWS, g, "d2-s1", 14, 107, "ana@x", news_values("none", "asserted"),
             spans_of(S4, ("entities", "ORG", 0, 6)), "2024-05-04T09:00")
    add_gold(db, NEWS, g, "d2-s1", 14, 108, "ben@x", news_values("none", "asserted"),
             spans_of(S4, ("entities", "ARMED_GROUP", 0, 6)), "2024-05-04T10:00")
    add_gold(db, NEWS, g, "d2-s1", 14, 109, "ana@x", news_values("none", "denied"),
             spans_of(S4, ("entities", "ORG", 0, 6), ("sources", "SOURCE", 0, 6)), "2024-05-04T11:00")
    add_gold(db, NEWS, g, "d2-s1", 14, 110, "dee@x", news_values("none", "denied"), [], "2024-05-05T11:00",
             schema_hash="0ther5chema0")


K1_SPANS = spans_of(K1, ("tags", "THING", 0, 10), ("tags", "PLACE", 11, 27), ("tags", "PLACE", 19, 27))
K2_SPANS = spans_of(K2, ("tags", "PLACE", 6, 13))
K1_VALUES = {"mood": "tense", "topics": ["aid", "war"], "urgent": True, "note": "convoy\nseen", "casualties": 0,
             "confidence": 0.75, "level": 2}
K2_VALUES = {"mood": "calm", "topics": [], "urgent": False, "note": "", "casualties": 3, "confidence": 1.0,
             "level": None}


def build_kinds(db) -> None:
    add_document(db, "k", KDOC, [K1, K2])
    add_project(db, KINDS, "pk", "All kinds")
    for task_id, sentence_id in ((21, "k-s0"), (22, "k-s1")):
        db["tasks"].insert({"project_id": "pk", "sentence_id": sentence_id, "task_id": task_id, "pushed_at": "x"})
    add_gold(db, KINDS, "pk", "k-s0", 21, 201, "ana@x", K1_VALUES, K1_SPANS, "2024-06-01")
    add_gold(db, KINDS, "pk", "k-s1", 22, 202, "ana@x", K2_VALUES, K2_SPANS, "2024-06-01")
