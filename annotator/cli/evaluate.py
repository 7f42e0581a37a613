"""`eval` (drafts against gold) and `agreement` (annotators against each other)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich import box
from rich.table import Column, Table

from ..errors import InputError
from .ui import console, db_option, open_database, out, refuse_given, schema_option


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _project_options(f):
    f = click.option("--url", default=None, help="Label Studio URL, when one project name is on several servers.")(f)
    f = click.option("--project", "-p", "project_name", default=None, help="Label Studio project title (default: all).")(f)
    f = schema_option("Schema the gold was made with.")(f)
    return db_option(f)


def gold_scope(db_file: str | None, schema_ref: str | None, project_name: str | None, url: str | None):
    """(database, schema) for eval, agreement and export: the schema is --schema, else the project's, else the
    default; --url without --project is an error (it picks the server of the project named)."""
    from ..labelstudio.projects import project_schema

    refuse_given(click.get_current_context(), () if project_name else ("url",),
                 "applies only with --project (it picks which server's project of that name)",
                 "add --project or leave it out")
    db = open_database(db_file)
    return db, project_schema(db, project_name, url, schema_ref)


def _span_table(name: str, field: dict) -> Table:
    table = Table("label", "TP", "FP", "FN", "precision", "recall", "F1", "F1 overlap",
                  title=f"{name} (spans)", title_justify="left")
    for label in ("(all)", *field["per_label"]):
        exact = field["exact"] if label == "(all)" else field["per_label"][label]
        overlap = field["overlap"] if label == "(all)" else field["per_label_overlap"][label]
        table.add_row(label, str(exact["tp"]), str(exact["fp"]), str(exact["fn"]), _fmt(exact["precision"]),
                      _fmt(exact["recall"]), _fmt(exact["f1"]), _fmt(overlap["f1"]))
    e = field["errors"]
    table.caption = (f"errors: {e['wrong_label']} wrong label, {e['wrong_boundary']} wrong boundary, "
                     f"{e['missed']} missed, {e['invented']} invented")
    return table


def _relation_table(name: str, field: dict) -> Table:
    table = Table("label", "TP", "FP", "FN", "precision", "recall", "F1", title=f"{name} (relations)",
                  title_justify="left")
    rows = [("(all)", field["exact"]), ("(both ends, any label)", field["unlabelled"]), *field["per_label"].items()]
    for label, f in rows:
        table.add_row(label, str(f["tp"]), str(f["fp"]), str(f["fn"]), _fmt(f["precision"]), _fmt(f["recall"]),
                      _fmt(f["f1"]))
    return table


def _choice_table(name: str, field: dict) -> Table:
    classes = sorted({*field["confusion"], *(d for row in field["confusion"].values() for d in row)})
    table = Table("gold \\ draft", *classes, title=f"{name}: accuracy {_fmt(field['accuracy'])} over {field['n']}",
                  title_justify="left")
    for gold in classes:
        row = field["confusion"].get(gold, {})
        table.add_row(gold, *(str(row.get(c, "")) for c in classes))
    return table


def _print_group(group: dict) -> None:
    effort = group["effort"]
    out.rule(f"{group['model']} · {group['prompt_version']} · schema {group['schema_hash']}")
    out.print(f"{group['annotations']} annotations; {effort['unchanged_share'] * 100:.0f}% submitted unchanged; "
              f"regions kept {effort['kept']}, relabelled {effort['relabelled']}, moved {effort['moved']}, "
              f"deleted {effort['deleted']}, added {effort['added']}; median lead time "
              f"{_fmt(effort['median_lead_time_prefilled'])} s pre-filled, {_fmt(effort['median_lead_time_blind'])} s "
              "blind", highlight=False)
    for name, field in group["fields"].items():
        if field["kind"] == "spans":
            out.print(_span_table(name, field))
        elif field["kind"] == "relations":
            out.print(_relation_table(name, field))
        elif field["kind"] == "choice":
            out.print(_choice_table(name, field))
        elif field["kind"] == "choices":
            out.print(f"{name}: exact set {_fmt(field['exact_set_rate'])} over {field['n']}")
        elif field["kind"] == "text":
            out.print(f"{name}: exact {_fmt(field['exact_rate'])}, similarity {_fmt(field['mean_similarity'])}")
        else:
            out.print(f"{name}: exact {_fmt(field['exact_rate'])}, mean absolute error {_fmt(field['mae'])}")
    if "draft_right" in group:
        out.print(_confidence_table(group))
    if "gap" in group:
        table = Table("field", "pre-filled", "blind", "gap", title="Blind against pre-filled", title_justify="left")
        from ..evaluate.compare import headline_figure
        for name, gap in group["gap"].items():
            table.add_row(name, _fmt(headline_figure(group["prefilled"]["fields"][name])),
                          _fmt(headline_figure(group["blind"]["fields"][name])), _fmt(gap))
        out.print(table)


def _confidence_table(group: dict) -> Table:
    """Per field (and span label) the confidence's AUROC, ECE and Brier before -> after calibration."""
    from ..confidence.calibration import MIN_ITEMS
    from ..confidence.figures import FOLDS

    table = Table(Column("field", no_wrap=True), "n", "signal", "AUROC", "ECE before→after", "Brier before→after",
                  title="Confidence (out of sample)", title_justify="left", box=box.SIMPLE_HEAD)
    for name, field in group["fields"].items():
        rows = [(name, field["calibration"])]
        rows += [(f"  · {label}", c) for label, c in group["calibration_per_label"].get(name, {}).items()]
        for title, c in rows:
            table.add_row(title, str(c["n"]), c["signal"], _fmt(c["auroc"]), f"{_fmt(c['ece_before'])}→{_fmt(c['ece_after'])}",
                          f"{_fmt(c['brier_before'])}→{_fmt(c['brier_after'])}")
    whole = group["draft_right"]
    table.add_row("(whole draft)", str(group["annotations"]), "product", _fmt(whole["auroc"]),
                  f"{_fmt(None)}→{_fmt(whole['ece_after'])}", "")
    table.caption = (f"ECE over 10 equal-count bins. Under {MIN_ITEMS} items (or {FOLDS} tasks) the raw signal "
                     "stands: the figure after repeats the one before.")
    return table


def _check_annotator(db, schema, annotator: str, project_name: str | None, url: str | None) -> None:
    """InputError when `annotator` has no gold of the schema, naming those who have some."""
    from ..evaluate.load import annotators

    names = annotators(db, schema, project=project_name, url=url)
    if annotator in names:
        return
    scope = f"project {project_name!r}" if project_name else "any project"
    who = (f"annotators with gold of schema {schema.name}: {', '.join(names)}; pass one of them to --annotator"
           if names else f"nobody has gold of schema {schema.name} there yet: pull first")
    raise InputError(f"no gold from annotator {annotator!r} in {scope}; {who}")


@click.command("eval")
@_project_options
@click.option("--annotator", default=None, help="Only this annotator's annotations (email or user id).")
@click.option("--gold", type=click.Choice(["adjudicated", "latest", "ground-truth", "all"]), default="adjudicated",
              show_default=True,
              help="Which annotations of a task count: adjudicated (the one marked ground truth, else what more "
                   "than half the annotators gave in every field, else the newest), the newest, the one marked "
                   "ground truth (else the newest), or every one.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None,
              help="Also write a self-contained HTML report to this file.")
def eval_command(db_file: str | None, schema_ref: str | None, project_name: str | None, url: str | None,
                 annotator: str | None, gold: str, as_json: bool, html_file: str | None) -> None:
    """Score the drafts against the gold: per field, per label, and the correction effort.

    Each submitted annotation is compared with the draft its task was pre-filled
    from, grouped by model, prompt version and schema. With blind tasks (push
    --blind) the blind and pre-filled figures are shown side by side. The
    drafts' confidence is judged out of sample (cross-fitted on this gold): per
    field and span label, AUROC against right/wrong, ECE and Brier before and
    after calibration; --html draws each field's reliability diagram. A routed
    project (annotator route, push --route) shows what routing did and its blind
    audit's error with an exact 95% interval next to the guarantee; drafts
    accepted from the model are never counted as gold.

    \b
    Examples:
      annotator eval
      annotator eval --project "Conflict news" --gold ground-truth --html report.html
      annotator eval --json | jq '.groups[0].fields.entities.exact.f1'
      annotator eval --json | jq '.groups[0].fields.event_type.calibration.ece_after'
      annotator eval -p "Conflict news" --json | jq '.groups[0].routing.audit_ci'
    """
    from ..api import Workspace
    from ..confidence.figures import fitting_available
    from ..confidence.metrics import EXTRA

    db, schema = gold_scope(db_file, schema_ref, project_name, url)
    if annotator is not None:
        _check_annotator(db, schema, annotator, project_name, url)
    evaluation = Workspace(db_file, schema=schema_ref).evaluation(project_name, gold=gold, annotator=annotator,
                                                                  url=url)
    report, n_pairs, missing = evaluation.report, evaluation.annotations, evaluation.report["annotations_without_draft"]
    if not fitting_available():
        console.print(f"Confidence: AUROC and the figures after calibration need scikit-learn; {EXTRA}",
                      highlight=False, markup=False, soft_wrap=True)
    routed = evaluation.routed
    if html_file:
        from ..evaluate.html import render

        scope = f"project {project_name}" if project_name else "every project"
        Path(html_file).write_text(render(report, f"Drafts against gold: {schema.name}",
                                          f"{scope}, gold: {gold}, {n_pairs} annotations", evaluation.reliability),
                                   encoding="utf-8")
        console.print(f"Wrote {html_file}", highlight=False)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    if not report["groups"]:
        out.print("No submitted annotation has a draft to compare with yet: push, annotate, pull, then run again.")
    for group in report["groups"]:
        _print_group(group)
    if report["groups"]:
        from ..gold import rules_line

        out.print(rules_line(report["gold_rules"]).capitalize() + f" (--gold {gold}).", highlight=False)
    if missing:
        console.print(f"{missing} annotation(s) have no draft of this schema and were left out.")
    _print_routing(routed)


def _print_routing(routed: list) -> None:
    """Per routed project: what routing did, its audit against the guarantee, and a broken guarantee."""
    from ..confidence.audit import summary_line

    for project, state in routed:
        out.print(summary_line(project.name, state), highlight=False, soft_wrap=True)
        if state.broken:
            console.print(f"[yellow]{state.broken_line(project.name)}[/]", highlight=False, soft_wrap=True)


@click.command("agreement")
@_project_options
@click.option("--top", type=click.IntRange(0), default=10, show_default=True,
              help="How many of the most disputed tasks to list.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def agreement_command(db_file: str | None, schema_ref: str | None, project_name: str | None, url: str | None, top: int,
                      as_json: bool) -> None:
    """How well annotators agree: Krippendorff's alpha and Cohen's kappa on choices, F1 on spans.

    Uses tasks with submitted annotations from two or more annotators (the newest
    of each annotator). Lists the tasks that disagree most, with their links, and
    how many disagreeing tasks are settled (an annotation marked ground truth;
    see annotator adjudicate).

    \b
    Examples:
      annotator agreement --project "Conflict news"
      annotator agreement --json | jq .fields.event_type.alpha
    """
    from ..evaluate.adjudicate import disputes, summary
    from ..evaluate.agreement import agreement
    from ..evaluate.load import agreement_annotations, people_gold

    db, schema = gold_scope(db_file, schema_ref, project_name, url)
    found = list(agreement_annotations(db, schema, project=project_name, url=url))
    if len(found) > 1:
        names = ", ".join(sorted({p.name for p, _ in found}))
        raise InputError(f"this database has several projects ({names}); pick one with --project")
    project, annotations = found[0] if found else (None, [])
    report = agreement(schema.fields, annotations, top=top)
    for item in report["disagreements"]:
        item["link"] = project.task_link(item["task_id"]) if project else None
    report["adjudication"] = summary(disputes(schema.fields, people_gold(db, schema, project)) if project else [])
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    _print_agreement(report)


def _print_agreement(report: dict) -> None:
    if not report["tasks"]:
        out.print("No task has answers from two or more annotators: there is no agreement figure (n/a). Have a "
                  "second annotator label some of the same tasks, pull, then run again.", highlight=False)
        return
    out.print(f"{report['tasks']} tasks with two or more annotators: {', '.join(report['annotators'])}",
              highlight=False)
    for name, field in report["fields"].items():
        if field["kind"] == "choice":
            kappas = ", ".join(f"{pair} {_fmt(k)}" for pair, k in field["kappa"].items()) or "no shared task"
            out.print(f"{name}: alpha {_fmt(field['alpha'])}; kappa {kappas}", highlight=False)
        elif field.get("nothing_marked"):
            what = "relations" if field["kind"] == "relations" else "spans"
            out.print(f"{name}: no {what} on either side (full agreement)", highlight=False)
        elif field["kind"] == "relations":
            table = Table("label", "F1 exact", title=f"{name} (relations)", title_justify="left")
            table.add_row("(all)", _fmt(field["f1_exact"]))
            table.add_row("(both ends, any label)", _fmt(field["f1_unlabelled"]))
            for label, f in field["per_label"].items():
                table.add_row(label, _fmt(f["f1_exact"]))
            out.print(table)
        else:
            table = Table("label", "F1 exact", "F1 overlap", title=f"{name} (spans)", title_justify="left")
            table.add_row("(all)", _fmt(field["f1_exact"]), _fmt(field["f1_overlap"]))
            for label, f in field["per_label"].items():
                table.add_row(label, _fmt(f["f1_exact"]), _fmt(f["f1_overlap"]))
            out.print(table)
    settle = report.get("adjudication")  # known when the report is of a project's pulled annotations
    if settle:
        out.print(f"{settle['disagreeing']} tasks disagree: {settle['settled']} settled (ground truth marked), "
                  f"{settle['open']} open (annotator adjudicate marks them for a reviewer)", highlight=False)
    if report["disagreements"]:
        table = Table("task", "disagreement", "link", title="Most disputed tasks", title_justify="left")
        for item in report["disagreements"]:
            table.add_row(str(item["task_id"]), _fmt(item["disagreement"]), item["link"] or "")
        out.print(table)


@click.command("adjudicate")
@click.option("--project", "-p", "project_name", required=True, help="Label Studio project title.")
@click.option("--url", default=None, help="Label Studio URL (default: LABEL_STUDIO_URL, else the managed server).")
@click.option("--below", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Only tasks whose agreement (1 - disagreement) is under this, e.g. 0.8.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@db_option
def adjudicate_command(project_name: str, url: str | None, below: float | None, as_json: bool,
                       db_file: str | None) -> None:
    """Mark the tasks whose annotators disagree for a reviewer to decide.

    From the pulled gold: tasks with two or more annotators who differ in any
    field (or, with --below, whose agreement is under it). The ones not settled
    yet get a Label Studio view of their own, "Adjudicate", that shows exactly
    them, most disputed first; re-running replaces its tasks. A reviewer settles
    a task by marking one annotation ground truth (the star), or by submitting
    their own and marking it; after `annotator pull` eval, export and calibrate
    take it (--gold adjudicated, the default).

    \b
    Examples:
      annotator pull --project "Conflict news" && annotator adjudicate --project "Conflict news"
      annotator adjudicate -p "Conflict news" --below 0.8
      annotator adjudicate -p "Conflict news" --json | jq '.tasks[].task_id'
    """
    from ..api import Workspace

    result = Workspace(db_file, label_studio_url=url).adjudicate(project_name, below=below)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    _print_adjudication(result)


def _print_adjudication(result) -> None:
    scope = f" with agreement under {result.below:g}" if result.below is not None else ""
    out.print(f"{len(result.disputed)} tasks of project {result.project!r} disagree{scope}: {len(result.open)} to "
              f"adjudicate, {len(result.settled)} settled (ground truth marked)", highlight=False)
    if result.open:
        table = Table("task", "disagreement", "fields that differ", "annotators", title="To adjudicate",
                      title_justify="left")
        for d in result.open:
            table.add_row(str(d.task_id), _fmt(d.disagreement), ", ".join(d.fields), ", ".join(d.annotators))
        out.print(table)
    if result.missing:
        console.print(f"{len(result.missing)} disputed tasks are gone from Label Studio (run pull --full): "
                      f"{', '.join(map(str, result.missing))}", highlight=False, soft_wrap=True)
    out.print(f"View \"Adjudicate\": {result.link}", highlight=False, soft_wrap=True)
    out.print(result.how_to(), highlight=False, soft_wrap=True, markup=False)


COMMANDS = [eval_command, agreement_command, adjudicate_command]
