"""Drafts against gold, pure: pairs of plain rows in, the `eval --json` report out.

A pair is one gold annotation and the draft its task was pre-filled from. Pairs are
grouped by the draft's (model, prompt version, schema hash); every field is scored
by its kind's accumulator (`metrics.COUNTERS`), and the correction effort is
counted per annotation. When some pairs come from blind tasks (pushed without a
prediction), the group also carries `blind` and `prefilled` sub-reports of the same
shape, and `gap`: the prefilled figure minus the blind one, field by field.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from ..kinds import RELATIONS, SPANS, FieldSpec
from ..kinds.relations import relation_keys
from .metrics import COUNTERS


@dataclass(frozen=True)
class Pair:
    """One gold annotation and its draft, as plain decoded data."""

    model: str
    prompt_version: str
    schema_hash: str
    draft_data: dict
    draft_spans: list[dict]
    gold_data: dict
    gold_spans: list[dict]
    blind: bool = False
    lead_time: float | None = None
    annotator: str | None = None
    sentence_id: str | None = None
    signals: dict | None = None
    """The draft's stored confidence signals (None: made before they were stored)."""
    grounded: float | None = None
    """The draft's grounded share x first-attempt validity (`draft_score`)."""

    @classmethod
    def from_rows(cls, draft: dict, gold: dict, blind: bool, decoded: dict | None = None) -> Pair:
        """A pair from a drafts row and a gold row; `decoded` caches drafts shared by several annotations."""
        cache = decoded if decoded is not None else {}
        parsed = cache.get(draft["id"])
        if parsed is None:
            parsed = cache[draft["id"]] = (json.loads(draft["data"] or "{}"), json.loads(draft["spans"] or "[]"))
        return cls(draft["model"], draft["prompt_version"], draft["schema_hash"], parsed[0], parsed[1],
                   json.loads(gold["data"] or "{}"), json.loads(gold["spans"] or "[]"), blind,
                   gold.get("lead_time"), gold.get("annotator"))


def _by_field(spans: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in spans:
        out.setdefault(s.get("field"), []).append(s)
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


REGIONS = ("kept", "relabelled", "moved", "deleted", "added")


class GroupScore:
    """Per-field accumulators and the correction effort over a stream of pairs (one group, one side)."""

    def __init__(self, fields: tuple[FieldSpec, ...]) -> None:
        self.fields = fields
        self.counters = {spec.name: COUNTERS[spec.codec.metric]() for spec in fields}
        self.regions = dict.fromkeys(REGIONS, 0)
        self.n = self.unchanged = 0
        self.lead_prefilled: list[float] = []
        self.lead_blind: list[float] = []

    def add(self, pair: Pair) -> None:
        """Count one annotation against its draft."""
        draft_spans, gold_spans = _by_field(pair.draft_spans), _by_field(pair.gold_spans)
        same = True
        for spec in self.fields:
            if spec.kind == SPANS:
                a = self.counters[spec.name].add(draft_spans.get(spec.name, []), gold_spans.get(spec.name, []))
                for name in REGIONS:
                    self.regions[name] += len(getattr(a, name))
                same = same and len(a.kept) == len(draft_spans.get(spec.name, [])) == len(
                    gold_spans.get(spec.name, []))
            elif spec.kind == RELATIONS:
                d = relation_keys(spec, pair.draft_data.get(spec.name), pair.draft_spans)
                g = relation_keys(spec, pair.gold_data.get(spec.name), pair.gold_spans)
                kept = self.counters[spec.name].add(d, g)
                same = same and kept == len(d) == len(g)
            else:
                draft, gold = pair.draft_data.get(spec.name), pair.gold_data.get(spec.name)
                self.counters[spec.name].add(draft, gold)
                same = same and draft == gold
        self.n += 1
        self.unchanged += same
        if pair.lead_time is not None:
            (self.lead_blind if pair.blind else self.lead_prefilled).append(pair.lead_time)

    def merge(self, other: GroupScore) -> GroupScore:
        """Add another accumulator of the same fields; returns self."""
        for name, counter in self.counters.items():
            counter.merge(other.counters[name])
        for name in REGIONS:
            self.regions[name] += other.regions[name]
        self.n += other.n
        self.unchanged += other.unchanged
        self.lead_prefilled += other.lead_prefilled
        self.lead_blind += other.lead_blind
        return self

    def report(self) -> dict:
        """Per-field metrics and the effort, as in `eval --json`."""
        n = self.n
        effort = {"unchanged_share": self.unchanged / n if n else 0.0, "unchanged": self.unchanged, **self.regions,
                  "regions_per_annotation": {k: (v / n if n else 0.0) for k, v in self.regions.items()},
                  "median_lead_time_prefilled": _median(self.lead_prefilled),
                  "median_lead_time_blind": _median(self.lead_blind)}
        return {"annotations": n, "fields": {name: c.report() for name, c in self.counters.items()},
                "effort": effort}


def score(fields: tuple[FieldSpec, ...], pairs: Iterable[Pair]) -> dict:
    """Per-field metrics and the correction effort over `pairs` (all of one group)."""
    group = GroupScore(fields)
    for pair in pairs:
        group.add(pair)
    return group.report()


def headline_figure(field_report: dict) -> float | None:
    """The one number a field is judged by: exact F1 for spans and relations, accuracy for a choice, else a rate.

    None where there is nothing to judge (no span or relation in draft or gold; no annotation)."""
    kind = field_report["kind"]
    if kind in ("spans", "relations"):
        exact = field_report["exact"]
        return exact["f1"] if exact["tp"] + exact["fp"] + exact["fn"] else None  # no span on either side
    if not field_report.get("n"):
        return None
    return field_report.get("accuracy", field_report.get("exact_set_rate", field_report.get("exact_rate")))


def evaluate(fields: tuple[FieldSpec, ...], pairs: Iterable[Pair]) -> dict:
    """The whole report: one group per (model, prompt version, schema hash), largest first.

    Pairs are consumed one by one (memory holds counts, not pairs); each group keeps its
    blind and pre-filled sides apart and adds them up at the end.
    """
    sides: dict[tuple[str, str, str], tuple[GroupScore, GroupScore]] = {}
    for pair in pairs:
        key = (pair.model, pair.prompt_version, pair.schema_hash)
        if key not in sides:
            sides[key] = (GroupScore(fields), GroupScore(fields))
        sides[key][pair.blind].add(pair)
    out = []
    for (model, prompt, schema_hash), (prefilled, blind) in sorted(
            sides.items(), key=lambda kv: (-(kv[1][0].n + kv[1][1].n), kv[0])):
        group = {"model": model, "prompt_version": prompt, "schema_hash": schema_hash}
        if blind.n:
            group["blind"], group["prefilled"] = blind.report(), prefilled.report()
        whole = GroupScore(fields).merge(prefilled).merge(blind)
        group = {**group, **whole.report()}
        if blind.n:
            group["gap"] = {name: _gap(group["prefilled"]["fields"][name], group["blind"]["fields"][name])
                            for name in group["fields"]}
        out.append(group)
    return {"groups": out}


def _gap(prefilled: dict, blind: dict) -> float | None:
    a, b = headline_figure(prefilled), headline_figure(blind)
    return None if a is None or b is None else a - b
