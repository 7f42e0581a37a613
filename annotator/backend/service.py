"""One `annotator serve` process: the project, the predictor, the syncer, the registration, wired once.

Every thread (request handlers, drafting workers, the syncer) gets its own SQLite
connection (`Connections`); the database is migrated once at start.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass, field

import sqlite_utils

from ..annotate.prepare import RunOptions
from ..boilerplate import BACKFILLS
from ..errors import LabelStudioError
from ..labelstudio.api import normalize_url, open_client
from ..labelstudio.config import label_config
from ..labelstudio.projects import ensure_project
from ..labelstudio.pull import pull
from ..llm import LLMClient
from ..locks import hold
from ..prompts import Prompt
from ..schema import Schema
from ..settings import busy_timeout, redact_url
from ..store import WriteFirstDatabase, now, open_db
from .credentials import Credentials, load_credentials
from .predict import PREDICT_BUDGET, Predictor
from .protocol import SyncWork, config_problem, webhook_work
from .register import RegistrationPlan, Wanted, register
from .state import ensure_link, record_webhooks
from .sync import DEBOUNCE, PULL_EVERY, Syncer, apply_deletions, project_scope

log = logging.getLogger("annotator.backend")


@dataclass(frozen=True)
class ServeOptions:
    """What `annotator serve` was asked for. Keys are never printed (hidden from repr)."""

    db_path: str
    project_name: str
    schema: Schema
    prompt: Prompt
    llm_url: str | None = field(repr=False)
    llm_key: str | None = field(repr=False)
    model: str
    ls_url: str = field(repr=False)
    ls_key: str = field(repr=False)
    drafting: RunOptions = field(default_factory=RunOptions)
    """How /predict drafts (its mode, concurrency, re-asks), as `annotate` would."""
    timeout: float = 120.0
    retries: int = 8
    budget: float = PREDICT_BUDGET
    pull_every: float = PULL_EVERY
    debounce: float = DEBOUNCE


class Connections:
    """One SQLite connection per thread (each a WriteFirstDatabase), all closed together."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []

    def get(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            for pragma in (f"busy_timeout={int(busy_timeout() * 1000)}", "foreign_keys=ON", "synchronous=NORMAL"):
                conn.execute(f"PRAGMA {pragma}")
            db = self._local.db = WriteFirstDatabase(conn)
            with self._lock:
                self._opened.append(conn)
        return db

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()


class Service:
    """The project served, and everything that answers Label Studio about it."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.url = normalize_url(options.ls_url)
        open_db(options.db_path, BACKFILLS).close()  # create and migrate once
        self.connections = Connections(options.db_path)
        db = self.connections.get()
        self.ls = open_client(options.ls_url, options.ls_key)
        self.project, server, _ = ensure_project(db, self.ls, options.schema, options.project_name, self.url)
        problem = config_problem(server.label_config, label_config(options.schema), options.schema.name)
        if problem:
            raise LabelStudioError(f"project {self.project.name!r} on {self.url}: {problem}")
        ensure_link(db, self.project.id)
        self.credentials: Credentials = load_credentials()
        client = LLMClient(base_url=options.llm_url, api_key=options.llm_key, model=options.model,
                           timeout=options.timeout, max_retries=options.retries)
        self.predictor = Predictor(self.connections.get, self.project, options.schema, options.prompt, client,
                                   options.drafting, budget=options.budget)
        self.syncer = Syncer(self._sync, self._record_webhooks, every=options.pull_every,
                             debounce=options.debounce)
        self._pull_client = None

    @property
    def model_version(self) -> str:
        return self.predictor.model_version

    def start(self) -> None:
        """Start following gold (a full pull first)."""
        self.syncer.start()

    def close(self) -> None:
        """Stop pulling and drafting, close every connection."""
        self.syncer.stop()
        self.predictor.close()
        self.connections.close()

    # ------------------------------------------------------------------ registration

    def register(self, backend_url: str) -> RegistrationPlan:
        """Point the project's ML backend and webhook at `backend_url` (serve must be answering there)."""
        wanted = Wanted(backend_url.rstrip("/"), f"{backend_url.rstrip('/')}/webhook", self.credentials,
                        self.model_version)
        return register(self.connections.get(), self.ls, self.project, wanted, self.options.schema)

    # ------------------------------------------------------------------ webhooks and pulls

    def webhook(self, payload: object) -> bool:
        """Queue what a webhook asks for (returns at once); False when it is not about this project's gold."""
        work = webhook_work(payload, self.project.ls_id)
        if work is None:
            return False
        self.syncer.notify(work)
        return True

    def _record_webhooks(self, actions: tuple[str, ...]) -> None:
        record_webhooks(self.connections.get(), self.project.id, actions, now())

    def _sync(self, work: SyncWork, full: bool) -> None:
        """On the syncer's thread: mark deletions, then pull, holding the project's lock."""
        db = self.connections.get()
        if self._pull_client is None:
            self._pull_client = open_client(self.options.ls_url, self.options.ls_key)
        with hold(db, project_scope(self.project), f"pulling project {self.project.name!r}"):
            marked = apply_deletions(db, self._pull_client, self.project, work)
            report = pull(db, self._pull_client, self.options.schema, self.project.name, url=self.url,
                          full=full) if work.pull else None
        if report is not None and (report.written or full):
            log.info("pulled%s: %d new, %d updated, %d deleted gold rows (%d unchanged) in %.2f s",
                     " (full)" if report.full else "", report.inserted, report.updated, report.deleted + marked,
                     report.unchanged, report.seconds)
        elif marked:
            log.info("marked %d gold rows deleted", marked)

    def describe(self) -> str:
        """One line naming what is served (no credentials)."""
        llm = redact_url(self.options.llm_url) or "OpenAI"
        return (f"project {self.project.name!r} ({self.project.link}), schema {self.options.schema.name}, "
                f"model {self.options.model} at {llm}, prompt {self.options.prompt.version}")
