"""The context of a sentence, by one rule: the document's headline and the sentences around it.

The prompt and the Label Studio task both show it, so both take it from here. The
pure core (`context_of`) works on a document's sentences as plain rows; the edge
(`DocumentSentences`) reads them from SQLite, one query per document. The window
(sentences before and after) is a setting: flag, then `ANNOTATOR_CONTEXT_BEFORE` /
`ANNOTATOR_CONTEXT_AFTER`, then 3 before and 1 after (`window`). Wire copy splits
quotes over sentences and credits them at the end ('..., it added.'): the sentence
after is often the one that names the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlite_utils

from .errors import InputError
from .settings import env, first

BEFORE = 3
"""Sentences shown before the one to annotate (the headline is shown on its own)."""
AFTER = 1
"""Sentences shown after the one to annotate."""
ENV_BEFORE = "ANNOTATOR_CONTEXT_BEFORE"
ENV_AFTER = "ANNOTATOR_CONTEXT_AFTER"
MAX_WINDOW = 20
"""The most sentences shown on one side (a longer context only costs tokens)."""


@dataclass(frozen=True)
class Window:
    """How many sentences the context shows before and after the sentence."""

    before: int = BEFORE
    after: int = AFTER


def _size(flag: int | None, name: str, default: int) -> int:
    raw = first(None if flag is None else str(flag), env(name), str(default))
    try:
        value = int(raw)  # type: ignore[arg-type]
    except ValueError:
        raise InputError(f"{name}={raw!r} is not a number of sentences; set it to 0-{MAX_WINDOW}") from None
    if not 0 <= value <= MAX_WINDOW:
        raise InputError(f"a context window of {value} sentences is out of range; use 0-{MAX_WINDOW} "
                         f"(--context-before/--context-after or {name})")
    return value


def window(before: int | None = None, after: int | None = None) -> Window:
    """The context window: flags, then ANNOTATOR_CONTEXT_BEFORE / ANNOTATOR_CONTEXT_AFTER, then 3 and 1."""
    return Window(_size(before, ENV_BEFORE, BEFORE), _size(after, ENV_AFTER, AFTER))


@dataclass(frozen=True)
class Line:
    """A sentence of a document, as the context needs it."""

    idx: int
    text: str
    is_headline: bool = False
    is_boilerplate: bool = False


@dataclass(frozen=True)
class Context:
    """What surrounds a sentence: its document's headline (None for the headline itself) and neighbours."""

    headline: str | None = None
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


def context_of(lines: Sequence[Line], idx: int, before: int = BEFORE, after: int = AFTER) -> Context:
    """The context of sentence `idx` among `lines` (one document's sentences, in order, by idx).

    The neighbours are the nearest `before` and `after` body sentences: the headline
    (shown on its own) and boilerplate (copyright lines, bylines) are never among
    them. A sentence that is the headline has no headline of its own.
    """
    me = next((line for line in lines if line.idx == idx), None)
    head = next((line for line in lines if line.is_headline), None)
    headline = head.text if head is not None and (me is None or not me.is_headline) else None
    body = [line for line in lines if not line.is_headline and not line.is_boilerplate]
    earlier = [line.text for line in body if line.idx < idx][-before:] if before > 0 else []
    later = [line.text for line in body if line.idx > idx][:after] if after > 0 else []
    return Context(headline, earlier, later)


class DocumentSentences:
    """Reads a document's sentences once and keeps the latest document (pending work comes in order)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._doc: str | None = None
        self._lines: list[Line] = []

    def lines(self, document_id: str) -> list[Line]:
        """The document's sentences, in order."""
        if document_id != self._doc:
            self._lines = [Line(r["idx"], r["text"], bool(r["is_headline"]), bool(r["boilerplate"]))
                           for r in self.db.query("SELECT idx, text, is_headline, boilerplate FROM sentences "
                                                  "WHERE document_id = ? ORDER BY idx", [document_id])]
            self._doc = document_id
        return self._lines

    def context(self, document_id: str, idx: int, before: int = BEFORE, after: int = AFTER) -> Context:
        """The context of sentence `idx` of the document."""
        return context_of(self.lines(document_id), idx, before, after)

    def around(self, document_id: str, idx: int, size: Window) -> Context:
        """The context of sentence `idx` of the document, in the window `size`."""
        return context_of(self.lines(document_id), idx, size.before, size.after)
