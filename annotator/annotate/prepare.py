"""A drafting run's set-up, written once for `annotate`, `annotate --batch` and serve's /predict.

`RunOptions` is how a run goes (one frozen value, from the command line's flags or a
caller's); `prepare_run` does what every run does before its first request: record the
prompt and the schema its drafts stand for, pick the structured-output mode (the one
remembered for the model, unless one is asked), stop asking for log-probabilities a
server refused before, and make the `Drafter` with its cache lookup. `drafting_lock` is
the lock a whole run holds; `PreparedRun.remember` keeps what the run learnt about the
server for the next one. What the database remembers (modes, refusals, schemas) is read
and written here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlite_utils

from ..errors import InputError
from ..llm.cache import CacheReader, cached_response
from ..llm.client import LLMClient
from ..locks import hold
from ..prompts import Prompt, register_prompt
from ..schema import Schema
from ..store import now
from .drafter import DraftClient, Drafter, ModeResolver
from .jobs import Selection


@dataclass(frozen=True)
class RunOptions:
    """How a drafting run goes; the defaults are a plain `annotator annotate`."""

    mode: str = "auto"
    """The structured-output mode, or auto: the remembered one, falling back when the server refuses it."""
    concurrency: int = 4
    """Requests in flight at most (online and /predict)."""
    adaptive: bool = True
    """Online: `concurrency` is a ceiling; the requests in flight follow the server's rate limits (`llm.limiter`)."""
    limit: int | None = None
    """Draft at most this many sentences."""
    max_reasks: int = 2
    """Re-asks of an invalid reply, with the validation error."""
    retry_invalid: bool = False
    """Draft again the sentences whose draft stayed invalid."""
    selection: Selection = field(default_factory=Selection)
    """The context window, boilerplate, redrafting and retrieved examples (`jobs.Selection`)."""
    reask_online: bool = False
    """--batch: re-ask invalid replies at once instead of in a follow-up batch."""
    poll_interval: float = 30.0
    """--batch: seconds between checks on a running batch."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise InputError("--concurrency must be at least 1")


@dataclass
class PreparedRun:
    """A run ready for its first request: the mode in use, the drafter, and what the database remembered."""

    resolver: ModeResolver
    drafter: Drafter
    remembered_mode: str | None
    asked_logprobs: bool
    cache: CacheReader | None = None
    """The worker threads' cache reader (closed by `close`), when the run drafts from threads."""

    def remember(self, db: sqlite_utils.Database, client: LLMClient, ok_modes: set[str]) -> None:
        """Keep what the run learnt: the mode that made drafts, and a refusal of log-probabilities."""
        if self.resolver.mode in ok_modes and self.resolver.mode != self.remembered_mode:
            remember_mode(db, client.model, self.resolver.mode)
        if self.asked_logprobs and not client.logprobs:
            remember_no_logprobs(db, client.server, client.model)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def prepare_run(db: sqlite_utils.Database, client: LLMClient, schema: Schema, prompt: Prompt, options: RunOptions, *,
                sender: DraftClient | None = None, threads: bool = False) -> PreparedRun:
    """Everything a run does before its first request (see the module's docstring).

    `sender` stands in for the client when the answers come from elsewhere (the batch's
    results); with `threads` the drafter reads the cache on a connection per thread, else
    on `db`'s own (which sees the answers this run has written and not yet committed).
    """
    register_prompt(db, prompt)
    record_schema(db, schema)
    remembered = remembered_mode(db, client.model)
    resolver = ModeResolver(options.mode, remembered)
    asked = client.logprobs = client.logprobs and remembered_logprobs(db, client.server, client.model)
    cache = CacheReader(db) if threads else None
    lookup: Callable[[str], str | None] = cache.lookup if cache else (lambda key: cached_response(db, key))
    drafter = Drafter(sender or client, schema, prompt, resolver, lookup, options.max_reasks)
    return PreparedRun(resolver, drafter, remembered, asked, cache)


@contextmanager
def drafting_lock(db: sqlite_utils.Database, client: LLMClient, schema: Schema, prompt: Prompt,
                  selection: Selection) -> Iterator[str]:
    """Hold the lock of drafting (schema, prompt, model, run settings) for the block; yields its scope.

    Runs with retrieved examples share the lock of their example family (their run keys differ by the examples).
    """
    family = selection.examples.family_pattern(client.run_key) if selection.examples else client.run_key
    scope = f"annotate {schema.hash} {prompt.version} {client.model} {family}"
    with hold(db, scope, f"drafting with {client.model}, prompt {prompt.version}"):
        yield scope


def record_schema(db: sqlite_utils.Database, schema: Schema) -> None:
    """Keep the JSON schema the drafts' `schema_hash` stands for (first name wins)."""
    with db.atomic():
        db.execute("INSERT OR IGNORE INTO schemas (hash, name, json_schema, created_at) VALUES (?, ?, ?, ?)",
                   [schema.hash, schema.name, json.dumps(schema.json_schema), now()])


def remembered_mode(db: sqlite_utils.Database, model: str) -> str | None:
    """The structured-output mode that last worked for the model."""
    row = db.execute("SELECT mode FROM llm_modes WHERE model = ?", [model]).fetchone()
    return row[0] if row else None


def remember_mode(db: sqlite_utils.Database, model: str, mode: str) -> None:
    """Start the model's next run in `mode`."""
    with db.atomic():
        db.execute("INSERT INTO llm_modes (model, mode, updated_at) VALUES (?, ?, ?) "
                   "ON CONFLICT(model) DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at",
                   [model, mode, now()])


def remembered_logprobs(db: sqlite_utils.Database, server: str, model: str) -> bool:
    """Whether to ask this server for the model's log-probabilities (not once it refused them)."""
    return db.execute("SELECT 1 FROM llm_logprobs_refused WHERE server = ? AND model = ?",
                      [server, model]).fetchone() is None


def remember_no_logprobs(db: sqlite_utils.Database, server: str, model: str) -> None:
    """The server refused the model's log-probabilities: later runs to it stop asking."""
    with db.atomic():
        db.execute("INSERT OR REPLACE INTO llm_logprobs_refused (server, model, refused_at) VALUES (?, ?, ?)",
                   [server, model, now()])
