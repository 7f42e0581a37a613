"""The `annotator` command line: a thin layer over the library.

    drafting.py   ingest, annotate
    status.py     status: what is stored, what it cost, each project's progress
    costs.py      annotate's cost side: --estimate and --batch
    transfer.py   push, pull, sync: drafts to Label Studio, gold back
    serve.py      serve (the ML backend, `backend/`) and connect (registers it on a project)
    services.py   the labelstudio and llm groups (the managed servers) and demo
    evaluate.py   eval, agreement and adjudicate
    calibrate.py  calibrate
    route.py      route (a confidence threshold with a risk guarantee, for push --route)
    export.py     export
    schema.py     the schema group
    ui.py         what every command shares: consoles, progress bars, spinners, common options
    __main__.py   `python -m annotator.cli`

This module builds the top-level click group, registers the commands, and turns
expected failures into one line.
"""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

import click

from .. import __version__
from ..errors import AnnotatorError
from ..settings import busy_timeout
from . import (
    calibrate,
    drafting,
    evaluate,
    export,
    route,
    schema,
    serve,
    services,
    status,
    transfer,
)
from .ui import console, error


class Group(click.Group):
    """Turns AnnotatorError into one `Error: ...` line and its exit code; Ctrl-C into exit code 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AnnotatorError as exc:
            error(str(exc))
            sys.exit(exc.exit_code)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            error(f"the database is locked by another process that kept writing for over {busy_timeout():g} s; "
                  f"wait for it to finish, then run again (nothing was lost)")
            sys.exit(3)
        except KeyboardInterrupt:
            console.print("Interrupted.")
            sys.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="annotator")
def cli() -> None:
    """LLM pre-annotation of sentences, corrected in Label Studio, gold labels in SQLite.

    \b
    A typical session:
      annotator ingest news/*.txt
      annotator annotate --concurrency 8
      annotator push --project "Conflict news"
      (annotators correct the drafts in Label Studio)
      annotator pull --project "Conflict news"
      annotator status
    """


for _command in (*drafting.COMMANDS, *status.COMMANDS, *transfer.COMMANDS, *evaluate.COMMANDS, *services.COMMANDS,
                 *schema.COMMANDS, *serve.COMMANDS, *export.COMMANDS, *calibrate.COMMANDS,
                 *route.COMMANDS):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="annotator")
