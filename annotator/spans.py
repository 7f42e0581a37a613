"""Ground span texts to offsets in the sentence; convert Python indices to and from UTF-16 code units.

Label Studio 1.23 stores code points, as Python counts them (`labelstudio.convert.OFFSET_UNIT`,
checked in the browser with ZWJ emoji); UTF-16 is what a browser's JavaScript strings count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_STRIP = " \t\r\n\"'“”‘’«».,;:"


@dataclass(frozen=True)
class Span:
    """A grounded span: `sentence[start:end] == text` always holds."""

    field: str
    label: str
    text: str
    start: int
    end: int

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"field": self.field, "label": self.label, "text": self.text, "start": self.start, "end": self.end}


def _exact(sentence: str, needle: str) -> list[tuple[int, int]]:
    """Every non-overlapping (start, end) of `needle`, left to right (as `re.finditer` finds them)."""
    found, at = [], sentence.find(needle)
    while at >= 0:
        found.append((at, at + len(needle)))
        at = sentence.find(needle, at + len(needle))
    return found


def _occurrences(sentence: str, needle: str) -> list[tuple[int, int]]:
    """Every (start, end) where `needle` occurs: exact, then case-insensitive, then whitespace-tolerant."""
    if not needle:
        return []
    found = _exact(sentence, needle)
    if found:
        return found
    for pattern in _tolerant_patterns(needle):
        found = [(m.start(), m.end()) for m in pattern.finditer(sentence)]
        if found:
            return found
    return []


@lru_cache(maxsize=4096)
def _tolerant_patterns(needle: str) -> tuple[re.Pattern[str], ...]:
    """The needle case-insensitive, then with any whitespace between its words (models often collapse or
    change whitespace: line breaks, CRLF, double spaces). Compiled once per needle: the same names recur."""
    words = needle.split()
    exact_case = re.compile(re.escape(needle), re.IGNORECASE)
    return (exact_case, re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)) if words else (exact_case,)


def find(sentence: str, text: str) -> list[tuple[int, int]]:
    """Every (start, end) of a model's words in the sentence, quotes and edge punctuation stripped, as `ground` finds them."""
    return _occurrences(sentence, text.strip(_STRIP) or text.strip())


def ground(sentence: str, field: str, items: list[dict]) -> tuple[list[Span], list[dict], list[dict]]:
    """Locate each {text, label} item in the sentence.

    Repeated mentions are resolved in order: the k-th item with the same text takes the
    k-th unused occurrence. Returns (spans, kept items, dropped items); kept items carry the
    sentence's own words.
    """
    spans: list[Span] = []
    kept: list[dict] = []
    dropped: list[dict] = []
    used: set[tuple[int, int, str]] = set()
    taken: dict[str, int] = {}
    for item in items:
        raw = str(item.get("text", ""))
        label = str(item.get("label", ""))
        needle = raw.strip(_STRIP) or raw.strip()
        choice = None
        occurrences = _occurrences(sentence, needle)
        start_at = taken.get(needle.casefold(), 0)
        for start, end in occurrences[start_at:] + occurrences[:start_at]:
            if (start, end, label) not in used:
                choice = (start, end)
                break
        if choice is None:
            dropped.append(item)
            continue
        start, end = choice
        used.add((start, end, label))
        taken[needle.casefold()] = occurrences.index(choice) + 1
        text = sentence[start:end]
        spans.append(Span(field, label, text, start, end))
        kept.append({**item, "text": text})
    return spans, kept, dropped


def utf16_offset(text: str, index: int) -> int:
    """Python string index -> UTF-16 code unit offset (what JavaScript strings count)."""
    return len(text[:index].encode("utf-16-le")) // 2


def python_offset(text: str, utf16_index: int) -> int:
    """UTF-16 code unit offset -> Python string index; raises ValueError inside a surrogate pair."""
    units = 0
    for i, ch in enumerate(text):
        if units == utf16_index:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > utf16_index:
            raise ValueError(f"UTF-16 offset {utf16_index} splits a character at index {i}")
    if units == utf16_index:
        return len(text)
    raise ValueError(f"UTF-16 offset {utf16_index} is past the end of the text ({units} units)")
