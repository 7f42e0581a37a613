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


Key = tuple[int, int, str]
"""A span as (start, end, label)."""


def _key(span: dict) -> Key:
    return (span["start"], span["end"], str(span["label"]))


def _overlap(a: Key, b: Key) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@dataclass
class Alignment:
    """Draft spans paired with gold spans, as (start, end, label) keys; each list holds pairs or lone spans."""

    kept: list[tuple[Key, Key]] = field(default_factory=list)
    relabelled: list[tuple[Key, Key]] = field(default_factory=list)
    moved: list[tuple[Key, Key]] = field(default_factory=list)
    deleted: list[Key] = field(default_factory=list)
    added: list[Key] = field(default_factory=list)


_PASSES = (
    ("relabelled", lambda d, g: d[0] == g[0] and d[1] == g[1]),
    ("moved", lambda d, g: d[2] == g[2] and _overlap(d, g)),
    ("relabelled", _overlap),
)


def align(draft: Iterable[dict], gold: Iterable[dict]) -> Alignment:
    """Pair draft and gold spans one to one (see the module docstring)."""
    return align_keys(sorted(map(_key, draft)), sorted(map(_key, gold)))


def align_keys(drafts: list[Key], golds: list[Key]) -> Alignment:
    """`align` on sorted keys."""
    if drafts == golds:
        return Alignment(kept=list(zip(drafts, golds, strict=True)))
    out = Alignment()
    free_g = list(golds)
    free_d = []
    for d in drafts:  # exact pairs first
        if d in free_g:
            free_g.remove(d)
            out.kept.append((d, d))
        else:
            free_d.append(d)
    for name, fits in _PASSES:
        rest = []
        for d in free_d:
            g = next((g for g in free_g if fits(d, g)), None)
            if g is None:
                rest.append(d)
            else:
                free_g.remove(g)
                getattr(out, name).append((d, g))
        free_d = rest
    out.deleted, out.added = free_d, free_g
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
        d, g = sorted(map(_key, draft)), sorted(map(_key, gold))
        a = align_keys(d, g)
        tp = len(a.kept)
        _bump(self.exact, tp, len(d), len(g))
        errors = self.errors
        errors["wrong_label"] += len(a.relabelled)
        errors["wrong_boundary"] += len(a.moved)
        errors["invented"] += len(a.deleted)
        errors["missed"] += len(a.added)
        n_d, n_g, kept = _label_counts(d), _label_counts(g), _label_counts(k for k, _ in a.kept)
        rest_d: dict[str, list[Key]] = {}
        rest_g: dict[str, list[Key]] = {}
        for dk, gk in a.relabelled + a.moved:
            rest_d.setdefault(dk[2], []).append(dk)
            rest_g.setdefault(gk[2], []).append(gk)
        for dk in a.deleted:
            rest_d.setdefault(dk[2], []).append(dk)
        for gk in a.added:
            rest_g.setdefault(gk[2], []).append(gk)
        overlap_tp = 0
        for label in n_d.keys() | n_g.keys():
            t, nd, ng = kept.get(label, 0), n_d.get(label, 0), n_g.get(label, 0)
            _bump(self.per_label.setdefault(label, _counts()), t, nd, ng)
            o = t + _greedy_overlap(rest_d[label], rest_g[label]) if label in rest_d and label in rest_g else t
            overlap_tp += o
            _bump(self.per_label_overlap.setdefault(label, _counts()), o, nd, ng)
        _bump(self.overlap, overlap_tp, len(d), len(g))
        return a

    def merge(self, other: SpanCounts) -> None:
        """Add another accumulator's counts to this one."""
        for mine, theirs in ((self.exact, other.exact), (self.overlap, other.overlap)):
            for i in range(3):
                mine[i] += theirs[i]
        for mine_d, theirs_d in ((self.per_label, other.per_label), (self.per_label_overlap, other.per_label_overlap)):
            for label, counts in theirs_d.items():
                into = mine_d.setdefault(label, _counts())
                for i in range(3):
                    into[i] += counts[i]
        self.errors.update(other.errors)

    def f1(self, which: str = "exact") -> float:
        """Micro F1 so far."""
        return prf(*getattr(self, which))["f1"]

    def report(self) -> dict:
        """The JSON form: exact, overlap, per_label (exact), per_label_overlap, errors."""
        return {"kind": "spans", "exact": _block(self.exact), "overlap": _block(self.overlap),
                "per_label": {k: _block(v) for k, v in sorted(self.per_label.items())},
                "per_label_overlap": {k: _block(v) for k, v in sorted(self.per_label_overlap.items())},
                "errors": {k: self.errors[k] for k in ("wrong_label", "wrong_boundary", "missed", "invented")}}


def _label_counts(keys: Iterable[Key]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in keys:
        out[k[2]] = out.get(k[2], 0) + 1
    return out


def _greedy_overlap(drafts: list[Key], golds: list[Key]) -> int:
    """Pairs sharing a character among spans of one label left after the exact pairs, one to one, in order."""
    free = sorted(golds)
    matched = 0
    for d in sorted(drafts):
        g = next((g for g in free if _overlap(d, g)), None)
        if g is not None:
            free.remove(g)
            matched += 1
    return matched


NONE_LABEL = "(none)"


@dataclass
class ChoiceCounts:
    """One choice (or bool) per annotation: accuracy, confusion, per-class P/R/F1."""

    confusion: dict[str, Counter] = field(default_factory=dict)

    def add(self, draft: object, gold: object) -> None:
        g, d = _label(gold), _label(draft)
        self.confusion.setdefault(g, Counter())[d] += 1

    def merge(self, other: ChoiceCounts) -> None:
        for g, row in other.confusion.items():
            self.confusion.setdefault(g, Counter()).update(row)

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

    def merge(self, other: MultiChoiceCounts) -> None:
        self.n += other.n
        self.exact += other.exact
        for label, counts in other.per_label.items():
            self.per_label.setdefault(label, Counter()).update(counts)

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

    def merge(self, other: TextCounts) -> None:
        self.n, self.exact, self.similarity = self.n + other.n, self.exact + other.exact, \
            self.similarity + other.similarity

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

    def merge(self, other: NumberCounts) -> None:
        self.n, self.exact = self.n + other.n, self.exact + other.exact
        self.abs_error, self.compared = self.abs_error + other.abs_error, self.compared + other.compared

    def report(self) -> dict:
        return {"kind": "number", "n": self.n, "exact_rate": self.exact / self.n if self.n else 0.0,
                "mae": self.abs_error / self.compared if self.compared else None}


@dataclass
class RelationCounts:
    """Relations as keys (from end, to end, label), ends as (start, end, label): micro P/R/F1 summed over annotations.

    `exact`: a draft relation matches a gold one when both ends and its label are the
    same (each gold relation matched once); `unlabelled`: when both ends are, whatever
    the label (so exact against unlabelled tells wrong stances from wrong ends);
    `per_label`: exact, by the relation's label.
    """

    exact: list[int] = field(default_factory=_counts)
    unlabelled: list[int] = field(default_factory=_counts)
    per_label: dict[str, list[int]] = field(default_factory=dict)

    def add(self, draft: list[tuple], gold: list[tuple]) -> int:
        """Count one annotation's relations of one field; return how many matched exactly."""
        d, g = Counter(draft), Counter(gold)
        tp = sum((d & g).values())
        _bump(self.exact, tp, len(draft), len(gold))
        ends_d, ends_g = Counter(k[:-1] for k in draft), Counter(k[:-1] for k in gold)
        _bump(self.unlabelled, sum((ends_d & ends_g).values()), len(draft), len(gold))
        for label in sorted({k[-1] for k in d | g}):
            mine_d = Counter({k: n for k, n in d.items() if k[-1] == label})
            mine_g = Counter({k: n for k, n in g.items() if k[-1] == label})
            _bump(self.per_label.setdefault(label, _counts()), sum((mine_d & mine_g).values()),
                  sum(mine_d.values()), sum(mine_g.values()))
        return tp

    def merge(self, other: RelationCounts) -> None:
        for mine, theirs in ((self.exact, other.exact), (self.unlabelled, other.unlabelled)):
            for i in range(3):
                mine[i] += theirs[i]
        for label, counts in other.per_label.items():
            into = self.per_label.setdefault(label, _counts())
            for i in range(3):
                into[i] += counts[i]

    def report(self) -> dict:
        return {"kind": "relations", "exact": _block(self.exact), "unlabelled": _block(self.unlabelled),
                "per_label": {k: _block(v) for k, v in sorted(self.per_label.items())}}


COUNTERS = {"spans": SpanCounts, "relations": RelationCounts, "choice": ChoiceCounts, "choices": MultiChoiceCounts,
            "text": TextCounts, "number": NumberCounts}
"""The accumulator for each kind's `metric`."""
