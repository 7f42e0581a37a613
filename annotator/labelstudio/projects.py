"""Label Studio projects recorded in SQLite: one row per (server URL, project), keyed by a content id.

`projects.id` is `content_id("project", url, ls_id)` (migration 003): the key that
`tasks`, `predictions` and `gold` rows carry in `project_id`. `ls_id` is the
server's own number, used for every SDK call and in the project's link. A project
keeps the schema it was made with (`schema_name`, `schema_hash`, and `schema_ref`
to load it again): `project_schema` gives every command that names a project that
schema when no --schema is given.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from ..errors import InputError, LabelStudioError
from ..schema import Schema, load_schema
from ..settings import DEFAULT_SCHEMA
from ..store import content_id, now
from .api import calling, normalize_url, one_line, server_time
from .config import config_fields, label_config


@dataclass
class Project:
    """A Label Studio project recorded in SQLite."""

    id: str
    ls_id: int
    url: str
    name: str
    schema_name: str
    schema_hash: str
    model_version: str | None
    pull_watermark: str | None
    blind_fraction: float = 0.0
    schema_ref: str | None = None
    """Where the schema loads from (None for a project recorded before migration 008)."""

    @property
    def link(self) -> str:
        """The project's page in the browser."""
        return f"{self.url}/projects/{self.ls_id}"


def project_key(url: str, ls_id: int) -> str:
    """The content id of the project `ls_id` on the server at `url` (`projects.id`)."""
    return content_id("project", normalize_url(url), ls_id)


def recorded_project(db: sqlite_utils.Database, project_name: str, *, url: str) -> Project | None:
    """The project recorded for (url, name), or None."""
    rows = list(db.query("SELECT * FROM projects WHERE url = ? AND name = ?", [normalize_url(url), project_name]))
    return _project(rows[0]) if rows else None


def _project(r: dict) -> Project:
    return Project(r["id"], r["ls_id"], r["url"], r["name"], r["schema_name"], r["schema_hash"],
                   r["model_version"], r["pull_watermark"], r.get("blind_fraction") or 0.0, r.get("schema_ref"))


def project_scope(url: str, project_name: str) -> str:
    """The lock scope of a project: one push or pull at a time (known before the project exists)."""
    return f"labelstudio {normalize_url(url)} {project_name}"


def first_task_id(db: sqlite_utils.Database, project_id: str) -> int | None:
    """The project's first task (by Label Studio id), or None."""
    row = db.execute("SELECT min(task_id) FROM tasks WHERE project_id = ?", [project_id]).fetchone()
    return row[0] if row else None


def check_schema(project: Project, schema: Schema) -> None:
    """Refuse to use a project made with another schema (InputError naming the --schema to pass)."""
    if project.schema_hash != schema.hash:
        raise InputError(
            f"project {project.name!r} on {project.url} was made with schema {project.schema_name} "
            f"({project.schema_hash}), not {schema.name} ({schema.hash}); leave --schema out or pass "
            f"--schema {shlex.quote(project.schema_ref or project.schema_name)}"
        )


def project_schema(db: sqlite_utils.Database, project_name: str | None, url: str | None,
                   schema_ref: str | None) -> Schema:
    """The schema a command works with: the one `schema_ref` names, else the project's, else the default.

    The project is the one recorded for (url, name); with no url (eval, agreement,
    export without --url), every server's project of that name, which must share
    one schema. Its schema loads from the reference it was made with, or, for a
    project recorded before migration 008, from the built-in schema of its name when
    the hash is the project's. A given `schema_ref` must be the project's schema
    (`check_schema`); the project keeps it as its reference when its own no longer
    loads. No project named or recorded: `schema_ref`, else the built-in default.
    """
    made = [p for p in _records(db, project_name, url) if p.schema_hash] if project_name else []
    if not made:
        return load_schema(schema_ref or DEFAULT_SCHEMA)
    if schema_ref is None:
        return _recorded_schema(made)
    schema = load_schema(schema_ref)
    same = [p for p in made if p.schema_hash == schema.hash]
    if not same:
        if made[0].schema_ref == schema.ref:
            raise InputError(_edited(made[0], schema))
        check_schema(made[0], schema)
    for project in same:
        if schema.ref and project.schema_ref != schema.ref and _reload(project) is None:
            db["projects"].update(project.id, {"schema_ref": schema.ref})
    return schema


def _records(db: sqlite_utils.Database, name: str, url: str | None) -> list[Project]:
    """The project recorded for (url, name), or with no url every server's project of that name."""
    if url is not None:
        return [p for p in [recorded_project(db, name, url=url)] if p is not None]
    return [_project(r) for r in db.query("SELECT * FROM projects WHERE name = ? ORDER BY url", [name])]


def _reload(project: Project) -> Schema | None:
    """The project's schema loaded from its reference, when that still gives the project's hash."""
    try:
        schema = load_schema(project.schema_ref or project.schema_name)
    except InputError:
        return None
    return schema if schema.hash == project.schema_hash else None


def _recorded_schema(made: list[Project]) -> Schema:
    """The schema the projects were made with (one line saying what to do when it cannot be loaded)."""
    first = made[0]
    if len({p.schema_hash for p in made}) > 1:
        where = ", ".join(f"{p.schema_name} ({p.schema_hash}) on {p.url}" for p in made)
        raise InputError(f"project {first.name!r} is recorded on several servers with different schemas ({where}); "
                         f"pass --url to pick one")
    project = next((p for p in made if p.schema_ref), first)
    said = f"project {project.name!r} on {project.url} was made with schema {project.schema_name}"
    ref = project.schema_ref or project.schema_name
    try:
        schema = load_schema(ref)
    except InputError as exc:
        if project.schema_ref is None:
            raise InputError(f"{said} ({project.schema_hash}), which is not a built-in schema, and this database "
                             f"does not record where it came from; pass --schema with its .py file or module:Model "
                             f"once (the project keeps it)") from exc
        cause = str(exc).rsplit("; ", 1)[0]
        raise InputError(f"{said} from {ref}, which no longer loads ({cause}); put it back, or pass --schema with "
                         f"where it is now (the project keeps it)") from exc
    if schema.hash != project.schema_hash:
        raise InputError(_edited(project, schema))
    return schema


def _edited(project: Project, schema: Schema) -> str:
    """The line for a project whose schema reference now gives another schema."""
    which = schema.ref if project.schema_ref else f"the built-in schema {schema.ref}"
    return (f"project {project.name!r} on {project.url} was made with schema {project.schema_name} "
            f"({project.schema_hash}), but {which} now gives {schema.hash} (edited since); put the schema back as "
            f"it was, or push to a new project name for the edited one")


def server_project(ls: LabelStudio, project: Project, doing: str) -> tuple[Any, str | None]:
    """The project as the server sees it, and the server's clock; an error if it was deleted there."""
    try:
        with calling(project.url, doing):
            response = ls.projects.with_raw_response.get(id=project.ls_id)
    except LabelStudioError as exc:
        if isinstance(exc.__cause__, ApiError) and exc.__cause__.status_code == 404:
            raise LabelStudioError(
                f"Label Studio project {project.name!r} (id {project.ls_id}) recorded in this database was "
                f"deleted on {project.url}; push under a new project name to start over"
            ) from exc
        raise
    return response.data, server_time(response.headers)


def same_config(a: str | None, b: str) -> bool:
    """Whether two labeling configs are the same XML up to whitespace."""
    return " ".join((a or "").split()) == " ".join(b.split())


def same_fields(a: str | None, b: str) -> bool:
    """Whether two labeling configs hold the same annotations (`config.config_fields`), however they look."""
    try:
        return config_fields(a or "") == config_fields(b)
    except InputError:  # a config that does not parse holds nothing of ours
        return False


def refusal(body: Any) -> str:
    """Label Studio's reasons for refusing a config, on one line (its validation errors, else the body)."""
    errors = body.get("validation_errors") if isinstance(body, dict) else None
    if isinstance(errors, dict):
        reasons = [str(m) for messages in errors.values()
                   for m in (messages if isinstance(messages, list) else [messages])]
        return one_line(" ".join(reasons), 300)
    return one_line(body, 300)


def update_config(db: sqlite_utils.Database, ls: LabelStudio, project: Project, schema: Schema, server: Any) -> str:
    """Give an existing project the schema's current labeling config when it keeps its annotations valid.

    Nothing happens when the server's config is already the current one. Otherwise
    the server validates the new config against the project's annotations first (a
    label or field they use must stay); a config it refuses is not applied. Returns
    what happened, in words ("" for nothing).
    """
    xml = label_config(schema)
    if same_config(getattr(server, "label_config", None), xml):
        return ""
    try:
        with calling(project.url, f"checking the new labeling config of project {project.name!r}"):
            ls.projects.validate_label_config(id=project.ls_id, label_config=xml)
    except LabelStudioError as exc:
        refused = exc.__cause__
        if not (isinstance(refused, ApiError) and refused.status_code == 400):
            raise
        why = refusal(refused.body)
        return (f"kept the project's labeling config: Label Studio says the new one would break its annotations "
                f"({why}); push to a new project for the new config")
    with calling(project.url, f"updating the labeling config of project {project.name!r}"):
        ls.projects.update(id=project.ls_id, label_config=xml)
    db["projects"].update(project.id, {"label_config": xml})
    return "labeling config updated (its annotations stay valid)"


class NoProject(InputError):
    """No project of that title on the server, and none may be created."""


def ensure_project(db: sqlite_utils.Database, ls: LabelStudio, schema: Schema, name: str,
                   url: str, *, create: bool = True) -> tuple[Project, Any, bool]:
    """The recorded project (checked on the server), or a new or adopted one: (project, server view, created).

    With `create` False a project missing on the server is NoProject, never made.

    A project of the same title already on the server is adopted (push then
    reconciles its tasks) when its labeling config holds the same fields and labels
    as the schema's (`same_fields`: an older layout of the same schema); one with
    other fields is an error. A recorded project must have been made for the same
    schema (its hash). Push brings an adopted or recorded project's config up to
    date with `update_config`.
    """
    url = normalize_url(url)
    project = recorded_project(db, name, url=url)
    if project is not None:
        check_schema(project, schema)
        data, _ = server_project(ls, project, f"reading project {name!r}")
        return project, data, False
    if not 3 <= len(name) <= 50:
        raise InputError(f"project name {name!r} must have 3 to 50 characters (a Label Studio rule)")
    xml = label_config(schema)
    with calling(url, f"looking for project {name!r}"):
        same = [p for p in ls.projects.list(title=name, page_size=100) if p.title == name]
    if same:
        with calling(url, f"reading project {name!r}"):
            data = ls.projects.get(id=same[0].id)
        if not same_fields(data.label_config, xml):
            raise LabelStudioError(
                f"a project named {name!r} (id {data.id}) already exists on {url} with another labeling "
                f"config; choose another project name"
            )
        created = False
    elif not create:
        raise NoProject(f"no project {name!r} on {url}; check --project (its title in Label Studio)")
    else:
        with calling(url, f"creating project {name!r}"):
            data = ls.projects.create(title=name, label_config=xml, description=f"annotator: schema {schema.name}",
                                      request_options={"max_retries": 0})
        created = True
    clash = list(db.query("SELECT name FROM projects WHERE url = ? AND ls_id = ?", [url, data.id]))
    if clash:
        known = clash[0]["name"]
        raise LabelStudioError(
            f"new project id {data.id} on {url} is recorded in this database as {known!r}, from an earlier "
            f"server at this address; use another database (--db) for this server" if created else
            f"project id {data.id} on {url} is recorded in this database as {known!r} (renamed on the server?); "
            f"push with --project {known!r}"
        )
    db["projects"].insert({
        "id": project_key(url, data.id), "ls_id": data.id, "name": name, "url": url,
        "schema_name": schema.name, "schema_hash": schema.hash, "schema_ref": schema.ref or None,
        "label_config": xml, "model_version": None,
        "created_at": now(), "pull_watermark": None, "pulled_at": None,
    })
    return recorded_project(db, name, url=url), data, created  # type: ignore[return-value]
