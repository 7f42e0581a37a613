"""Export the gold for training: JSONL, spaCy DocBin, CoNLL IOB2, Hugging Face datasets, Label Studio JSON.

    from annotator.export import export
    report = export(db, schema, "spacy", "train.spacy", project="Conflict news", gold="majority")

Every format is written from the same records (`records.py`), built from the
schema's field kinds, so a user's own schema needs no code here. spaCy and datasets
are optional (`pip install 'annotator[export]'`) and imported only by their formats.
"""

from __future__ import annotations

from .records import RESERVED
from .report import ExportReport
from .run import FORMATS, LEVELS, export
from .select import GOLD_MODES

__all__ = ["FORMATS", "GOLD_MODES", "LEVELS", "RESERVED", "ExportReport", "export"]
