"""Commands that fill the database: ingest and annotate (`status.py` shows what is in it)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from .ui import (
    by_status,
    console,
    db_option,
    error,
    mode_option,
    open_database,
    out,
    progress_bar,
    refuse_given,
    schema_option,
    warn,
)

if TYPE_CHECKING:
    from ..annotate import RunOptions, RunReport
    from ..llm import LLMClient


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--boilerplate-patterns", "patterns", default=None, metavar="FILE",
              help="Your own boilerplate patterns: one regular expression a line, matched against whole sentences, "
                   "case-insensitive; stored sentences are marked again by them too "
                   "[env ANNOTATOR_BOILERPLATE_PATTERNS].")
@click.option("--max-sentence-chars", type=click.IntRange(1), default=3000, show_default=True,
              help="Refuse a document with a sentence longer than this (a text that was never split, say).")
@db_option
def ingest(paths: tuple[str, ...], patterns: str | None, max_sentence_chars: int, db_file: str | None) -> None:
    """Split documents into sentences and store them.

    PATHS are .txt files (one document each; a headline first line is its own
    sentence), .jsonl or .csv files (a `text` field, optional `id`, `title`,
    `source`), folders, or - for standard input. Re-ingesting adds nothing.
    Boilerplate (copyright lines, "All rights reserved", bylines, datelines,
    agency credits) is stored but marked: it is neither drafted nor pushed.

    \b
    Examples:
      annotator ingest article.txt
      annotator ingest corpus/ feed.jsonl
      cat wire.jsonl | annotator ingest -
      annotator ingest corpus/ --boilerplate-patterns my_patterns.txt   # e.g. a line: Photo: .*
      annotator ingest legal.txt --max-sentence-chars 8000
    """
    from ..boilerplate import classifier
    from ..ingest import ingest as run_ingest
    from ..ingest import read_inputs

    is_boilerplate = classifier(patterns)
    db = open_database(db_file)
    with progress_bar() as bar:
        task = bar.add_task("Ingesting", total=None)
        report = run_ingest(db, read_inputs(paths), progress=lambda: bar.advance(task), boilerplate=is_boilerplate,
                            max_sentence_chars=max_sentence_chars)
    for problem in report.problems:
        error(str(problem))
    marked = f" ({report.boilerplate_new} boilerplate, kept but not drafted)" if report.boilerplate_new else ""
    remarked = f"; {report.boilerplate_remarked} stored sentences marked again" if is_boilerplate.custom else ""
    out.print(f"{report.documents_new} new documents ({report.documents_seen - report.documents_new} already "
              f"stored), {report.sentences_new} new sentences{marked}{remarked}.")
    if report.problems:
        console.print(f"{len(report.problems)} input(s) skipped; fix them and re-run (stored input is kept).")
        sys.exit(1)


@click.command()
@schema_option("Schema: built-in name, .py file, or module:Model.", project_flag="--examples-from")
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
@click.option("--samples", type=click.IntRange(0, 32), default=0, show_default=True, metavar="K",
              help="Ask K more answers per sentence at --sample-temperature; the share that agrees with the draft "
                   "is a confidence signal (K more calls a sentence; part of the draft's settings).")
@click.option("--sample-temperature", type=click.FloatRange(0, 2), default=0.7, show_default=True,
              help="Temperature of the --samples answers.")
@click.option("--retry-invalid", is_flag=True,
              help="Draft again the sentences whose draft stayed invalid (their cached answer is not reused).")
@click.option("--examples", "examples_k", type=click.IntRange(1, 16), default=None, metavar="K",
              help="Show the K most similar gold annotations (BM25) as worked examples instead of the prompt's own; "
                   "needs --examples-from.")
@click.option("--examples-from", "examples_from", default=None, metavar="PROJECT",
              help="Label Studio project (as pulled) whose gold the examples come from; never the sentence's own "
                   "document.")
@click.option("--redraft", is_flag=True,
              help="Draft again the sentences whose tasks have no submitted annotation, where the current settings "
                   "(e.g. examples from newer gold) give a new draft; push adds it to the same task.")
@click.option("--include-boilerplate", is_flag=True, help="Draft boilerplate sentences too (copyright, bylines).")
@click.option("--context-before", type=click.IntRange(0, 20), default=None,
              help="Sentences shown before the sentence [env ANNOTATOR_CONTEXT_BEFORE; default 3].")
@click.option("--context-after", type=click.IntRange(0, 20), default=None,
              help="Sentences shown after the sentence [env ANNOTATOR_CONTEXT_AFTER; default 1].")
@click.option("--estimate", is_flag=True, help="Print the tokens and cost of drafting the pending sentences; no LLM call.")
@click.option("--price-in", type=click.FloatRange(0), default=None, help="USD per million prompt tokens, for --estimate.")
@click.option("--price-out", type=click.FloatRange(0), default=None,
              help="USD per million completion tokens, for --estimate.")
@click.option("--price-cached-in", type=click.FloatRange(0), default=None,
              help="USD per million cached prompt tokens, for --estimate [default: --price-in].")
@click.option("--batch", is_flag=True, help="Draft through the Batch API (24 h, half price); a re-run picks up its "
                                            "running batches.")
@click.option("--reask-online", is_flag=True, help="With --batch: re-ask invalid replies at once instead of in a "
                                                   "follow-up batch.")
@click.option("--poll-interval", type=click.FloatRange(0.01), default=30.0, show_default=True,
              help="With --batch: seconds between checks on a running batch.")
@click.option("--fixed-concurrency", is_flag=True,
              help="Keep --concurrency requests in flight whatever the rate limits (default: adapt below it).")
@db_option
def annotate(schema_ref: str | None, prompt_ref: str | None, model: str | None, base_url: str | None, mode: str,
             concurrency: int, limit: int | None, max_reasks: int, retries: int, timeout: float,
             temperature: float, max_tokens: int, samples: int, sample_temperature: float, retry_invalid: bool,
             examples_k: int | None, examples_from: str | None, redraft: bool, include_boilerplate: bool,
             context_before: int | None, context_after: int | None, estimate: bool, price_in: float | None,
             price_out: float | None, price_cached_in: float | None, batch: bool, reask_online: bool,
             poll_interval: float, fixed_concurrency: bool, db_file: str | None) -> None:
    """Draft every sentence that has no draft yet for (schema, prompt, model).

    Finished drafts are committed one by one: Ctrl-C or a crash loses nothing,
    and a re-run continues where it stopped. Identical requests are answered
    from the cache, so a re-run costs nothing. The first Ctrl-C stops sending and
    waits for the requests in flight; a second one abandons them. Boilerplate
    sentences are skipped unless --include-boilerplate. Requests in flight follow
    the server's rate limits (halved on 429, paced on its x-ratelimit headers),
    up to --concurrency.

    \b
    Examples:
      annotator annotate                                  # embedded SmolLM2 server (annotator llm start)
      OPENAI_API_KEY=sk-... annotator annotate --model gpt-4o-mini -c 16
      annotator annotate --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct
      annotator annotate --base-url http://localhost:11434/v1 --model llama3.1 --mode json_object
      annotator annotate --examples 4 --examples-from "Conflict news"            # examples from gold
      annotator pull -p "Conflict news" && annotator annotate --examples 4 --examples-from "Conflict news" --redraft
      annotator annotate --samples 4                       # 4 more answers a sentence: agreement as confidence
      annotator annotate --model gpt-4o-mini --estimate --price-in 0.15 --price-out 0.6   # no LLM call
      OPENAI_API_KEY=sk-... annotator annotate --model gpt-4o-mini --batch                 # half price, 24 h
    """
    from ..annotate import RunOptions
    from ..labelstudio.projects import project_schema
    from ..prompts import load_prompt

    refuse_out_of_mode(click.get_current_context(), estimate, batch)
    db = open_database(db_file)
    schema = project_schema(db, examples_from, None, schema_ref)
    prompt = load_prompt(prompt_ref, schema.name)
    selection = run_selection(db, schema, examples_k, examples_from, redraft, include_boilerplate, context_before,
                              context_after)
    options = RunOptions(mode=mode, concurrency=concurrency, adaptive=not fixed_concurrency, limit=limit,
                         max_reasks=max_reasks, retry_invalid=retry_invalid, selection=selection,
                         reask_online=reask_online, poll_interval=poll_interval)
    client, where = run_client(base_url, model, estimate, timeout=timeout, max_retries=retries,
                               temperature=temperature, max_tokens=max_tokens, samples=samples,
                               sample_temperature=sample_temperature)
    console.print(f"Model {client.model} at {where}, prompt {prompt.version}, schema {schema.name} ({schema.hash})",
                  highlight=False)
    from . import costs

    if estimate:
        costs.print_estimate(db, client, schema, prompt, options, price_in=price_in, price_out=price_out,
                             price_cached_in=price_cached_in, batch=batch)
        return
    if batch:
        report = costs.run_batch(db, client, schema, prompt, options)
        costs.print_batch_report(report)
        print_annotate_report(report)
        return
    print_annotate_report(run_online(db, client, schema, prompt, options))


def run_client(base_url: str | None, model: str | None, estimate: bool, **settings: Any) -> tuple[LLMClient, str]:
    """The LLM client of an annotate run, and where its server is; with `estimate`, of the run it would be (its
    server need not be running)."""
    from ..endpoints import SMOLLM_WARNING, resolve_llm
    from ..llm import LLMClient

    if estimate:
        from .costs import estimate_target

        llm = estimate_target(base_url, model)
    else:
        llm = resolve_llm(base_url, model)
        if llm.embedded:
            warn(SMOLLM_WARNING)
    return LLMClient(base_url=llm.base_url, api_key=llm.api_key, model=llm.model, **settings), llm.where


def run_online(db: Any, client: LLMClient, schema: Any, prompt: Any, options: RunOptions) -> RunReport:
    """annotate, online, with a progress bar; the first Ctrl-C says what it waits for."""
    from ..annotate import annotate

    with progress_bar() as bar:
        task = bar.add_task("Annotating", total=None)
        return annotate(
            db, client, schema, prompt, options,
            on_start=lambda n: bar.update(task, total=n),
            on_done=lambda row: bar.advance(task),
            on_interrupt=lambda n: console.print(
                f"Stopping: nothing more is sent; waiting for {n} request(s) in flight, whose answers will be "
                "stored. Press Ctrl-C again to abandon them.", highlight=False))


ONLINE_ONLY = ("concurrency", "fixed_concurrency")
SENDING_ONLY = (*ONLINE_ONLY, "max_reasks", "retries", "timeout", "reask_online", "poll_interval")


def refuse_out_of_mode(ctx: click.Context, estimate: bool, batch: bool) -> None:
    """InputError for an annotate flag the user gave that the chosen mode (online, --batch, --estimate) ignores."""
    if estimate:
        refuse_given(ctx, SENDING_ONLY, "does not apply with --estimate (it sends nothing to the LLM)")
    else:
        refuse_given(ctx, ("price_in", "price_out", "price_cached_in"),
                     "applies only with --estimate (it prices the estimate's tokens)", "add --estimate or leave it out")
    if not ctx.params.get("samples"):
        refuse_given(ctx, ("sample_temperature",), "applies only with --samples K (it is their temperature)",
                     "add --samples K or leave it out")
    if batch:
        refuse_given(ctx, ONLINE_ONLY, "does not apply with --batch (the Batch API runs the requests)")
        refuse_given(ctx, ("samples",), "applies to online runs only (Batch API rounds are not sampled)",
                     "drop --batch or leave it out")
    else:
        refuse_given(ctx, ("reask_online", "poll_interval"), "applies only with --batch (it steers the Batch API run)",
                     "add --batch or leave it out")


def run_selection(db: Any, schema: Any, examples_k: int | None, examples_from: str | None, redraft: bool,
                  include_boilerplate: bool, context_before: int | None, context_after: int | None) -> Any:
    """The run's `Selection` from the annotate flags (built by the Python API's `Workspace.selection`);
    InputError (one line) for flags that do not go together."""
    from ..api import DraftOptions, Workspace
    from ..errors import InputError

    if (examples_k is None) != (examples_from is None):
        raise InputError("--examples K and --examples-from PROJECT go together; give both (e.g. --examples 4 "
                         "--examples-from \"Conflict news\")")
    selection = Workspace.selection(db, schema, DraftOptions(
        redraft=redraft, include_boilerplate=include_boilerplate, context_before=context_before,
        context_after=context_after, examples=examples_k, examples_from=examples_from))
    index = selection.examples
    if index is not None:
        console.print(f"Examples: {examples_k} nearest of {len(index.examples)} gold annotations in "
                      f"{examples_from!r}" + ("" if index.examples else " (none yet: the prompt's own examples)"),
                      highlight=False)
    return selection


def print_annotate_report(report: RunReport) -> None:
    """The one-line summary, then exit 130 if interrupted or 1 if any sentence failed."""
    from ..store import DraftStatus

    out.print(f"{report.done} drafts ({by_status(report.by_status, 'nothing to do')}); {report.llm_calls} LLM calls, "
              f"{report.prompt_tokens} prompt + {report.completion_tokens} completion tokens; "
              f"{report.dropped_spans} spans not found in their sentence were dropped; mode {report.mode}.",
              highlight=False)
    if report.throttled:
        console.print(f"{report.throttled} request(s) were refused for the server's rate limit (HTTP 429) and retried; "
                      f"requests in flight went down to {report.lowest_in_flight}.", highlight=False)
    if report.interrupted:
        abandoned = f"{report.abandoned} request(s) in flight abandoned; " if report.abandoned else ""
        console.print(f"Interrupted: {abandoned}finished drafts are stored; run the same command to continue.",
                      highlight=False)
        sys.exit(130)
    failed = report.by_status.get(DraftStatus.FAILED)
    if failed:
        console.print(f"{failed} sentence(s) failed (see `annotator status`); "
                      "re-run `annotator annotate` to retry them.")
        sys.exit(1)


COMMANDS = [ingest, annotate]
