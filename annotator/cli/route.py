"""`route`: a confidence threshold with a risk guarantee on the project's gold, stored as a numbered version."""

from __future__ import annotations

import json

import click

from .ui import db_option, open_database, out

SHARE = click.FloatRange(0, 1, min_open=True, max_open=True)


def _lines(result) -> list[str]:
    """What `route` prints (see `confidence.route.RouteResult`)."""
    r, name = result.routing, result.project.name
    head = (f"unchanged: routing version {r.version} of project {name!r}" if result.unchanged
            else f"Stored routing version {r.version} of project {name!r}")
    head += f" (calibration version {r.calibration_version}, risk {r.risk:g}, delta {r.delta:g})"
    if r.threshold is None:
        lines = [f"{head}: no threshold can be guaranteed on {r.n} gold tasks ({result.gold_errors} wrong); push "
                 "--route accepts nothing and sends every task to people."]
        rate = result.gold_errors / r.n if r.n else 0.0
        if result.needed is None:
            lines.append(f"The drafts are wrong on {rate:.1%} of the gold, not below the risk {r.risk:g}: more gold "
                         "at this error rate will not do; better drafts or a larger --risk would.")
        elif result.needed > r.n:
            lines.append(f"At this error rate ({rate:.1%}) a guarantee needs at least {result.needed} gold tasks: "
                         f"{result.needed - r.n} more (annotate, pull, calibrate, route again).")
        else:
            lines.append(f"At this error rate ({rate:.1%}) {result.needed} gold tasks would do, but the most confident "
                         "drafts are not the right ones often enough: the confidence does not separate them yet.")
        return lines
    lines = [f"{head}: threshold {r.threshold:.4g}",
             f"It rests on {r.n} gold tasks: {r.accepted} at or above it, {r.errors} of them wrong; their error "
             f"bound is {r.bound:.4f} (at most {r.risk:g} wrong with probability at least {1 - r.delta:g})."]
    share = result.drafts_accepted / result.drafts if result.drafts else 0.0
    lines.append(f"Of the {result.drafts} drafts waiting to be pushed (one per sentence) it would accept "
                 f"{result.drafts_accepted} ({share:.1%}); the others go to people, the least confident first.")
    return lines


@click.command("route")
@db_option
@click.option("--project", "-p", "project_name", required=True, help="Label Studio project title.")
@click.option("--url", default=None, help="Label Studio URL, when one project name is on several servers.")
@click.option("--risk", type=SHARE, default=0.05, show_default=True,
              help="The error rate allowed among accepted tasks (a task is wrong when any field differs).")
@click.option("--delta", type=SHARE, default=0.1, show_default=True,
              help="The chance allowed that the risk is exceeded all the same.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of lines.")
def route_command(db_file: str | None, project_name: str, url: str | None, risk: float, delta: float,
                  as_json: bool) -> None:
    """Choose which drafts may skip review: a confidence threshold guaranteed on the gold.

    Each gold task's whole draft has its out-of-sample calibrated confidence
    (cross-fitted by task on the gold the latest calibration was fitted on) and
    is wrong when any field differs from the gold. The threshold is the lowest
    at which the error among the tasks it accepts is at most --risk with
    probability at least 1 - --delta (fixed-sequence testing, exact
    Clopper-Pearson bounds). With too little gold there is none: nothing is
    accepted, and route says how much more gold a guarantee needs. Stored as
    the project's next routing version; the same calibration, risk and delta
    again store nothing. `push --route` uses the latest version. Needs a
    calibration (annotator calibrate) and scipy: pip install 'annotator[calibrate]'.

    \b
    Examples:
      annotator calibrate --project "Conflict news"
      annotator route --project "Conflict news" --risk 0.05 --delta 0.1
      annotator route -p "Conflict news" --json | jq .threshold
      annotator push --project "Conflict news" --route --audit 0.1
    """
    from ..confidence.calibrate import one_project
    from ..confidence.metrics import require
    from ..confidence.route import route
    from ..labelstudio.projects import project_schema

    require("sklearn.isotonic", "route")
    require("scipy.stats", "route")
    db = open_database(db_file)
    project = one_project(db, project_name, url)
    schema = project_schema(db, project_name, project.url, None)
    result = route(db, schema, project, risk, delta)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    for line in _lines(result):
        out.print(line, highlight=False, soft_wrap=True)


COMMANDS = [route_command]
