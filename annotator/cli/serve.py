"""Commands that keep a project live in Label Studio: serve (ML backend + webhooks) and connect."""

from __future__ import annotations

import logging
import sys

import click

from ..errors import InputError
from .ui import console, db_option, mode_option, out, refuse_given, schema_option, warn

DEFAULT_PORT = 9090


def _logging(verbose: bool) -> None:
    """serve's log lines on stderr: time and message, never a header or a body."""
    logger = logging.getLogger("annotator.backend")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def _backend_url(backend_url: str | None, host: str, port: int) -> str:
    """The URL Label Studio calls: the flag, else this host and port (loopback for a wildcard host)."""
    if backend_url:
        return backend_url.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


@click.command()
@click.option("--project", "-p", "project_name", required=True, help="Label Studio project title (created if new).")
@schema_option("Schema the project was built from.")
@click.option("--prompt", "prompt_ref", default=None, help="Prompt version or .j2 file; default: newest for the schema.")
@click.option("--model", default=None, help="Model name [env ANNOTATOR_MODEL].")
@click.option("--base-url", default=None, help="OpenAI-compatible server URL [env OPENAI_BASE_URL].")
@mode_option
@click.option("--concurrency", "-c", type=click.IntRange(1, 64), default=4, show_default=True,
              help="LLM requests in flight for tasks that have no draft.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds per LLM request.")
@click.option("--url", default=None, help="Label Studio URL [env LABEL_STUDIO_URL; default: the managed server].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--backend-url", default=None, help="URL Label Studio calls [default: http://HOST:PORT].")
@click.option("--register", is_flag=True, help="Connect the project's ML backend and webhook to this server "
              "(idempotent: a second run changes nothing).")
@click.option("--pull-every", type=click.FloatRange(1), default=60.0, show_default=True,
              help="Seconds between pulls when no webhook comes.")
@click.option("--predict-budget", type=click.FloatRange(1, 99), default=90.0, show_default=True,
              help="Seconds a /predict may spend drafting (Label Studio waits 100 s).")
@click.option("--verbose", "-v", is_flag=True, help="Log every webhook.")
@db_option
def serve(project_name: str, schema_ref: str | None, prompt_ref: str | None, model: str | None, base_url: str | None,
          mode: str, concurrency: int, timeout: float, url: str | None, host: str, port: int,
          backend_url: str | None, register: bool, pull_every: float, predict_budget: float, verbose: bool,
          db_file: str | None) -> None:
    """Be the project's ML backend, and keep gold in step with Label Studio.

    Tasks Label Studio asks about get their stored draft at once; a task
    imported by hand is stored as a sentence and drafted (same cache and
    checks as annotate). Webhooks from Label Studio start a pull, so submitted
    annotations reach the gold table within seconds; a pull also runs at start
    (full) and every --pull-every seconds, which catches webhooks missed while
    serve was down. Requests need the shared secret (basic auth for the ML
    backend, a header for webhooks), kept in a mode-600 file.

    \b
    Examples:
      annotator serve --project "Conflict news" --register
      annotator serve -p "Conflict news" --base-url http://localhost:8000/v1 --model qwen2.5-7b
      annotator serve -p "Batch 3" --host 0.0.0.0 --port 9090 --backend-url http://10.0.0.5:9090 --register
    """
    from ..annotate.prepare import RunOptions
    from ..backend.service import ServeOptions, Service
    from ..endpoints import SMOLLM_WARNING, resolve_labelstudio, resolve_llm
    from ..prompts import load_prompt
    from ..settings import db_path

    try:
        from ..backend.app import bind, run
    except ImportError as exc:
        raise InputError(f"`annotator serve` needs starlette and uvicorn ({exc}); install them with "
                         "pip install 'annotator[serve]'") from exc
    _logging(verbose)
    refuse_given(click.get_current_context(), () if register else ("backend_url",),
                 "applies only with --register (it is the URL the project's ML backend and webhook are given)",
                 "add --register or leave it out")
    ls = resolve_labelstudio(url)
    schema = _schema(db_file, project_name, ls.url or "", schema_ref)
    prompt = load_prompt(prompt_ref, schema.name)
    llm = resolve_llm(base_url, model)
    if llm.embedded:
        warn(SMOLLM_WARNING)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    service = Service(ServeOptions(
        db_path=db_path(db_file), project_name=project_name, schema=schema, prompt=prompt, llm_url=llm.base_url,
        llm_key=llm.api_key, model=llm.model, ls_url=ls.url or "", ls_key=ls.api_key or "",
        drafting=RunOptions(mode=mode, concurrency=concurrency), timeout=timeout, budget=predict_budget,
        pull_every=pull_every))
    console.print(f"Serving {service.describe()} on http://{host}:{port} (model version "
                  f"{service.model_version}). Ctrl-C stops.", highlight=False, soft_wrap=True)
    run(service, sock, backend_url=_backend_url(backend_url, host, port) if register else None)


def _schema(db_file: str | None, project_name: str, ls_url: str, schema_ref: str | None):
    """--schema, else the schema the project was made with, else the default (`project_schema`)."""
    from ..labelstudio.projects import project_schema
    from .ui import open_database

    db = open_database(db_file)
    try:
        return project_schema(db, project_name, ls_url, schema_ref)
    finally:
        db.close()


def _served_project(db, ls, schema, project_name: str, ls_url: str, backend_url: str, credentials):
    """The existing project `connect` names, once `annotator serve` at `backend_url` takes it (nothing is
    created or changed before); InputError naming what serve serves otherwise."""
    from ..backend.register import served_project, setup_refusal
    from ..labelstudio.config import label_config
    from ..labelstudio.projects import NoProject, ensure_project

    xml = label_config(schema)
    try:
        project, _, _ = ensure_project(db, ls, schema, project_name, ls_url, create=False)
    except NoProject as exc:
        said = served_project(backend_url, credentials, xml)
        raise NoProject(f"no project {project_name!r} on {ls_url}, and connect creates none; `annotator serve` at "
                        f"{backend_url} says: {said}; pass that title to --project") from exc
    refusal = setup_refusal(backend_url, credentials, project.ls_id, xml)
    if refusal is not None:
        raise InputError(f"`annotator serve` at {backend_url} refuses project {project.name!r} (id "
                         f"{project.ls_id}): {refusal}")
    return project


@click.command()
@click.option("--project", "-p", "project_name", required=True, help="Label Studio project title.")
@schema_option("Schema the project was built from.")
@click.option("--url", default=None, help="Label Studio URL [env LABEL_STUDIO_URL; default: the managed server].")
@click.option("--backend-url", default=f"http://127.0.0.1:{DEFAULT_PORT}", show_default=True,
              help="Where `annotator serve` for this project answers (Label Studio calls it).")
@db_option
def connect(project_name: str, schema_ref: str | None, url: str | None, backend_url: str, db_file: str | None) -> None:
    """Connect a project to a running `annotator serve`: ML backend and webhook.

    The project must exist (serve, push or you made it) and be the one serve
    serves: connect creates none, and changes nothing when serve refuses it.
    Re-running changes nothing. `annotator serve --register` does the same
    when it starts.

    \b
    Example:
      annotator serve --project "Conflict news" &
      annotator connect --project "Conflict news"
    """
    from ..backend.credentials import load_credentials
    from ..backend.register import Wanted, ask_model_version, register
    from ..backend.state import live_state
    from ..endpoints import resolve_labelstudio
    from ..labelstudio.api import open_client
    from ..labelstudio.projects import project_schema
    from .ui import open_database

    db = open_database(db_file)
    server = resolve_labelstudio(url)
    schema = project_schema(db, project_name, server.url or "", schema_ref)
    credentials = load_credentials()
    backend_url = backend_url.rstrip("/")
    version = ask_model_version(backend_url, credentials)
    ls = open_client(server.url or "", server.api_key or "")
    project = _served_project(db, ls, schema, project_name, server.url or "", backend_url, credentials)
    plan = register(db, ls, project, Wanted(backend_url, f"{backend_url}/webhook", credentials, version),
                    schema)
    for note in plan.notes:
        warn(note)
    out.print(f"Project {project.name!r} ({project.link}): " + ("; ".join(plan.changes) or "already connected, "
              "nothing changed") + f"; backend {backend_url}, model version {version}.", highlight=False,
              soft_wrap=True)
    state = live_state(db, project.id) or {}
    out.print(f"Last webhook: {state.get('last_webhook_at') or 'none yet'} ({state.get('webhooks') or 0} received); "
              f"last pull: {state.get('last_pull_at') or 'never'}; last prediction: "
              f"{state.get('last_predict_at') or 'none yet'} ({state.get('predicted_tasks') or 0} tasks).",
              highlight=False, soft_wrap=True)


COMMANDS = [serve, connect]
