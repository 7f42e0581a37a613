"""Boilerplate sentences: copyright lines, "All rights reserved", bylines, datelines and agency credits.

They stay in `sentences` (offsets and context keep working) but carry
`boilerplate = 1`, and are neither drafted nor pushed unless asked for. The pure core
is `Classifier` (built-in wire forms plus the user's own patterns); the edge marks
sentences in SQLite (`mark_sentences`, and `BACKFILLS` for a database from before the mark).

A pattern is a Python regular expression matched against the **whole** sentence
(surrounding whitespace ignored), case-insensitively for the user's patterns: a
sentence that merely starts with a dateline ("KYIV, March 3 (AFP) -- Russian forces
...") is news, not boilerplate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from .errors import InputError
from .settings import env, first

ENV_PATTERNS = "ANNOTATOR_BOILERPLATE_PATTERNS"
"""A file of the user's own patterns, when no --boilerplate-patterns flag is given."""

_AGENCY = (r"AFP|AP|Reuters|Agence France[- ]Presse|(?:The )?Associated Press|Xinhua|dpa|ANSA|EFE|UPI|TASS|"
           r"RIA Novosti|Interfax|Anadolu(?: Agency)?|Kyodo|Yonhap|PTI|Bernama|Bloomberg|Wire")
_NAME = r"[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3}"
_WORDS = r"[\w.'’-]+(?:\s+[\w.'’-]+){0,3}"
_DASH = r"[-–—]+"

BUILTIN: tuple[tuple[str, str, int], ...] = (
    # (what it is, pattern, re flags)
    ("copyright sign", r"(?:copyright\s*)?(?:©.{0,120}|\(c\)\s*(?:19|20)\d\d\b.{0,100})", re.IGNORECASE),
    ("copyright with a year", r"copyright\b.{0,80}\b(?:19|20)\d\d\b.{0,80}", re.IGNORECASE),
    ("all rights reserved", r"all rights reserved\.?", re.IGNORECASE),
    ("no redistribution", r"this material may not be published, broadcast, rewritten,? or redistributed.{0,60}",
     re.IGNORECASE),
    ("byline", rf"(?:By|BY)\s+{_NAME}(?:\s*(?:,|and|&)\s*{_NAME})*(?:\s*(?:,|\||/|{_DASH}|in)\s*"
               rf"(?:{_AGENCY}|{_NAME}))?\.?", 0),
    ("byline", rf"BY\s+[A-Z .'’-]{{2,60}}(?:[,|/]?\s*(?:{_AGENCY}))?", 0),
    ("reporting credit", r"\(?(?:additional\s+)?(?:reporting|writing|editing|compiled|compiling|research)\s+by\s+"
                         r".{1,200}", re.IGNORECASE),
    ("dateline", rf"{_NAME}(?:,\s*{_WORDS}){{0,2}}\s*\((?:{_AGENCY})\)\s*(?:{_DASH}|:)?", 0),
    ("dateline", rf"[A-Z][A-Z.'’-]+(?:\s+[A-Z][A-Z.'’-]+){{0,3}}(?:,\s*{_WORDS}){{0,2}}\s*(?:{_DASH}|:)", 0),
    ("agency credit", rf"[-–—(\s]*(?:{_AGENCY})\)?\.?", 0),
    ("agency slug", r"(?:[a-z]{1,5}-)?[a-z]{1,5}(?:/[a-z]{1,5}){1,4}", 0),
    ("photo credit", r"\(?photo(?:graph)?s?\s*(?:by\b|:|credit\b).{0,120}", re.IGNORECASE),
)
"""The usual wire forms. Each must match a whole sentence."""


@dataclass(frozen=True)
class Classifier:
    """Says whether a sentence is boilerplate: a built-in wire form or one of the user's patterns."""

    patterns: tuple[re.Pattern[str], ...]
    custom: bool = False
    """Whether the user gave patterns of their own (a file, even an empty one): stored sentences follow them."""

    @classmethod
    def with_patterns(cls, extra: Sequence[str] | None = None, where: str = "pattern") -> Classifier:
        """The built-in forms plus `extra` regular expressions (case-insensitive); InputError names a bad one."""
        compiled = [re.compile(pattern, flags) for _, pattern, flags in BUILTIN]
        for n, pattern in enumerate(extra or (), 1):
            try:
                compiled.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                raise InputError(f"{where} {n}: {pattern!r} is not a regular expression ({exc}); fix or remove "
                                 "it") from None
        return cls(tuple(compiled), extra is not None)

    def __call__(self, text: str) -> bool:
        stripped = " ".join(text.split())
        return bool(stripped) and any(p.fullmatch(stripped) for p in self.patterns)


BUILTIN_CLASSIFIER = Classifier.with_patterns()


def read_patterns(text: str) -> list[str]:
    """Patterns from a file's text: one a line; blank lines and lines starting with # are skipped."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def classifier(path: str | None = None) -> Classifier:
    """The built-in forms plus the patterns in `path` (flag, then ANNOTATOR_BOILERPLATE_PATTERNS), if any."""
    chosen = first(path, env(ENV_PATTERNS))
    if chosen is None:
        return BUILTIN_CLASSIFIER
    file = Path(chosen)
    if not file.is_file():
        raise InputError(f"boilerplate patterns file {chosen} not found; check --boilerplate-patterns or "
                         f"{ENV_PATTERNS}")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"boilerplate patterns file {chosen} is not UTF-8 text; save it as UTF-8") from None
    return Classifier.with_patterns(read_patterns(text), where=f"{chosen}: pattern")


def marks(rows: Iterable[tuple[str, str, int]], is_boilerplate: Classifier) -> list[tuple[int, str]]:
    """(new mark, id) for the (id, text, current mark) rows whose mark `is_boilerplate` changes."""
    out = []
    for sid, text, current in rows:
        mark = int(is_boilerplate(text))
        if mark != current:
            out.append((mark, sid))
    return out


# --------------------------------------------------------------------------- edge


def mark_sentences(db: sqlite_utils.Database, is_boilerplate: Classifier = BUILTIN_CLASSIFIER) -> int:
    """Set every stored sentence's `boilerplate` mark by `is_boilerplate`; how many marks changed.

    Marks go both ways: a sentence no pattern matches any more loses its mark. The
    caller holds the transaction (a backfill's, or `with db.conn`).
    """
    changed = marks(db.execute("SELECT id, text, boilerplate FROM sentences").fetchall(), is_boilerplate)
    db.conn.executemany("UPDATE sentences SET boilerplate = ? WHERE id = ?", changed)
    return len(changed)


BACKFILLS = {"006_boilerplate": mark_sentences}
"""What the tool's openers pass to `store.open_db`: the sentences stored before migration 006 added the mark get
it by the built-in forms, once."""
