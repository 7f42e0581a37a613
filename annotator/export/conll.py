"""CoNLL-2003-style IOB2 text: one token per line, a blank line after each sentence.

Each document starts with a `-DOCSTART-` line and a blank line. A token line is

    TOKEN -X- _ TAG [TAG ...]

with one IOB2 tag column per span field, in schema order (`B-LABEL`, `I-LABEL`,
`O`; whitespace inside a label becomes `_`). Tokens are spaCy's English tokenizer's;
whitespace tokens are not written. CoNLL is sentence by sentence at either level.
A span whose ends are not token boundaries is counted and left out (or widened with
expand); a span that overlaps an earlier one of the same field cannot be tagged and
is counted as overlapping. Choice, text and number fields have no place in CoNLL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..schema import Schema
from .output import text_file
from .report import ExportReport, Records
from .tokens import aligned_fields, english_tokenizer, span_field_names

DOCSTART = "-DOCSTART-"


def tag_label(label: str) -> str:
    """A label as it can stand in a whitespace-separated column."""
    return re.sub(r"\s", "_", label)


def iob2_tags(doc: Any, spans: Sequence[Any], report: ExportReport) -> list[str]:
    """One IOB2 tag per token of `doc` for one field's aligned spans (earliest, then longest, first)."""
    tags = ["O"] * len(doc)
    taken = [False] * len(doc)
    for span in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        words = [i for i in range(span.start, span.end) if not doc[i].is_space]
        if not words:
            report.dropped += 1
            continue
        if any(taken[span.start:span.end]):
            report.overlapping += 1
            report.dropped += 1
            continue
        taken[span.start:span.end] = [True] * (span.end - span.start)
        label = tag_label(span.label_)
        tags[words[0]] = f"B-{label}"
        for i in words[1:]:
            tags[i] = f"I-{label}"
    return tags


def sentence_lines(doc: Any, columns: Sequence[list[str]]) -> list[str]:
    """The token lines of one sentence."""
    return [" ".join((token.text, "-X-", "_", *(tags[token.i] for tags in columns)))
            for token in doc if not token.is_space]


def write_conll(records: Records, out: Path, schema: Schema, expand: bool, report: ExportReport) -> None:
    """Write sentence records as CoNLL to `out`."""
    fields = span_field_names(schema)
    if not fields:
        raise InputError(f"schema {schema.name} has no span fields, and CoNLL holds only token tags; "
                         "use --format jsonl, hf or spacy")
    nlp = english_tokenizer("conll")
    docstart = " ".join((DOCSTART, "-X-", "-X-", *["O"] * len(fields)))
    previous = None
    with text_file(out) as fh:
        for record in records(report, "Writing CoNLL"):
            document = (record["project"], record["document_id"])
            if document != previous:
                fh.write(f"{docstart}\n\n")
                previous = document
            doc = nlp.make_doc(record["text"])
            by_field = aligned_fields(doc, record, fields, expand, report)
            columns = [iob2_tags(doc, by_field[name], report) for name in fields]
            lines = sentence_lines(doc, columns)
            if lines:
                fh.write("\n".join(lines) + "\n\n")
