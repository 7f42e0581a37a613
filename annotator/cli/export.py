"""`export`: the gold as training files (JSONL, spaCy, CoNLL, Hugging Face datasets, Label Studio JSON)."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from .ui import StageBars, console, db_option, out, refuse_given, schema_option

FORMATS = ("jsonl", "spacy", "conll", "hf", "labelstudio")
GOLD_MODES = ("adjudicated", "latest", "ground-truth", "majority")
LEVELS = ("sentence", "document")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _summary(report) -> list[str]:
    """What was written, then every span or value left out or changed."""
    lines = [f"Wrote {_plural(report.sentences, 'sentence')} ({_plural(report.documents, 'document')}, "
             f"{_plural(report.spans, 'span')}) from {_plural(report.annotations, 'annotation')} to {report.out} "
             f"in {report.seconds:.1f} s."]
    if report.sentences:
        from ..gold import rules_line

        lines.append(rules_line(report.gold_rules).capitalize() + ".")
    if report.ents_fields or report.spans_fields:
        lines.append(f"doc.ents: {', '.join(report.ents_fields) or '(none)'}; doc.spans: "
                     f"{', '.join(report.spans_fields) or '(none)'}")
    return lines


def _warnings(report) -> list[str]:
    found = []
    if report.ties:
        by_field = ", ".join(f"{name} {n}" for name, n in sorted(report.ties_by_field.items()))
        found.append(f"{_plural(report.ties, 'tie')} left empty and listed in each record's `ties` ({by_field}).")
    if report.misaligned:
        what = (f"{report.expanded:,} widened to whole tokens" if report.expanded else
                "left out (pass --expand-misaligned to widen them to whole tokens)")
        found.append(f"{_plural(report.misaligned, 'span')} not on token boundaries: {what}.")
    if report.overlapping:
        found.append(f"{_plural(report.overlapping, 'span')} overlapping an earlier span of the same field left out "
                     "of CoNLL (use spacy or hf to keep them).")
    if report.partial_documents:
        found.append(f"{_plural(report.partial_documents, 'document')} with sentences that have no gold; only the "
                     "annotated sentences (listed in `sentences`) carry labels.")
    if report.other_schema:
        found.append(f"{_plural(report.other_schema, 'annotation')} made with another schema not exported "
                     "(pass their --schema).")
    return found


def _refuse_inapplicable(ctx: click.Context, fmt: str) -> None:
    """InputError for a flag the format does not use."""
    if fmt not in ("spacy", "conll"):
        refuse_given(ctx, ("expand",), f"does not apply with --format {fmt} (only spacy and conll split the text "
                                       "into tokens)")
    if fmt == "conll":
        refuse_given(ctx, ("level",), "does not apply with --format conll (CoNLL is written sentence by sentence)")
        refuse_given(ctx, ("include_drafts",), "does not apply with --format conll (CoNLL has no place for drafts)")


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="Output format.")
@click.option("--out", "out_path", type=click.Path(), required=True,
              help="File to write (a folder for --format hf), replaced whole; a symlink is written through, "
                   "a device or FIFO written in place, - is standard output.")
@click.option("--project", "-p", "project_name", default=None, help="Label Studio project title (default: all).")
@click.option("--url", default=None, help="Label Studio URL, when one project name is on several servers.")
@schema_option("Schema the gold was made with.")
@click.option("--gold", type=click.Choice(GOLD_MODES), default="adjudicated", show_default=True,
              help="Which gold of a task counts: adjudicated (the annotation marked ground truth, else what more "
                   "than half the annotators gave in every field, else the newest), the newest, the one marked "
                   "ground truth (else the newest), or per field what most annotators gave (ties left empty "
                   "and reported). Each record's gold_rule says which rule decided.")
@click.option("--level", type=click.Choice(LEVELS), default="sentence", show_default=True,
              help="One record per sentence, or per document with offsets into the document's text.")
@click.option("--include-drafts", is_flag=True, help="Add the drafts the annotations started from.")
@click.option("--include-accepted", is_flag=True,
              help="Add the drafts push --route accepted from the model (for sentences no person annotated); "
                   "every record then says its source: person or model.")
@click.option("--expand-misaligned", "expand", is_flag=True,
              help="spacy, conll: widen spans that are not on token boundaries instead of leaving them out.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@db_option
def export_command(fmt: str, out_path: str, project_name: str | None, url: str | None, schema_ref: str | None,
                   gold: str, level: str, include_drafts: bool, include_accepted: bool, expand: bool,
                   as_json: bool, db_file: str | None) -> None:
    """Write the submitted gold as training data.

    Only what people annotated, unless --include-accepted adds the drafts push
    --route accepted from the model (each record then marked with its source).

    \b
    Formats:
      jsonl        one JSON record per sentence (or document): ids, text, every
                   field (spans as start, end, label, text), annotators, drafts
      spacy        a DocBin: spans to doc.ents (doc.spans[FIELD] where they
                   overlap), choices to doc.cats as FIELD:LABEL
      conll        CoNLL-2003 IOB2, one tag column per span field
      hf           a Hugging Face datasets folder (load_from_disk), typed features
      labelstudio  tasks with the gold as annotations, to import into a project
                   made with `annotator schema config`
    spacy, conll and hf need: pip install 'annotator[export]'

    \b
    Examples:
      annotator export --format jsonl --out gold.jsonl
      annotator export --format spacy --out train.spacy --project "Conflict news"
      annotator export --format conll --out gold.conll --gold majority
      annotator export --format hf --out gold_ds --level document --include-drafts
      annotator export --format labelstudio --out tasks.json --gold ground-truth
      annotator export --format jsonl --out all.jsonl --include-accepted   # with push --route's accepted
    """
    from ..export import export
    from .evaluate import gold_scope

    _refuse_inapplicable(click.get_current_context(), fmt)
    db, schema = gold_scope(db_file, schema_ref, project_name, url)
    with StageBars() as bars:
        report = export(db, schema, fmt, out_path, project=project_name, url=url, gold=gold, level=level,
                        include_drafts=include_drafts, expand=expand, include_accepted=include_accepted,
                        progress=lambda description, done, total: bars.update(description, description, done,
                                                                              total))
    results = console if out_path == "-" else out  # standard output carries the export itself
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False), err=out_path == "-")
        return
    for line in _summary(report):
        results.print(escape(line), highlight=False, soft_wrap=True)
    for line in _warnings(report):
        console.print(f"[yellow]{escape(line)}[/]", highlight=False, soft_wrap=True)
    if report.without_draft and include_drafts:
        console.print(f"{_plural(report.without_draft, 'annotation')} without a known draft (blind tasks or "
                      "drafts made later): `draft_ids` holds null for them.", highlight=False, soft_wrap=True)


COMMANDS = [export_command]
