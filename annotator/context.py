"""The context of a sentence, by one rule: the document's headline and the sentences around it.

The prompt and the Label Studio task both show it, so both take it from here. The
pure core (`context_of`) works on a document's sentences as plain rows; the edge
(`DocumentSentences`) reads them from SQLite, one query per document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlite_utils

BEFORE = 3
"""Sentences shown before the one to annotate (the headline is shown on its own)."""
AFTER = 0
"""Sentences shown after the one to annotate."""


@dataclass(frozen=True)
class Line:
    """A sentence of a document, as the context needs it."""

    idx: int
    text: str
    is_headline: bool = False


@dataclass(frozen=True)
class Context:
    """What surrounds a sentence: its document's headline (None for the headline itself) and neighbours."""

    headline: str | None = None
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


def context_of(lines: Sequence[Line], idx: int, before: int = BEFORE, after: int = AFTER) -> Context:
    """The context of sentence `idx` among `lines` (one document's sentences, in order, by idx).

    The headline is never counted among the neighbours; a sentence that is the
    headline has no headline of its own.
    """
    by_idx = {line.idx: line for line in lines}
    me = by_idx.get(idx)
    head = next((line for line in lines if line.is_headline), None)
    headline = head.text if head is not None and (me is None or not me.is_headline) else None
    earlier = [by_idx[i] for i in range(max(0, idx - before), idx) if i in by_idx]
    later = [by_idx[i] for i in range(idx + 1, idx + 1 + after) if i in by_idx]
    return Context(headline, [s.text for s in earlier if not s.is_headline],
                   [s.text for s in later if not s.is_headline])


class DocumentSentences:
    """Reads a document's sentences once and keeps the latest document (pending work comes in order)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._doc: str | None = None
        self._lines: list[Line] = []

    def lines(self, document_id: str) -> list[Line]:
        """The document's sentences, in order."""
        if document_id != self._doc:
            self._lines = [Line(r["idx"], r["text"], bool(r["is_headline"])) for r in self.db.query(
                "SELECT idx, text, is_headline FROM sentences WHERE document_id = ? ORDER BY idx", [document_id])]
            self._doc = document_id
        return self._lines

    def context(self, document_id: str, idx: int, before: int = BEFORE, after: int = AFTER) -> Context:
        """The context of sentence `idx` of the document."""
        return context_of(self.lines(document_id), idx, before, after)
