"""Export the gold for training: JSONL, spaCy DocBin, CoNLL IOB2, Hugging Face datasets, Label Studio JSON.

    from annotator.export import export
    report = export(db, schema, "spacy", "train.spacy", project="Conflict news", gold="majority")

Which gold counts on a task is `annotator.gold`'s (the same rules as eval and calibrate).

    records.py             pure: the gold of a sentence or of a document as plain JSON-ready records
    records_edge.py        the SQL edge: submitted gold by task, in document order, with its drafts
    run.py                 `export`: read the gold once per pass, shape it by level, hand it to a writer
    output.py              where an export goes: the --out path checked up front, optional libraries
    report.py              what an export did, as plain counts
    tokens.py              character spans on spaCy tokens: strict alignment, counted misalignment
    conll.py               CoNLL-2003 IOB2 text
    spacy_format.py        spaCy's DocBin
    hf.py                  Hugging Face `datasets`, saved with `save_to_disk`
    labelstudio_format.py  Label Studio JSON tasks with the gold as an annotation

Every format is written from the same records, built from the schema's field
kinds, so a user's own schema needs no code here. spaCy and datasets are optional
(`pip install 'annotator[export]'`) and imported only by their formats.
"""

from __future__ import annotations

from ..gold import GOLD_RULES as GOLD_MODES
from .records import RESERVED
from .report import ExportReport
from .run import FORMATS, LEVELS, export

__all__ = ["FORMATS", "GOLD_MODES", "LEVELS", "RESERVED", "ExportReport", "export"]
