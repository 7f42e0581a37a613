"""What every command shares: the two consoles, progress bars, spinners and the common options."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ..llm.modes import MODES
from ..settings import DEFAULT_SCHEMA, db_path

console = Console(stderr=True)  # progress, warnings and errors
out = Console()  # results, so that stdout stays clean for pipes


def error(message: str) -> None:
    """One `Error: ...` line on stderr (the message is printed as is, never read as markup)."""
    console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    """A warning line on stderr."""
    console.print(f"[yellow]{escape(message)}[/]", highlight=False)


def by_status(counts: dict[str, int], empty: str) -> str:
    """'3 failed, 8 ok' from {status: count}, or `empty` when there is none."""
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or empty


def progress_bar() -> Progress:
    """The progress bar every long command uses (on stderr, so stdout stays clean)."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def with_spinner(description: str, action: Callable[[Callable[[str], None]], Any]) -> Any:
    """Run `action(say)` under a spinner whose text follows what the action says."""
    with progress_bar() as bar:
        task = bar.add_task(description, total=None)
        return action(lambda msg: bar.update(task, description=msg))


def tracker(bar: Progress, task: TaskID, description: str) -> Callable[[int, int], None]:
    """Adapter from the library's (done, total) callbacks to a rich task."""
    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total or None, description=description)
    return update


class StageBars:
    """Progress bars by key, opened on first use and closed before anything else is printed.

    For library functions that report `(key, description, done, total)` from
    several threads, one stage after another.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def update(self, key: str, description: str, done: int | None, total: int | None) -> None:
        """Create or update the bar `key`; None leaves a value as it is."""
        with self._lock:
            if self._bar is None:
                self._bar, self._tasks = progress_bar(), {}
                self._bar.start()
            task = self._tasks.get(key)
            if task is None:
                self._tasks[key] = self._bar.add_task(description, total=total, completed=done or 0)
            else:
                self._bar.update(task, description=description, total=total, completed=done)

    def close(self) -> None:
        """Stop the bars of the current stage (they stay on screen)."""
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    def __enter__(self) -> StageBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def db_option(f: Callable) -> Callable:
    """--db, resolved by `settings.db_path`: the flag, then ANNOTATOR_DB, then ./annotator.db."""
    return click.option("--db", "db_file", default=None,
                        help="SQLite database [env ANNOTATOR_DB; default ./annotator.db]")(f)


def schema_option(help_text: str, project_flag: str = "--project") -> Callable[[Callable], Callable]:
    """--schema; None when not given: the schema of the project `project_flag` names, else the built-in default
    (`labelstudio.projects.project_schema` decides)."""
    return click.option("--schema", "schema_ref", default=None,
                        help=f"{help_text} [default: the schema of the project {project_flag} names, else "
                             f"{DEFAULT_SCHEMA}]")


def given(ctx: click.Context, name: str) -> bool:
    """Whether the user gave the parameter `name` (a default never counts)."""
    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)


def refuse_given(ctx: click.Context, names: tuple[str, ...], why: str, fix: str = "leave it out") -> None:
    """InputError for the first parameter of `names` the user gave, in a mode it does not apply to.

    `why` completes "--flag ...", e.g. "does not apply with --batch (the Batch API runs the requests)".
    """
    from ..errors import InputError

    for name in names:
        if given(ctx, name):
            param = next(p for p in ctx.command.params if p.name == name)
            flag = max((o for o in param.opts if o.startswith("--")), key=len, default=param.opts[0])
            raise InputError(f"{flag} {why}; {fix}")


def schema_argument(f: Callable) -> Callable:
    """An optional schema NAME argument, defaulting to the built-in default schema."""
    return click.argument("name", default=DEFAULT_SCHEMA)(f)


def mode_option(f: Callable) -> Callable:
    """--mode: auto, or one of the structured-output modes the LLM client knows."""
    return click.option("--mode", type=click.Choice(["auto", *MODES]), default="auto", show_default=True,
                        help="Structured-output mode; auto falls back when the server refuses one.")(f)


def open_database(db_file: str | None):
    """Open the database named by the flag or the environment."""
    from ..boilerplate import BACKFILLS
    from ..store import open_db

    return open_db(db_path(db_file), BACKFILLS)
