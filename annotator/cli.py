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
from .config import DEFAULT_MODEL, db_path
from .errors import AnnotatorError, InputError, LLMError

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
        from .localllm import LocalLLMServer

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
    from .labelstudio.server import LabelStudioServer

    with progress_bar() as bar:
        task = bar.add_task("Installing Label Studio", total=None)
        path = LabelStudioServer().ensure_installed(progress=lambda msg: bar.update(task, description=msg))
    out.print(f"Label Studio environment: {path}", highlight=False)


@labelstudio.command("start")
def labelstudio_start() -> None:
    """Install if needed, then start Label Studio on loopback and print the login.

    \b
    Example:
      annotator labelstudio start && annotator push --project "Conflict news"
    """
    from .labelstudio.server import LabelStudioServer

    with progress_bar() as bar:
        task = bar.add_task("Starting Label Studio", total=None)
        info = LabelStudioServer().start(progress=lambda msg: bar.update(task, description=msg))
    _print_login(info)


@labelstudio.command("stop")
def labelstudio_stop() -> None:
    """Stop the managed Label Studio (its data is kept)."""
    from .labelstudio.server import LabelStudioServer

    out.print("stopped" if LabelStudioServer().stop() else "not running")


@labelstudio.command("status")
def labelstudio_status() -> None:
    """Say whether the managed Label Studio runs, with its URL and login."""
    from .labelstudio.server import LabelStudioServer

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
    from .localllm import LocalLLMServer

    with progress_bar() as bar:
        task = bar.add_task("Installing the embedded LLM", total=None)
        path = LocalLLMServer().ensure_installed(progress=lambda msg: bar.update(task, description=msg))
    out.print(f"LLM environment: {path}", highlight=False)


@llm.command("start")
def llm_start() -> None:
    """Install (first time, several minutes) and start the embedded LLM server on loopback.

    \b
    Example:
      annotator llm start && annotator annotate
    """
    from .localllm import LocalLLMServer

    with progress_bar() as bar:
        task = bar.add_task("Starting the embedded LLM", total=None)
        info = LocalLLMServer().start(progress=lambda msg: bar.update(task, description=msg))
    out.print(f"LLM server: {info.url} (model {info.model}, pid {info.pid})", highlight=False)
    console.print(f"[yellow]{SMOLLM_WARNING}[/]", highlight=False)


@llm.command("stop")
def llm_stop() -> None:
    """Stop the embedded LLM server."""
    from .localllm import LocalLLMServer

    out.print("stopped" if LocalLLMServer().stop() else "not running")


@llm.command("status")
def llm_status() -> None:
    """Say whether the embedded LLM server runs, and where."""
    from .localllm import LocalLLMServer

    info = LocalLLMServer().status()
    out.print(f"running: {info.url} (model {info.model}, pid {info.pid})" if info else "not running",
              highlight=False)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="annotator")


if __name__ == "__main__":
    main()
