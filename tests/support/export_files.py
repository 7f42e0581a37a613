"""Each export format read back into plain records: JSONL, spaCy's DocBin (with spaCy), a CoNLL parser of our
own, and datasets rows."""

from __future__ import annotations

import json
from pathlib import Path

from annotator.schema import Schema


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_sentence(records: list[dict]) -> dict[str, dict]:
    return {r["sentence_id"]: r for r in records}


def span(start: int, end: int, label: str, text: str) -> dict:
    return {"start": start, "end": end, "label": label, "text": text}


def spacy_docs(path: Path) -> list:
    import spacy
    from spacy.tokens import DocBin

    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def char_spans(spans) -> list[tuple[int, int, str]]:
    return [(s.start_char, s.end_char, s.label_) for s in spans]


def read_conll(path: Path) -> tuple[int, list[tuple[list[str], list[list[str]]]]]:
    """(number of -DOCSTART- lines, sentences as (tokens, tag columns))."""
    docstarts, sentences = 0, []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        rows = [line.split(" ") for line in block.split("\n") if line]
        if not rows:
            continue
        if rows[0][0] == "-DOCSTART-":
            docstarts += 1
            continue
        assert all(row[1:3] == ["-X-", "_"] for row in rows)
        sentences.append(([row[0] for row in rows], [list(col) for col in zip(*(row[3:] for row in rows), strict=True)]))
    return docstarts, sentences


def token_offsets(text: str, tokens: list[str]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for token in tokens:
        start = text.index(token, pos)
        out.append((start, start + len(token)))
        pos = start + len(token)
    return out


def iob2_spans(tags: list[str], offsets: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Character spans of one IOB2 column; an I- tag must continue a span of its label."""
    spans: list[list] = []
    previous = "O"
    for tag, (start, end) in zip(tags, offsets, strict=True):
        if tag.startswith("B-"):
            spans.append([start, end, tag[2:]])
        elif tag.startswith("I-"):
            assert previous != "O" and spans[-1][2] == tag[2:], f"{tag} does not continue a span"
            spans[-1][1] = end
        else:
            assert tag == "O", tag
        previous = tag
    return [tuple(s) for s in spans]


def decoded_row(schema: Schema, features, row: dict) -> dict:
    """A datasets row back in the record form (span lists, choice labels as the schema's values)."""
    out = dict(row)
    for spec in schema.fields:
        if spec.name not in row:
            continue
        value = row[spec.name]
        if spec.kind == "spans":
            out[spec.name] = [dict(zip(("start", "end", "label", "text"), parts, strict=True))
                              for parts in zip(value["start"], value["end"], value["label"], value["text"],
                                               strict=True)]
        elif spec.kind == "choice" and value is not None:
            out[spec.name] = spec.raw(features[spec.name].int2str(value))
        elif spec.kind == "choices":
            out[spec.name] = [spec.raw(features[spec.name].feature.int2str(v)) for v in value]
    if "drafts" in row:
        drafts = features["drafts"]  # a list of structs: `List` in datasets 4+, a Python list before
        inner = drafts.feature if hasattr(drafts, "feature") else drafts[0]
        out["drafts"] = [{**d, "values": decoded_row(schema, inner["values"], d["values"])} for d in row["drafts"]]
    return out
