"""The `annotator` command line: a thin layer over the library."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from . import __version__
from .errors import AnnotatorError, InputError, LLMError
from .services.llamacpp import MODEL_ALIAS as DEFAULT_MODEL
from .settings import db_path

console = Console(stderr=True)
out = Console()

SMOLLM_WARNING = (
    "Using the embedded SmolLM2-135M model: it is tiny and its drafts are poor, a demonstration only. "
    "For real work set OPENAI_API_KEY (and ANNOTATOR_MODEL), or OPENAI_BASE_URL for a bigger local server."
)


class Group(click.Group):
    """Turns AnnotatorError into one `Error: ...` line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AnnotatorError as exc:
            console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            console.print("Interrupted.")
            sys.exit(130)


def progress_bar() -> Progress:
    """The progress bar every long command uses (on stderr, so stdout stays clean)."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def with_spinner(description: str, action: Callable[[Callable[[str], None]], Any]) -> Any:
    """Run `action(say)` under a spinner whose text follows what the action says."""
    with progress_bar() as bar:
        task = bar.add_task(description, total=None)
        return action(lambda msg: bar.update(task, description=msg))


def db_option(f: Callable) -> Callable:
    """--db, defaulting to ANNOTATOR_DB or ./annotator.db."""
    return click.option("--db", "db_file", envvar="ANNOTATOR_DB", default=None,
                        help="SQLite database [env ANNOTATOR_DB; default ./annotator.db]")(f)


def open_database(db_file: str | None):
    """Open the database named by the flag or the environment."""
    from .store import open_db
    return open_db(db_path(db_file))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="annotator")
def cli() -> None:
    """LLM pre-annotation of sentences, corrected in Label Studio, gold labels in SQLite.

    \b
    A typical session:
      annotator ingest news/*.txt
      annotator annotate --concurrency 8
      annotator push --project "Conflict news"
      (annotators correct the drafts in Label Studio)
      annotator pull --project "Conflict news"
      annotator status
    """


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@db_option
def ingest(paths: tuple[str, ...], db_file: str | None) -> None:
    """Split documents into sentences and store them.

    PATHS are .txt files (one document each; a headline first line is its own
    sentence), .jsonl or .csv files (a `text` field, optional `id`, `title`,
    `source`), folders, or - for standard input. Re-ingesting adds nothing.

    \b
    Examples:
      annotator ingest article.txt
      annotator ingest corpus/ feed.jsonl
      cat wire.jsonl | annotator ingest -
    """
    from .ingest import ingest as run_ingest
    from .ingest import read_inputs

    db = open_database(db_file)
    with progress_bar() as bar:
        task = bar.add_task("Ingesting", total=None)
        report = run_ingest(db, read_inputs(paths), progress=lambda: bar.advance(task))
    for problem in report.problems:
        console.print(f"[red]Error:[/] {problem}", highlight=False, soft_wrap=True)
    out.print(f"{report.documents_new} new documents ({report.documents_seen - report.documents_new} already "
              f"stored), {report.sentences_new} new sentences.")
    if report.problems:
        console.print(f"{len(report.problems)} input(s) skipped; fix them and re-run (stored input is kept).")
        sys.exit(1)


def resolve_llm(base_url: str | None, model: str | None) -> tuple[str | None, str | None, str, bool]:
    """(base_url, api_key, model, embedded) from flags, environment, or the running embedded server."""
    from .llm import LLMClient

    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = os.environ.get("OPENAI_API_KEY") or None
    model = model or os.environ.get("ANNOTATOR_MODEL") or None
    embedded = False
    if base_url is None and api_key is None:
        from .services.llamacpp import LocalLLMServer

        info = LocalLLMServer().status()
        if info is None:
            raise LLMError(
                "no LLM configured; set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (any OpenAI-compatible "
                "server), or run `annotator llm start` for the embedded SmolLM2 server"
            )
        base_url, embedded = info.url, True
        model = model or info.model
    if model is None:
        if base_url is None:
            model = "gpt-4o-mini"
        else:
            offered = LLMClient(base_url=base_url, api_key=api_key, model="", timeout=10).list_models()
            if len(offered) != 1:
                raise InputError(f"pick a model with --model or ANNOTATOR_MODEL; the server offers: "
                                 f"{', '.join(offered) or 'none'}")
            model = offered[0]
    return base_url, api_key, model, embedded or model == DEFAULT_MODEL


@cli.command()
@click.option("--schema", "schema_ref", default="news_events", show_default=True,
              help="Schema: built-in name, .py file, or module:Model.")
@click.option("--prompt", "prompt_ref", default=None, help="Prompt version (e.g. news_events.v1) or .j2 file; default: newest for the schema.")
@click.option("--model", default=None, help="Model name [env ANNOTATOR_MODEL].")
@click.option("--base-url", default=None, help="OpenAI-compatible server URL [env OPENAI_BASE_URL]. The key comes from OPENAI_API_KEY.")
@click.option("--mode", type=click.Choice(["auto", "json_schema", "json_object", "tools", "prompt"]), default="auto",
              show_default=True, help="Structured-output mode; auto falls back when the server refuses one.")
@click.option("--concurrency", "-c", type=click.IntRange(1, 512), default=4, show_default=True, help="Requests in flight.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Draft at most this many sentences.")
@click.option("--max-reasks", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Times an invalid reply is sent back with its error.")
@click.option("--retries", type=click.IntRange(0, 50), default=8, show_default=True, help="Transport retries per request.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds per request.")
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--max-tokens", type=int, default=1024, show_default=True)
@db_option
def annotate(schema_ref: str, prompt_ref: str | None, model: str | None, base_url: str | None, mode: str,
             concurrency: int, limit: int | None, max_reasks: int, retries: int, timeout: float,
             temperature: float, max_tokens: int, db_file: str | None) -> None:
    """Draft every sentence that has no draft yet for (schema, prompt, model).

    Finished drafts are committed one by one: Ctrl-C or a crash loses nothing,
    and a re-run continues where it stopped. Identical requests are answered
    from the cache, so a re-run costs nothing.

    \b
    Examples:
      annotator annotate                                  # embedded SmolLM2 server (annotator llm start)
      OPENAI_API_KEY=sk-... annotator annotate --model gpt-4o-mini -c 16
      annotator annotate --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
      annotator annotate --base-url http://localhost:11434/v1 --model llama3.1 --mode json_object
    """
    from .annotate import annotate as run_annotate
    from .llm import LLMClient
    from .prompts import load_prompt
    from .schema import load_schema

    schema = load_schema(schema_ref)
    prompt = load_prompt(prompt_ref, schema.name)
    db = open_database(db_file)
    base_url, api_key, model, embedded = resolve_llm(base_url, model)
    if embedded:
        console.print(f"[yellow]{SMOLLM_WARNING}[/]", highlight=False)
    client = LLMClient(base_url=base_url, api_key=api_key, model=model, timeout=timeout, max_retries=retries,
                       temperature=temperature, max_tokens=max_tokens)
    console.print(f"Model {model} at {base_url or 'OpenAI'}, prompt {prompt.version}, schema {schema.name} "
                  f"({schema.hash})", highlight=False)
    with progress_bar() as bar:
        task = bar.add_task("Annotating", total=None)
        report = run_annotate(
            db, client, schema, prompt, mode=mode, concurrency=concurrency, limit=limit, max_reasks=max_reasks,
            on_start=lambda n: bar.update(task, total=n),
            on_done=lambda row: bar.advance(task),
        )
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(report.by_status.items())) or "nothing to do"
    out.print(f"{report.done} drafts ({statuses}); {report.llm_calls} LLM calls, "
              f"{report.prompt_tokens} prompt + {report.completion_tokens} completion tokens; "
              f"{report.dropped_spans} spans not found in their sentence were dropped; mode {report.mode}.",
              highlight=False)
    if report.interrupted:
        console.print("Interrupted: finished drafts are stored; run the same command to continue.")
        sys.exit(130)
    if report.by_status.get("failed"):
        console.print(f"{report.by_status['failed']} sentence(s) failed (see `annotator status`); "
                      "re-run `annotator annotate` to retry them.")
        sys.exit(1)


@cli.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(db_file: str | None, as_json: bool) -> None:
    """Show documents, sentences, drafts by status, tokens, failures and projects.

    \b
    Example:
      annotator status --db news.db
    """
    from .status import summary

    data = summary(open_database(db_file))
    if as_json:
        out.print_json(json.dumps(data))
        return
    out.print(f"{data['documents']} documents, {data['sentences']} sentences")
    if data["drafts"]:
        table = Table("schema", "prompt", "model", "status", "drafts", "prompt tok", "completion tok", "dropped spans",
                      title="Drafts")
        for r in data["drafts"]:
            table.add_row(r["schema_name"], r["prompt_version"], r["model"], r["status"], str(r["n"]),
                          str(r["prompt_tokens"] or 0), str(r["completion_tokens"] or 0), str(r["dropped_spans"] or 0))
        out.print(table)
    if data["failures"]:
        table = Table("status", "reason", "count", title="Not ok")
        for r in data["failures"]:
            table.add_row(r["status"], r["reason"] or "", str(r["n"]))
        out.print(table)
    if data.get("projects"):
        table = Table("project", "id", "pushed", "annotated", "skipped", "pending", "url", title="Label Studio")
        for p in data["projects"]:
            table.add_row(p["name"], str(p["ls_id"]), str(p["pushed"]), str(p["annotated"]), str(p["skipped"]),
                          str(p["pending"]), p["url"] or "")
        out.print(table)


def resolve_labelstudio(url: str | None) -> tuple[str, str]:
    """(url, api key): LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY, else the running managed server."""
    from .errors import LabelStudioError

    url = url or os.environ.get("LABEL_STUDIO_URL") or None
    key = os.environ.get("LABEL_STUDIO_API_KEY") or None
    if url and key:
        return url, key
    if url and not key:
        raise LabelStudioError(f"no API key for {url}; set LABEL_STUDIO_API_KEY (Label Studio: Account & Settings "
                               "> Access Token)")
    from .services.labelstudio import LabelStudioServer

    info = LabelStudioServer().status()
    if info is None:
        raise LabelStudioError("Label Studio is not running; run `annotator labelstudio start`, or set "
                               "LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY for your own server")
    return info.url, info.token


def project_options(f: Callable) -> Callable:
    """--project, --schema, --url shared by push, pull and sync."""
    f = click.option("--url", default=None, help="Label Studio URL [env LABEL_STUDIO_URL; default: the managed "
                     "server]. The key comes from LABEL_STUDIO_API_KEY.")(f)
    f = click.option("--schema", "schema_ref", default="news_events", show_default=True,
                     help="Schema the project was built from.")(f)
    f = click.option("--project", "-p", "project_name", required=True, help="Label Studio project title.")(f)
    return db_option(f)


def _progress(bar: Progress, task, description: str) -> Callable[[int, int], None]:
    """Adapter from the library's (done, total) callbacks to a rich task."""
    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total or None, description=description)
    return update


def run_push(db, ls, schema, project_name: str, url: str, model: str | None = None,
             prompt_version: str | None = None, chunk_size: int = 1000):
    """Push with a progress bar and a one-line summary."""
    from .labelstudio.client import push as ls_push

    with progress_bar() as bar:
        task = bar.add_task("Pushing", total=None)
        report = ls_push(db, ls, schema, project_name, url=url, chunk_size=chunk_size, model=model,
                         prompt_version=prompt_version, progress=_progress(bar, task, "Pushing"))
    out.print(f"Pushed to {report.project_link}: {report.tasks_created} new tasks, "
              f"{report.predictions_created} new predictions ({report.tasks_already} tasks already there"
              f"{f', {report.tasks_reconciled} found on the server from an earlier push' if report.tasks_reconciled else ''}); "
              f"model version {report.model_version}.", highlight=False, soft_wrap=True)
    if report.invalid_predictions:
        console.print(f"[yellow]{len(report.invalid_predictions)} draft(s) failed Label Studio's check and were "
                      f"not sent[/] (first: {report.invalid_predictions[0]})", highlight=False, soft_wrap=True)
    return report


def run_pull(db, ls, schema, project_name: str, url: str, full: bool = False):
    """Pull with a progress bar and a one-line summary."""
    from .labelstudio.client import pull as ls_pull

    with progress_bar() as bar:
        task = bar.add_task("Pulling", total=None)
        report = ls_pull(db, ls, schema, project_name, url=url, full=full, progress=_progress(bar, task, "Pulling"))
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(report.by_status.items())) or "none"
    out.print(f"Pulled {report.annotations_seen} annotations from {report.tasks_seen} tasks ({statuses}): "
              f"{report.inserted} new, {report.updated} updated, {report.deleted} deleted, "
              f"{report.unchanged} unchanged.", highlight=False, soft_wrap=True)
    return report


@cli.command()
@project_options
@click.option("--model", default=None, help="Push only drafts from this model.")
@click.option("--prompt", "prompt_version", default=None, help="Push only drafts from this prompt version.")
@click.option("--chunk-size", type=click.IntRange(1, 5000), default=1000, show_default=True,
              help="Tasks per import request.")
def push(db_file: str | None, project_name: str, schema_ref: str, url: str | None, model: str | None,
         prompt_version: str | None, chunk_size: int) -> None:
    """Send sentences with drafts to Label Studio as tasks with predictions.

    Creates the project on first use. A re-push adds nothing; newer drafts of
    pushed sentences become new predictions on the same tasks.

    \b
    Examples:
      annotator push --project "Conflict news"
      LABEL_STUDIO_URL=https://ls.example.org LABEL_STUDIO_API_KEY=... annotator push -p "Batch 3"
    """
    from .labelstudio.client import connect
    from .schema import load_schema

    schema = load_schema(schema_ref)
    db = open_database(db_file)
    url, key = resolve_labelstudio(url)
    run_push(db, connect(url, key), schema, project_name, url, model, prompt_version, chunk_size)


@cli.command()
@project_options
@click.option("--full", is_flag=True, help="Re-read every annotation instead of only what changed.")
def pull(db_file: str | None, project_name: str, schema_ref: str, url: str | None, full: bool) -> None:
    """Bring submitted annotations from Label Studio into the gold table.

    Incremental: only what changed since the last pull is written. Edited
    annotations update their row, deleted ones are marked deleted, skipped
    tasks are recorded as skipped.

    \b
    Example:
      annotator pull --project "Conflict news"
    """
    from .labelstudio.client import connect
    from .schema import load_schema

    schema = load_schema(schema_ref)
    db = open_database(db_file)
    url, key = resolve_labelstudio(url)
    run_pull(db, connect(url, key), schema, project_name, url, full)


@cli.command()
@project_options
def sync(db_file: str | None, project_name: str, schema_ref: str, url: str | None) -> None:
    """Push new drafts, then pull new annotations.

    \b
    Example:
      annotator sync --project "Conflict news"
    """
    from .labelstudio.client import connect
    from .schema import load_schema

    schema = load_schema(schema_ref)
    db = open_database(db_file)
    url, key = resolve_labelstudio(url)
    ls = connect(url, key)
    run_push(db, ls, schema, project_name, url)
    run_pull(db, ls, schema, project_name, url)


DEMO_PROJECT = "annotator demo"


@cli.command()
@db_option
@click.option("--project", "-p", "project_name", default=DEMO_PROJECT, show_default=True,
              help="Label Studio project to push to.")
def demo(db_file: str | None, project_name: str) -> None:
    """Run the whole loop on a sample wire-news article, from nothing.

    Installs what is missing (the embedded LLM: llama.cpp with SmolLM2-135M, a
    few minutes to build the first time; Label Studio, in its own environment),
    starts both on 127.0.0.1, ingests the sample article, drafts every sentence,
    pushes the drafts to Label Studio and prints where to look. Uses
    OPENAI_BASE_URL / OPENAI_API_KEY instead of the embedded LLM when set, and
    LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY instead of the managed Label Studio.
    A re-run reuses everything and takes seconds.

    \b
    Examples:
      annotator demo
      OPENAI_API_KEY=sk-... ANNOTATOR_MODEL=gpt-4o-mini annotator demo
    """
    from concurrent.futures import ThreadPoolExecutor

    from .annotate import annotate as run_annotate
    from .ingest import ingest as run_ingest
    from .ingest import read_inputs
    from .labelstudio.client import connect
    from .llm import LLMClient
    from .prompts import load_prompt
    from .resources import data_file
    from .schema import load_schema
    from .services.labelstudio import LabelStudioServer
    from .services.llamacpp import LocalLLMServer

    own_llm = not (os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"))
    own_ls = not (os.environ.get("LABEL_STUDIO_URL") and os.environ.get("LABEL_STUDIO_API_KEY"))
    schema = load_schema("news_events")
    prompt = load_prompt(None, schema.name)
    db = open_database(db_file)

    console.rule("1/5 Services")
    ls_info = None
    with progress_bar() as bar, ThreadPoolExecutor(max_workers=2) as pool:
        # Both installs are slow the first time (compiling llama.cpp, installing Label Studio): run them together.
        jobs = {}
        if own_llm:
            llm_task = bar.add_task("Embedded LLM", total=None)
            jobs["llm"] = pool.submit(LocalLLMServer().start,
                                      progress=lambda msg: bar.update(llm_task, description=f"LLM: {msg}"))
        if own_ls:
            ls_task = bar.add_task("Label Studio", total=None)
            jobs["ls"] = pool.submit(LabelStudioServer().start,
                                     progress=lambda msg: bar.update(ls_task, description=f"Label Studio: {msg}"))
        results = {name: job.result() for name, job in jobs.items()}
        if own_llm:
            bar.update(llm_task, description="Embedded LLM: running", total=1, completed=1)
        if own_ls:
            bar.update(ls_task, description="Label Studio: running", total=1, completed=1)
    if own_llm:
        llm_info = results["llm"]
        base_url, api_key, model = llm_info.url, None, llm_info.model
        console.print(f"[yellow]{SMOLLM_WARNING}[/]", highlight=False)
    else:
        base_url, api_key, model, _ = resolve_llm(None, None)
    if own_ls:
        ls_info = results["ls"]
        ls_url, ls_key = ls_info.url, ls_info.token
    else:
        ls_url, ls_key = os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"]
    console.print(f"LLM: {model} at {base_url or 'OpenAI'}   Label Studio: {ls_url}", highlight=False)

    console.rule("2/5 Ingest the sample article")
    report = run_ingest(db, read_inputs([str(data_file("sample_article.txt"))]))
    console.print(f"{db['sentences'].count} sentences in {db_path(db_file)} ({report.sentences_new} new)")

    console.rule("3/5 Draft with the LLM")
    client = LLMClient(base_url=base_url, api_key=api_key, model=model, max_tokens=512)
    with progress_bar() as bar:
        task = bar.add_task("Annotating", total=None)
        run = run_annotate(db, client, schema, prompt, concurrency=1 if own_llm else 8,
                           on_start=lambda n: bar.update(task, total=n), on_done=lambda row: bar.advance(task))
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(run.by_status.items())) or "all drafted already"
    console.print(f"{run.done} new drafts ({statuses}), {run.llm_calls} LLM calls, mode {run.mode}")

    console.rule("4/5 Push to Label Studio")
    pushed = run_push(db, connect(ls_url, ls_key), schema, project_name, ls_url)

    console.rule("5/5 Your turn")
    task_row = next(iter(db.query("SELECT task_id FROM tasks WHERE project_id = ? ORDER BY task_id LIMIT 1",
                                  [pushed.project_id])), None)
    first = f"{pushed.project_link}/data?task={task_row['task_id']}" if task_row else pushed.project_link
    lines = [f"Open {first}"]
    if ls_info is not None:
        lines.append(f"Log in as {ls_info.email} with password {ls_info.password}")
    lines += [
        "Each sentence is a task, pre-filled with the LLM's draft: fix the spans and choices, then Submit.",
        f"Then: annotator pull --project \"{project_name}\"   (gold labels into {db_path(db_file)})",
        "      annotator status",
    ]
    if own_llm:
        lines.append("The drafts come from a 135M-parameter model and are poor; set OPENAI_API_KEY or "
                     "OPENAI_BASE_URL for useful ones.")
    out.print("\n".join(lines), highlight=False, soft_wrap=True)


@cli.group()
def schema() -> None:
    """Inspect schemas (built-in names, .py files, or module:Model)."""


@schema.command("show")
@click.argument("name", default="news_events")
def schema_show(name: str) -> None:
    """Print the JSON schema the LLM gets.

    \b
    Example:
      annotator schema show news_events
    """
    from .schema import load_schema

    s = load_schema(name)
    out.print_json(json.dumps(s.llm_json_schema()))


@schema.command("config")
@click.argument("name", default="news_events")
def schema_config(name: str) -> None:
    """Print the Label Studio labeling config generated from the schema.

    \b
    Example:
      annotator schema config news_events > config.xml
    """
    from .labelstudio.config import label_config
    from .schema import load_schema

    click.echo(label_config(load_schema(name)))


@schema.command("list")
def schema_list() -> None:
    """List the built-in schemas."""
    from .schema import available

    for name in available():
        out.print(name)


@cli.group()
def labelstudio() -> None:
    """A local Label Studio in its own environment (or use LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY)."""


def _print_login(info) -> None:
    """URL and login of the managed Label Studio (the password is generated and kept in a 600 file)."""
    out.print(f"Label Studio: {info.url}\n  login:    {info.email}\n  password: {info.password}", highlight=False)


@labelstudio.command("install")
def labelstudio_install() -> None:
    """Create Label Studio's own virtual environment (about 2 minutes, once)."""
    from .services.labelstudio import LabelStudioServer

    path = with_spinner("Installing Label Studio", lambda say: LabelStudioServer().ensure_installed(progress=say))
    out.print(f"Label Studio environment: {path}", highlight=False)


@labelstudio.command("start")
def labelstudio_start() -> None:
    """Install if needed, then start Label Studio on loopback and print the login.

    \b
    Example:
      annotator labelstudio start && annotator push --project "Conflict news"
    """
    from .services.labelstudio import LabelStudioServer

    info = with_spinner("Starting Label Studio", lambda say: LabelStudioServer().start(progress=say))
    _print_login(info)


@labelstudio.command("stop")
def labelstudio_stop() -> None:
    """Stop the managed Label Studio (its data is kept)."""
    from .services.labelstudio import LabelStudioServer

    out.print("stopped" if LabelStudioServer().stop() else "not running")


@labelstudio.command("status")
def labelstudio_status() -> None:
    """Say whether the managed Label Studio runs, with its URL and login."""
    from .services.labelstudio import LabelStudioServer

    info = LabelStudioServer().status()
    if info is None:
        out.print("not running")
    else:
        _print_login(info)


@cli.group()
def llm() -> None:
    """The embedded LLM: a local llama.cpp server running SmolLM2-135M-Instruct."""


@llm.command("install")
def llm_install() -> None:
    """Build the embedded LLM server's environment (llama-cpp-python from source: several minutes, once)."""
    from .services.llamacpp import LocalLLMServer

    path = with_spinner("Installing the embedded LLM", lambda say: LocalLLMServer().ensure_installed(progress=say))
    out.print(f"LLM environment: {path}", highlight=False)


@llm.command("start")
def llm_start() -> None:
    """Install (first time, several minutes) and start the embedded LLM server on loopback.

    \b
    Example:
      annotator llm start && annotator annotate
    """
    from .services.llamacpp import LocalLLMServer

    info = with_spinner("Starting the embedded LLM", lambda say: LocalLLMServer().start(progress=say))
    out.print(f"LLM server: {info.url} (model {info.model}, pid {info.pid})", highlight=False)
    console.print(f"[yellow]{SMOLLM_WARNING}[/]", highlight=False)


@llm.command("stop")
def llm_stop() -> None:
    """Stop the embedded LLM server."""
    from .services.llamacpp import LocalLLMServer

    out.print("stopped" if LocalLLMServer().stop() else "not running")


@llm.command("status")
def llm_status() -> None:
    """Say whether the embedded LLM server runs, and where."""
    from .services.llamacpp import LocalLLMServer

    info = LocalLLMServer().status()
    out.print(f"running: {info.url} (model {info.model}, pid {info.pid})" if info else "not running",
              highlight=False)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="annotator")


if __name__ == "__main__":
    main()
