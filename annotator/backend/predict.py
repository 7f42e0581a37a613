"""Answering /predict: a task whose sentence has a draft is answered from SQLite at once; the others are
drafted (same drafter, cache and grounding as `annotate`) with bounded concurrency before the deadline.

A draft is paid for once: drafts in flight are shared between requests, every
finished draft is committed whether or not its request is still waiting, and a
draft that misses the deadline answers the next request for its task. The answer is
the prediction `push` sends for the same draft (`labelstudio.predictions.prediction_of`),
under the model version `push` gives it, so Label Studio never asks again for a task
that already shows it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils
from label_studio_sdk.label_interface import LabelInterface

from ..annotate.jobs import Job
from ..annotate.prepare import RunOptions, prepare_run
from ..annotate.writes import DatabaseBusy, DraftWriter, is_busy, unsaved_file, unsaved_outcomes
from ..confidence.calibrate import latest_maps
from ..context import DocumentSentences
from ..labelstudio.config import label_config
from ..labelstudio.predictions import model_version_of, prediction_of
from ..labelstudio.projects import Project
from ..llm import LLMClient, Stopped
from ..prompts import Prompt
from ..schema import Schema
from ..store import DraftStatus, now
from .protocol import (
    ProtocolError,
    config_problem,
    ls_project_id,
    predict_tasks,
    task_problem,
)
from .state import record_predict
from .tasks import TaskSentence, TaskSentences

log = logging.getLogger("annotator.backend")

PREDICT_BUDGET = 90.0
"""Seconds a /predict may take: Label Studio gives up after 100 s (ML_TIMEOUT_PREDICT)."""


@dataclass
class PredictReport:
    """What one /predict did."""

    tasks: int = 0
    stored: int = 0  # answered from a draft already in SQLite
    drafted: int = 0  # drafted during this request
    late: int = 0  # still drafting at the deadline (stored when done, answered next time)
    unanswered: list[str] = field(default_factory=list)  # why a task got no prediction
    skipped: list[str] = field(default_factory=list)  # why a malformed task was not looked at
    seconds: float = 0.0
    locked: list[str] = field(default_factory=list)  # what a database locked by another process held back


def best_drafts(rows: Sequence[Mapping], run_key: str) -> dict[str, Mapping]:
    """Per sentence, the draft to answer with: ok before invalid, this run's settings before older ones."""
    best: dict[str, Mapping] = {}
    for row in sorted(rows, key=lambda r: (r["status"] == DraftStatus.OK, r["run_key"] == run_key)):
        best[row["sentence_id"]] = row
    return best


class Predictor:
    """Drafts and answers for one project; safe to call from several threads at once."""

    def __init__(self, db: Callable[[], sqlite_utils.Database], project: Project, schema: Schema, prompt: Prompt,
                 client: LLMClient, options: RunOptions | None = None, *, budget: float = PREDICT_BUDGET) -> None:
        self.db, self.project, self.schema, self.prompt, self.client = db, project, schema, prompt, client
        self.budget = budget
        self.model_version = model_version_of({"model": client.model, "prompt_version": prompt.version,
                                               "schema_hash": schema.hash})
        self.schema_xml = label_config(schema)
        options = options or RunOptions()
        self.run = prepare_run(db(), client, schema, prompt, options, threads=True)
        self.drafter = self.run.drafter
        self.sentences = TaskSentences(project)
        self.pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="draft")
        self._inflight: dict[str, Future] = {}
        self._lock = threading.RLock()  # a draft done already runs its callback (which locks) at once
        self._interfaces: dict[str, LabelInterface] = {}

    # ------------------------------------------------------------------ checks

    def check_project(self, value: Any) -> None:
        """Refuse a request about another project."""
        if ls_project_id(value) != self.project.ls_id:
            raise ProtocolError(f"this backend serves project {self.project.name!r} (id {self.project.ls_id}), "
                                f"not project {value}; connect the other project to its own `annotator serve`")

    def interface(self, xml: Any) -> LabelInterface:
        """The project's labeling config, once checked against the schema's (cached by its text)."""
        known = self._interfaces.get(xml) if isinstance(xml, str) else None
        if known is not None:
            return known
        problem = config_problem(xml, self.schema_xml, self.schema.name)
        if problem:
            raise ProtocolError(problem)
        interface = LabelInterface(xml)
        self._interfaces[xml] = interface
        return interface

    # ------------------------------------------------------------------ /predict

    def predict(self, body: Any) -> tuple[dict, PredictReport]:
        """The /predict answer (one entry per task, in order; none for a malformed task) and what it took."""
        started = time.monotonic()
        sent = predict_tasks(body)
        self.check_project(body.get("project"))
        interface = self.interface(body.get("label_config"))
        report = PredictReport(tasks=len(sent))
        problems = [task_problem(task, n) for n, task in enumerate(sent)]
        report.skipped = [p for p in problems if p is not None]
        tasks = [task for task, problem in zip(sent, problems, strict=True) if problem is None]
        answers = iter(self._predict(tasks, interface, started, report) if tasks else [])
        report.seconds = time.monotonic() - started
        return {"results": [[] if problem else next(answers) for problem in problems]}, report

    def _predict(self, tasks: list[dict], interface: LabelInterface, started: float, report: PredictReport
                 ) -> list:
        """The answer to each well-formed task, in order."""
        db = self.db()
        found = self.sentences.resolve(db, tasks)
        drafts = self._stored(db, [t.sentence_id for t in found if t.sentence_id])
        missing = [t for t in found if t.sentence_id and t.sentence_id not in drafts]
        if missing:  # answers kept aside while the database was locked are never paid again
            drafts.update(self._unsaved(db, [t.sentence_id for t in missing if t.sentence_id], report))
            missing = [t for t in missing if t.sentence_id not in drafts]
        report.stored = sum(1 for t in found if t.sentence_id in drafts)
        drafts.update(self._draft_missing(db, missing, started, report))
        maps = (latest_maps(db, self.project.id) or (0, None))[1]  # calibrate may have run since the last request
        results = [self._answer(interface, task, drafts.get(task.sentence_id or ""), report, maps) for task in found]
        self._record(db, found, drafts, results, report)
        return results

    def _unsaved(self, db: sqlite_utils.Database, sentence_ids: list[str], report: PredictReport
                 ) -> dict[str, Mapping]:
        """The drafts of these sentences kept in the side file: stored first if the database is free again,
        else read from the file (the database stays locked)."""
        path = unsaved_file(db)
        if path is None or not path.exists():
            return {}
        try:
            replayed = DraftWriter(db).replay()
        except DatabaseBusy:
            wanted = set(sentence_ids)
            rows = [o.row for o in unsaved_outcomes(path) if o.row["sentence_id"] in wanted and self._ours(o.row)]
            report.locked.append(f"answers kept in {path} are stored when it is free")
            return dict(best_drafts(rows, self.client.run_key))
        if replayed:
            log.info("stored %d paid answers kept in %s while the database was locked", replayed, path)
        return self._stored(db, sentence_ids)

    def _ours(self, row: Mapping) -> bool:
        """Whether a draft row answers for this schema, prompt, model and run settings (as `_stored` selects)."""
        return (row["schema_hash"] == self.schema.hash and row["prompt_version"] == self.prompt.version
                and row["model"] == self.client.model and row["run_key"] in (self.client.run_key, "")
                and row["status"] in (DraftStatus.OK, DraftStatus.INVALID))

    def _stored(self, db: sqlite_utils.Database, sentence_ids: list[str]) -> dict[str, Mapping]:
        """The ok or invalid drafts already stored for these sentences (this model, prompt and schema)."""
        rows: list[dict] = []
        unique = sorted(set(sentence_ids))
        for i in range(0, len(unique), 500):
            part = unique[i:i + 500]
            rows += db.query(
                f"SELECT * FROM drafts WHERE sentence_id IN ({','.join('?' * len(part))}) AND schema_hash = ? "
                f"AND prompt_version = ? AND model = ? AND run_key IN (?, '') AND status IN (?, ?)",
                [*part, self.schema.hash, self.prompt.version, self.client.model, self.client.run_key,
                 DraftStatus.OK.value, DraftStatus.INVALID.value])
        return dict(best_drafts(rows, self.client.run_key))

    def _draft_missing(self, db: sqlite_utils.Database, missing: list[TaskSentence], started: float,
                       report: PredictReport) -> dict[str, Mapping]:
        """Draft the sentences without a draft, waiting until the deadline; the drafts finished by then."""
        if not missing:
            return {}
        context = DocumentSentences(db)
        futures: dict[str, Future] = {}
        for task in missing:
            sentence = task.sentence
            assert sentence is not None
            if sentence["id"] not in futures:
                around = context.context(sentence["document_id"], sentence["idx"])
                futures[sentence["id"]] = self._submit(Job(sentence["id"], sentence["text"], around.headline,
                                                           around.before, around.after))
        wait(futures.values(), timeout=max(0.0, self.budget - (time.monotonic() - started)))
        finished: list[str] = []
        for sid, future in futures.items():
            if not future.done():
                report.late += 1
            elif future.exception() is not None:
                report.unanswered.append(f"drafting failed: {future.exception()}")
            elif future.result()["status"] == DraftStatus.FAILED:
                report.unanswered.append(f"sentence {sid}: {future.result()['error']}")
            else:
                finished.append(sid)
        report.drafted = len(finished)
        stored = self._stored(db, finished)  # as committed (a row keeps the id it was first written with)
        kept = [sid for sid in finished if sid not in stored]  # the database was locked: kept in the side file
        if kept:
            report.locked.append(f"{len(kept)} new draft(s) kept in {unsaved_file(db)}")
        return {**stored, **{sid: futures[sid].result() for sid in kept}}

    def _submit(self, job: Job) -> Future:
        """The draft of this sentence in flight, started if none is."""
        with self._lock:
            future = self._inflight.get(job.sentence_id)
            if future is None:
                future = self.pool.submit(self._draft_and_store, job)
                self._inflight[job.sentence_id] = future
                future.add_done_callback(lambda _: self._forget(job.sentence_id))
            return future

    def _forget(self, sentence_id: str) -> None:
        with self._lock:
            self._inflight.pop(sentence_id, None)

    def _draft_and_store(self, job: Job) -> dict:
        """Draft one sentence and commit it (on this worker's connection), whoever is still waiting."""
        outcome = self.drafter.draft(job)
        if outcome is None:
            raise Stopped("the backend is stopping")
        writer = DraftWriter(self.db())
        writer.write(outcome)
        writer.flush()
        return outcome.row

    def _answer(self, interface: LabelInterface, task: TaskSentence, draft: Mapping | None,
                report: PredictReport, maps: Mapping | None = None) -> dict | list:
        """The prediction for one task, or [] (no prediction) with the reason noted."""
        if task.problem:
            report.unanswered.append(task.problem)
            return []
        if draft is None:
            return []
        if draft["status"] != DraftStatus.OK:
            report.unanswered.append(f"task {task.task_id}: its draft stayed invalid ({draft['error']}); "
                                     f"`annotator annotate --retry-invalid` asks again")
            return []
        prediction, why = prediction_of(self.schema, interface, draft, task.text or "", self.model_version,
                                        task.shift, maps=maps)
        if prediction is None:
            report.unanswered.append(f"task {task.task_id}: {why}")
            return []
        return prediction

    def _record(self, db: sqlite_utils.Database, found: list[TaskSentence], drafts: Mapping[str, Mapping],
                results: list, report: PredictReport) -> None:
        """Record the predictions sent on recorded tasks (push then never sends them again)."""
        stamp = now()
        sent = [(self.project.id, drafts[t.sentence_id]["id"], t.task_id, self.model_version, stamp,
                 self.project.id, t.task_id, t.sentence_id, drafts[t.sentence_id]["id"])
                for t, r in zip(found, results, strict=True) if r and t.sentence_id]
        try:  # a draft still in the side file is recorded by a later ask, once it is stored
            with db.atomic():
                db.conn.executemany(
                    "INSERT OR IGNORE INTO predictions (project_id, draft_id, task_id, model_version, pushed_at) "
                    "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM tasks WHERE project_id = ? AND task_id = ? "
                    "AND sentence_id = ?) AND EXISTS (SELECT 1 FROM drafts WHERE id = ?)", sent)
            record_predict(db, self.project.id, len(found))
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            report.locked.append("the predictions sent are not recorded")

    def close(self) -> None:
        """Stop drafting: nothing more is sent; drafts in flight are abandoned."""
        self.client.stopping.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.run.close()
