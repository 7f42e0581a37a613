"""`export`: read the gold once per pass, shape it by level, hand it to the format's writer."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from ..context import DocumentSentences
from ..errors import InputError
from ..gold import GOLD_RULES as GOLD_MODES
from ..schema import Schema
from .output import check_out, require, text_file
from .records import SentenceGold, check_field_names, document_record, sentence_record
from .records_edge import Documents, Progress, count_tasks, project_gold, select_projects
from .report import ExportReport, Records

FORMATS = ("jsonl", "spacy", "conll", "hf", "labelstudio")
LEVELS = ("sentence", "document")
LIBRARIES = {"spacy": "spacy", "conll": "spacy", "hf": "datasets"}
"""Formats that need an optional library."""
PROGRESS_EVERY = 256


def _check_options(fmt: str, gold: str, level: str) -> None:
    if fmt not in FORMATS:
        raise InputError(f"unknown --format {fmt!r}; use one of {', '.join(FORMATS)}")
    if gold not in GOLD_MODES:
        raise InputError(f"unknown --gold {gold!r}; use one of {', '.join(GOLD_MODES)}")
    if level not in LEVELS:
        raise InputError(f"unknown --level {level!r}; use one of {', '.join(LEVELS)}")
    if fmt == "labelstudio" and level == "document":
        raise InputError("Label Studio tasks are sentences (the labeling config shows one sentence); "
                         "drop --level document for --format labelstudio")
    if fmt in LIBRARIES:
        require(LIBRARIES[fmt], fmt)


def write_jsonl(records: Records, out: Path, report: ExportReport) -> None:
    """One JSON record per line."""
    with text_file(out) as fh:
        for record in records(report, "Writing JSONL"):
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


class _Reader:
    """The records of one export, read afresh on every pass (spaCy makes two)."""

    def __init__(self, db: sqlite_utils.Database, schema: Schema, projects: list, total: int, *, gold: str,
                 level: str, include_drafts: bool, progress: Progress | None, include_accepted: bool = False) -> None:
        self.db, self.schema, self.projects, self.total = db, schema, projects, total
        self.gold, self.level, self.include_drafts, self.progress = gold, level, include_drafts, progress
        self.include_accepted = include_accepted

    def _gold(self, report: ExportReport, description: str) -> Iterator[SentenceGold]:
        done = 0
        for project in self.projects:
            for item in project_gold(self.db, self.schema, project, self.gold, self.include_drafts, report,
                                     self.include_accepted):
                yield item
                done += 1
                if self.progress is not None and (done % PROGRESS_EVERY == 0 or done == self.total):
                    self.progress(description, done, self.total)

    def __call__(self, report: ExportReport, description: str) -> Iterator[dict]:
        documents = Documents(self.db)
        by_document = itertools.groupby(self._gold(report, description), key=lambda g: (g.project, g.document_id))
        for (_, document_id), group in by_document:
            sentences = list(group)
            report.documents += 1
            if self.level == "sentence":
                yield from (sentence_record(self.schema, g, self.include_drafts) for g in sentences)
                continue
            if documents.sentence_count(document_id) > len(sentences):
                report.partial_documents += 1
            yield document_record(self.schema, documents.text(document_id), sentences, self.include_drafts)


def export(db: sqlite_utils.Database, schema: Schema, fmt: str, out: str | Path, *, project: str | None = None,
           url: str | None = None, gold: str = "adjudicated", level: str = "sentence", include_drafts: bool = False,
           expand: bool = False, progress: Progress | None = None, include_accepted: bool = False) -> ExportReport:
    """Write the submitted gold of `schema` in `fmt` to `out`; what was written, and left out, in the report.

    `gold` picks the annotation(s) of a task (adjudicated, latest, ground-truth, majority; `annotator.gold`);
    `level` makes one record per sentence or per document (CoNLL is sentence by
    sentence either way; Label Studio only by sentence); `include_drafts` adds the
    drafts the annotations started from; `expand` widens spans that are not on
    token boundaries (spacy, conll) instead of leaving them out; `include_accepted` adds
    the drafts `push --route` accepted for sentences no person annotated, each record
    marked with its `source` ("person" or "model").
    """
    started = time.perf_counter()
    _check_options(fmt, gold, level)
    check_field_names(schema, include_accepted)
    out = check_out(Path(out), directory=fmt == "hf")
    projects = select_projects(db, project, url)
    total, other = count_tasks(db, schema, projects, include_accepted)
    if total == 0:
        hint = f"; {other} were made with other schemas: pass theirs with --schema" if other else \
            "; run `annotator pull` first"
        raise InputError(f"no submitted gold for schema {schema.name} (hash {schema.hash}) in "
                         f"{'project ' + repr(project) if project else 'any project'}{hint}")
    report = ExportReport(format=fmt, out=str(out), level=level, gold=gold, projects=len(projects),
                          other_schema=other)
    reader = _Reader(db, schema, projects, total, gold=gold, level="sentence" if fmt == "conll" else level,
                     include_drafts=include_drafts, progress=progress, include_accepted=include_accepted)
    _write(fmt, reader, out, schema, level, include_drafts, expand, report, db, include_accepted)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _write(fmt: str, reader: _Reader, out: Path, schema: Schema, level: str, include_drafts: bool, expand: bool,
           report: ExportReport, db: sqlite_utils.Database, include_accepted: bool = False) -> None:
    if fmt == "jsonl":
        write_jsonl(reader, out, report)
    elif fmt == "spacy":
        from .spacy_format import write_spacy

        write_spacy(reader, out, schema, level, expand, report)
    elif fmt == "conll":
        from .conll import write_conll

        write_conll(reader, out, schema, expand, report)
    elif fmt == "hf":
        from .hf import write_hf

        write_hf(reader, out, schema, level, include_drafts, report, include_accepted)
    else:
        from .labelstudio_format import write_labelstudio

        write_labelstudio(reader, out, schema, DocumentSentences(db).context, report)
