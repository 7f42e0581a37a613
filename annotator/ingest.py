"""Split documents into sentences with offsets and store both (reading the inputs is `readers.py`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import nupunkt
import sqlite_utils

from .boilerplate import BUILTIN_CLASSIFIER, Classifier, mark_sentences
from .readers import DocInput, Problem, read_inputs
from .store import content_id, now

__all__ = ["DocInput", "IngestReport", "Problem", "ingest", "read_inputs", "split_sentences"]

MAX_SENTENCE_CHARS = 3000
"""Longer sentences refuse their document: such a line is data, not prose, and would cost a huge prompt."""
# Paragraph breaks: a blank line, or a line break right after sentence-final punctuation
# (wire copy often has one paragraph per line; hard-wrapped lines mid-sentence stay joined).
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*|(?<=[.!?\"'”’:])[ \t]*\n\s*")


@dataclass
class IngestReport:
    """What an ingest run did."""

    documents_new: int = 0
    documents_seen: int = 0
    sentences_new: int = 0
    boilerplate_new: int = 0
    """New sentences marked as boilerplate."""
    boilerplate_remarked: int = 0
    """Stored sentences whose mark the user's patterns changed."""
    problems: list[Problem] = field(default_factory=list)


def split_sentences(text: str, headline: bool = False) -> list[tuple[int, int]]:
    """(start, end) of every sentence in `text`, trimmed of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    pos = 0
    if headline:
        end = text.find("\n")
        end = len(text) if end < 0 else end
        spans.append((0, len(text[:end].rstrip())))
        pos = end
    paragraphs = []
    for m in _PARAGRAPH_BREAK.finditer(text, pos):
        paragraphs.append((pos, m.start()))
        pos = m.end()
    paragraphs.append((pos, len(text)))
    for p_start, p_end in paragraphs:
        chunk = text[p_start:p_end]
        if not chunk.strip():
            continue
        for _, (s, e) in nupunkt.sent_spans_with_text(chunk):
            piece = chunk[s:e]
            stripped = piece.strip()
            if not stripped:
                continue
            lead = len(piece) - len(piece.lstrip())
            start = p_start + s + lead
            spans.append((start, start + len(stripped)))
    return spans


def too_long(spans: list[tuple[int, int]], limit: int) -> str | None:
    """Why a document's sentences cannot be drafted (one over `limit` characters), or None."""
    for i, (start, end) in enumerate(spans, 1):
        if end - start > limit:
            return (f"sentence {i} has {end - start:,} characters, over the limit of {limit:,}; split the text "
                    f"into sentences, or pass --max-sentence-chars {end - start} to take it whole")
    return None


def ingest(db: sqlite_utils.Database, docs: Iterable[DocInput | Problem],
           progress: Callable[[], None] | None = None, max_sentence_chars: int = MAX_SENTENCE_CHARS,
           boilerplate: Classifier = BUILTIN_CLASSIFIER) -> IngestReport:
    """Store documents and their sentences; content-hash ids make a re-run add nothing.

    Every new sentence is marked by `boilerplate`; when it carries the user's own
    patterns, the sentences already stored are marked again by it as well.
    """
    report = IngestReport()
    if boilerplate.custom:
        with db.atomic():
            report.boilerplate_remarked = mark_sentences(db, boilerplate)
    for item in docs:
        if progress:
            progress()
        if isinstance(item, Problem):
            report.problems.append(item)
            continue
        report.documents_seen += 1
        doc_id = content_id("document", item.text)
        if db["documents"].count_where("id = ?", [doc_id]):
            continue
        spans = split_sentences(item.text, item.headline)
        problem = too_long(spans, max_sentence_chars)
        if problem:
            report.problems.append(Problem(item.where or item.origin, problem))
            continue
        sentences = [
            {"id": content_id("sentence", doc_id, s, e), "document_id": doc_id, "idx": i, "start": s,
             "end": e, "text": item.text[s:e], "is_headline": int(item.headline and i == 0),
             "boilerplate": int(boilerplate(item.text[s:e]))}
            for i, (s, e) in enumerate(spans)
        ]
        with db.atomic():
            db["documents"].insert(
                {"id": doc_id, "external_id": item.external_id, "title": item.title, "source": item.source,
                 "origin": item.origin, "text": item.text, "created_at": now()},
                ignore=True,
            )
            db["sentences"].insert_all(sentences, ignore=True)
        report.documents_new += 1
        report.sentences_new += len(sentences)
        report.boilerplate_new += sum(s["boilerplate"] for s in sentences)
    return report
