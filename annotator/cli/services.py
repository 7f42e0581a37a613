"""The managed local services (labelstudio and llm groups) and the demo that uses them."""

from __future__ import annotations

import click

from ..endpoints import SMOLLM_WARNING
from ..settings import ENV_LS_DATABASE, db_path, labelstudio_database, redact_url
from .ui import StageBars, console, db_option, out, warn, with_spinner

DEMO_PROJECT = "annotator demo"


@click.group()
def labelstudio() -> None:
    """A local Label Studio in its own environment (or use LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY).

    \b
    Example:
      annotator labelstudio start
    """


def _print_login(info) -> None:
    """URL and login of the managed Label Studio (the password is generated and kept in a 600 file)."""
    tokens = "legacy and personal access tokens" if info.legacy_tokens else "personal access tokens only"
    out.print(f"Label Studio: {info.url}\n  login:    {info.email}\n  password: {info.password}"
              f"\n  database: {info.database}\n  API keys: {tokens}", highlight=False)


UPGRADE_HELP = ("Re-create the environment from the lock shipped with annotator when the installed "
                "packages differ from it (nothing to do when they match).")


def _install(service, title: str, upgrade: bool) -> None:
    """Install <service>'s environment from its lock; say where it is and whether it matches."""
    path = with_spinner(title, lambda say: service.ensure_installed(progress=say, upgrade=upgrade))
    differences = service.drift()
    out.print(f"{service.name} environment: {path} "
              f"({'differs from' if differences else 'matches'} {service.lock_file.name})", highlight=False)
    if differences:
        warn(service.drift_hint(differences))


@labelstudio.command("install")
@click.option("--upgrade", is_flag=True, help=UPGRADE_HELP)
def labelstudio_install(upgrade: bool) -> None:
    """Create Label Studio's own virtual environment from its lock (about 2 minutes, once).

    \b
    Examples:
      annotator labelstudio install
      annotator labelstudio install --upgrade   # after an upgrade of annotator, or a failed start
    """
    from ..services.labelstudio import LabelStudioServer

    _install(LabelStudioServer(), "Installing Label Studio", upgrade)


@labelstudio.command("start")
@click.option("--database", "database", metavar="URL",
              help=f"Run on this PostgreSQL database (postgresql://USER:PASSWORD@HOST:PORT/DB; or set "
                   f"{ENV_LS_DATABASE}). Remembered: later starts use it again. Default: SQLite in the data dir.")
@click.option("--legacy-tokens/--no-legacy-tokens", "legacy_tokens", default=None,
              help="Accept legacy API tokens, or only personal access tokens as a team's Label Studio usually "
                   "does (the commands then use the admin's personal access token). Remembered; default: on.")
def labelstudio_start(database: str | None, legacy_tokens: bool | None) -> None:
    """Install if needed, then start Label Studio on loopback and print the login.

    \b
    Examples:
      annotator labelstudio start && annotator push --project "Conflict news"
      annotator labelstudio start --database postgresql://ls:PASSWORD@db.internal:5432/labelstudio
      annotator labelstudio start --no-legacy-tokens   # as a team's server: personal access tokens only
    """
    from ..services.labelstudio import LabelStudioServer

    server = LabelStudioServer(database=labelstudio_database(database), legacy_tokens=legacy_tokens)
    server.check_database()  # a database that cannot be used is one line, before the spinner
    info = with_spinner("Starting Label Studio", lambda say: server.start(progress=say))
    _print_login(info)
    if server.drift_at_start:
        warn(server.drift_hint(server.drift_at_start))


@labelstudio.command("token")
def labelstudio_token() -> None:
    """Print a personal access token of the managed Label Studio's admin (made once, then the same one).

    For a script or an ML backend elsewhere that calls this Label Studio. Revoke it in Account & Settings >
    Personal Access Token; the next `annotator labelstudio token` makes a new one.

    \b
    Example:
      export LABEL_STUDIO_API_KEY=$(annotator labelstudio token)
    """
    from ..services.labelstudio import LabelStudioServer

    click.echo(LabelStudioServer().personal_token())


@labelstudio.command("stop")
def labelstudio_stop() -> None:
    """Stop the managed Label Studio (its data is kept).

    \b
    Example:
      annotator labelstudio stop
    """
    from ..services.labelstudio import LabelStudioServer

    out.print("stopped" if LabelStudioServer().stop() else "not running")


@labelstudio.command("status")
def labelstudio_status() -> None:
    """Say whether the managed Label Studio runs, with its URL, login and database (never its password).

    \b
    Example:
      annotator labelstudio status
    """
    from ..services.labelstudio import LabelStudioServer

    server = LabelStudioServer()
    info = server.status()
    if info is None:
        out.print(f"not running\n  database: {server.database_label()}", highlight=False)
    else:
        _print_login(info)


@click.group()
def llm() -> None:
    """The embedded LLM: a local llama.cpp server running SmolLM2-135M-Instruct.

    \b
    Example:
      annotator llm start
    """


@llm.command("install")
@click.option("--upgrade", is_flag=True, help=UPGRADE_HELP)
def llm_install(upgrade: bool) -> None:
    """Build the embedded LLM server's environment from its lock (llama-cpp-python from source: several minutes, once).

    \b
    Examples:
      annotator llm install
      annotator llm install --upgrade   # after an upgrade of annotator, or a failed start
    """
    from ..services.llamacpp import LocalLLMServer

    _install(LocalLLMServer(), "Installing the embedded LLM", upgrade)


@llm.command("start")
@click.option("--logprobs", is_flag=True,
              help="Answer with token log-probabilities (drafts' confidence signals); about a fifth slower. "
                   "Stop a running server first.")
def llm_start(logprobs: bool) -> None:
    """Install (first time, several minutes) and start the embedded LLM server on loopback.

    \b
    Example:
      annotator llm start && annotator annotate
    """
    from ..services.llamacpp import LocalLLMServer

    server = LocalLLMServer(logprobs=logprobs)
    info = with_spinner("Starting the embedded LLM", lambda say: server.start(progress=say))
    out.print(f"LLM server: {info.url} (model {info.model}, pid {info.pid})", highlight=False)
    if server.drift_at_start:
        warn(server.drift_hint(server.drift_at_start))
    warn(SMOLLM_WARNING)


@llm.command("stop")
def llm_stop() -> None:
    """Stop the embedded LLM server.

    \b
    Example:
      annotator llm stop
    """
    from ..services.llamacpp import LocalLLMServer

    out.print("stopped" if LocalLLMServer().stop() else "not running")


@llm.command("status")
def llm_status() -> None:
    """Say whether the embedded LLM server runs, and where.

    \b
    Example:
      annotator llm status
    """
    from ..services.llamacpp import LocalLLMServer

    info = LocalLLMServer().status()
    out.print(f"running: {info.url} (model {info.model}, pid {info.pid})" if info else "not running",
              highlight=False)


@click.command()
@db_option
@click.option("--project", "-p", "project_name", default=DEMO_PROJECT, show_default=True,
              help="Label Studio project to push to.")
def demo(db_file: str | None, project_name: str) -> None:
    """Run the whole loop on a sample wire-news article, from nothing.

    Installs what is missing (the embedded LLM: llama.cpp with SmolLM2-135M, a
    few minutes to build the first time; Label Studio, in its own environment),
    starts both on 127.0.0.1, ingests the sample article, drafts every sentence,
    pushes the drafts to Label Studio and prints where to look. Uses
    OPENAI_BASE_URL / OPENAI_API_KEY instead of the embedded LLM when set, and
    LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY instead of the managed Label Studio.
    A re-run reuses everything and takes seconds.

    \b
    Examples:
      annotator demo
      OPENAI_API_KEY=sk-... ANNOTATOR_MODEL=gpt-4o-mini annotator demo
    """
    from ..demo import DemoHooks, run_demo
    from .transfer import print_push_report

    database = db_path(db_file)
    with StageBars() as bars:
        def stage(title: str) -> None:
            bars.close()
            console.rule(title)

        def say(line: str) -> None:
            bars.close()
            console.print(line, highlight=False, markup=False)

        def warning(line: str) -> None:
            bars.close()
            warn(line)

        def pushed(report) -> None:
            bars.close()
            print_push_report(report)

        result = run_demo(database, project_name, DemoHooks(stage=stage, say=say, warn=warning,
                                                            progress=bars.update, pushed=pushed))
    console.rule("5/5 Your turn")
    lines = [f"Open {redact_url(result.first_task_link)}"]
    if result.login_email is not None:
        lines.append(f"Log in as {result.login_email} with password {result.login_password}")
    lines += [
        "Each sentence is a task, pre-filled with the LLM's draft: fix the spans and choices, then Submit.",
        f"Then: annotator pull --project \"{project_name}\"   (gold labels into {database})",
        "      annotator status",
    ]
    if result.managed_llm:
        lines.append("The drafts come from a 135M-parameter model and are poor; set OPENAI_API_KEY or "
                     "OPENAI_BASE_URL for useful ones.")
    out.print("\n".join(lines), highlight=False, soft_wrap=True)


COMMANDS = [labelstudio, llm, demo]
