"""Commands that fill the database: ingest, annotate, and status to see what is in it."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from ..settings import redact_url
from .ui import (
    by_status,
    console,
    db_option,
    error,
    mode_option,
    open_database,
    out,
    progress_bar,
    schema_option,
    warn,
)

if TYPE_CHECKING:
    from ..annotate import RunReport


@click.command()
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
    from ..ingest import ingest as run_ingest
    from ..ingest import read_inputs

    db = open_database(db_file)
    with progress_bar() as bar:
        task = bar.add_task("Ingesting", total=None)
        report = run_ingest(db, read_inputs(paths), progress=lambda: bar.advance(task))
    for problem in report.problems:
        error(str(problem))
    out.print(f"{report.documents_new} new documents ({report.documents_seen - report.documents_new} already "
              f"stored), {report.sentences_new} new sentences.")
    if report.problems:
        console.print(f"{len(report.problems)} input(s) skipped; fix them and re-run (stored input is kept).")
        sys.exit(1)


@click.command()
@schema_option("Schema: built-in name, .py file, or module:Model.")
@click.option("--prompt", "prompt_ref", default=None, help="Prompt version (e.g. news_events.v1) or .j2 file; default: newest for the schema.")
@click.option("--model", default=None, help="Model name [env ANNOTATOR_MODEL].")
@click.option("--base-url", default=None, help="OpenAI-compatible server URL [env OPENAI_BASE_URL]. The key comes from OPENAI_API_KEY.")
@mode_option
@click.option("--concurrency", "-c", type=click.IntRange(1, 512), default=4, show_default=True, help="Requests in flight.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Draft at most this many sentences.")
@click.option("--max-reasks", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Times an invalid reply is sent back with its error.")
@click.option("--retries", type=click.IntRange(0, 50), default=8, show_default=True, help="Transport retries per request.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds per request.")
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--max-tokens", type=int, default=1024, show_default=True)
@click.option("--retry-invalid", is_flag=True,
              help="Draft again the sentences whose draft stayed invalid (their cached answer is not reused).")
@db_option
def annotate(schema_ref: str, prompt_ref: str | None, model: str | None, base_url: str | None, mode: str,
             concurrency: int, limit: int | None, max_reasks: int, retries: int, timeout: float,
             temperature: float, max_tokens: int, retry_invalid: bool, db_file: str | None) -> None:
    """Draft every sentence that has no draft yet for (schema, prompt, model).

    Finished drafts are committed one by one: Ctrl-C or a crash loses nothing,
    and a re-run continues where it stopped. Identical requests are answered
    from the cache, so a re-run costs nothing. The first Ctrl-C stops sending and
    waits for the requests in flight; a second one abandons them.

    \b
    Examples:
      annotator annotate                                  # embedded SmolLM2 server (annotator llm start)
      OPENAI_API_KEY=sk-... annotator annotate --model gpt-4o-mini -c 16
      annotator annotate --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
      annotator annotate --base-url http://localhost:11434/v1 --model llama3.1 --mode json_object
    """
    from ..annotate import annotate as run_annotate
    from ..connect import SMOLLM_WARNING, resolve_llm
    from ..llm import LLMClient
    from ..prompts import load_prompt
    from ..schema import load_schema

    schema = load_schema(schema_ref)
    prompt = load_prompt(prompt_ref, schema.name)
    db = open_database(db_file)
    llm = resolve_llm(base_url, model)
    if llm.embedded:
        warn(SMOLLM_WARNING)
    client = LLMClient(base_url=llm.base_url, api_key=llm.api_key, model=llm.model, timeout=timeout,
                       max_retries=retries, temperature=temperature, max_tokens=max_tokens)
    console.print(f"Model {llm.model} at {llm.where}, prompt {prompt.version}, schema {schema.name} "
                  f"({schema.hash})", highlight=False)
    with progress_bar() as bar:
        task = bar.add_task("Annotating", total=None)
        report = run_annotate(
            db, client, schema, prompt, mode=mode, concurrency=concurrency, limit=limit, max_reasks=max_reasks,
            on_start=lambda n: bar.update(task, total=n),
            on_done=lambda row: bar.advance(task),
            on_interrupt=lambda n: console.print(
                f"Stopping: nothing more is sent; waiting for {n} request(s) in flight, whose answers will be "
                "stored. Press Ctrl-C again to abandon them.", highlight=False),
            retry_invalid=retry_invalid,
        )
    print_annotate_report(report)


def print_annotate_report(report: RunReport) -> None:
    """The one-line summary, then exit 130 if interrupted or 1 if any sentence failed."""
    from ..store import DraftStatus

    out.print(f"{report.done} drafts ({by_status(report.by_status, 'nothing to do')}); {report.llm_calls} LLM calls, "
              f"{report.prompt_tokens} prompt + {report.completion_tokens} completion tokens; "
              f"{report.dropped_spans} spans not found in their sentence were dropped; mode {report.mode}.",
              highlight=False)
    if report.abandoned:
        console.print(f"Interrupted: {report.abandoned} request(s) in flight abandoned; finished drafts are stored; "
                      "run the same command to continue.", highlight=False)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # worker threads still wait on the server; do not wait for them at exit
    if report.interrupted:
        console.print("Interrupted: finished drafts are stored; run the same command to continue.")
        sys.exit(130)
    failed = report.by_status.get(DraftStatus.FAILED)
    if failed:
        console.print(f"{failed} sentence(s) failed (see `annotator status`); "
                      "re-run `annotator annotate` to retry them.")
        sys.exit(1)


@click.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(db_file: str | None, as_json: bool) -> None:
    """Show documents, sentences, drafts by status, tokens, failures and projects.

    \b
    Example:
      annotator status --db news.db
    """
    from ..status import summary

    data = summary(open_database(db_file))
    if as_json:
        out.print_json(json.dumps(data))
        return
    out.print(f"{data['documents']} documents, {data['sentences']} sentences")
    for table in status_tables(data):
        out.print(table)


def status_tables(data: dict[str, Any]) -> list[Table]:
    """The Drafts, Not ok and Label Studio tables of `annotator status`, for the parts that have rows."""
    tables = []
    if data["drafts"]:
        table = Table("schema", "prompt", "model", "status", "drafts", "prompt tok", "completion tok", "dropped spans",
                      title="Drafts")
        for r in data["drafts"]:
            table.add_row(r["schema_name"], r["prompt_version"], r["model"], r["status"], str(r["n"]),
                          str(r["prompt_tokens"] or 0), str(r["completion_tokens"] or 0), str(r["dropped_spans"] or 0))
        tables.append(table)
    if data["failures"]:
        table = Table("status", "reason", "count", title="Not ok")
        for r in data["failures"]:
            table.add_row(r["status"], r["reason"] or "", str(r["n"]))
        tables.append(table)
    if data.get("projects"):
        table = Table("project", "id", "pushed", "annotated", "skipped", "pending", "url", title="Label Studio")
        for p in data["projects"]:
            table.add_row(p["name"], str(p["ls_id"]), str(p["pushed"]), str(p["annotated"]), str(p["skipped"]),
                          str(p["pending"]), redact_url(p["url"]))
        tables.append(table)
    return tables


COMMANDS = [ingest, annotate, status]
