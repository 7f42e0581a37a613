"""Connect a project to `serve`: its ML backend (`/api/ml`, basic auth) and its webhook (`/api/webhooks`,
the secret in a header), idempotently.

`plan_registration` (pure) compares what the project has with what is wanted:
nothing is created twice, and a second run with nothing changed sends nothing.
Label Studio never shows a backend's password, but it shows a webhook's headers:
when the webhook already carries the current secret, the backend was given it in
the same run; otherwise the backend's password is set again too. Label Studio
checks a new or changed backend by calling its /health and /setup, so `serve`
must be answering at the backend URL while this runs. Given the schema, it also
brings the project's labeling config up to date the way `push` does
(`update_config`): a project pushed before the context moved to headers then
accepts tasks imported by hand with only their text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx
import sqlite_utils
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from ..errors import AnnotatorError, LabelStudioError
from ..labelstudio.api import calling, one_line
from ..labelstudio.projects import Project, update_config
from ..schema import Schema
from .credentials import Credentials
from .protocol import SYNC_ACTIONS, TOKEN_HEADER
from .state import record_registration


@dataclass(frozen=True)
class Wanted:
    """What the project should point at."""

    backend_url: str
    webhook_url: str
    credentials: Credentials
    model_version: str


@dataclass
class RegistrationPlan:
    """What to send: None ids mean create, a `*_update` id means change that one."""

    backend_id: int | None = None
    backend_create: bool = False
    backend_update: bool = False
    webhook_id: int | None = None
    webhook_create: bool = False
    webhook_update: bool = False
    model_version: str | None = None
    """The project's model_version to set (None: already right)."""
    notes: list[str] = field(default_factory=list)
    config_updated: str = ""
    """What `update_config` changed in the project's labeling config, in words ("" for nothing)."""

    @property
    def changes(self) -> list[str]:
        """What this plan changes, in words (empty: nothing to do)."""
        said = [("created the ML backend", self.backend_create), ("updated the ML backend", self.backend_update),
                ("created the webhook", self.webhook_create), ("updated the webhook", self.webhook_update),
                (f"set the project's model version to {self.model_version}", self.model_version is not None),
                (self.config_updated, bool(self.config_updated))]
        return [words for words, done in said if done]


def _same_url(a: object, b: str) -> bool:
    return isinstance(a, str) and a.rstrip("/") == b.rstrip("/")


def webhook_ok(hook: Mapping, wanted: Wanted) -> bool:
    """Whether a webhook already sends what `serve` needs, with the current secret."""
    return ((hook.get("headers") or {}).get(TOKEN_HEADER) == wanted.credentials.secret
            and sorted(hook.get("actions") or []) == sorted(SYNC_ACTIONS)
            and bool(hook.get("send_payload")) and not hook.get("send_for_all_actions")
            and hook.get("is_active") is not False)


def plan_registration(backends: Sequence[Mapping], webhooks: Sequence[Mapping], project_model_version: str | None,
                      wanted: Wanted) -> RegistrationPlan:
    """What to create or change on the project, from what its backends and webhooks are now."""
    plan = RegistrationPlan()
    hooks = [h for h in webhooks if _same_url(h.get("url"), wanted.webhook_url)]
    if hooks:
        plan.webhook_id = hooks[0]["id"]
        plan.webhook_update = not webhook_ok(hooks[0], wanted)
    else:
        plan.webhook_create = True
    ours = [b for b in backends if _same_url(b.get("url"), wanted.backend_url)]
    if ours:
        plan.backend_id = ours[0]["id"]
        secret_known = bool(hooks) and not plan.webhook_update
        plan.backend_update = not (ours[0].get("auth_method") == "BASIC_AUTH" and secret_known
                                   and ours[0].get("basic_auth_user") == wanted.credentials.user
                                   and ours[0].get("title") == wanted.model_version)
    else:
        plan.backend_create = True
    others = [b["url"] for b in backends if b not in ours]
    if others:
        plan.notes.append(f"the project also has ML backend(s) at {', '.join(others)}; Label Studio asks only one: "
                          "remove the others in the project's Model settings")
    if project_model_version != wanted.model_version:
        plan.model_version = wanted.model_version
    return plan


# --------------------------------------------------------------------------- edge


def ask_model_version(backend_url: str, credentials: Credentials) -> str:
    """The model version a running `annotator serve` drafts with (its /health, with the secret)."""
    try:
        response = httpx.get(f"{backend_url}/health", auth=(credentials.user, credentials.secret), timeout=10)
    except httpx.HTTPError as exc:
        raise AnnotatorError(f"no `annotator serve` answers at {backend_url} ({type(exc).__name__}); start "
                             "`annotator serve --project NAME` first, or pass its address with --backend-url") from exc
    if response.status_code == 401:
        raise AnnotatorError(f"`annotator serve` at {backend_url} refuses this machine's secret; run both with the "
                             "same ANNOTATOR_HOME (the secret is in its config folder)")
    try:
        return str(response.raise_for_status().json()["model_version"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise AnnotatorError(f"{backend_url} is not `annotator serve` (its /health answered HTTP "
                             f"{response.status_code}); check --backend-url") from exc


def setup_refusal(backend_url: str, credentials: Credentials, ls_id: int, label_config: str) -> str | None:
    """What `annotator serve` answers the /setup Label Studio sends when a backend is connected to project
    `ls_id`: None when it takes the project, else its refusal (another project, another labeling config)."""
    try:
        response = httpx.post(f"{backend_url}/setup", auth=(credentials.user, credentials.secret), timeout=30,
                              json={"project": str(ls_id), "schema": label_config})
    except httpx.HTTPError as exc:
        raise AnnotatorError(f"no `annotator serve` answers at {backend_url} ({type(exc).__name__}); start "
                             "`annotator serve --project NAME` first, or pass its address with --backend-url") from exc
    if response.status_code == 200:
        return None
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def served_project(backend_url: str, credentials: Credentials, label_config: str) -> str:
    """What `annotator serve` says it serves, in its words (its refusal of a /setup naming no real project)."""
    said = setup_refusal(backend_url, credentials, 0, label_config) or "it takes any project"
    return said.split(", not project")[0].split(";")[0]


def _explain(exc: LabelStudioError, wanted: Wanted, what: str) -> LabelStudioError:
    """A clearer line for the refusals Label Studio gives a backend or webhook it cannot call."""
    cause = exc.__cause__
    body = one_line(cause.body, 400) if isinstance(cause, ApiError) else ""
    url = wanted.backend_url
    if "reserved network address" in body or "blocked" in body.lower():
        return LabelStudioError(f"Label Studio refused the {what} at {url} (a loopback or private address); start "
                                "Label Studio with ML_BLOCK_LOCAL_IP=false and SSRF_PROTECTION_ENABLED=false (the "
                                "managed one has both since this release: `annotator labelstudio stop`, then "
                                "`start`), or serve on an address it may call (--host, --backend-url)")
    if "health check failed" in body or "Can't connect" in body or "Successfully connected" in body:
        return LabelStudioError(f"Label Studio could not call `annotator serve` at {url}; start `annotator serve "
                                "--project NAME` there first (and check that the Label Studio host can reach it)")
    if "authentication" in body.lower():
        return LabelStudioError(f"`annotator serve` at {url} refused Label Studio's credentials; it reads another "
                                "secret file: run both with the same ANNOTATOR_HOME")
    return exc


def _apply(ls: LabelStudio, project: Project, plan: RegistrationPlan, wanted: Wanted) -> None:
    creds, pid = wanted.credentials, project.ls_id
    # The title is the model version: Label Studio lets a project's model_version name a live backend's title,
    # and the drafts it gets (and those `push` sends) carry the same version, so annotators see them pre-filled.
    backend = {"url": wanted.backend_url, "title": wanted.model_version, "is_interactive": False,
               "auth_method": "BASIC_AUTH", "basic_auth_user": creds.user, "basic_auth_pass": creds.secret}
    hook = {"url": wanted.webhook_url, "send_payload": True, "send_for_all_actions": False,
            "actions": list(SYNC_ACTIONS), "headers": {TOKEN_HEADER: creds.secret}, "is_active": True}
    no_retry = {"max_retries": 0}
    try:
        with calling(project.url, f"registering the webhook of project {project.name!r}"):
            if plan.webhook_create:
                plan.webhook_id = ls.webhooks.create(project=pid, **hook, request_options=no_retry).id
            elif plan.webhook_update:
                ls.webhooks.update(id=plan.webhook_id, **hook, request_options=no_retry)
    except LabelStudioError as exc:
        raise _explain(exc, wanted, "webhook") from exc
    try:
        with calling(project.url, f"connecting the ML backend of project {project.name!r}"):
            if plan.backend_create:
                plan.backend_id = ls.ml.create(project=pid, **backend, request_options=no_retry).id
            elif plan.backend_update:
                ls.ml.update(id=plan.backend_id, **backend, request_options=no_retry)
    except LabelStudioError as exc:
        raise _explain(exc, wanted, "ML backend") from exc
    if plan.model_version is not None:
        with calling(project.url, f"setting the model version of project {project.name!r}"):
            ls.projects.update(id=pid, model_version=plan.model_version)


def register(db: sqlite_utils.Database, ls: LabelStudio, project: Project, wanted: Wanted,
             schema: Schema | None = None) -> RegistrationPlan:
    """Make the project call `serve` (ML backend and webhook); a second run changes nothing. Returns the plan.

    With `schema`, the project's labeling config is first brought up to date (`update_config`).
    """
    with calling(project.url, f"reading the ML backends and webhooks of project {project.name!r}"):
        backends = [b.model_dump(mode="json") for b in ls.ml.list(project=project.ls_id)]
        hooks = [h.model_dump(mode="json") for h in ls.webhooks.list(project=str(project.ls_id))]
        server = ls.projects.get(id=project.ls_id)
    hooks = [h for h in hooks if h.get("project") == project.ls_id]
    config = update_config(db, ls, project, schema, server) if schema is not None else ""
    plan = plan_registration(backends, hooks, server.model_version, wanted)
    if config.startswith("kept"):
        plan.notes.append(config)
    else:
        plan.config_updated = config
    _apply(ls, project, plan, wanted)
    if plan.model_version is not None:
        db["projects"].update(project.id, {"model_version": plan.model_version})
    record_registration(db, project.id, wanted.backend_url, plan.backend_id, plan.webhook_id, bool(plan.changes))
    return plan
