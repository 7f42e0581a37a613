"""Pure comparison of two annotations of one sentence, field by field, by field kind.

Spans are `{label, start, end}` dicts (Python offsets). Draft and gold spans are
paired one to one, in this order: same offsets and label (kept), same offsets and
another label (relabelled), same label and overlapping (moved), another label and
overlapping (relabelled); what is left is deleted (a draft span) or added (a gold
span). Exact counts: TP = kept, FP = draft spans not kept, FN = gold spans not kept.
The error split names every FP and FN once: wrong_label (relabelled),
wrong_boundary (moved), invented (deleted: the draft span has no gold counterpart)
and missed (added). Overlap counts pair spans of one label that share a character.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


def prf(tp: int, fp: int, fn: int) -> dict:
    """Counts with precision, recall and F1 (0.0 where a denominator is 0)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def _key(span: dict) -> tuple[int, int, str]:
    return (span["start"], span["end"], str(span["label"]))


def _overlap(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


@dataclass
class Alignment:
    """Draft spans paired with gold spans; each list holds (draft, gold) pairs or lone spans."""

    kept: list[tuple[dict, dict]] = field(default_factory=list)
    relabelled: list[tuple[dict, dict]] = field(default_factory=list)
    moved: list[tuple[dict, dict]] = field(default_factory=list)
    deleted: list[dict] = field(default_factory=list)
    added: list[dict] = field(default_factory=list)


_PASSES = (
    ("kept", lambda d, g: _key(d) == _key(g)),
    ("relabelled", lambda d, g: (d["start"], d["end"]) == (g["start"], g["end"])),
    ("moved", lambda d, g: str(d["label"]) == str(g["label"]) and _overlap(d, g)),
    ("relabelled", _overlap),
)


def align(draft: Iterable[dict], gold: Iterable[dict]) -> Alignment:
    """Pair draft and gold spans one to one (see the module docstring)."""
    drafts = sorted(draft, key=_key)
    golds = sorted(gold, key=_key)
    free_d, free_g = list(range(len(drafts))), list(range(len(golds)))
    out = Alignment()
    for name, fits in _PASSES:
        for i in list(free_d):
            j = next((j for j in free_g if fits(drafts[i], golds[j])), None)
            if j is not None:
                getattr(out, name).append((drafts[i], golds[j]))
                free_d.remove(i)
                free_g.remove(j)
    out.deleted = [drafts[i] for i in free_d]
    out.added = [golds[j] for j in free_g]
    return out


def _counts() -> list[int]:
    return [0, 0, 0]  # tp, fp, fn


def _bump(counts: list[int], tp: int, n_draft: int, n_gold: int) -> None:
    counts[0] += tp
    counts[1] += n_draft - tp
    counts[2] += n_gold - tp


def _block(counts: list[int]) -> dict:
    return prf(*counts)


@dataclass
class SpanCounts:
    """Span comparison counts summed over annotations (micro averages)."""

    exact: list[int] = field(default_factory=_counts)
    overlap: list[int] = field(default_factory=_counts)
    per_label: dict[str, list[int]] = field(default_factory=dict)
    per_label_overlap: dict[str, list[int]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)

    def add(self, draft: list[dict], gold: list[dict]) -> Alignment:
        """Count one annotation's spans of one field; return the alignment."""
        same = sorted(map(_key, draft)) == sorted(map(_key, gold))
        a = Alignment(kept=list(zip(draft, draft, strict=True))) if same else align(draft, gold)
        tp = len(a.kept)
        _bump(self.exact, tp, len(draft), len(gold))
        self.errors["wrong_label"] += len(a.relabelled)
        self.errors["wrong_boundary"] += len(a.moved)
        self.errors["invented"] += len(a.deleted)
        self.errors["missed"] += len(a.added)
        _bump(self.overlap, tp if same else _one_to_one_overlap(draft, gold), len(draft), len(gold))
        by_label: dict[str, tuple[list[dict], list[dict]]] = {}
        for s in draft:
            by_label.setdefault(str(s["label"]), ([], []))[0].append(s)
        for s in gold:
            by_label.setdefault(str(s["label"]), ([], []))[1].append(s)
        for label, (d, g) in by_label.items():
            t = len(d) if same else sum((Counter(map(_key, d)) & Counter(map(_key, g))).values())
            _bump(self.per_label.setdefault(label, _counts()), t, len(d), len(g))
            o = t if same else _one_to_one_overlap(d, g)
            _bump(self.per_label_overlap.setdefault(label, _counts()), o, len(d), len(g))
        return a

    def f1(self, which: str = "exact") -> float:
        """Micro F1 so far."""
        return prf(*getattr(self, which))["f1"]

    def report(self) -> dict:
        """The JSON form: exact, overlap, per_label (exact), per_label_overlap, errors."""
        return {"kind": "spans", "exact": _block(self.exact), "overlap": _block(self.overlap),
                "per_label": {k: _block(v) for k, v in sorted(self.per_label.items())},
                "per_label_overlap": {k: _block(v) for k, v in sorted(self.per_label_overlap.items())},
                "errors": {k: self.errors[k] for k in ("wrong_label", "wrong_boundary", "missed", "invented")}}


def _one_to_one_overlap(draft: list[dict], gold: list[dict]) -> int:
    """How many draft spans pair with a gold span of the same label sharing a character (exact pairs first)."""
    free = sorted(gold, key=_key)
    pending = sorted(draft, key=_key)
    matched = 0
    for exact in (True, False):
        rest = []
        for d in pending:
            hit = next((g for g in free if str(g["label"]) == str(d["label"]) and
                        (_key(g) == _key(d) if exact else _overlap(g, d))), None)
            if hit is None:
                rest.append(d)
            else:
                free.remove(hit)
                matched += 1
        pending = rest
    return matched


NONE_LABEL = "(none)"


@dataclass
class ChoiceCounts:
    """One choice (or bool) per annotation: accuracy, confusion, per-class P/R/F1."""

    confusion: dict[str, Counter] = field(default_factory=dict)

    def add(self, draft: object, gold: object) -> None:
        g, d = _label(gold), _label(draft)
        self.confusion.setdefault(g, Counter())[d] += 1

    def report(self) -> dict:
        n = sum(sum(row.values()) for row in self.confusion.values())
        correct = sum(row[g] for g, row in self.confusion.items())
        classes = sorted({*self.confusion, *(d for row in self.confusion.values() for d in row)})
        per_class = {}
        for c in classes:
            tp = self.confusion.get(c, Counter())[c]
            fp = sum(row[c] for g, row in self.confusion.items() if g != c)
            fn = sum(v for d, v in self.confusion.get(c, Counter()).items() if d != c)
            per_class[c] = prf(tp, fp, fn)
        return {"kind": "choice", "n": n, "accuracy": correct / n if n else 0.0,
                "confusion": {g: dict(sorted(row.items())) for g, row in sorted(self.confusion.items())},
                "per_class": per_class}


def _label(value: object) -> str:
    if value is None:
        return NONE_LABEL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class MultiChoiceCounts:
    """Several choices per annotation: per-label P/R/F1 and the exact-set rate."""

    per_label: dict[str, Counter] = field(default_factory=dict)
    n: int = 0
    exact: int = 0

    def add(self, draft: object, gold: object) -> None:
        d = {_label(v) for v in draft or []} if isinstance(draft, list) else set()
        g = {_label(v) for v in gold or []} if isinstance(gold, list) else set()
        self.n += 1
        self.exact += d == g
        for label in d | g:
            self.per_label.setdefault(label, Counter()).update(tp=int(label in d and label in g),
                                                               fp=int(label in d - g), fn=int(label in g - d))

    def report(self) -> dict:
        return {"kind": "choices", "n": self.n, "exact_set_rate": self.exact / self.n if self.n else 0.0,
                "per_label": {k: prf(v["tp"], v["fp"], v["fn"]) for k, v in sorted(self.per_label.items())}}


def normalise_text(text: object) -> str:
    """Case-folded, whitespace collapsed."""
    return " ".join(str(text or "").split()).casefold()


@dataclass
class TextCounts:
    """Free text: exact-match rate (after normalising) and mean similarity (difflib ratio)."""

    n: int = 0
    exact: int = 0
    similarity: float = 0.0

    def add(self, draft: object, gold: object) -> None:
        d, g = normalise_text(draft), normalise_text(gold)
        self.n += 1
        self.exact += d == g
        self.similarity += difflib.SequenceMatcher(None, d, g).ratio() if d or g else 1.0

    def report(self) -> dict:
        return {"kind": "text", "n": self.n, "exact_rate": self.exact / self.n if self.n else 0.0,
                "mean_similarity": self.similarity / self.n if self.n else 0.0}


@dataclass
class NumberCounts:
    """Numbers: exact rate and mean absolute error (over pairs where both are numbers)."""

    n: int = 0
    exact: int = 0
    abs_error: float = 0.0
    compared: int = 0

    def add(self, draft: object, gold: object) -> None:
        self.n += 1
        self.exact += draft == gold
        if isinstance(draft, int | float) and isinstance(gold, int | float):
            self.compared += 1
            self.abs_error += abs(float(draft) - float(gold))

    def report(self) -> dict:
        return {"kind": "number", "n": self.n, "exact_rate": self.exact / self.n if self.n else 0.0,
                "mae": self.abs_error / self.compared if self.compared else None}


COUNTERS = {"spans": SpanCounts, "choice": ChoiceCounts, "choices": MultiChoiceCounts, "text": TextCounts,
            "number": NumberCounts}
"""The accumulator for each kind's `metric`."""
