"""spaCy's binary training format: one `DocBin` file of tokenized docs.

Span fields whose spans never overlap (themselves, or the span fields already
chosen, in schema order) go to `doc.ents`; the others to `doc.spans[FIELD]`. The
choice is made over the whole export in a first pass, so every doc has the same
layout. Choice, bool and several-choice fields go to `doc.cats`, one-hot, keyed
`FIELD:LABEL` (a field left empty, e.g. a majority tie, has no keys). A relation
field's ends go to the span group `doc.spans[FIELD]` (each distinct end once) and
its relations, as the records hold them (each end with its character offsets and
label, and the relation's label), to `doc.user_data[FIELD]`. Everything
else of the record (ids, annotators, ties, free text and number fields, drafts)
is kept in `doc.user_data`, so nothing of the gold is lost. At document level the
cats of each sentence are in `doc.user_data["sentences"][i]["cats"]`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..kinds import BOOL, CHOICE, CHOICES, FieldSpec, label_str
from ..kinds.relations import ends_of
from ..schema import Schema
from .output import binary_file, require
from .report import ExportReport, Records
from .tokens import (
    align,
    aligned_fields,
    english_tokenizer,
    non_overlapping_fields,
    overlapping_pairs,
    span_field_names,
)

CATEGORY_KINDS = (CHOICE, BOOL, CHOICES)
TOKEN_ATTRS = ("ORTH", "NORM", "ENT_IOB", "ENT_TYPE")
"""What the DocBin keeps of each token: the tokenizer's output and the entities (not the default
thirteen attributes, which a blank pipeline leaves empty; four times less memory)."""


def cats_of(specs: tuple[FieldSpec, ...], values: dict) -> dict[str, float]:
    """One-hot categories `FIELD:LABEL` for the choice fields of one sentence."""
    cats: dict[str, float] = {}
    for spec in specs:
        if spec.kind not in CATEGORY_KINDS or values.get(spec.name) is None:
            continue
        value = values[spec.name]
        if spec.kind == BOOL:
            given = {"true" if value else "false"}
        elif spec.kind == CHOICES:
            given = {label_str(v) for v in value}
        else:
            given = {label_str(value)}
        cats.update({cat_key(spec.name, label): float(label in given) for label in spec.labels})
    return cats


@functools.cache
def cat_key(name: str, label: str) -> str:
    """`FIELD:LABEL`, one string object per key however many docs use it (a DocBin keeps every cats dict)."""
    return f"{name}:{label}"


def user_data_of(record: dict, span_fields: list[str]) -> dict:
    """The record without its text and spans (those are the doc itself)."""
    return {k: v for k, v in record.items() if k != "text" and k not in span_fields}


def _ents_fields(nlp: Any, records: Records, fields: list[str], expand: bool) -> list[str]:
    """First pass: the span fields that never overlap once aligned."""
    scratch, pairs = ExportReport(), set()
    for record in records(scratch, "Checking span overlaps"):
        pairs |= overlapping_pairs(aligned_fields(nlp.make_doc(record["text"]), record, fields, expand, scratch))
    return non_overlapping_fields(fields, pairs)


def make_doc(nlp: Any, schema: Schema, record: dict, level: str, ents_fields: list[str], expand: bool,
             report: ExportReport) -> Any:
    """The spaCy Doc of one record."""
    fields = span_field_names(schema)
    doc = nlp.make_doc(record["text"])
    by_field = aligned_fields(doc, record, fields, expand, report)
    doc.ents = sorted((s for name in ents_fields for s in by_field[name]), key=lambda s: s.start)
    for name in fields:
        if name not in ents_fields:
            doc.spans[name] = by_field[name]
    for spec in schema.relation_fields():  # the relations themselves stay in user_data
        doc.spans[spec.name] = align(doc, ends_of(spec, record[spec.name]), expand, report)
    doc.user_data.update(user_data_of(record, fields))
    if level == "sentence":
        doc.cats = cats_of(schema.fields, record)
    else:
        doc.user_data["sentences"] = [{**entry, "cats": cats_of(schema.fields, entry)}
                                      for entry in record["sentences"]]
    return doc


def write_spacy(records: Records, out: Path, schema: Schema, level: str, expand: bool,
                report: ExportReport) -> None:
    """Write the records to a DocBin file at `out`."""
    require("spacy", "spacy")
    from spacy.tokens import DocBin

    nlp = english_tokenizer("spacy")
    fields = span_field_names(schema)
    ents = _ents_fields(nlp, records, fields, expand) if fields else []
    report.ents_fields = ents
    report.spans_fields = [f for f in fields if f not in ents] + [s.name for s in schema.relation_fields()]
    doc_bin, add = _doc_bin(DocBin)
    for record in records(report, "Writing spaCy docs"):
        add(make_doc(nlp, schema, record, level, ents, expand, report))
    doc_bin.store_user_data = True
    data = doc_bin.to_bytes()
    with binary_file(out) as fh:
        fh.write(data)


def _doc_bin(doc_bin_class: Any) -> tuple[Any, Callable[[Any], None]]:
    """A DocBin keeping user data, and its `add`, with the user data packed by one msgpack Packer.

    `DocBin.add` packs each doc's user data with `srsly.msgpack_dumps`, which looks
    its encoders up in the installed packages' metadata on every call: about a
    millisecond a doc, most of the export. One Packer gives the same bytes.
    """
    import srsly

    doc_bin = doc_bin_class(attrs=TOKEN_ATTRS, store_user_data=False)
    if not isinstance(getattr(doc_bin, "user_data", None), list):  # another spaCy: its own way
        doc_bin.store_user_data = True
        return doc_bin, doc_bin.add
    packer = srsly.msgpack.Packer(use_bin_type=True)

    def add(doc: Any) -> None:
        doc_bin.add(doc)
        doc_bin.user_data.append(packer.pack(doc.user_data))

    return doc_bin, add
