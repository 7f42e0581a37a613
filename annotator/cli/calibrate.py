"""`calibrate`: a project's confidence calibrated on its human gold, stored as a numbered version."""

from __future__ import annotations

import json

import click
from rich import box
from rich.table import Column, Table

from .ui import console, db_option, open_database, out


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _table(figures: dict) -> Table:
    table = Table(Column("field", no_wrap=True), "n", "signal", "AUROC", "ECE before→after", "Brier before→after", "map",
                  title="Calibration (every figure cross-fitted: 5 folds, by task)", title_justify="left",
                  box=box.SIMPLE_HEAD)

    def add(title: str, f: dict) -> None:
        table.add_row(title, str(f["n"]), f["signal"], _fmt(f["auroc"]), f"{_fmt(f['ece_before'])}→{_fmt(f['ece_after'])}",
                      f"{_fmt(f['brier_before'])}→{_fmt(f['brier_after'])}", "fitted" if f["calibrated"] else "raw")

    for name, f in figures["fields"].items():
        add(name, f)
        for label, lf in figures["labels"].get(name, {}).items():
            add(f"  · {label}", lf)
    add("(whole draft)", {**figures["draft"], "signal": "product"})
    return table


@click.command("calibrate")
@db_option
@click.option("--project", "-p", "project_name", required=True, help="Label Studio project title.")
@click.option("--url", default=None, help="Label Studio URL, when one project name is on several servers.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def calibrate_command(db_file: str | None, project_name: str, url: str | None, as_json: bool) -> None:
    """Calibrate the drafts' confidence on the project's human gold, field by field.

    For every field, and every label of a span field, fits an isotonic map from
    the draft's signal (agreement of sampled answers, else the log-probability,
    else the grounded share) to the probability that the draft is right, and
    stores the maps as the project's next calibration version. Every figure is
    out of sample (cross-fitted, 5 folds, a task's items in one fold). A field
    with fewer than 30 gold items keeps its raw signal. The same gold again
    stores nothing ("unchanged"); pull more gold and run again for a new version.
    A task's gold is the annotation marked ground truth, else what more than half
    of its annotators gave in every field, else the newest (--gold adjudicated).
    Needs scikit-learn: pip install 'annotator[calibrate]'.

    \b
    Examples:
      annotator calibrate --project "Conflict news"
      annotator calibrate --project "Conflict news" --url http://localhost:8080
      annotator calibrate -p "Conflict news" --json | jq '.fields.event_type.ece_after'
    """
    from ..confidence.calibrate import calibrate, one_project
    from ..confidence.calibration import MIN_ITEMS
    from ..confidence.metrics import require
    from ..labelstudio.projects import project_schema

    require("sklearn.isotonic", "calibrate")
    db = open_database(db_file)
    project = one_project(db, project_name, url)
    schema = project_schema(db, project_name, project.url, None)
    result = calibrate(db, schema, project)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    if result.unchanged:
        out.print(f"unchanged: version {result.version} of project {project.name!r} was fitted on this same gold "
                  f"({result.gold} annotations)", highlight=False)
    else:
        out.print(f"Stored calibration version {result.version} of project {project.name!r}, fitted on "
                  f"{result.gold} annotations", highlight=False)
    if "gold_rules" in result.figures:
        from ..gold import rules_line

        out.print(rules_line(result.figures["gold_rules"]).capitalize() + " (ground truth, else a strict majority, "
                  "else the newest).", highlight=False, soft_wrap=True)
    out.print(_table(result.figures))
    raw = result.raw()
    if raw:
        console.print(f"Too little gold to calibrate (fewer than {MIN_ITEMS} items, or 5 tasks), keeping the raw "
                      f"signal: {', '.join(raw)}", highlight=False, soft_wrap=True)


COMMANDS = [calibrate_command]
