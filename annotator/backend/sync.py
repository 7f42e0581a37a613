"""Gold that follows the annotators: pulls after webhooks (debounced), on a timer, and at start.

Label Studio sends a webhook once and never again, so a webhook is only a hint
that something changed: the incremental pull (`annotator.labelstudio.pull`) is
what brings the change, by the task's `updated_at`, which creating, editing,
skipping and deleting an annotation all move. A webhook that never arrived
(serve stopped, network down) is caught by the next pull: the timer's, or the
full pull `serve` makes when it starts, which also notices tasks deleted while it
was down. While it runs, a TASKS_DELETED webhook marks the gold of those tasks
deleted at once (an incremental pull cannot see a task that is gone), and
ANNOTATIONS_DELETED marks its annotations, both through `deletion_writes` and
only once Label Studio confirms they are gone (`gone_from_server`): a webhook
alone never marks live gold deleted.

Pulls take the project's lock (`hold`); when another process holds it, the work
waits and is tried again a moment later, never dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import sqlite_utils
from label_studio_sdk import LabelStudio

from ..errors import AnnotatorError
from ..labelstudio.projects import Project
from ..labelstudio.projects import project_scope as labelstudio_scope
from ..labelstudio.pull import gone_from_server
from ..locks import Busy
from ..store import GoldStatus, now
from .protocol import SyncWork, deletion_writes

log = logging.getLogger("annotator.backend")

DEBOUNCE = 0.25
"""Seconds to wait after a webhook for others (a batch of submits becomes one pull)."""
PULL_EVERY = 60.0
"""Seconds between pulls when no webhook comes."""
RETRY_BUSY = 2.0
"""Seconds before trying again when another process holds the project's lock."""
RETRY_FAILED = 15.0
"""Seconds before trying again after a failed pull (Label Studio down)."""


def project_scope(project: Project) -> str:
    """The lock scope of a project: the one push and pull take, so serve never pulls while they run."""
    return labelstudio_scope(project.url, project.name)


def apply_deletions(db: sqlite_utils.Database, ls: LabelStudio, project: Project, work: SyncWork) -> int:
    """Mark deleted the gold of annotations and tasks the webhooks said are gone and Label Studio confirms are
    gone (`gone_from_server`); how many rows."""
    ids = sorted(work.annotations_deleted)
    tasks = sorted(work.tasks_deleted)
    if not ids and not tasks:
        return 0
    clauses = [f"annotation_id IN ({','.join('?' * len(ids))})"] if ids else []
    clauses += [f"task_id IN ({','.join('?' * len(tasks))})"] if tasks else []
    stored = list(db.query(f"SELECT * FROM gold WHERE project_id = ? AND status != ? AND ({' OR '.join(clauses)})",
                           [project.id, GoldStatus.DELETED.value, *ids, *tasks]))
    if not stored:
        return 0
    gone_annotations, gone_tasks = gone_from_server(
        ls, project, {r["annotation_id"] for r in stored if r["annotation_id"] in work.annotations_deleted},
        {r["task_id"] for r in stored if r["task_id"] in work.tasks_deleted})
    confirmed = replace(work, annotations_deleted=frozenset(gone_annotations), tasks_deleted=frozenset(gone_tasks))
    writes = deletion_writes(stored, confirmed, now())
    if writes:
        with db.atomic():
            db["gold"].upsert_all(writes, pk="id")
    return len(writes)


class Syncer:
    """A thread that runs `sync(work, full)` when webhooks ask for it, and on a timer.

    The first run is a full pull. `sync` raising Busy is retried after RETRY_BUSY,
    any other AnnotatorError after RETRY_FAILED; the work is kept until it succeeds.
    `record(actions)` is told once about the webhooks behind each run.
    """

    def __init__(self, sync: Callable[[SyncWork, bool], None], record: Callable[[tuple[str, ...]], None], *,
                 debounce: float = DEBOUNCE, every: float = PULL_EVERY, retry_busy: float = RETRY_BUSY,
                 retry_failed: float = RETRY_FAILED) -> None:
        self._sync, self._record = sync, record
        self.debounce, self.every, self.retry_busy, self.retry_failed = debounce, every, retry_busy, retry_failed
        self._pending = SyncWork(pull=True)
        self._full = True
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="serve-sync", daemon=True)
        self.runs = 0
        """Successful runs so far."""

    def start(self) -> Syncer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the run in progress (if any)."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def notify(self, work: SyncWork) -> None:
        """Ask for a run soon (called for every webhook; returns at once)."""
        with self._lock:
            self._pending = self._pending.merge(work)
        self._wake.set()

    def _take(self, timer: bool) -> SyncWork:
        with self._lock:
            work, self._pending = self._pending, SyncWork()
        return work.merge(SyncWork(pull=True)) if timer else work

    def _put_back(self, work: SyncWork) -> None:
        with self._lock:
            self._pending = work.merge(self._pending)

    def _loop(self) -> None:
        due = time.monotonic()  # the first run (a full pull) right away
        while not self._stopping.is_set():
            woke = self._wake.wait(max(0.0, due - time.monotonic()))
            if self._stopping.is_set():
                return
            if woke:
                self._wake.clear()
                if self._stopping.wait(self.debounce):
                    return
            work = self._take(timer=time.monotonic() >= due)
            if work.empty and not work.actions:
                continue
            due = self._run(work)

    def _run(self, work: SyncWork) -> float:
        """Run once; when the next timed run is due."""
        if work.actions:
            try:
                self._record(work.actions)
            except Exception as exc:  # bookkeeping only: never lose the pull over it
                log.warning("could not record the webhooks received (%s)", exc)
            work = replace(work, actions=())
        if work.empty:
            return time.monotonic() + self.every
        try:
            self._sync(work, self._full)
        except Busy as exc:
            self._put_back(work)
            log.info("pull deferred: %s; trying again in %.0f s", exc, self.retry_busy)
            return time.monotonic() + self.retry_busy
        except AnnotatorError as exc:
            self._put_back(work)
            log.error("pull failed: %s; trying again in %.0f s", exc, self.retry_failed)
            return time.monotonic() + self.retry_failed
        except Exception as exc:  # a bug must not end the thread: gold would silently stop following
            self._put_back(work)
            log.exception("pull failed unexpectedly (%s); trying again in %.0f s", type(exc).__name__,
                          self.retry_failed)
            return time.monotonic() + self.retry_failed
        self._full = False
        self.runs += 1
        return time.monotonic() + self.every
