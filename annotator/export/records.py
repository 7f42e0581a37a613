"""Export records: the gold of a sentence, or of a document, as plain JSON-ready dicts.

Pure. Every format is written from these records, so the fields, ids and offsets
are the same in each.

A sentence record (`--level sentence`):

    {"project", "task_id", "sentence_id", "document_id", "idx", "text",
     <every schema field>, "annotators", "annotation_ids", "ground_truth", "gold_rule",
     "ties", "draft_ids", ["drafts"], "schema_hash"}

Span fields hold `[{"start", "end", "label", "text"}]` with offsets into `text`;
relation fields hold one record per relation, each end with its offsets and the
relation's label, e.g. `{"source": {"start", "end", "label", "text"}, "content":
{...}, "stance": "claims"}` (`kinds/relations.py`); other fields hold the value as pydantic dumps it (None for a majority tie, named in
`ties`). `annotators`, `annotation_ids` and `draft_ids` run in parallel: one entry
per annotation the gold comes from (`draft_ids` has None where no draft is known);
`gold_rule` says which rule decided the task's gold ("ground-truth", "majority" or
"latest", `annotator.gold`).
With accepted drafts included (`export --include-accepted`), every record (every
sentence entry of a document record) has `source`: "person", or "model" for a
draft `push --route` accepted (annotator `model:...`, annotation id None).
With drafts included, `drafts` holds each distinct draft as `{"id", "model",
"prompt_version", "schema_hash", "values": {<every schema field>}}`.

A document record (`--level document`) has the document's full `text`, every span
and relation field with offsets shifted into it (so `text[start:end] == span text`), and the
annotated sentences in order with their other fields:

    {"project", "document_id", "text", <span fields>, "schema_hash",
     "sentences": [{"sentence_id", "idx", "start", "end", "task_id", <other fields>,
                    "annotators", ...}]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..gold import Chosen, annotator_of
from ..kinds import REGION_KINDS, RELATIONS, SPANS, FieldSpec
from ..kinds.relations import records_of, shifted
from ..schema import Schema

RESERVED = frozenset({
    "project", "task_id", "sentence_id", "document_id", "idx", "text", "start", "end", "annotators",
    "annotation_ids", "ground_truth", "gold_rule", "ties", "draft_ids", "drafts", "schema_hash", "sentences",
})
"""Record keys of the export itself; a schema field may not share them."""


@dataclass(frozen=True)
class SentenceGold:
    """One task's gold with its sentence (offsets `start`/`end` into the document) and drafts."""

    project: str
    task_id: int
    sentence_id: str
    document_id: str
    idx: int
    text: str
    start: int
    end: int
    chosen: Chosen
    draft_ids: list[str | None]
    drafts: list[dict] = field(default_factory=list)
    """Distinct drafts (`id`, `model`, `prompt_version`, `schema_hash`, decoded `data` and `spans`), if asked."""
    source: str | None = None
    """With accepted drafts included: "person" or "model" (a draft accepted by `push --route`), else None."""


def check_field_names(schema: Schema, include_accepted: bool = False) -> None:
    """Refuse a schema whose field names are record keys of the export (`source` too with accepted drafts)."""
    reserved = RESERVED | {"source"} if include_accepted else RESERVED
    clash = sorted(spec.name for spec in schema.fields if spec.name in reserved)
    if clash:
        raise InputError(f"schema {schema.name}: field(s) {', '.join(clash)} have the name of an export column "
                         f"({', '.join(sorted(reserved))}); rename them in the schema")


def field_values(specs: Sequence[FieldSpec], values: dict, spans: Sequence[dict], shift: int = 0) -> dict:
    """Each field's value; span fields as `[{start, end, label, text}]` with offsets moved by `shift`."""
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.kind == SPANS:
            out[spec.name] = [{"start": s["start"] + shift, "end": s["end"] + shift, "label": str(s["label"]),
                               "text": s["text"]} for s in spans if s["field"] == spec.name]
        elif spec.kind == RELATIONS:
            out[spec.name] = [shifted(r, shift) for r in records_of(spec, values.get(spec.name), spans)]
        else:
            out[spec.name] = values.get(spec.name)
    return out


def _draft_entry(specs: Sequence[FieldSpec], draft: dict, shift: int) -> dict:
    return {"id": draft["id"], "model": draft["model"], "prompt_version": draft["prompt_version"],
            "schema_hash": draft["schema_hash"], "values": field_values(specs, draft["data"], draft["spans"], shift)}


def _provenance(schema: Schema, gold: SentenceGold, include_drafts: bool, shift: int) -> dict:
    rows = gold.chosen.rows
    out: dict[str, Any] = {"annotators": [annotator_of(r) for r in rows],
                           "annotation_ids": [r["annotation_id"] for r in rows],
                           "ground_truth": gold.chosen.ground_truth, "gold_rule": gold.chosen.rule,
                           "ties": list(gold.chosen.ties),
                           "draft_ids": list(gold.draft_ids)}
    if include_drafts:
        out["drafts"] = [_draft_entry(schema.fields, d, shift) for d in gold.drafts]
    if gold.source is not None:
        out["source"] = gold.source
    return out


def sentence_record(schema: Schema, gold: SentenceGold, include_drafts: bool) -> dict:
    """The record of one sentence (see the module docstring)."""
    return {"project": gold.project, "task_id": gold.task_id, "sentence_id": gold.sentence_id,
            "document_id": gold.document_id, "idx": gold.idx, "text": gold.text,
            **field_values(schema.fields, gold.chosen.values, gold.chosen.spans),
            **_provenance(schema, gold, include_drafts, 0), "schema_hash": schema.hash}


def document_record(schema: Schema, document_text: str, sentences: Sequence[SentenceGold],
                    include_drafts: bool) -> dict:
    """The record of one document from its annotated sentences (in order, of one project)."""
    first = sentences[0]
    span_specs = [spec for spec in schema.fields if spec.kind == SPANS]
    relation_specs = [spec for spec in schema.fields if spec.kind == RELATIONS]
    other_specs = [spec for spec in schema.fields if spec.kind not in REGION_KINDS]
    relations: dict[str, list[dict]] = {spec.name: [] for spec in relation_specs}
    spans: list[dict] = []
    entries = []
    for gold in sentences:
        if document_text[gold.start:gold.end] != gold.text:
            raise InputError(f"sentence {gold.sentence_id} is not the text of document {gold.document_id} at "
                             f"[{gold.start}:{gold.end}]; re-ingest the document, or export with --level sentence")
        spans += [{**s, "start": s["start"] + gold.start, "end": s["end"] + gold.start} for s in gold.chosen.spans]
        for name, found in field_values(relation_specs, gold.chosen.values, gold.chosen.spans, gold.start).items():
            relations[name] += found
        entries.append({"sentence_id": gold.sentence_id, "idx": gold.idx, "start": gold.start, "end": gold.end,
                        "task_id": gold.task_id, **field_values(other_specs, gold.chosen.values, []),
                        **_provenance(schema, gold, include_drafts, gold.start)})
    return {"project": first.project, "document_id": first.document_id, "text": document_text,
            **field_values(span_specs, {}, spans), **relations, "schema_hash": schema.hash, "sentences": entries}
