"""A new draft's confidence from a stored calibration: per field, per span, per relation, and the whole draft (pure).

The maps are those `annotator calibrate` stores (`calibrate.stored_forms`): per field the
signal it was fitted on and its isotonic map (None: too little gold, the raw value
stands), per label of a span field likewise, and the whole draft's map of the product
of its fields' probabilities. Without a calibration (`maps` None) every figure is the
raw signal on [0, 1] (agreement, else log-probability, else the grounded share), and
`calibrated` is False. A field whose calibration signal this draft lacks (calibrated on
samples, drafted without) falls back to its raw signal too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..kinds import RELATIONS, SPANS, FieldSpec
from .calibration import CalibrationMap, signal_to_unit
from .items import Item, choose_signal, draft_items


@dataclass
class Confidence:
    """Probabilities that a draft's parts are right."""

    fields: dict[str, float] = field(default_factory=dict)
    """Every field: a non-region field's value right; a span or relation field: the product over its items."""
    spans: dict[str, list[float]] = field(default_factory=dict)
    """Every span field: one per drafted span, in the draft's order (its spans without a relation)."""
    relations: dict[str, list[float]] = field(default_factory=dict)
    draft: float = 1.0
    calibrated: bool = False
    """True when every figure came through a fitted map."""


def _probability(item: Item, entry: Mapping | None) -> tuple[float, bool, str]:
    """(the item's probability, whether a fitted map gave it, the signal it came from)."""
    if entry and entry.get("map") and entry.get("signal") in item.signals:
        unit = signal_to_unit(entry["signal"], item.signals[entry["signal"]])
        return CalibrationMap.from_json(entry["map"]).apply(unit), True, entry["signal"]
    signal = choose_signal([item])
    return signal_to_unit(signal, item.signals[signal]), False, signal


def _section(maps: Mapping | None, part: str, name: str) -> Any:
    section = maps.get(part) if isinstance(maps, Mapping) else None
    return section.get(name) if isinstance(section, Mapping) else None


def draft_confidence(fields: Sequence[FieldSpec], maps: Mapping | None, data: Mapping, spans: Sequence[dict],
                     signals: Mapping | None, grounded: float) -> Confidence:
    """The confidence of one draft (its data, grounded spans, stored signals or None, grounded score)."""
    items = draft_items(fields, data, spans, signals, grounded, {}, [], None)
    out, every_map = Confidence(), True
    raw_parts, on_grounded = [], False  # without a draft map: the grounded share is one draft-level factor
    for spec in fields:
        entry = _section(maps, "fields", spec.name)
        probs = []
        if spec.kind == SPANS:
            labels = [s.get("label") for s in spans if s.get("field") == spec.name and "relation" not in s]
            by_label = _section(maps, "labels", spec.name) or {}
            for item, label in zip(items.fields[spec.name], labels, strict=True):
                label_entry = by_label.get(label) if isinstance(by_label, Mapping) else None
                p, fitted, signal = _probability(item, label_entry if label_entry and label_entry.get("map")
                                                 else entry)
                probs.append(p)
                every_map &= fitted
                on_grounded |= _raw_part(raw_parts, p, fitted, signal)
            out.spans[spec.name] = probs
        else:
            for item in items.fields[spec.name]:
                p, fitted, signal = _probability(item, entry)
                probs.append(p)
                every_map &= fitted
                on_grounded |= _raw_part(raw_parts, p, fitted, signal)
            if spec.kind == RELATIONS:
                out.relations[spec.name] = probs
        out.fields[spec.name] = math.prod(probs)
    product = math.prod(out.fields.values())
    draft_entry = maps.get("draft") if isinstance(maps, Mapping) else None
    if draft_entry and draft_entry.get("map"):
        out.draft = CalibrationMap.from_json(draft_entry["map"]).apply(product)
    else:
        out.draft, every_map = math.prod(raw_parts) * (grounded if on_grounded else 1.0), False
    out.calibrated = every_map
    return out


def _raw_part(parts: list[float], p: float, fitted: bool, signal: str) -> bool:
    """Keep an item's probability for the uncalibrated whole-draft figure; True when it is the draft's grounded
    share, which counts once however many items fall back to it."""
    if not fitted and signal == "grounded":
        return True
    parts.append(p)
    return False


__all__ = ["Confidence", "draft_confidence"]
