"""push, pull and sync: drafts from SQLite to Label Studio as tasks and predictions, gold back (the transfers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from ..errors import InputError
from ..settings import redact_url
from .ui import (
    by_status,
    console,
    db_option,
    open_database,
    out,
    progress_bar,
    schema_option,
    tracker,
)

if TYPE_CHECKING:
    from ..labelstudio.accept import RouteOutcome
    from ..labelstudio.pull import PullReport
    from ..labelstudio.push import PushReport


def project_options(f: Callable) -> Callable:
    """--project, --schema, --url shared by push, pull and sync."""
    f = click.option("--url", default=None, help="Label Studio URL [env LABEL_STUDIO_URL; default: the managed "
                     "server]. The key comes from LABEL_STUDIO_API_KEY.")(f)
    f = schema_option("Schema the project was made with: a built-in name, .py file, or module:Model.")(f)
    f = click.option("--project", "-p", "project_name", required=True, help="Label Studio project title.")(f)
    return db_option(f)


def print_push_report(report: PushReport) -> None:
    """The one-line push summary, and the drafts Label Studio's check refused."""
    reconciled = (f", {report.tasks_reconciled} found on the server from an earlier push"
                  if report.tasks_reconciled else "")
    out.print(f"Pushed to {redact_url(report.project_link)}: {report.tasks_created} new tasks, "
              f"{report.predictions_created} new predictions ({report.tasks_already} tasks already there"
              f"{reconciled}); model version {report.model_version}.", highlight=False, soft_wrap=True)
    if report.page:
        out.print(f"Annotator's page: {'; '.join(report.page)}.", highlight=False, soft_wrap=True)
    if report.overlap:
        out.print(f"Overlap: {report.overlap}.", highlight=False, soft_wrap=True)
    if report.blind_tasks:
        out.print(f"{report.blind_tasks} of the new tasks are blind: sent without a prediction.", highlight=False)
    if report.routing is not None:
        print_routing(report.routing)
    if report.duplicates:
        gone = set(report.duplicates_deleted)
        kept = [t for t in report.duplicates if t not in gone]
        note = (f"{len(gone)} deleted" + (f"; {len(kept)} kept because they carry annotations" if kept else "")
                if gone else "run push --dedupe to delete those without annotations")
        console.print(f"[yellow]{len(report.duplicates)} duplicate task(s) on the server[/] (a sentence with "
                      f"two tasks: {', '.join(map(str, report.duplicates[:10]))}); {note}.", highlight=False)
    if report.invalid_predictions:
        console.print(f"[yellow]{len(report.invalid_predictions)} draft(s) failed Label Studio's check and were "
                      f"not sent[/] (first: {escape(report.invalid_predictions[0])})", highlight=False,
                      soft_wrap=True)


def print_routing(outcome: RouteOutcome) -> None:
    """What push --route decided, in one or two lines."""
    if outcome.broken:
        console.print(f"[yellow]Routing version {outcome.version} is broken[/] (its audit's error lies above the "
                      "risk): nothing accepted, every new task went to people; run `annotator calibrate` and "
                      "`annotator route` again.", highlight=False, soft_wrap=True)
    elif outcome.threshold is None:
        out.print(f"Routing version {outcome.version} has no threshold (too little gold): nothing accepted.",
                  highlight=False)
    human = f" ({outcome.human_gold} already annotated by a person)" if outcome.human_gold else ""
    out.print(f"Routing version {outcome.version}: {outcome.accepted} drafts accepted from the model "
              f"({outcome.audited} of them also sent blind for the audit), {outcome.to_people} sent to people, "
              f"least confident first{human}.", highlight=False, soft_wrap=True)


def print_pull_report(report: PullReport) -> None:
    """The one-line pull summary."""
    out.print(f"Pulled {report.annotations_seen} annotations from {report.tasks_seen} tasks "
              f"({by_status(report.by_status, 'none')}): {report.inserted} new, {report.updated} updated, "
              f"{report.deleted} deleted, {report.unchanged} unchanged.", highlight=False, soft_wrap=True)


class Session:
    """What push, pull and sync need: the database, the server, the project's schema, a connected client.

    The schema is `schema_ref`, else the one the project was made with, else the default
    (`project_schema`); it is settled before the server is asked anything.
    """

    def __init__(self, db_file: str | None, schema_ref: str | None, url: str | None, project_name: str) -> None:
        from ..endpoints import resolve_labelstudio
        from ..labelstudio.api import open_client
        from ..labelstudio.projects import project_schema

        self.db = open_database(db_file)
        server = resolve_labelstudio(url)
        self.url: str = server.url or ""
        self.schema = project_schema(self.db, project_name, self.url, schema_ref)
        self.ls = open_client(self.url, server.api_key or "")

    def push(self, project_name: str, model: str | None = None, prompt_version: str | None = None,
             chunk_size: int = 1000, blind: float | None = None, dedupe: bool = False,
             include_boilerplate: bool = False, route: bool = False, audit: float = 0.1,
             overlap: int | None = None) -> PushReport:
        """Push with a progress bar and a one-line summary."""
        from ..labelstudio.push import push

        with progress_bar() as bar:
            task = bar.add_task("Pushing", total=None)
            report = push(self.db, self.ls, self.schema, project_name, url=self.url, chunk_size=chunk_size,
                          model=model, prompt_version=prompt_version, progress=tracker(bar, task, "Pushing"),
                          blind=blind, dedupe=dedupe, include_boilerplate=include_boilerplate, route=route,
                          audit=audit, overlap=overlap)
        print_push_report(report)
        return report

    def pull(self, project_name: str, full: bool = False) -> PullReport:
        """Pull with a progress bar and a one-line summary."""
        from ..labelstudio.pull import pull

        with progress_bar() as bar:
            task = bar.add_task("Pulling", total=None)
            report = pull(self.db, self.ls, self.schema, project_name, url=self.url, full=full,
                          progress=tracker(bar, task, "Pulling"))
        print_pull_report(report)
        return report


@click.command()
@project_options
@click.option("--model", default=None, help="Push only drafts from this model.")
@click.option("--prompt", "prompt_version", default=None, help="Push only drafts from this prompt version.")
@click.option("--chunk-size", type=click.IntRange(1, 5000), default=1000, show_default=True,
              help="Tasks per import request.")
@click.option("--blind", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Share of new tasks sent without a prediction, to measure how much drafts sway annotators "
                   "(kept by the project for later pushes; a blind task never gets a prediction).")
@click.option("--dedupe", is_flag=True, help="Delete duplicate tasks of a sentence that carry no annotation.")
@click.option("--include-boilerplate", is_flag=True, help="Push drafts of boilerplate sentences too (copyright, bylines).")
@click.option("--route", is_flag=True,
              help="Accept the new drafts the project's latest routing (annotator route) is confident in, without "
                   "review; send the others to people, least confident first.")
@click.option("--audit", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="With --route: the share of accepted drafts also sent to people blind, to check the "
                   "guarantee (chosen by a hash of the sentence id)  [default: 0.1]")
@click.option("--overlap", metavar="N", default=None,
              help="Give each task to N different annotators: Label Studio's labeling queue keeps a task until N "
                   "annotators submitted it and never gives it twice to one (the project keeps N; a push without "
                   "--overlap leaves it; a new project has 1).")
def push(db_file: str | None, project_name: str, schema_ref: str | None, url: str | None, model: str | None,
         prompt_version: str | None, chunk_size: int, blind: float | None, dedupe: bool,
         include_boilerplate: bool, route: bool, audit: float | None, overlap: str | None) -> None:
    """Send sentences with drafts to Label Studio as tasks with predictions.

    Creates the project on first use, for --schema (default news_events); every
    later command that names the project takes that schema without --schema. A
    re-push adds nothing; newer drafts of pushed sentences become new predictions
    on the same tasks. One push or pull of a project runs at a time.

    With --route, the latest routing decides each new sentence: a draft whose
    calibrated confidence is at or above its threshold is accepted (stored as
    gold from the model, never sent for correction, never counted as human
    gold); the others go to people in order of increasing confidence. A sentence
    a person annotated is never accepted. --audit sends a share of the accepted
    blind as well; `annotator eval` measures their error against the guarantee,
    and when it is plainly above the risk, push --route accepts nothing until
    calibrate and route are run again.

    \b
    Examples:
      annotator push --project "Conflict news"
      annotator push --project "Conflict news" --blind 0.1     # 10% of tasks without a draft
      annotator push --project "Conflict news" --overlap 3     # each task to three annotators
      annotator push --project "Conflict news" --route --audit 0.1  # after calibrate and route
      annotator push --project "Claims" --schema news_events_v2  # then: annotator pull -p "Claims"
      LABEL_STUDIO_URL=https://ls.example.org LABEL_STUDIO_API_KEY=... annotator push -p "Batch 3"
    """
    from ..labelstudio.overlap import parse_overlap

    if audit is not None and not route:
        raise InputError("--audit applies only with --route (it audits the drafts routing accepts); add --route")
    n = parse_overlap(overlap)
    Session(db_file, schema_ref, url, project_name).push(project_name, model, prompt_version, chunk_size, blind,
                                                         dedupe, include_boilerplate, route,
                                                         0.1 if audit is None else audit, n)


@click.command()
@project_options
@click.option("--full", is_flag=True, help="Re-read every annotation instead of only what changed.")
def pull(db_file: str | None, project_name: str, schema_ref: str | None, url: str | None, full: bool) -> None:
    """Bring submitted annotations from Label Studio into the gold table.

    Incremental: only what changed since the last pull is written. Edited
    annotations update their row, deleted ones are marked deleted, skipped
    tasks are recorded as skipped.

    \b
    Example:
      annotator pull --project "Conflict news"
    """
    Session(db_file, schema_ref, url, project_name).pull(project_name, full)


@click.command()
@project_options
def sync(db_file: str | None, project_name: str, schema_ref: str | None, url: str | None) -> None:
    """Push new drafts, then pull new annotations.

    \b
    Example:
      annotator sync --project "Conflict news"
    """
    session = Session(db_file, schema_ref, url, project_name)
    session.push(project_name)
    session.pull(project_name)


COMMANDS = [push, pull, sync]
