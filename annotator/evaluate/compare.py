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
from dataclasses import dataclass

from ..kinds import SPANS, FieldSpec
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


def _spans_of(spans: list[dict], name: str) -> list[dict]:
    return [s for s in spans if s.get("field") == name]


def _same(fields: tuple[FieldSpec, ...], pair: Pair) -> bool:
    """Whether the annotation was submitted as drafted, every field."""
    for spec in fields:
        if spec.kind == SPANS:
            key = lambda s: (s["start"], s["end"], str(s["label"]))  # noqa: E731
            if sorted(map(key, _spans_of(pair.draft_spans, spec.name))) != sorted(
                    map(key, _spans_of(pair.gold_spans, spec.name))):
                return False
        elif pair.draft_data.get(spec.name) != pair.gold_data.get(spec.name):
            return False
    return True


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def score(fields: tuple[FieldSpec, ...], pairs: list[Pair]) -> dict:
    """Per-field metrics and the correction effort over `pairs` (all of one group)."""
    counters = {spec.name: COUNTERS[spec.codec.metric]() for spec in fields}
    regions = dict.fromkeys(("kept", "relabelled", "moved", "deleted", "added"), 0)
    unchanged = 0
    for pair in pairs:
        for spec in fields:
            if spec.kind == SPANS:
                a = counters[spec.name].add(_spans_of(pair.draft_spans, spec.name),
                                            _spans_of(pair.gold_spans, spec.name))
                for name in regions:
                    regions[name] += len(getattr(a, name))
            else:
                counters[spec.name].add(pair.draft_data.get(spec.name), pair.gold_data.get(spec.name))
        unchanged += _same(fields, pair)
    n = len(pairs)
    effort = {"unchanged_share": unchanged / n if n else 0.0, "unchanged": unchanged,
              **{k: regions[k] for k in ("kept", "relabelled", "moved", "deleted", "added")},
              "regions_per_annotation": {k: (regions[k] / n if n else 0.0)
                                         for k in ("kept", "relabelled", "moved", "deleted", "added")},
              "median_lead_time_prefilled": _median([p.lead_time for p in pairs
                                                     if not p.blind and p.lead_time is not None]),
              "median_lead_time_blind": _median([p.lead_time for p in pairs if p.blind and p.lead_time is not None])}
    return {"annotations": n, "fields": {name: c.report() for name, c in counters.items()}, "effort": effort}


def headline_figure(field_report: dict) -> float | None:
    """The one number a field is judged by: exact F1 for spans, accuracy for a choice, else a rate.

    None where there is nothing to judge (no span in draft or gold; no annotation)."""
    kind = field_report["kind"]
    if kind == "spans":
        exact = field_report["exact"]
        return exact["f1"] if exact["tp"] + exact["fp"] + exact["fn"] else None  # no span on either side
    if not field_report.get("n"):
        return None
    return field_report.get("accuracy", field_report.get("exact_set_rate", field_report.get("exact_rate")))


def evaluate(fields: tuple[FieldSpec, ...], pairs: list[Pair]) -> dict:
    """The whole report: one group per (model, prompt version, schema hash), largest first."""
    groups: dict[tuple[str, str, str], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault((pair.model, pair.prompt_version, pair.schema_hash), []).append(pair)
    out = []
    for (model, prompt, schema_hash), members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        group = {"model": model, "prompt_version": prompt, "schema_hash": schema_hash, **score(fields, members)}
        blind = [p for p in members if p.blind]
        if blind:
            group["blind"] = score(fields, blind)
            group["prefilled"] = score(fields, [p for p in members if not p.blind])
            group["gap"] = {name: _gap(group["prefilled"]["fields"][name], group["blind"]["fields"][name])
                            for name in group["fields"]}
        out.append(group)
    return {"groups": out}


def _gap(prefilled: dict, blind: dict) -> float | None:
    a, b = headline_figure(prefilled), headline_figure(blind)
    return None if a is None or b is None else a - b
