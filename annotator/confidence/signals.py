"""A draft's raw confidence signals, from its answer's token log-probabilities and K sampled answers (pure).

What is stored with each draft (`drafts.signals`, JSON):

    {"version": 1, "samples": K, "grounded": share, "first_attempt_valid": bool, "reasks": n,
     "fields": {name: {"logprob": float | None, "agreement": float | None}},
     "spans": {name: [{"start", "end", "label", "logprob", "agreement"}, ...]},      # kept spans, draft order
     "relations": {name: [{"logprob", "agreement"}, ...]}}                          # kept relations, draft order

- logprob: the sum of the log-probabilities of the tokens that spell the value in the answer
  (a span: its text and its label; a relation: every part); None when the server sent none, or
  the tokens do not spell the answer (a tool call's arguments, say).
- agreement: the share of the K sampled answers that hold the same value (a span: the same text
  and label; a relation: the same parts); None when K = 0.

Token offsets are counted in UTF-8 bytes (a token may hold part of a character), then mapped to
the answer's string indices; a value's tokens are those that overlap its characters.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from ..kinds import RELATIONS, SPANS, FieldSpec

SIGNALS_VERSION = 1
Path = tuple[Any, ...]


# --------------------------------------------------------------------------- where each JSON value is


class _Scanner:
    """Character ranges of every scalar value in a JSON text, by path (strings: without their quotes)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0
        self.ranges: dict[Path, tuple[int, int]] = {}

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def value(self, path: Path) -> None:
        self.skip()
        ch = self.text[self.pos]
        if ch == "{":
            self.container(path, "}", keyed=True)
        elif ch == "[":
            self.container(path, "]", keyed=False)
        elif ch == '"':
            start = self.pos + 1
            self.string()
            self.ranges[path] = (start, self.pos - 1)
        else:
            start = self.pos
            while self.pos < len(self.text) and self.text[self.pos] not in ",]} \t\r\n":
                self.pos += 1
            self.ranges[path] = (start, self.pos)

    def string(self) -> str:
        start = self.pos = self.pos + 1
        while self.text[self.pos] != '"':
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        self.pos += 1
        return self.text[start:self.pos - 1]

    def container(self, path: Path, close: str, keyed: bool) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip()
            if self.text[self.pos] == close:
                self.pos += 1
                return
            if keyed:
                key = self.string()
                self.skip()
                self.pos += 1  # the colon
                self.value((*path, key))
            else:
                self.value((*path, index))
                index += 1
            self.skip()
            if self.text[self.pos] == ",":
                self.pos += 1


def value_ranges(content: str) -> dict[Path, tuple[int, int]]:
    """{path: (start, end)} of every scalar in the first JSON object of `content` ({} when there is none)."""
    start = content.find("{")
    if start < 0:
        return {}
    scanner = _Scanner(content)
    scanner.pos = start
    try:
        scanner.value(())
    except IndexError:
        return {}
    return scanner.ranges


# --------------------------------------------------------------------------- tokens


class TokenLogprobs:
    """The answer's tokens as character ranges of `content`, with their log-probabilities."""

    def __init__(self, content: str, tokens: Sequence[dict]) -> None:
        ends, total = [], 0
        for token in tokens:
            raw = token.get("bytes")
            total += len(raw) if isinstance(raw, list) else len(str(token.get("token", "")).encode())
            ends.append(total)
        # The UTF-8 byte offset where each character starts, and the end (no answer's tokens: nothing to map).
        byte_of: Sequence[int] = [0] if not tokens else _byte_offsets(content)
        self.valid = bool(tokens) and total == byte_of[-1]
        self._byte_of, self._ends = byte_of, ends
        self._logprobs = [float(t.get("logprob") or 0.0) for t in tokens]

    def of_range(self, start: int, end: int) -> float | None:
        """The summed log-probability of the tokens overlapping characters [start, end)."""
        if not self.valid or not 0 <= start < end < len(self._byte_of):
            return None
        b_start, b_end = self._byte_of[start], self._byte_of[end]
        first = bisect.bisect_right(self._ends, b_start)  # the first token ending after b_start
        total = 0.0
        for i in range(first, len(self._ends)):
            if (self._ends[i - 1] if i else 0) >= b_end:
                break
            total += self._logprobs[i]
        return total


def _byte_offsets(content: str) -> Sequence[int]:
    """The UTF-8 byte offset where each character of `content` starts, and its end (ASCII: the indices)."""
    if content.isascii():
        return range(len(content) + 1)
    byte_of = [0]
    for ch in content:
        byte_of.append(byte_of[-1] + len(ch.encode("utf-8", "surrogatepass")))
    return byte_of


# --------------------------------------------------------------------------- the signals


def _sum(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else sum(v for v in values if v is not None)


def _match_indices(kept: list[dict], raw: list, same) -> list[int | None]:
    """For each kept item, the index of the first unused raw item it came from (None: not found)."""
    used: set[int] = set()
    found: list[int | None] = []
    for item in kept:
        index = next((i for i, r in enumerate(raw) if i not in used and isinstance(r, dict) and same(item, r)), None)
        if index is not None:
            used.add(index)
        found.append(index)
    return found


def _norm(value: Any) -> Any:
    """Text as grounding compares it (case and runs of white space do not count); other values as they are."""
    return " ".join(value.split()).casefold() if isinstance(value, str) else value


def _span_same(item: dict, raw: dict) -> bool:
    return _norm(raw.get("text")) == _norm(item.get("text")) and raw.get("label") == item.get("label")


def _relation_same(item: dict, raw: dict) -> bool:
    return all(_norm(raw.get(key)) == _norm(value) for key, value in item.items())


def _agreement(samples: list[dict | None] | None, holds) -> float | None:
    if not samples:
        return None
    return sum(1 for sample in samples if sample is not None and holds(sample)) / len(samples)


def _items(data: dict, name: str) -> list[dict]:
    value = data.get(name)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def draft_signals(fields: Sequence[FieldSpec], data: dict, spans: Sequence[dict], content: str,
                  tokens: Sequence[dict] | None, samples: list[dict | None] | None, *, grounded: float,
                  first_attempt_valid: bool, reasks: int) -> dict[str, Any]:
    """The signals of a kept draft: `data` its grounded answer, `spans` its grounded spans (with field, start,
    end, label, text), `content` the answer it came from and `tokens` that answer's log-probabilities
    (`choices[0].logprobs.content`), `samples` the K sampled answers (validated data, None where invalid)."""
    ranges = value_ranges(content) if tokens else {}
    logprobs = TokenLogprobs(content, tokens or [])
    raw = _raw_answer(content) if tokens else {}

    def logprob_at(*path: Any) -> float | None:
        where = ranges.get(path)
        return logprobs.of_range(*where) if where else None

    out: dict[str, Any] = {"version": SIGNALS_VERSION, "samples": len(samples or []), "grounded": grounded,
                           "first_attempt_valid": first_attempt_valid, "reasks": reasks,
                           "fields": {}, "spans": {}, "relations": {}}
    for spec in fields:
        if spec.kind == SPANS:
            out["spans"][spec.name] = _span_signals(spec.name, data, spans, raw, logprob_at, samples)
        elif spec.kind == RELATIONS:
            out["relations"][spec.name] = _relation_signals(spec.name, data, raw, logprob_at, samples)
        else:
            value = data.get(spec.name)
            out["fields"][spec.name] = {
                "logprob": _field_logprob(spec.name, raw, ranges, logprob_at),
                "agreement": _agreement(samples, lambda s, n=spec.name, v=value: _same_value(s.get(n), v)),
            }
    return out


def _raw_answer(content: str) -> dict:
    from ..llm.completions import parse_json

    try:
        parsed = parse_json(content)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    return a == b


def _field_logprob(name: str, raw: dict, ranges: dict, logprob_at) -> float | None:
    value = raw.get(name)
    if isinstance(value, list):  # several choices: every chosen value's tokens
        return _sum([logprob_at(name, i) for i in range(len(value))]) if value else None
    return logprob_at(name) if (name,) in ranges else None


def _span_signals(name: str, data: dict, spans: Sequence[dict], raw: dict, logprob_at,
                  samples: list[dict | None] | None) -> list[dict]:
    kept = _items(data, name)
    indices = _match_indices(kept, _items(raw, name), _span_same)
    where = [s for s in spans if s.get("field") == name and "relation" not in s]
    out = []
    for item, index, span in zip(kept, indices, where, strict=False):
        parts = None if index is None else _sum([logprob_at(name, index, "text"), logprob_at(name, index, "label")])
        out.append({"start": span.get("start"), "end": span.get("end"), "label": item.get("label"),
                    "logprob": parts,
                    "agreement": _agreement(samples, lambda s, it=item: any(_span_same(it, r)
                                                                           for r in _items(s, name)))})
    return out


def _relation_signals(name: str, data: dict, raw: dict, logprob_at, samples: list[dict | None] | None) -> list[dict]:
    kept = _items(data, name)
    indices = _match_indices(kept, _items(raw, name), _relation_same)
    out = []
    for item, index in zip(kept, indices, strict=True):
        parts = None if index is None else _sum([logprob_at(name, index, key) for key in item])
        out.append({"logprob": parts,
                    "agreement": _agreement(samples, lambda s, it=item: any(_relation_same(it, r)
                                                                           for r in _items(s, name)))})
    return out
