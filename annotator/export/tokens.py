"""Character spans on spaCy tokens: strict alignment, counted misalignment, optional expansion.

The tokenizer is spaCy's English one (`spacy.blank("en")`, no model and nothing to
download). A span whose ends are not token boundaries is counted as misaligned; it
is left out, or with `expand` widened to the tokens it touches. Both spaCy and CoNLL
go through here, so they report the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..schema import Schema
from .report import ExportReport


def english_tokenizer(fmt: str) -> Any:
    """spaCy's blank English pipeline (tokenizer only)."""
    from .output import require

    return require("spacy", fmt).blank("en")


def span_field_names(schema: Schema) -> list[str]:
    """The schema's span fields, in schema order."""
    return [spec.name for spec in schema.span_fields()]


def align(doc: Any, spans: Sequence[dict], expand: bool, report: ExportReport) -> list[Any]:
    """spaCy Spans for `{start, end, label}` character spans of `doc`; misaligned ones counted in `report`."""
    out = []
    for s in spans:
        span = doc.char_span(s["start"], s["end"], label=s["label"], alignment_mode="strict")
        if span is None:
            report.misaligned += 1
            if expand:
                span = doc.char_span(s["start"], s["end"], label=s["label"], alignment_mode="expand")
                if span is not None and len(span):
                    report.expanded += 1
                    out.append(span)
                    continue
            report.dropped += 1
            continue
        out.append(span)
    return out


def aligned_fields(doc: Any, record: dict, fields: Sequence[str], expand: bool,
                   report: ExportReport) -> dict[str, list[Any]]:
    """Each span field's spans of a record, aligned on the doc's tokens."""
    return {name: align(doc, record[name], expand, report) for name in fields}


def overlapping_pairs(by_field: dict[str, list[Any]]) -> set[tuple[str, str]]:
    """Pairs of fields (a field with itself included) with spans sharing a token."""
    flat = sorted(((s.start, s.end, name) for name, spans in by_field.items() for s in spans))
    pairs = set()
    for i, (_, end, name) in enumerate(flat):
        for other_start, _, other in flat[i + 1:]:
            if other_start >= end:
                break
            pairs.add(tuple(sorted((name, other))))
    return pairs  # type: ignore[return-value]


def non_overlapping_fields(fields: Sequence[str], pairs: set[tuple[str, str]]) -> list[str]:
    """The span fields that can share doc.ents: in schema order, each never overlapping itself or those before."""
    chosen: list[str] = []
    for name in fields:
        if (name, name) in pairs:
            continue
        if all(tuple(sorted((name, other))) not in pairs for other in chosen):
            chosen.append(name)
    return chosen
