"""The whole loop on the sample article, from nothing: services, ingest, drafts, push.

`run_demo` is a library function: it reports through callbacks (stage titles,
lines, warnings, progress, the push report) and returns what the user needs to
look at the result. The `annotator demo` command only prints.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from .annotate import RunOptions, RunReport, annotate
from .boilerplate import BACKFILLS
from .endpoints import SMOLLM_WARNING, LLMTarget, resolve_labelstudio, resolve_llm
from .ingest import ingest, read_inputs
from .labelstudio.api import open_client
from .labelstudio.push import PushReport, push
from .llm import LLMClient
from .prompts import Prompt, load_prompt
from .resources import data_file
from .schema import Schema, load_schema
from .services.labelstudio import LabelStudioServer, ServerInfo
from .services.llamacpp import LocalLLMServer
from .settings import (
    DEFAULT_SCHEMA,
    LabelStudioSettings,
    labelstudio_settings,
    llm_settings,
    redact_url,
)
from .store import open_db

SAMPLE = "sample_article.txt"
MAX_TOKENS = 512
EMBEDDED_MAX_TOKENS = 256
"""SmolLM2's ok drafts of the sample article take 50-160 tokens; when it loops it fills whatever it is given
(and is re-asked twice): a lower ceiling for it halves the cost of a loop (benchmarks/smollm_bench.py)."""
EMBEDDED_PROMPT = "news_events_compact.v1"
"""The embedded SmolLM2 drafts with the compact prompt: a fixed part of 456 of its tokens instead of 1,195, as
many valid drafts of the sample article (11 of 11), 1.4-1.6x faster (BENCHMARKS.md, the embedded model)."""

Say = Callable[[str], None]
# (bar key, description, done, total): one bar per key within a stage; None leaves a value as it is.
Progress = Callable[[str, str, int | None, int | None], None]


def _ignore(*args: Any) -> None:
    """The default callback: report nothing."""


@dataclass
class DemoHooks:
    """How `run_demo` reports: stage titles, lines, warnings, progress bars, the push report."""

    stage: Say = _ignore
    say: Say = _ignore
    warn: Say = _ignore
    progress: Progress = _ignore
    pushed: Callable[[PushReport], None] = _ignore


@dataclass
class DemoResult:
    """Where to look after the demo, and how to log in to a Label Studio the demo started."""

    llm: LLMTarget
    managed_llm: bool  # the demo started the embedded LLM
    labelstudio_url: str
    first_task_link: str
    login_email: str | None = None
    login_password: str | None = field(default=None, repr=False)
    drafts: RunReport | None = None
    push: PushReport | None = None


@dataclass
class Services:
    """The LLM and the Label Studio the demo uses, and which of them it started."""

    llm: LLMTarget
    managed_llm: bool
    labelstudio: LabelStudioSettings
    managed_labelstudio: ServerInfo | None


def _start_managed(own_llm: bool, own_ls: bool, progress: Progress) -> dict[str, Any]:
    """Start the embedded LLM and the managed Label Studio together (both slow the first time)."""
    jobs = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        if own_llm:
            progress("llm", "Embedded LLM", None, None)
            jobs["llm"] = pool.submit(LocalLLMServer().start,
                                      progress=lambda msg: progress("llm", f"LLM: {msg}", None, None))
        if own_ls:
            progress("ls", "Label Studio", None, None)
            jobs["ls"] = pool.submit(LabelStudioServer().start,
                                     progress=lambda msg: progress("ls", f"Label Studio: {msg}", None, None))
        results = {name: job.result() for name, job in jobs.items()}
    if own_llm:
        progress("llm", "Embedded LLM: running", 1, 1)
    if own_ls:
        progress("ls", "Label Studio: running", 1, 1)
    return results


def start_services(hooks: DemoHooks) -> Services:
    """Servers from the environment when set, else the embedded LLM and the managed Label Studio."""
    chosen_llm, chosen_ls = llm_settings(), labelstudio_settings()
    own_llm = chosen_llm.base_url is None and chosen_llm.api_key is None
    own_ls = not (chosen_ls.url and chosen_ls.api_key)
    started = _start_managed(own_llm, own_ls, hooks.progress)
    if own_llm:
        info = started["llm"]
        llm = LLMTarget(base_url=info.url, api_key=None, model=info.model, embedded=True)
        hooks.warn(SMOLLM_WARNING)
    else:
        llm = resolve_llm()
    managed = started.get("ls")
    ls = LabelStudioSettings(url=managed.url, api_key=managed.token) if managed else resolve_labelstudio()
    hooks.say(f"LLM: {llm.model} at {llm.where}   Label Studio: {redact_url(ls.url)}")
    return Services(llm, own_llm, ls, managed)


def draft_all(db: sqlite_utils.Database, schema: Schema, prompt: Prompt, llm: LLMTarget, concurrency: int, progress: Progress) -> RunReport:
    """Draft every sentence that has no draft yet."""
    client = LLMClient(base_url=llm.base_url, api_key=llm.api_key, model=llm.model,
                       max_tokens=EMBEDDED_MAX_TOKENS if llm.embedded else MAX_TOKENS)
    counts = {"done": 0, "total": None}

    def started(total: int) -> None:
        counts["total"] = total
        progress("annotate", "Annotating", 0, total)

    def finished(row: Any) -> None:
        counts["done"] += 1
        progress("annotate", "Annotating", counts["done"], counts["total"])

    progress("annotate", "Annotating", None, None)
    return annotate(db, client, schema, prompt, RunOptions(concurrency=concurrency),
                    on_start=started, on_done=finished)


def first_task_link(db: sqlite_utils.Database, report: PushReport) -> str:
    """The project's first task in the browser, or the project page when it has no task."""
    from .labelstudio.projects import first_task_id

    first = first_task_id(db, report.project_id)
    return f"{report.project_link}/data?task={first}" if first is not None else report.project_link


def run_demo(db_path: str, project_name: str, hooks: DemoHooks | None = None) -> DemoResult:
    """Start (or reuse) the services, ingest the sample article, draft it and push it to `project_name`.

    Every step is idempotent: a second run reuses the services, adds no sentence,
    asks the LLM nothing and pushes nothing.
    """
    hooks = hooks or DemoHooks()
    schema = load_schema(DEFAULT_SCHEMA)
    db = open_db(db_path, BACKFILLS)

    hooks.stage("1/5 Services")
    services = start_services(hooks)
    prompt = load_prompt(EMBEDDED_PROMPT if services.managed_llm else None, schema.name)

    hooks.stage("2/5 Ingest the sample article")
    ingested = ingest(db, read_inputs([str(data_file(SAMPLE))]))
    hooks.say(f"{db['sentences'].count} sentences in {db_path} ({ingested.sentences_new} new)")

    hooks.stage("3/5 Draft with the LLM")
    # One request at a time on the embedded server: it has the machine's cores to itself.
    concurrency = 1 if services.managed_llm else 8
    run = draft_all(db, schema, prompt, services.llm, concurrency, hooks.progress)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(run.by_status.items())) or "all drafted already"
    hooks.say(f"{run.done} new drafts ({statuses}), {run.llm_calls} LLM calls, mode {run.mode}")

    hooks.stage("4/5 Push to Label Studio")
    ls = services.labelstudio
    pushed = push(db, open_client(ls.url, ls.api_key), schema, project_name, url=ls.url,
                  progress=lambda done, total: hooks.progress("push", "Pushing", done, total or None))
    hooks.pushed(pushed)

    managed = services.managed_labelstudio
    return DemoResult(llm=services.llm, managed_llm=services.managed_llm, labelstudio_url=ls.url or "",
                      first_task_link=first_task_link(db, pushed), login_email=managed.email if managed else None,
                      login_password=managed.password if managed else None, drafts=run, push=pushed)
