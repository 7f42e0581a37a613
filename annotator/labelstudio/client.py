"""The Label Studio I/O edge: connect, push drafts as tasks + predictions, pull gold.

Everything the server says is recorded in SQLite as soon as it is known, so a push or
pull that dies half way is simply run again:

- push records sentence -> task id per imported chunk (ids come back in request
  order); before importing it reconciles with the server when the counts differ, so
  a chunk the server accepted but we never recorded is not imported twice;
- pull is incremental: it asks the Data Manager only for tasks whose `updated_at`
  moved past a watermark (creating, editing, skipping or deleting an annotation all
  touch the task), and writes only gold rows whose annotation changed.

All SDK calls use keyword arguments; imports never retry (a retried import
duplicates tasks). Failures become LabelStudioError with one line naming the cause
and the fix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlite_utils
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError
from label_studio_sdk.label_interface import LabelInterface

from ..errors import InputError, LabelStudioError
from ..schema import Schema
from ..store import content_id, dumps, now
from .config import label_config, validate_config
from .convert import draft_to_result, result_to_gold

Progress = Callable[[int, int], None]
"""Called as progress(done, total) after each recorded chunk or page."""

IMPORT_OPTIONS = {"max_retries": 0, "timeout_in_seconds": 600}
"""Imports never retry: a retried import duplicates tasks."""

CONTEXT_SENTENCES = 3
"""How many preceding sentences the annotator sees above the sentence."""

PULL_PAGE_SIZE = 1000
PULL_OVERLAP = dt.timedelta(seconds=2)
"""Safety margin against writes whose timestamp was taken before they were committed."""

_PULL_INCLUDE = ("id,updated_at,data,annotations,result,completed_by,was_cancelled,lead_time,"
                 "created_at,parent_prediction,ground_truth,task")
_START_FIX = "start it (annotator labelstudio start) or check LABEL_STUDIO_URL"


# --------------------------------------------------------------------------- errors


def _one_line(text: object, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _error(url: str, doing: str, exc: BaseException, after: str = "") -> LabelStudioError:
    """A LabelStudioError naming what failed, why, and what to do."""
    rerun = f"; {after}" if after else ""
    if isinstance(exc, httpx.TimeoutException):
        cause, fix = "timed out", f"check the server's load and log, then run again{rerun}"
    elif isinstance(exc, httpx.ConnectError):
        cause, fix = "connection refused", f"{_START_FIX}{rerun}"
    elif isinstance(exc, httpx.TransportError):
        cause, fix = f"connection lost ({type(exc).__name__})", f"check that the server is running{rerun}"
    elif isinstance(exc, ApiError):
        code = exc.status_code
        body = exc.body.get("detail") or exc.body if isinstance(exc.body, dict) else exc.body
        if code in (401, 403):
            cause = f"the API key was refused (HTTP {code})"
            fix = "check LABEL_STUDIO_API_KEY (Label Studio: Account & Settings > Access Token)"
        elif code is not None and code >= 500:
            cause, fix = f"server error (HTTP {code})", f"read the Label Studio log{rerun}"
        else:
            cause = f"HTTP {code}: {_one_line(body, 200)}" if body else f"HTTP {code}"
            fix = f"check the URL and the project{rerun}"
    else:
        cause, fix = f"{type(exc).__name__}: {_one_line(exc, 200)}", f"check that {url} is a Label Studio server"
    return LabelStudioError(f"Label Studio at {url}: {doing} failed ({cause}); {fix}")


@contextlib.contextmanager
def _calling(url: str, doing: str, after: str = "") -> Iterator[None]:
    """Turn SDK and transport errors inside the block into a one-line LabelStudioError."""
    try:
        yield
    except LabelStudioError:
        raise
    except (httpx.HTTPError, ApiError) as exc:
        raise _error(url, doing, exc, after) from exc


@contextlib.contextmanager
def _transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """One SQLite transaction (sqlite-utils 4's atomic(); plain commit-on-exit before that)."""
    atomic = getattr(db, "atomic", None)
    with atomic() if atomic is not None else db.conn:
        yield


# --------------------------------------------------------------------------- connect


def connect(url: str, api_key: str, *, timeout: float = 60.0) -> LabelStudio:
    """A client for the server at `url`, after checking that it answers and accepts the key."""
    if not url:
        raise LabelStudioError("no Label Studio URL; pass --url or set LABEL_STUDIO_URL")
    if not api_key:
        raise LabelStudioError(
            "no Label Studio API key; pass --api-key or set LABEL_STUDIO_API_KEY "
            "(Label Studio: Account & Settings > Access Token)"
        )
    url = normalize_url(url)
    ls = LabelStudio(base_url=url, api_key=api_key, timeout=timeout)
    try:
        with _calling(url, "checking the API key"):
            ls.users.whoami(request_options={"max_retries": 0, "timeout_in_seconds": 15})
    except LabelStudioError:
        raise
    except Exception as exc:  # an answer that is not Label Studio's (HTML page, wrong port)
        raise _error(url, "checking the API key", exc) from exc
    return ls


def normalize_url(url: str) -> str:
    """The server URL as recorded in SQLite (no trailing slash)."""
    return url.strip().rstrip("/")


# --------------------------------------------------------------------------- time stamps


def _iso(value: Any) -> str | None:
    """A server time stamp (string or datetime) as UTC ISO with microseconds and Z."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _shift(stamp: str, delta: dt.timedelta) -> str:
    return _iso(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) + delta)  # type: ignore[return-value]


def _server_time(headers: Any) -> str | None:
    """The server's clock from a response's Date header (whole seconds, rounded down)."""
    try:
        date = headers.get("date") if headers is not None else None
        return _iso(email.utils.parsedate_to_datetime(date)) if date else None
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- projects


@dataclass
class Project:
    """A Label Studio project recorded in SQLite."""

    ls_id: int
    name: str
    url: str
    schema_name: str
    schema_hash: str
    model_version: str | None
    pull_watermark: str | None

    @property
    def link(self) -> str:
        """The project's page in the browser."""
        return f"{self.url}/projects/{self.ls_id}"


def recorded_project(db: sqlite_utils.Database, project_name: str, *, url: str) -> Project | None:
    """The project recorded for (url, name), or None."""
    rows = list(db.query("SELECT * FROM projects WHERE url = ? AND name = ?", [normalize_url(url), project_name]))
    if not rows:
        return None
    r = rows[0]
    return Project(r["ls_id"], r["name"], r["url"], r["schema_name"], r["schema_hash"], r["model_version"],
                   r["pull_watermark"])


def _check_schema(project: Project, schema: Schema) -> None:
    if project.schema_hash != schema.hash:
        raise LabelStudioError(
            f"project {project.name!r} on {project.url} was made for schema {project.schema_name} "
            f"({project.schema_hash}), not {schema.name} ({schema.hash}); use another project name for this schema"
        )


def _server_project(ls: LabelStudio, project: Project, doing: str) -> tuple[Any, str | None]:
    """The project as the server sees it, and the server's clock; error if it was deleted there."""
    try:
        with _calling(project.url, doing):
            response = ls.projects.with_raw_response.get(id=project.ls_id)
    except LabelStudioError as exc:
        if isinstance(exc.__cause__, ApiError) and exc.__cause__.status_code == 404:
            raise LabelStudioError(
                f"Label Studio project {project.name!r} (id {project.ls_id}) recorded in this database was "
                f"deleted on {project.url}; push under a new project name to start over"
            ) from exc
        raise
    return response.data, _server_time(response.headers)


def _ensure_project(db: sqlite_utils.Database, ls: LabelStudio, schema: Schema, name: str,
                    url: str) -> tuple[Project, Any, bool]:
    """The recorded project (checked on the server), or a new or adopted one. Returns (project, server view, created)."""
    project = recorded_project(db, name, url=url)
    if project is not None:
        _check_schema(project, schema)
        data, _ = _server_project(ls, project, f"reading project {name!r}")
        return project, data, False
    if not 3 <= len(name) <= 50:
        raise InputError(f"project name {name!r} must have 3 to 50 characters (a Label Studio rule)")
    xml = label_config(schema)
    created = False
    with _calling(url, f"looking for project {name!r}"):
        same = [p for p in ls.projects.list(title=name, page_size=100) if p.title == name]
    if same:
        found = same[0]
        with _calling(url, f"reading project {name!r}"):
            data = ls.projects.get(id=found.id)
        if " ".join((data.label_config or "").split()) != " ".join(xml.split()):
            raise LabelStudioError(
                f"a project named {name!r} (id {found.id}) already exists on {url} with another labeling "
                f"config; choose another project name"
            )
        ls_id = found.id
    else:
        with _calling(url, f"creating project {name!r}"):
            data = ls.projects.create(title=name, label_config=xml, description=f"annotator: schema {schema.name}",
                                      request_options={"max_retries": 0})
        ls_id, created = data.id, True
    clash = list(db.query("SELECT url, name FROM projects WHERE ls_id = ?", [ls_id]))
    if clash:
        raise LabelStudioError(
            f"project id {ls_id} on {url} clashes with project {clash[0]['name']!r} on {clash[0]['url']} "
            f"recorded in this database; use one database per Label Studio server"
        )
    db["projects"].insert({
        "ls_id": ls_id, "name": name, "url": url, "schema_name": schema.name, "schema_hash": schema.hash,
        "label_config": xml, "model_version": None, "created_at": now(), "pull_watermark": None,
        "pulled_at": None,
    })
    return recorded_project(db, name, url=url), data, created  # type: ignore[return-value]


# --------------------------------------------------------------------------- push


@dataclass
class PushReport:
    """What a push did."""

    project_id: int = 0
    project_link: str = ""
    created_project: bool = False
    tasks_created: int = 0
    predictions_created: int = 0
    tasks_reconciled: int = 0
    predictions_reconciled: int = 0
    tasks_already: int = 0
    model_version: str | None = None
    invalid_predictions: list[str] = field(default_factory=list)


def model_version_of(draft: dict) -> str:
    """The Label Studio model_version of a draft: model, prompt version and schema hash."""
    return f"{draft['model']}|{draft['prompt_version']}|{draft['schema_hash']}"


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _draft_filter(schema: Schema, model: str | None, prompt_version: str | None) -> tuple[str, list]:
    # `+d.status`: keep SQLite off the status index, which is far less selective than the others.
    sql, params = "d.schema_hash = ? AND +d.status = 'ok'", [schema.hash]
    if model is not None:
        sql, params = sql + " AND d.model = ?", [*params, model]
    if prompt_version is not None:
        sql, params = sql + " AND d.prompt_version = ?", [*params, prompt_version]
    return sql, params


def _task_data(db: sqlite_utils.Database, sentence_ids: list[str]) -> dict[str, dict]:
    """Task `data` for each sentence: text, ids, the document's headline, the preceding sentences."""
    marks = ",".join("?" * len(sentence_ids))
    rows = list(db.query(f"SELECT id, document_id, idx, text, is_headline FROM sentences WHERE id IN ({marks})",
                         sentence_ids))
    docs = sorted({r["document_id"] for r in rows})
    by_doc: dict[str, dict[int, dict]] = {}
    for start in range(0, len(docs), 500):
        part = docs[start:start + 500]
        for s in db.query(
                f"SELECT document_id, idx, text, is_headline FROM sentences WHERE document_id IN "
                f"({','.join('?' * len(part))})", part):
            by_doc.setdefault(s["document_id"], {})[s["idx"]] = s
    out = {}
    for r in rows:
        doc = by_doc.get(r["document_id"], {})
        head = doc.get(0)
        headline = head["text"] if head and head["is_headline"] and not r["is_headline"] else ""
        earlier = [doc[i] for i in range(max(0, r["idx"] - CONTEXT_SENTENCES), r["idx"]) if i in doc]
        context = " ".join(s["text"] for s in earlier if not s["is_headline"])
        out[r["id"]] = {"text": r["text"], "sentence_id": r["id"], "document_id": r["document_id"],
                        "headline": headline, "context": context}
    return out


def _prediction(schema: Schema, interface: LabelInterface, draft: dict, text: str,
                report: PushReport) -> dict | None:
    """The prediction for a draft, checked locally; None (and noted in the report) if it is invalid."""
    try:
        result = draft_to_result(schema, text, json.loads(draft["data"]), json.loads(draft["spans"] or "[]"))
    except (ValueError, TypeError, KeyError) as exc:
        report.invalid_predictions.append(f"draft {draft['id']}: {exc}")
        return None
    prediction = {"model_version": model_version_of(draft), "result": result}
    errors = interface.validate_prediction(prediction, return_errors=True)
    if errors:
        report.invalid_predictions.append(f"draft {draft['id']}: {'; '.join(errors[:3])}")
        return None
    return prediction


def _reconcile(db: sqlite_utils.Database, ls: LabelStudio, schema: Schema, project: Project,
               report: PushReport, model: str | None, prompt_version: str | None) -> None:
    """Record the server's task and prediction ids we do not know (a push that died after an import).

    Local task rows whose task no longer exists on the server are dropped, so the
    sentence is pushed again.
    """
    pid = project.ls_id
    server: dict[str, tuple[int, str]] = {}
    server_ids: set[int] = set()
    page, fetched = 1, 0
    after = "nothing was changed; run push again"
    while True:
        with _calling(project.url, f"listing the tasks of project {project.name!r}", after):
            pager = ls.tasks.list(project=pid, fields="all", include="id,data,predictions_model_versions",
                                  page=page, page_size=PULL_PAGE_SIZE,
                                  query=json.dumps({"ordering": ["tasks:id"]}))
        items = pager.items or []
        for task in items:
            server_ids.add(task.id)
            sid = (task.data or {}).get("sentence_id")
            # The model versions of the task's predictions, comma-joined by the Data Manager.
            versions = f",{getattr(task, 'predictions_model_versions', None) or ''},"
            if isinstance(sid, str) and sid not in server:  # the first (oldest) task wins
                server[sid] = (task.id, versions)
        fetched += len(items)
        total = getattr(pager.response, "total", None) or 0
        if not items or len(items) < PULL_PAGE_SIZE or fetched >= total:
            break
        page += 1
    known = {r["sentence_id"]: r["task_id"] for r in db.query(
        "SELECT sentence_id, task_id FROM tasks WHERE project_id = ?", [pid])}
    gone = [sid for sid, tid in known.items() if tid not in server_ids]
    stamp = now()
    where, params = _draft_filter(schema, model, prompt_version)
    with _transaction(db):
        for sid in gone:
            db.execute("DELETE FROM predictions WHERE project_id = ? AND task_id = ?", [pid, known[sid]])
            db.execute("DELETE FROM tasks WHERE project_id = ? AND sentence_id = ?", [pid, sid])
        sentence_ids = {r["id"] for r in db.query(
            f"SELECT DISTINCT s.id FROM sentences s JOIN drafts d ON d.sentence_id = s.id WHERE {where}", params)}
        new_tasks = [{"project_id": pid, "sentence_id": sid, "task_id": tid, "pushed_at": stamp}
                     for sid, (tid, _) in server.items() if sid in sentence_ids and sid not in known]
        db["tasks"].insert_all(new_tasks, pk=("project_id", "sentence_id"), ignore=True)
        report.tasks_reconciled += len(new_tasks)
        pushed = {r["draft_id"] for r in db.query("SELECT draft_id FROM predictions WHERE project_id = ?", [pid])}
        mapped = {r["sentence_id"]: r["task_id"] for r in db.query(
            "SELECT sentence_id, task_id FROM tasks WHERE project_id = ?", [pid])}
        rows = []
        for d in db.query(f"SELECT d.id, d.sentence_id, d.model, d.prompt_version, d.schema_hash FROM drafts d "
                          f"WHERE {where}", params):
            entry = server.get(d["sentence_id"])
            if d["id"] in pushed or entry is None or mapped.get(d["sentence_id"]) != entry[0]:
                continue
            if f",{model_version_of(d)}," in entry[1]:
                rows.append({"project_id": pid, "draft_id": d["id"], "task_id": entry[0],
                             "model_version": model_version_of(d), "pushed_at": stamp})
        db["predictions"].insert_all(rows, pk=("project_id", "draft_id"), ignore=True)
        report.predictions_reconciled += len(rows)


def push(db: sqlite_utils.Database, ls: LabelStudio, schema: Schema, project_name: str, *, url: str,
         chunk_size: int = 1000, model: str | None = None, prompt_version: str | None = None,
         progress: Progress | None = None) -> PushReport:
    """Push every sentence with an ok draft for `schema` to the project `project_name` at `url`.

    Creates the project on first use (config generated from the schema). Each new
    sentence becomes one task (data: text, sentence_id, document_id, headline,
    context) carrying its drafts as predictions; a new draft for a sentence already
    pushed becomes a new prediction on the same task. Re-running adds nothing.
    `model` / `prompt_version` restrict which drafts are pushed. The project's
    model_version is set to the newest pushed draft's, so annotators see it pre-filled.
    """
    if chunk_size < 1:
        raise InputError("chunk size must be at least 1")
    url = normalize_url(url)
    report = PushReport()
    project, server, report.created_project = _ensure_project(db, ls, schema, project_name, url)
    pid = report.project_id = project.ls_id
    report.project_link = project.link
    interface = validate_config(label_config(schema))
    after = "tasks recorded so far are kept; run push again to continue"

    # A push that died after the server accepted an import left tasks we never recorded.
    ours_tasks = db["tasks"].count_where("project_id = ?", [pid])
    ours_predictions = db["predictions"].count_where("project_id = ?", [pid])
    if (server.task_number or 0) != ours_tasks or (server.total_predictions_number or 0) != ours_predictions:
        _reconcile(db, ls, schema, project, report, model, prompt_version)

    where, params = _draft_filter(schema, model, prompt_version)
    unpushed = f"""{where} AND NOT EXISTS (
        SELECT 1 FROM predictions p WHERE p.project_id = ? AND p.draft_id = d.id)"""
    new_sentences = [r["id"] for r in db.query(f"""
        SELECT d.sentence_id AS id, min(s.rowid) AS position FROM drafts d JOIN sentences s ON s.id = d.sentence_id
        WHERE {where} AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.project_id = ? AND t.sentence_id = d.sentence_id)
        GROUP BY d.sentence_id ORDER BY position""", [*params, pid])]
    extra = list(db.query(f"""
        SELECT d.*, t.task_id FROM drafts d JOIN tasks t ON t.project_id = ? AND t.sentence_id = d.sentence_id
        JOIN sentences s ON s.id = d.sentence_id
        WHERE {unpushed} ORDER BY s.rowid, d.created_at, d.id""", [pid, *params, pid]))
    report.tasks_already = db["tasks"].count_where("project_id = ?", [pid])
    total, done = len(new_sentences) + len(extra), 0

    for chunk in _chunks(new_sentences, chunk_size):
        marks = ",".join("?" * len(chunk))
        drafts: dict[str, list[dict]] = {}
        for d in db.query(f"SELECT d.* FROM drafts d WHERE d.sentence_id IN ({marks}) AND {unpushed} "
                          f"ORDER BY d.created_at, d.id", [*chunk, *params, pid]):
            drafts.setdefault(d["sentence_id"], []).append(d)
        data = _task_data(db, chunk)
        request, sent = [], []
        for sid in chunk:
            predictions, used = [], []
            for d in drafts.get(sid, []):
                pred = _prediction(schema, interface, d, data[sid]["text"], report)
                if pred is not None:
                    predictions.append(pred)
                    used.append(d)
            request.append({"data": data[sid], "predictions": predictions})
            sent.append((sid, used))
        with _calling(url, f"importing {len(request)} tasks into project {project_name!r}", after):
            response = ls.projects.import_tasks(id=pid, request=request, return_task_ids=True,
                                                request_options=IMPORT_OPTIONS)
        task_ids = response.model_dump().get("task_ids") or []
        if len(task_ids) != len(request):
            raise LabelStudioError(
                f"Label Studio at {url}: importing tasks returned {len(task_ids)} ids for {len(request)} tasks; "
                f"run push again (it reconciles with the server)"
            )
        stamp = now()
        with _transaction(db):
            db["tasks"].insert_all(
                [{"project_id": pid, "sentence_id": sid, "task_id": tid, "pushed_at": stamp}
                 for (sid, _), tid in zip(sent, task_ids, strict=True)], pk=("project_id", "sentence_id"))
            db["predictions"].insert_all(
                [{"project_id": pid, "draft_id": d["id"], "task_id": tid, "model_version": model_version_of(d),
                  "pushed_at": stamp} for (_, used), tid in zip(sent, task_ids, strict=True) for d in used],
                pk=("project_id", "draft_id"))
        report.tasks_created += len(request)
        report.predictions_created += sum(len(used) for _, used in sent)
        done += len(request)
        if progress:
            progress(done, total)

    texts: dict[str, str] = {}
    for chunk in _chunks(extra, chunk_size):
        missing = [d["sentence_id"] for d in chunk if d["sentence_id"] not in texts]
        if missing:
            marks = ",".join("?" * len(missing))
            texts.update({r["id"]: r["text"] for r in db.query(
                f"SELECT id, text FROM sentences WHERE id IN ({marks})", missing)})
        request, used = [], []
        for d in chunk:
            pred = _prediction(schema, interface, d, texts[d["sentence_id"]], report)
            if pred is not None:
                request.append({"task": d["task_id"], **pred})
                used.append(d)
        if request:
            with _calling(url, f"adding {len(request)} predictions to project {project_name!r}", after):
                ls.projects.import_predictions(id=pid, request=request, request_options=IMPORT_OPTIONS)
            stamp = now()
            with _transaction(db):
                db["predictions"].insert_all(
                    [{"project_id": pid, "draft_id": d["id"], "task_id": d["task_id"],
                      "model_version": model_version_of(d), "pushed_at": stamp} for d in used],
                    pk=("project_id", "draft_id"))
            report.predictions_created += len(request)
        done += len(chunk)
        if progress:
            progress(done, total)

    newest = next(iter(db.query("""
        SELECT p.model_version FROM predictions p JOIN drafts d ON d.id = p.draft_id
        WHERE p.project_id = ? ORDER BY d.created_at DESC, d.rowid DESC LIMIT 1""", [pid])), None)
    report.model_version = newest["model_version"] if newest else project.model_version
    if report.model_version and (report.model_version != project.model_version
                                 or report.model_version != server.model_version):
        with _calling(url, f"setting the model version of project {project_name!r}", after):
            ls.projects.update(id=pid, model_version=report.model_version)
        db["projects"].update(pid, {"model_version": report.model_version})
    return report


# --------------------------------------------------------------------------- pull


@dataclass
class PullReport:
    """What a pull did."""

    project_id: int = 0
    full: bool = False
    tasks_seen: int = 0
    annotations_seen: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def written(self) -> int:
        """Gold rows inserted, updated or marked deleted."""
        return self.inserted + self.updated + self.deleted


def _users(ls: LabelStudio) -> dict[int, str]:
    """User id -> email, or an empty map when the key may not list users."""
    try:
        return {u.id: u.email for u in ls.users.list() if u.id is not None and u.email}
    except (httpx.HTTPError, ApiError):
        return {}


def _annotator(users: dict[int, str], completed_by: Any) -> str | None:
    if isinstance(completed_by, dict):
        return completed_by.get("email") or (str(completed_by["id"]) if completed_by.get("id") else None)
    if completed_by is None:
        return None
    return users.get(completed_by) or str(completed_by)


def _gold_row(schema: Schema, project: Project, task: dict, annotation: dict, sentence_id: str | None,
              text: str | None, own_text: str | None, users: dict[int, str]) -> dict:
    """The gold row for one annotation (validated unless it is a skip)."""
    raw = annotation.get("result")
    row = {
        "id": content_id("gold", project.url, project.ls_id, annotation["id"]),
        "project_id": project.ls_id, "task_id": task["id"], "sentence_id": sentence_id,
        "annotation_id": annotation["id"], "annotator": _annotator(users, annotation.get("completed_by")),
        "completed_by": annotation.get("completed_by") if isinstance(annotation.get("completed_by"), int) else None,
        "schema_name": schema.name, "schema_hash": schema.hash, "raw_result": dumps(raw),
        "lead_time": annotation.get("lead_time"), "ground_truth": int(bool(annotation.get("ground_truth"))),
        "created_at": _iso(annotation.get("created_at")), "updated_at": _iso(annotation.get("updated_at")),
        "parent_prediction": annotation.get("parent_prediction"),
        "data": None, "spans": None, "errors": None,
    }
    if annotation.get("was_cancelled"):
        row["status"] = "skipped"
        return row
    if text is None:
        row.update(status="invalid", errors=dumps(["the task has no text"]))
        return row
    data, spans, errors = result_to_gold(schema, text, raw)
    if own_text is not None and own_text != text:
        errors = [*errors, "the task's text differs from the sentence in the database"]
    row.update(status="invalid" if errors else "ok", data=None if data is None else dumps(data),
               spans=dumps(spans), errors=dumps(errors) if errors else None)
    return row


_COMPARED = ("task_id", "sentence_id", "annotator", "status", "raw_result", "lead_time", "ground_truth",
             "created_at", "updated_at", "parent_prediction", "data", "spans", "errors")


def _task_pages(ls: LabelStudio, project: Project, query: dict, page_size: int,
                progress: Progress | None) -> Iterator[list[dict]]:
    """Pages of tasks (plain dicts) matching the Data Manager query; the next page is fetched meanwhile."""
    encoded = json.dumps({**query, "ordering": ["tasks:id"]})
    after = "gold pulled so far is kept; run pull again"

    def fetch(page: int) -> tuple[list[dict], int]:
        with _calling(project.url, f"listing the annotated tasks of project {project.name!r}", after):
            pager = ls.tasks.list(project=project.ls_id, fields="all", include=_PULL_INCLUDE, page=page,
                                  page_size=page_size, query=encoded)
        items = [t if isinstance(t, dict) else t.model_dump(mode="json") for t in (pager.items or [])]
        return items, getattr(pager.response, "total", 0) or 0

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ls-pull") as pool:
        future = pool.submit(fetch, 1)
        page, fetched = 1, 0
        while future is not None:
            items, total = future.result()
            fetched += len(items)
            more = bool(items) and len(items) == page_size and fetched < total
            page += 1
            future = pool.submit(fetch, page) if more else None
            if progress:
                progress(fetched, max(total, fetched))
            if items:
                yield items


def pull(db: sqlite_utils.Database, ls: LabelStudio, schema: Schema, project_name: str, *, url: str,
         full: bool = False, page_size: int = PULL_PAGE_SIZE, progress: Progress | None = None) -> PullReport:
    """Bring the project's submitted annotations into `gold`, writing only what changed.

    Each annotation is one row (several annotators on a task are several rows),
    validated against the schema: status 'ok', 'invalid' (errors kept), 'skipped'
    (the annotator skipped the task), or 'deleted' (gone from the server; the row is
    kept). The first pull, or `full=True`, lists every annotated task; later pulls
    ask the Data Manager only for tasks whose `updated_at` is past the last pull's
    watermark (any annotation created, edited, skipped or deleted touches its task).
    A task deleted outright on the server is only noticed by a full pull.
    """
    started = time.monotonic()
    url = normalize_url(url)
    project = recorded_project(db, project_name, url=url)
    if project is None:
        raise LabelStudioError(f"no project {project_name!r} on {url} in this database; push to it first")
    _check_schema(project, schema)
    _, server_now = _server_project(ls, project, f"reading project {project_name!r}")
    report = PullReport(project_id=project.ls_id, full=full or not project.pull_watermark)
    users = _users(ls)
    if report.full:
        query = {"filters": {"conjunction": "or", "items": [
            {"filter": "filter:tasks:total_annotations", "operator": "greater", "type": "Number", "value": 0},
            {"filter": "filter:tasks:cancelled_annotations", "operator": "greater", "type": "Number", "value": 0},
        ]}}
    else:
        query = {"filters": {"conjunction": "and", "items": [
            {"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime",
             "value": project.pull_watermark},
        ]}}
    pid = project.ls_id
    sentence_of = {r["task_id"]: r["sentence_id"] for r in db.query(
        "SELECT task_id, sentence_id FROM tasks WHERE project_id = ?", [pid])}
    seen: set[int] = set()
    newest: str | None = None
    for page in _task_pages(ls, project, query, page_size, progress):
        task_ids = [t["id"] for t in page]
        marks = ",".join("?" * len(task_ids))
        existing: dict[int, dict] = {r["annotation_id"]: r for r in db.query(
            f"SELECT * FROM gold WHERE project_id = ? AND task_id IN ({marks})", [pid, *task_ids])}
        sids = {t["id"]: sentence_of.get(t["id"]) or (t.get("data") or {}).get("sentence_id") for t in page}
        wanted = [s for s in sids.values() if isinstance(s, str)]
        own = {r["id"]: r["text"] for r in db.query(
            f"SELECT id, text FROM sentences WHERE id IN ({','.join('?' * len(wanted))})", wanted)} if wanted else {}
        stamp = now()
        writes: list[dict] = []
        for task in page:
            report.tasks_seen += 1
            stamp_task = _iso(task.get("updated_at"))
            if stamp_task and (newest is None or stamp_task > newest):
                newest = stamp_task
            sid = sids[task["id"]]
            text = (task.get("data") or {}).get("text")
            on_server = set()
            for annotation in task.get("annotations") or []:
                if not isinstance(annotation, dict) or annotation.get("id") is None:
                    continue
                report.annotations_seen += 1
                on_server.add(annotation["id"])
                seen.add(annotation["id"])
                row = _gold_row(schema, project, task, annotation, sid if isinstance(sid, str) else None,
                                text if isinstance(text, str) else None, own.get(sid), users)
                report.by_status[row["status"]] = report.by_status.get(row["status"], 0) + 1
                old = existing.get(annotation["id"])
                if old is not None and all(old[k] == row[k] for k in _COMPARED):
                    report.unchanged += 1
                    continue
                if old is None:
                    report.inserted += 1
                else:
                    report.updated += 1
                writes.append({**row, "pulled_at": stamp})
            for old in existing.values():
                if old["task_id"] == task["id"] and old["annotation_id"] not in on_server \
                        and old["status"] != "deleted":
                    writes.append({**old, "status": "deleted", "pulled_at": stamp})
                    report.deleted += 1
        if writes:
            with _transaction(db):
                db["gold"].upsert_all(writes, pk="id")
    if report.full:
        # Annotations on tasks the listing no longer shows (all deleted, or the task itself).
        gone = [r for r in db.query("SELECT * FROM gold WHERE project_id = ? AND status != 'deleted'", [pid])
                if r["annotation_id"] not in seen]
        if gone:
            stamp = now()
            with _transaction(db):
                db["gold"].upsert_all([{**r, "status": "deleted", "pulled_at": stamp} for r in gone], pk="id")
            report.deleted += len(gone)
    # Next time ask for tasks updated after what this pull saw, but never after the server's clock
    # (minus a margin) when it started: a write stamped earlier but committed later is not missed.
    mark = max(filter(None, [newest, project.pull_watermark]), default=None)
    if server_now:
        limit = _shift(server_now, -PULL_OVERLAP)
        mark = limit if mark is None or limit < mark else mark
    elif newest:
        mark = max(filter(None, [_shift(newest, -PULL_OVERLAP), project.pull_watermark]))
    db["projects"].update(pid, {"pull_watermark": mark, "pulled_at": now()})
    report.seconds = time.monotonic() - started
    return report
