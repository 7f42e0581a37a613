"""The Python API: the whole loop from a notebook or a script, each step's options one typed value.

    import annotator

    ws = annotator.Workspace("annotator.db")              # the SQLite file every step reads and writes
    ws.ingest("reports/", "feed.jsonl")
    ws.annotate(annotator.LLM(model="gpt-4o-mini"), annotator.DraftOptions(concurrency=8))
    ws.push("Conflict news")
    # ... annotators correct the drafts in Label Studio ...
    ws.pull("Conflict news")
    report = ws.evaluate("Conflict news")                 # the dict `annotator eval --json` prints
    ws.export(annotator.ExportOptions("jsonl", "gold.jsonl", project="Conflict news"))

The LLM is the `LLM` value's, then OPENAI_BASE_URL / OPENAI_API_KEY / ANNOTATOR_MODEL,
then the embedded server; Label Studio is LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY, or
the managed server. A project's commands take the schema it was made with; a new
database's default is `news_events`. Each call opens the database for itself, so a
Workspace may be used from any thread; `annotate` runs its own event loop, and where
one runs already (a notebook cell) it runs in a worker thread. Errors are
`annotator.errors.AnnotatorError`, one line each. The CLI's commands call these.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils

    from .annotate import RunReport
    from .export.run import ExportReport
    from .ingest import IngestReport
    from .labelstudio.adjudicate import Adjudication
    from .labelstudio.pull import PullReport
    from .labelstudio.push import PushReport
    from .schema import Schema


@dataclass(frozen=True)
class LLM:
    """Which model drafts, and how it is asked (None: from the environment, else the embedded server)."""

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    temperature: float = 0.0
    max_tokens: int = 1024
    timeout: float = 120.0
    retries: int = 8
    samples: int = 0
    """K more answers a sentence at `sample_temperature`: their agreement is a confidence signal."""
    sample_temperature: float = 0.7


@dataclass(frozen=True)
class DraftOptions:
    """What `annotate` drafts and how many at once (the CLI's annotate flags)."""

    mode: str = "auto"
    concurrency: int = 4
    adaptive: bool = True
    limit: int | None = None
    max_reasks: int = 2
    retry_invalid: bool = False
    redraft: bool = False
    include_boilerplate: bool = False
    context_before: int | None = None
    context_after: int | None = None
    examples: int | None = None
    """K gold annotations as worked examples, retrieved from `examples_from`'s gold."""
    examples_from: str | None = None
    prompt: str | None = None
    """A prompt version or .j2 file; default: the newest for the schema."""


@dataclass(frozen=True)
class PushOptions:
    """Which drafts `push` sends, and how (the CLI's push flags)."""

    model: str | None = None
    prompt_version: str | None = None
    chunk_size: int = 1000
    blind: float | None = None
    dedupe: bool = False
    include_boilerplate: bool = False
    route: bool = False
    audit: float = 0.1
    overlap: int | None = None
    """Each task to this many different annotators (Label Studio's labeling queue); None leaves the project's."""


@dataclass(frozen=True)
class ExportOptions:
    """What `export` writes where (the CLI's export flags)."""

    fmt: str
    out: str | Path
    project: str | None = None
    gold: str = "adjudicated"
    level: str = "sentence"
    include_drafts: bool = False
    expand: bool = False
    include_accepted: bool = False


@dataclass
class Evaluation:
    """`evaluate`'s figures: `report` is what `eval --json` prints; `reliability` each field's diagram bins."""

    report: dict
    reliability: list[dict]
    annotations: int
    routed: list = field(default_factory=list)
    """(project, routing state) of each routed project in scope (`confidence.audit`)."""


class Workspace:
    """One annotator database, and the Label Studio server its projects live on."""

    def __init__(self, db: str | Path | None = None, *, label_studio_url: str | None = None,
                 schema: str | None = None) -> None:
        from .settings import db_path

        self.path = db_path(str(db) if db is not None else None)
        self.label_studio_url = label_studio_url
        self.schema_ref = schema

    def db(self) -> sqlite_utils.Database:
        """A connection to the database (migrated, stored sentences' boilerplate marks up to date)."""
        from .boilerplate import BACKFILLS
        from .store import open_db

        return open_db(self.path, BACKFILLS)

    def schema(self, db: sqlite_utils.Database, project: str | None = None, url: str | None = None) -> Schema:
        """The project's schema (or the Workspace's, or news_events); one line when they conflict."""
        from .labelstudio.projects import project_schema

        return project_schema(db, project, url, self.schema_ref)

    # ------------------------------------------------------------------ the loop

    def ingest(self, *paths: str | Path, patterns: str | None = None,
               max_sentence_chars: int = 3000) -> IngestReport:
        """Split files, folders (or "-") into sentences and store them; re-ingesting adds nothing."""
        from .boilerplate import classifier
        from .ingest import ingest, read_inputs

        return ingest(self.db(), read_inputs([str(p) for p in paths]), boilerplate=classifier(patterns),
                      max_sentence_chars=max_sentence_chars)

    def annotate(self, llm: LLM | None = None, options: DraftOptions | None = None) -> RunReport:
        """Draft every pending sentence (see `annotator annotate --help`); in a worker thread inside an event loop."""
        llm, options = llm or LLM(), options or DraftOptions()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._annotate(llm, options)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a notebook's loop runs: draft beside it
            return pool.submit(self._annotate, llm, options).result()

    def _annotate(self, llm: LLM, options: DraftOptions) -> RunReport:
        from .annotate import annotate
        from .annotate.prepare import RunOptions
        from .prompts import load_prompt

        db = self.db()
        schema = self.schema(db, options.examples_from)
        run = RunOptions(mode=options.mode, concurrency=options.concurrency, adaptive=options.adaptive,
                         limit=options.limit, max_reasks=options.max_reasks, retry_invalid=options.retry_invalid,
                         selection=self.selection(db, schema, options))
        return annotate(db, self.client(llm), schema, load_prompt(options.prompt, schema.name), run)

    def push(self, project: str, options: PushOptions | None = None) -> PushReport:
        """Send the drafts to the Label Studio project (made on first use) as tasks with predictions."""
        from .labelstudio.push import push

        options = options or PushOptions()
        db, ls, url = self._labelstudio()
        return push(db, ls, self.schema(db, project, url), project, url=url, chunk_size=options.chunk_size,
                    model=options.model, prompt_version=options.prompt_version, blind=options.blind,
                    dedupe=options.dedupe, include_boilerplate=options.include_boilerplate, route=options.route,
                    audit=options.audit, overlap=options.overlap)

    def pull(self, project: str, full: bool = False) -> PullReport:
        """Bring the project's submitted annotations into the gold table (incremental unless `full`)."""
        from .labelstudio.pull import pull

        db, ls, url = self._labelstudio()
        return pull(db, ls, self.schema(db, project, url), project, url=url, full=full)

    def evaluate(self, project: str | None = None, *, gold: str = "adjudicated", annotator: str | None = None,
                 url: str | None = None) -> dict:
        """Drafts against gold: what `annotator eval --json` prints."""
        return self.evaluation(project, gold=gold, annotator=annotator, url=url).report

    def evaluation(self, project: str | None = None, *, gold: str = "adjudicated", annotator: str | None = None,
                   url: str | None = None) -> Evaluation:
        """`evaluate`, with each field's reliability bins (for `eval --html`)."""
        from .confidence.audit import attach_routing
        from .confidence.figures import fitting_available
        from .evaluate.compare import evaluate
        from .evaluate.confidence import Confidence
        from .evaluate.load import EvalInput, eval_pairs, projects

        db = self.db()
        schema = self.schema(db, project, url)
        counts, confidence = EvalInput(), Confidence(schema.fields)
        report = evaluate(schema.fields, confidence.watch(eval_pairs(db, schema, project=project, url=url,
                                                                     annotator=annotator, gold=gold, counts=counts)))
        calibrated = confidence.annotate(report, fitting_available())
        report["annotations_without_draft"] = counts.missing
        report["gold"], report["gold_rules"] = gold, counts.rules
        routed = attach_routing(db, schema, report, projects(db, project, url))
        bins = [{name: a.reliability() for name, a in figures.fields.items()} for figures in calibrated.values()]
        return Evaluation(report, bins, sum(group["annotations"] for group in report["groups"]), routed)

    def adjudicate(self, project: str, *, below: float | None = None) -> Adjudication:
        """Mark the project's disputed tasks (pulled gold) in its Label Studio view "Adjudicate", most disputed
        first; `below`: only tasks whose agreement is under it. See `annotator adjudicate --help`."""
        from .labelstudio.adjudicate import adjudicate

        db, ls, url = self._labelstudio()
        return adjudicate(db, ls, self.schema(db, project, url), project, url=url, below=below)

    def export(self, options: ExportOptions, progress: Any = None) -> ExportReport:
        """Write the project's gold as training data (jsonl, spacy, conll, hf, labelstudio)."""
        from .export import export

        db = self.db()
        return export(db, self.schema(db, options.project), options.fmt, options.out, project=options.project,
                      gold=options.gold, level=options.level, include_drafts=options.include_drafts,
                      expand=options.expand, include_accepted=options.include_accepted, progress=progress)

    # ------------------------------------------------------------------ what the steps share

    @staticmethod
    def client(llm: LLM) -> Any:
        """The LLM client for `llm` (flags, then environment, then the embedded server)."""
        from .endpoints import resolve_llm
        from .llm import LLMClient

        target = resolve_llm(llm.base_url, llm.model)
        return LLMClient(base_url=target.base_url, api_key=llm.api_key or target.api_key, model=target.model,
                         timeout=llm.timeout, max_retries=llm.retries, temperature=llm.temperature,
                         max_tokens=llm.max_tokens, samples=llm.samples, sample_temperature=llm.sample_temperature)

    @staticmethod
    def selection(db: sqlite_utils.Database, schema: Schema, options: DraftOptions) -> Any:
        """The run's selection: context window, boilerplate, redrafting, retrieved examples."""
        from .annotate.jobs import Selection
        from .context import window
        from .errors import InputError
        from .examples import ExampleIndex

        if (options.examples is None) != (options.examples_from is None):
            raise InputError("examples K and examples_from PROJECT go together; give both")
        size = window(options.context_before, options.context_after)
        index = (None if options.examples is None
                 else ExampleIndex(db, schema, options.examples_from, options.examples, window=size))
        return Selection(window=size, include_boilerplate=options.include_boilerplate, redraft=options.redraft,
                         examples=index)

    def _labelstudio(self) -> tuple[sqlite_utils.Database, Any, str]:
        """(the database, a Label Studio client checked against the server, its URL)."""
        from .endpoints import resolve_labelstudio
        from .labelstudio.api import open_client

        server = resolve_labelstudio(self.label_studio_url)
        url = server.url or ""
        return self.db(), open_client(url, server.api_key or ""), url


__all__ = ["LLM", "DraftOptions", "Evaluation", "ExportOptions", "PushOptions", "Workspace"]
