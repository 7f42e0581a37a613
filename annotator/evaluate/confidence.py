"""What `eval` says of the drafts' confidence: calibration figures per group, out of sample (pure).

`Confidence.watch` passes eval's pairs through unchanged and keeps, for each group
(model, prompt version, schema hash), the calibration items of the pairs whose gold
a person made (never rows accepted from the model). `Confidence.annotate` then adds
to the report, computed on that gold alone (cross-fitted, the items of one sentence
in one fold):

- to each field of each group: `"calibration": {"n", "signal", "auroc", "ece_before",
  "ece_after", "brier_before", "brier_after"}` (None for a figure that does not exist);
- to each group: `"draft_right": {"auroc", "ece_after"}` for the whole draft, and
  `"calibration_per_label"`: span field -> label -> the same block as a field's.

It returns each group's reliability bins, which the HTML report draws.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

from ..confidence.figures import PoolFigures, assess_pool, draft_right, fitting_available
from ..confidence.items import ItemPool, draft_items
from ..kinds import FieldSpec
from .compare import Pair
from .load import MODEL_ANNOTATOR

GroupKey = tuple[str, str, str]


class Confidence:
    """Calibration items of eval's pairs, by group."""

    def __init__(self, fields: Sequence[FieldSpec]) -> None:
        self.fields = tuple(fields)
        self.pools: dict[GroupKey, ItemPool] = {}
        self._unnamed = itertools.count()

    def add(self, pair: Pair) -> None:
        """Keep one pair's items (none when a model, not a person, made its gold)."""
        if (pair.annotator or "").startswith(MODEL_ANNOTATOR):
            return
        key = (pair.model, pair.prompt_version, pair.schema_hash)
        pool = self.pools.setdefault(key, ItemPool(self.fields))
        group = pair.sentence_id if pair.sentence_id is not None else f"#{next(self._unnamed)}"
        grounded = 1.0 if pair.grounded is None else pair.grounded  # a pair built by hand: fully grounded
        pool.add(draft_items(self.fields, pair.draft_data, pair.draft_spans, pair.signals, grounded,
                             pair.gold_data, pair.gold_spans, group))

    def watch(self, pairs: Iterable[Pair]) -> Iterator[Pair]:
        """The pairs, unchanged, each one kept on its way through."""
        for pair in pairs:
            self.add(pair)
            yield pair

    def annotate(self, report: dict, fitting: bool | None = None) -> dict[GroupKey, PoolFigures]:
        """Add the calibration figures to `report` (see the module docstring); each group's figures by key.

        `fitting` (default: whether scikit-learn is installed) False leaves out what needs it."""
        fitting = fitting_available() if fitting is None else fitting
        out: dict[GroupKey, PoolFigures] = {}
        for group in report["groups"]:
            key = (group["model"], group["prompt_version"], group["schema_hash"])
            figures = out[key] = assess_pool(self.pools.get(key) or ItemPool(self.fields), fitting=fitting)
            for name, field in group["fields"].items():
                field["calibration"] = figures.fields[name].calibration()
            group["draft_right"] = draft_right(figures)
            group["calibration_per_label"] = {
                name: {label: a.calibration() for label, a in by_label.items()}
                for name, by_label in figures.labels.items()}
        return out


__all__ = ["Confidence"]
