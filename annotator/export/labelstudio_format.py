"""Label Studio JSON: tasks with their data and the gold as an annotation, ready to import elsewhere.

Each task is `{"data": {text, sentence_id, document_id, headline, context},
"annotations": [{"result": [...], "ground_truth": ...}]}`: the data keys `push`
sends, so the labeling config made from the same schema
(`annotator.labelstudio.config.label_config`) shows it; the result items come from
the same conversion as the predictions (`draft_to_result`), and reading them back
with `result_to_gold` gives the exported gold again. With drafts included, each
draft is a prediction (`model_version` as push writes it: model|prompt|schema hash).
The file is one JSON array, written as it goes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..context import Context
from ..errors import InputError
from ..kinds import REGION_KINDS
from ..kinds.relations import rows_of
from ..labelstudio.convert import draft_to_result
from ..schema import Schema
from .output import text_file
from .report import ExportReport, Records

Contexts = Callable[[str, int], Context]
"""context(document_id, idx): the headline and the sentences before, as push shows them."""


def result_of(schema: Schema, text: str, values: dict) -> list[dict]:
    """Label Studio result items for a record's field values (gold or a draft's)."""
    data = {spec.name: values.get(spec.name) for spec in schema.fields if spec.kind not in REGION_KINDS}
    spans = [{"field": spec.name, **span} for spec in schema.span_fields() for span in values.get(spec.name) or []]
    for spec in schema.relation_fields():  # records (with offsets) back to the draft's form
        data[spec.name], ends = rows_of(spec, values.get(spec.name) or [])
        spans += ends
    return draft_to_result(schema, text, data, spans)


def task_of(schema: Schema, record: dict, context: Context) -> dict:
    """The Label Studio task of one sentence record."""
    data = {"text": record["text"], "sentence_id": record["sentence_id"], "document_id": record["document_id"],
            "headline": context.headline or "", "context": " ".join(context.before)}
    try:
        task = {"data": data, "annotations": [{"result": result_of(schema, record["text"], record),
                                               "ground_truth": bool(record["ground_truth"])}]}
        if record.get("drafts"):
            task["predictions"] = [
                {"model_version": f"{d['model']}|{d['prompt_version']}|{d['schema_hash']}",
                 "result": result_of(schema, record["text"], d["values"])} for d in record["drafts"]]
    except ValueError as exc:
        raise InputError(f"sentence {record['sentence_id']}: {exc}; its gold does not fit the sentence or the "
                         "schema: check --schema, or pull it again") from exc
    return task


def write_labelstudio(records: Records, out: Path, schema: Schema, contexts: Contexts,
                      report: ExportReport) -> None:
    """Write sentence records as a Label Studio JSON array of tasks to `out`."""
    with text_file(out) as fh:
        fh.write("[")
        for n, record in enumerate(records(report, "Writing Label Studio tasks")):
            task = task_of(schema, record, contexts(record["document_id"], record["idx"]))
            fh.write(("\n" if n == 0 else ",\n") + json.dumps(task, ensure_ascii=False))
        fh.write("\n]\n")
