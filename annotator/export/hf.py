"""Hugging Face `datasets`: the records as a typed Dataset, saved with `save_to_disk`.

Features follow the schema's field kinds:

- spans: `Sequence({"start": int64, "end": int64, "label": string, "text": string})`,
  which datasets stores (and gives back) as a dict of four lists;
- one choice: `ClassLabel(names=LABELS)` (None when empty or tied);
- several choices: `Sequence(ClassLabel(names=LABELS))`;
- bool: `bool`; free text: `string`; number: `int64` or `float64`;
- relations: a list of structs, each end `{"start", "end", "label", "text"}` under its
  role's name and the relation's label as a string.

Read back with `datasets.load_from_disk(PATH)`; `features[FIELD].int2str(i)` gives
a choice's label. Drafts, when included, are a list of structs with the same
field features under `values`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from ..kinds import (
    BOOL,
    CHOICE,
    CHOICES,
    NUMBER,
    REGION_KINDS,
    RELATIONS,
    SPANS,
    TEXT,
    FieldSpec,
    label_str,
)
from ..schema import Schema
from .output import replacing_dir, require
from .report import ExportReport, Records

CHUNK = 5000


def field_feature(ds: Any, spec: FieldSpec) -> Any:
    """The datasets feature of one schema field."""
    if spec.kind == SPANS:
        return ds.Sequence({"start": ds.Value("int64"), "end": ds.Value("int64"), "label": ds.Value("string"),
                            "text": ds.Value("string")})
    if spec.kind == RELATIONS:
        end = {"start": ds.Value("int64"), "end": ds.Value("int64"), "label": ds.Value("string"),
               "text": ds.Value("string")}
        return [{**{role: end for role in spec.relation.roles}, spec.relation.label_field: ds.Value("string")}]
    if spec.kind == CHOICE:
        return ds.ClassLabel(names=list(spec.labels))
    if spec.kind == CHOICES:
        return ds.Sequence(ds.ClassLabel(names=list(spec.labels)))
    if spec.kind == BOOL:
        return ds.Value("bool")
    if spec.kind == NUMBER:
        return ds.Value("int64" if spec.integer else "float64")
    if spec.kind == TEXT:
        return ds.Value("string")
    raise ValueError(f"field {spec.name!r}: kind {spec.kind!r} has no datasets feature")


def _provenance(ds: Any, specs: tuple[FieldSpec, ...], include_drafts: bool, include_accepted: bool = False) -> dict:
    out = {"annotators": ds.Sequence(ds.Value("string")), "annotation_ids": ds.Sequence(ds.Value("int64")),
           "ground_truth": ds.Value("bool"), "gold_rule": ds.Value("string"), "ties": ds.Sequence(ds.Value("string")),
           "draft_ids": ds.Sequence(ds.Value("string"))}
    if include_drafts:
        out["drafts"] = [{"id": ds.Value("string"), "model": ds.Value("string"),
                          "prompt_version": ds.Value("string"), "schema_hash": ds.Value("string"),
                          "values": {spec.name: field_feature(ds, spec) for spec in specs}}]
    if include_accepted:
        out["source"] = ds.Value("string")
    return out


def features(ds: Any, schema: Schema, level: str, include_drafts: bool, include_accepted: bool = False) -> Any:
    """The Features of the records of `level` (see `records.py` for their shape)."""
    string, int64 = ds.Value("string"), ds.Value("int64")
    fields = {spec.name: field_feature(ds, spec) for spec in schema.fields}
    if level == "sentence":
        return ds.Features({"project": string, "task_id": int64, "sentence_id": string, "document_id": string,
                            "idx": int64, "text": string, **fields,
                            **_provenance(ds, schema.fields, include_drafts, include_accepted),
                            "schema_hash": string})
    spans = {name: f for name, f in fields.items() if schema.field(name).kind in REGION_KINDS}
    others = {name: f for name, f in fields.items() if name not in spans}
    sentence = {"sentence_id": string, "idx": int64, "start": int64, "end": int64, "task_id": int64, **others,
                **_provenance(ds, schema.fields, include_drafts, include_accepted)}
    return ds.Features({"project": string, "document_id": string, "text": string, **spans,
                        "schema_hash": string, "sentences": [sentence]})


def encode_value(spec: FieldSpec, value: Any) -> Any:
    """A record's field value in the form datasets encodes."""
    if spec.kind == SPANS:
        return {key: [s[key] for s in value or []] for key in ("start", "end", "label", "text")}
    if value is None:
        return [] if spec.kind in (CHOICES, RELATIONS) else None
    if spec.kind == CHOICE:
        return label_str(value)
    if spec.kind == CHOICES:
        return [label_str(v) for v in value]
    return value


def _encode_fields(schema: Schema, record: dict) -> dict:
    out = dict(record)
    for spec in schema.fields:
        if spec.name in record:
            out[spec.name] = encode_value(spec, record[spec.name])
    if "drafts" in record:
        out["drafts"] = [{**d, "values": _encode_fields(schema, d["values"])} for d in record["drafts"]]
    return out


def encode_record(schema: Schema, record: dict) -> dict:
    """A record (sentence or document) in the form datasets encodes."""
    out = _encode_fields(schema, record)
    if "sentences" in record:
        out["sentences"] = [_encode_fields(schema, entry) for entry in record["sentences"]]
    return out


def write_hf(records: Records, out: Path, schema: Schema, level: str, include_drafts: bool,
             report: ExportReport, include_accepted: bool = False) -> None:
    """Write the records as a datasets Dataset folder at `out`."""
    ds = require("datasets", "hf")
    typed = features(ds, schema, level, include_drafts, include_accepted)
    rows = (encode_record(schema, r) for r in records(report, "Collecting records"))
    # Arrow tables of a few thousand rows each: the Python dicts of only one chunk are alive at a time.
    parts = []
    while chunk := list(itertools.islice(rows, CHUNK)):
        parts.append(ds.Dataset.from_list(chunk, features=typed))
    dataset = ds.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    bars_were_on = not ds.utils.are_progress_bars_disabled()
    ds.disable_progress_bars()  # our own bar is on screen
    try:
        with replacing_dir(out) as tmp:
            dataset.save_to_disk(str(tmp))
    finally:
        if bars_were_on:
            ds.enable_progress_bars()
