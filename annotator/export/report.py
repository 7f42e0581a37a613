"""What an export did: counts kept as plain integers, filled in by the reader and the writers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field


@dataclass
class ExportReport:
    """Counts of one export. Spans left out or changed are always counted, never dropped silently."""

    format: str = ""
    out: str = ""
    level: str = "sentence"
    gold: str = "adjudicated"
    projects: int = 0
    sentences: int = 0
    """Sentences (tasks) exported."""
    documents: int = 0
    annotations: int = 0
    """Annotations the exported gold comes from."""
    spans: int = 0
    """Spans in the exported gold."""
    ties: int = 0
    """(task, field) pairs left empty because annotators split evenly (--gold majority)."""
    ties_by_field: Counter = field(default_factory=Counter)
    gold_rules: Counter = field(default_factory=Counter)
    """Tasks by the rule that decided their gold (ground-truth, majority, latest)."""
    other_schema: int = 0
    """Submitted annotations of these projects made with another schema (not exported)."""
    without_draft: int = 0
    """Annotations whose draft is unknown (blind tasks, drafts deleted)."""
    misaligned: int = 0
    """Spans whose ends are not token boundaries (spacy, conll)."""
    expanded: int = 0
    """Misaligned spans exported widened to whole tokens (--expand-misaligned)."""
    overlapping: int = 0
    """Spans left out of CoNLL because they overlap an earlier span of the same field."""
    dropped: int = 0
    """Spans not in the file: misaligned without expand, overlapping in CoNLL, or whitespace only."""
    ents_fields: list[str] = field(default_factory=list)
    """spacy: span fields written to doc.ents (they never overlap)."""
    spans_fields: list[str] = field(default_factory=list)
    """spacy: span fields written to doc.spans[FIELD]."""
    partial_documents: int = 0
    """--level document: documents with sentences that have no gold (those carry no spans in the file)."""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """JSON-ready form."""
        out = asdict(self)
        out["ties_by_field"] = dict(self.ties_by_field)
        out["gold_rules"] = dict(self.gold_rules)
        return out


Records = Callable[[ExportReport, str], Iterator[dict]]
"""records(report, description): the export's records, read afresh, counting into `report` (a writer may read
them twice, the first time into a scratch report)."""
