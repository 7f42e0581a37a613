"""Push drafts to Label Studio: new sentences as tasks carrying their drafts, newer drafts as predictions.

`plan_push` (pure) decides from plain rows which sentences become tasks and which
drafts become predictions on tasks already there. `push` (the edge) carries the
plan out chunk by chunk, recording in SQLite what the server said as soon as it
said it: the task ids of each import (they come back in request order), and once
every chunk is in, the ids of the predictions it created (`predictions`). A push
that died half way is simply run again: it reconciles with the server first when
the counts differ or prediction ids are missing, so nothing is imported twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils
from label_studio_sdk import LabelStudio
from label_studio_sdk.label_interface import LabelInterface

from ..confidence.calibrate import latest_maps
from ..context import Context, DocumentSentences, Window, window
from ..errors import InputError, LabelStudioError
from ..locks import hold
from ..schema import Schema
from ..store import DraftStatus, now
from .accept import RouteOutcome, is_audit, route_push
from .api import IMPORT_OPTIONS, Progress, calling, normalize_url
from .config import label_config, validate_config
from .overlap import check_overlap, set_overlap
from .page import set_up_page
from .predictions import model_version_of, prediction_of, record_prediction_ids, shown_version
from .projects import Project, ensure_project, project_scope, update_config
from .reconcile import delete_duplicates, reconcile

AFTER = "tasks recorded so far are kept; run push again to continue"


@dataclass
class PushReport:
    """What a push did. `project_id` is the project's key in SQLite, `ls_project_id` its id on the server."""

    project_id: str = ""
    ls_project_id: int = 0
    project_link: str = ""
    created_project: bool = False
    tasks_created: int = 0
    predictions_created: int = 0
    tasks_reconciled: int = 0
    predictions_reconciled: int = 0
    tasks_already: int = 0
    prediction_ids_recorded: int = 0
    model_version: str | None = None
    invalid_predictions: list[str] = field(default_factory=list)
    blind_tasks: int = 0
    """New tasks sent without a prediction (the blind subset)."""
    duplicates: list[int] = field(default_factory=list)
    """Server tasks of a sentence that already has its task here (from any earlier cause)."""
    duplicates_deleted: list[int] = field(default_factory=list)
    page: list[str] = field(default_factory=list)
    """What push changed on the annotator's page: labeling config, instructions, view (in words)."""
    routing: RouteOutcome | None = None  # with `route`: what the project's routing decided
    overlap: str = ""  # with `overlap`: how many annotators each task now goes to, in words ("" when unchanged)


# --------------------------------------------------------------------------- pure core


@dataclass(frozen=True)
class NewTask:
    """A sentence to import as a task, with the drafts it carries as predictions (oldest first; none if blind)."""

    sentence_id: str
    draft_ids: tuple[str, ...]
    blind: bool = False


def is_blind(sentence_id: str, fraction: float) -> bool:
    """Whether a sentence's task is in the blind share: a hash of its id, so every push agrees."""
    if fraction <= 0:
        return False
    return int(hashlib.sha256(f"blind:{sentence_id}".encode()).hexdigest()[:8], 16) / 0x1_0000_0000 < fraction


@dataclass(frozen=True)
class NewPrediction:
    """A draft to add as a prediction to the task its sentence already has."""

    draft_id: str
    task_id: int


@dataclass
class PushPlan:
    """What a push sends, in sentence order."""

    new_tasks: list[NewTask] = field(default_factory=list)
    new_predictions: list[NewPrediction] = field(default_factory=list)


def plan_push(drafts: Iterable[Mapping], tasks: Mapping[str, int], pushed: Set[str],
              blind_tasks: Set[str] = frozenset(), blind_fraction: float = 0.0,
              accepted: Mapping[str, bool] | None = None, order: Mapping[str, float] | None = None) -> PushPlan:
    """Which sentences become tasks and which drafts become predictions on existing tasks.

    - drafts: the drafts to push, {"id", "sentence_id", "position" (the sentence's order),
      "created_at"};
    - tasks: sentence id -> task id already recorded for the project;
    - pushed: ids of drafts already recorded as predictions in the project;
    - blind_tasks: sentence ids whose task is blind: it never gets a prediction;
    - blind_fraction: the share of new tasks sent blind (`is_blind`);
    - accepted: sentence -> audited (only an audit's blind task); order: -> confidence (`accept.py`).
    """
    accepted = accepted or {}
    waiting = sorted((d for d in drafts if d["id"] not in pushed),
                     key=lambda d: (d["position"], d["created_at"] or "", d["id"]))
    new: dict[str, list[str]] = {}
    plan = PushPlan()
    for d in waiting:
        task_id = tasks.get(d["sentence_id"])
        if task_id is None and accepted.get(d["sentence_id"], True):  # accepted: only an audit's task
            new.setdefault(d["sentence_id"], []).append(d["id"])
        elif task_id is not None and d["sentence_id"] not in blind_tasks:
            plan.new_predictions.append(NewPrediction(d["id"], task_id))
    for sid, ids in new.items():
        blind = sid in accepted or is_blind(sid, blind_fraction)
        plan.new_tasks.append(NewTask(sid, () if blind else tuple(ids), blind))
    if order is not None:  # stable: sentence order among equal confidences
        plan.new_tasks.sort(key=lambda t: (t.sentence_id not in accepted, order.get(t.sentence_id, 1.0)))
    return plan


HEADLINE_NOTE = "The article's headline"
"""Shown above a headline task's sentence (`sentence_note`)."""


def task_data(sentence: Mapping, context: Context) -> dict:
    """A task's `data`: the sentence, our ids, the document's headline, the sentences before it (`context`)
    and after it (`context_after`: where a split quote names its source)."""
    return {"text": sentence["text"], "sentence_id": sentence["id"], "document_id": sentence["document_id"],
            "headline": context.headline or "", "context": " ".join(context.before),
            "sentence_note": HEADLINE_NOTE if sentence.get("is_headline") else "",
            "context_after": " ".join(context.after)}


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    """`items` in slices of `size`."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


# --------------------------------------------------------------------------- edge


def _rows_by_id(db: sqlite_utils.Database, sql: str, ids: Sequence[str]) -> dict[str, dict]:
    """Rows of `sql` (with `{marks}` for the ids) by id, queried in parts."""
    out: dict[str, dict] = {}
    for part in chunks(list(ids), 900):
        out.update((r["id"], r) for r in db.query(sql.format(marks=",".join("?" * len(part))), part))
    return out


def eligible_drafts(db: sqlite_utils.Database, schema: Schema, model: str | None,
                    prompt_version: str | None, include_boilerplate: bool = False) -> list[dict]:
    """The ok drafts for `schema` (and `model` / `prompt_version`) as plain rows, with their model version.

    Drafts of boilerplate sentences are left out unless `include_boilerplate`.
    """
    # `+d.status`: keep SQLite off the status index, which is far less selective than the others.
    sql, params = "d.schema_hash = ? AND +d.status = ?", [schema.hash, DraftStatus.OK.value]
    if not include_boilerplate:
        sql += " AND s.boilerplate = 0"
    if model is not None:
        sql, params = sql + " AND d.model = ?", [*params, model]
    if prompt_version is not None:
        sql, params = sql + " AND d.prompt_version = ?", [*params, prompt_version]
    rows = db.query(f"""SELECT d.id, d.sentence_id, d.model, d.prompt_version, d.schema_hash, d.created_at,
                        s.rowid AS position FROM drafts d JOIN sentences s ON s.id = d.sentence_id WHERE {sql}""",
                    params)
    return [{**r, "model_version": model_version_of(r)} for r in rows]


@dataclass
class _Push:
    """One push under way: where it goes, what it has done."""

    db: sqlite_utils.Database
    ls: LabelStudio
    schema: Schema
    project: Project
    interface: LabelInterface
    report: PushReport
    progress: Progress | None
    server_predictions: int = 0
    """Predictions the project held on the server when the push started."""
    total: int = 0
    done: int = 0
    sent: list[tuple[str, int, str]] = field(default_factory=list)
    """(draft id, task id, model version) of the predictions created, in the order sent."""
    window: Window = field(default_factory=Window)
    """The context a task shows around its sentence."""
    maps: Mapping | None = None
    """The project's newest calibration (None before the first: the raw signals score the predictions)."""

    def predictions(self, drafts: list[dict], text: str) -> tuple[list[dict], list[dict]]:
        """(predictions, the drafts they came from) for drafts of one sentence; invalid ones are reported."""
        predictions, used = [], []
        for draft in drafts:
            prediction, why = prediction_of(self.schema, self.interface, draft, text, self.version(draft),
                                            maps=self.maps)
            if prediction is None:
                self.report.invalid_predictions.append(why)
            else:
                predictions.append(prediction)
                used.append(draft)
        return predictions, used

    def record(self, sent: list[tuple[dict, int]]) -> None:
        """Record (draft, task id) as pushed (the caller holds the transaction); their ids are read at the end."""
        stamp, pid = now(), self.project.id
        self.db["predictions"].insert_all(
            [{"project_id": pid, "draft_id": d["id"], "task_id": tid, "model_version": self.version(d),
              "pushed_at": stamp} for d, tid in sent], pk=("project_id", "draft_id"))
        self.sent += [(d["id"], tid, self.version(d)) for d, tid in sent]

    def version(self, draft: Mapping) -> str:
        """The model version a draft is sent under: the project's own string when it names the same drafts."""
        return shown_version(draft, self.project.model_version)

    def read_ids(self) -> None:
        """Read and record the Label Studio ids of the predictions this push created."""
        self.report.prediction_ids_recorded += record_prediction_ids(
            self.db, self.ls, self.project, self.sent,
            project_total=self.server_predictions + self.report.predictions_created, after=AFTER)

    def step(self, n: int) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, self.total)


def _import_tasks(run: _Push, chunk: Sequence[NewTask], context: DocumentSentences) -> None:
    """Import one chunk of new tasks with their predictions; record task and prediction ids."""
    db, project = run.db, run.project
    drafts = _rows_by_id(db, "SELECT * FROM drafts WHERE id IN ({marks})", [i for t in chunk for i in t.draft_ids])
    sentences = _rows_by_id(db, "SELECT id, document_id, idx, text, is_headline FROM sentences WHERE id IN ({marks})",
                            [t.sentence_id for t in chunk])
    request, used = [], []
    for task in chunk:
        sentence = sentences[task.sentence_id]
        predictions, ok = run.predictions([drafts[i] for i in task.draft_ids], sentence["text"])
        run.report.blind_tasks += task.blind
        data = task_data(sentence, context.around(sentence["document_id"], sentence["idx"], run.window))
        request.append({"data": data, "predictions": predictions})
        used.append(ok)
    with calling(project.url, f"importing {len(request)} tasks into project {project.name!r}", AFTER):
        response = run.ls.projects.import_tasks(id=project.ls_id, request=request, return_task_ids=True,
                                                request_options=IMPORT_OPTIONS)
    task_ids = response.model_dump().get("task_ids") or []
    if len(task_ids) != len(request):
        raise LabelStudioError(
            f"Label Studio at {project.url}: importing tasks returned {len(task_ids)} ids for {len(request)} "
            f"tasks; run push again (it reconciles with the server)"
        )
    sent = [(d, tid) for ok, tid in zip(used, task_ids, strict=True) for d in ok]
    with db.atomic():
        db["tasks"].insert_all([{"project_id": project.id, "sentence_id": t.sentence_id, "task_id": tid,
                                 "pushed_at": now(), "blind": int(t.blind)}
                                for t, tid in zip(chunk, task_ids, strict=True)], pk=("project_id", "sentence_id"))
        run.record(sent)
    run.report.tasks_created += len(request)
    run.report.predictions_created += len(sent)
    run.step(len(request))


def _import_predictions(run: _Push, chunk: Sequence[NewPrediction]) -> None:
    """Add one chunk of drafts as predictions to their sentences' existing tasks; record their ids."""
    db, project = run.db, run.project
    drafts = _rows_by_id(db, "SELECT * FROM drafts WHERE id IN ({marks})", [p.draft_id for p in chunk])
    texts = {s["id"]: s["text"] for s in _rows_by_id(
        db, "SELECT id, text FROM sentences WHERE id IN ({marks})",
        sorted({d["sentence_id"] for d in drafts.values()})).values()}
    request, sent = [], []
    for item in chunk:
        draft = drafts[item.draft_id]
        predictions, _ = run.predictions([draft], texts[draft["sentence_id"]])
        if predictions:
            request.append({"task": item.task_id, **predictions[0]})
            sent.append((draft, item.task_id))
    if request:
        with calling(project.url, f"adding {len(request)} predictions to project {project.name!r}", AFTER):
            run.ls.projects.import_predictions(id=project.ls_id, request=request, request_options=IMPORT_OPTIONS)
        with db.atomic():
            run.record(sent)
        run.report.predictions_created += len(request)
    run.step(len(chunk))


def _needs_reconcile(db: sqlite_utils.Database, project: Project, server: Any) -> bool:
    """Whether the server's counts differ from ours, or prediction ids were never read."""
    pid = project.id
    return (getattr(server, "task_number", 0) or 0) != db["tasks"].count_where("project_id = ?", [pid]) \
        or (getattr(server, "total_predictions_number", 0) or 0) != db["predictions"].count_where(
            "project_id = ?", [pid]) \
        or db["predictions"].count_where("project_id = ? AND ls_prediction_id IS NULL", [pid]) > 0


def _set_model_version(run: _Push, server: Any) -> None:
    """Show annotators the newest pushed draft's version pre-filled (the project's model_version)."""
    project, report = run.project, run.report
    newest = next(iter(run.db.query("""
        SELECT p.model_version FROM predictions p JOIN drafts d ON d.id = p.draft_id
        WHERE p.project_id = ? ORDER BY d.created_at DESC, d.rowid DESC LIMIT 1""", [project.id])), None)
    report.model_version = newest["model_version"] if newest else project.model_version
    if report.model_version and (report.model_version != project.model_version
                                 or report.model_version != getattr(server, "model_version", None)):
        with calling(project.url, f"setting the model version of project {project.name!r}", AFTER):
            run.ls.projects.update(id=project.ls_id, model_version=report.model_version)
        run.db["projects"].update(project.id, {"model_version": report.model_version})


def push(db: sqlite_utils.Database, ls: LabelStudio, schema: Schema, project_name: str, *, url: str,
         chunk_size: int = 1000, model: str | None = None, prompt_version: str | None = None,
         progress: Progress | None = None, blind: float | None = None, dedupe: bool = False,
         include_boilerplate: bool = False, context_window: Window | None = None, route: bool = False,
         audit: float = 0.1, overlap: int | None = None) -> PushReport:
    """Push every sentence with an ok draft for `schema` to the project `project_name` at `url`.

    Creates the project on first use (config generated from the schema). Each new sentence becomes one task
    (data: text, sentence_id, document_id, headline, context, context_after, in `context_window`: default
    `context.window()`) carrying its drafts as predictions; a new draft for a sentence already pushed becomes a
    new prediction on the same task (annotators see the newest: Label Studio pre-fills a task from its last
    prediction of the project's model version). Re-running adds nothing. Boilerplate sentences are not pushed
    unless `include_boilerplate`. `model` / `prompt_version` restrict which drafts are pushed. The project's
    model_version is set to the newest pushed draft's, so annotators see it pre-filled.

    `blind` (0 to 1) sets the share of new tasks sent without any prediction, chosen by a hash of the sentence
    id and kept by the project for later pushes; a blind task never gets a prediction. Tasks on the server that
    duplicate a sentence's task are reported, and with `dedupe` deleted when they carry no annotation. One push
    or pull of a project at a time (`locks.Busy` otherwise). `overlap` (1 up; None: as it is): annotators a task.
    `route`, `audit`: the latest routing decides the new sentences (`accept.route_new`).
    """
    if chunk_size < 1:
        raise InputError("chunk size must be at least 1")
    if blind is not None and not 0 <= blind < 1:
        raise InputError(f"--blind {blind} is not a share of the tasks; give a number from 0 to below 1, e.g. 0.1")
    check_overlap(overlap)
    url = normalize_url(url)
    with hold(db, project_scope(url, project_name), f"pushing to or pulling from project {project_name!r}"):
        return _push(db, ls, schema, project_name, url, chunk_size, model, prompt_version, progress, blind, dedupe,
                     include_boilerplate, context_window or window(), audit if route else None, overlap)


def _push(db: sqlite_utils.Database, ls: LabelStudio, schema: Schema, project_name: str, url: str,
          chunk_size: int, model: str | None, prompt_version: str | None, progress: Progress | None,
          blind: float | None, dedupe: bool, include_boilerplate: bool, context_window: Window,
          audit: float | None, overlap: int | None) -> PushReport:
    project, server, created = ensure_project(db, ls, schema, project_name, url)
    config_note = "" if created else update_config(db, ls, project, schema, server)
    if blind is not None and blind != project.blind_fraction:
        db["projects"].update(project.id, {"blind_fraction": blind})
        project.blind_fraction = blind
    report = PushReport(project_id=project.id, ls_project_id=project.ls_id, project_link=project.link,
                        created_project=created, page=[config_note] if config_note else [])
    report.overlap = set_overlap(db, ls, project, server, overlap)  # before the import: new tasks get it
    run = _Push(db, ls, schema, project, validate_config(label_config(schema)), report, progress,
                server_predictions=getattr(server, "total_predictions_number", 0) or 0, window=context_window,
                maps=(latest_maps(db, project.id) or (0, None))[1])
    drafts = eligible_drafts(db, schema, model, prompt_version, include_boilerplate)
    if _needs_reconcile(db, project, server):
        healed = reconcile(db, ls, project, drafts, project_total=run.server_predictions,
                           blind=lambda sid: is_audit(db, project.id, sid) or is_blind(sid, project.blind_fraction))
        report.tasks_reconciled, report.predictions_reconciled = len(healed.tasks), len(healed.predictions)
        report.prediction_ids_recorded += len(healed.predictions) + len(healed.prediction_ids)
        report.duplicates = [tid for tid, _ in healed.duplicates]
        if dedupe:
            report.duplicates_deleted = delete_duplicates(ls, project, healed.duplicates)
    tasks, blind_tasks = {}, set()
    for r in db.query("SELECT sentence_id, task_id, blind FROM tasks WHERE project_id = ?", [project.id]):
        tasks[r["sentence_id"]] = r["task_id"]
        if r["blind"]:
            blind_tasks.add(r["sentence_id"])
    pushed = {r["draft_id"] for r in db.query("SELECT draft_id FROM predictions WHERE project_id = ?", [project.id])}
    report.routing, accepted = route_push(db, schema, project, drafts, tasks, audit, run.version)
    plan = plan_push(drafts, tasks, pushed, blind_tasks, project.blind_fraction, accepted,
                     report.routing.order if report.routing else None)
    report.tasks_already = len(tasks)
    run.total = len(plan.new_tasks) + len(plan.new_predictions)
    context = DocumentSentences(db)
    for chunk in chunks(plan.new_tasks, chunk_size):
        _import_tasks(run, chunk, context)
    for chunk in chunks(plan.new_predictions, chunk_size):
        _import_predictions(run, chunk)
    run.read_ids()
    _set_model_version(run, server)
    report.page += set_up_page(ls, project, schema, server)
    return report
