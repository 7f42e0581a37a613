"""The pure core of `serve`: Label Studio's requests and webhook payloads in, plain answers out.

Facts from Label Studio 1.23.2 (checked on a live server): `/predict` gets
`{tasks, project: "<id>.<created timestamp>", label_config, params}` and must answer
`{"results": [...]}` with one entry per task, in task order; an entry may be a
prediction `{result, score, model_version}` or a list of them, and an empty list
makes no prediction. Webhooks carry `{"action", "project": {...}, ...}`: the
annotation and its task for created/updated events, ids only for delete events.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from label_studio_sdk.label_interface import LabelInterface

from ..labelstudio.config import TEXT_NAME
from ..store import GoldStatus

SYNC_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
                "TASKS_DELETED")
"""Webhook actions that change gold: each one starts a pull of the project."""

TOKEN_HEADER = "X-Annotator-Token"
"""The header carrying the shared secret on webhooks (Label Studio sends the headers it was given)."""


class ProtocolError(ValueError):
    """A request that is not what Label Studio sends (answered with HTTP 400 and this one line)."""


# --------------------------------------------------------------------------- authentication


def basic_auth_ok(header: str | None, user: str, secret: str) -> bool:
    """Whether an Authorization header is HTTP basic auth with this user and secret (constant time)."""
    if not header or header[:6].lower() != "basic ":
        return False
    try:
        given = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    name, sep, password = given.partition(":")
    same_user = hmac.compare_digest(name.encode(), user.encode())
    same_secret = hmac.compare_digest(password.encode(), secret.encode())
    return bool(sep) and same_user and same_secret


def token_ok(value: str | None, secret: str) -> bool:
    """Whether a webhook's secret header holds the secret (constant time)."""
    return value is not None and hmac.compare_digest(value.encode(), secret.encode())


# --------------------------------------------------------------------------- requests


def ls_project_id(value: Any) -> int:
    """The project id in a request: Label Studio sends "<id>.<created timestamp>"."""
    text = str(value if value is not None else "").split(".", 1)[0].strip()
    if not text.isdigit():
        raise ProtocolError(f"the request names no project (project is {value!r}); is this Label Studio?")
    return int(text)


def predict_tasks(body: Any) -> list[Any]:
    """The tasks of a /predict request, as sent (`task_problem` says which of them cannot be answered)."""
    tasks = body.get("tasks") if isinstance(body, dict) else None
    if not isinstance(tasks, list):
        raise ProtocolError("a /predict request needs `tasks`, a list of tasks with ids")
    return tasks


def task_problem(task: Any, position: int) -> str | None:
    """Why the task at `position` (from 0) of a /predict cannot be answered (one line), or None.

    A task is an object whose id is an integer SQLite can store (below 2^63) and whose data is an object
    of text that UTF-8 can hold (JSON escapes can carry lone surrogates, which it cannot).
    """
    where = f"task #{position + 1}"
    if not isinstance(task, dict):
        return f"{where} is a {type(task).__name__}, not a task"
    task_id = task.get("id")
    if isinstance(task_id, bool) or not isinstance(task_id, int) or not -2 ** 63 <= task_id < 2 ** 63:
        return f"{where}: its id {ascii(task_id)[:40]} is not a task id (an integer below 2^63)"
    data = task.get("data")
    if not isinstance(data, dict):
        return f"task {task_id}: its data is a {type(data).__name__}, not an object"
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return f"task {task_id}: its data holds text that is not valid Unicode (a lone surrogate)"
    except (TypeError, ValueError) as exc:  # not JSON data: cannot come from a parsed body, but say so
        return f"task {task_id}: its data is not JSON ({exc})"
    return None


def parse_json(raw: bytes) -> Any:
    """A request body as JSON; ProtocolError if it is not."""
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"the body is not JSON ({exc})") from exc


# --------------------------------------------------------------------------- labeling configs


def controls_of(xml: str) -> dict[str, tuple]:
    """name -> (tag, targets, labels, several choices?) of every control: what predictions and gold rely on.

    Layout is left out (headers, colours, hints, "single" against "single-radio"), so a
    project made by an earlier release of the same schema's config still matches.
    """
    interface = LabelInterface(xml)
    return {c.name: (c.tag.lower(), tuple(c.to_name or ()), tuple(sorted(getattr(c, "labels", None) or ())),
                     c.attr.get("choice") == "multiple") for c in interface.controls}


def config_problem(project_xml: Any, schema_xml: str, schema_name: str) -> str | None:
    """Why the project's labeling config cannot take this schema's drafts (one line), or None."""
    if not isinstance(project_xml, str) or not project_xml.strip():
        return "the request carries no labeling config"
    try:
        theirs = controls_of(project_xml)
    except Exception as exc:  # the SDK raises several unrelated exception types
        return f"the project's labeling config does not parse ({' '.join(str(exc).split())[:200]})"
    ours = controls_of(schema_xml)
    fix = f"give the project the config of schema {schema_name} (`annotator schema config {schema_name}`) or " \
          f"serve the schema it was made for (--schema)"
    for name, control in ours.items():
        if name not in theirs:
            return f"the project's labeling config has no control {name!r}; {fix}"
        if theirs[name] != control:
            return f"control {name!r} of the project's labeling config differs from schema {schema_name}'s; {fix}"
    extra = sorted(theirs.keys() - ours.keys())
    if extra:
        return f"the project's labeling config has a control {extra[0]!r} that schema {schema_name} lacks; {fix}"
    return None


# --------------------------------------------------------------------------- tasks


def task_text(task: Mapping) -> str | None:
    """The text a task shows for annotation (`data.text`), or None."""
    text = (task.get("data") or {}).get(TEXT_NAME)
    return text if isinstance(text, str) and text.strip() else None


# --------------------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class SyncWork:
    """What webhooks ask of the database: a pull, and annotations or tasks known to be deleted."""

    pull: bool = False
    annotations_deleted: frozenset[int] = field(default_factory=frozenset)
    tasks_deleted: frozenset[int] = field(default_factory=frozenset)
    actions: tuple[str, ...] = ()
    """The webhook actions behind this work, oldest first."""

    def merge(self, other: SyncWork) -> SyncWork:
        """This work and `other` together."""
        return SyncWork(self.pull or other.pull, self.annotations_deleted | other.annotations_deleted,
                        self.tasks_deleted | other.tasks_deleted, self.actions + other.actions)

    @property
    def empty(self) -> bool:
        return not (self.pull or self.annotations_deleted or self.tasks_deleted)


def _ids(items: Any) -> frozenset[int]:
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return frozenset()
    return frozenset(i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), int))


def payload_project(payload: Mapping) -> int | None:
    """The project a webhook payload is about, when it says."""
    project = payload.get("project")
    if isinstance(project, dict) and isinstance(project.get("id"), int):
        return project["id"]
    annotation = payload.get("annotation")
    if isinstance(annotation, dict) and isinstance(annotation.get("project"), int):
        return annotation["project"]
    return None


def webhook_work(payload: Any, project_ls_id: int) -> SyncWork | None:
    """The work a webhook payload asks for, or None when it is not about gold of this project."""
    if not isinstance(payload, dict) or payload.get("action") not in SYNC_ACTIONS:
        return None
    about = payload_project(payload)
    if about is not None and about != project_ls_id:
        return None
    action = payload["action"]
    return SyncWork(pull=True,
                    annotations_deleted=_ids(payload.get("annotations")) if action == "ANNOTATIONS_DELETED"
                    else frozenset(),
                    tasks_deleted=_ids(payload.get("tasks")) if action == "TASKS_DELETED" else frozenset(),
                    actions=(action,))


def deletion_writes(stored: Iterable[dict], work: SyncWork, stamp: str) -> list[dict]:
    """Gold rows to mark deleted: their annotation or their task was deleted (rows are kept, never removed)."""
    return [{**row, "status": GoldStatus.DELETED.value, "pulled_at": stamp} for row in stored
            if row["status"] != GoldStatus.DELETED
            and (row["annotation_id"] in work.annotations_deleted or row["task_id"] in work.tasks_deleted)]
