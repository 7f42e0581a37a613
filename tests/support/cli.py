"""Running the command line: in-process (`run`, the one way tests invoke the CLI) or as a child process.

`run` invokes `annotator.cli.cli` with click's CliRunner in a clean environment: no
LABEL_STUDIO_*, OPENAI_* or ANNOTATOR_* setting of the machine leaks in (ANNOTATOR_HOME
excepted: where the managed services live), only what the test passes, and a wide
console so rich tables do not wrap. An unexpected exception is raised, not kept in the
result. `run_child` runs `python -m annotator` in its own process, for what needs one
(signals, a crash, two processes at once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from annotator.cli import cli
from tests.support.drafting import ARTICLE
from tests.support.stub_llm import StubLLM

KEPT = ("ANNOTATOR_HOME",)
"""The one setting of the machine an in-process run keeps."""


def clean_env(env: dict[str, str | None] | None = None) -> dict[str, str | None]:
    """CliRunner's `env`: the machine's settings unset, a wide console, then `env` (None unsets)."""
    unset = {name: None for name in os.environ
             if name.startswith(("LABEL_STUDIO_", "OPENAI_", "ANNOTATOR_")) and name not in KEPT}
    return {**unset, "COLUMNS": "200", **(env or {})}


def run(*args: str, env: dict[str, str | None] | None = None, ok: bool = False, **kw) -> Result:
    """`annotator ARGS` in-process; with `ok`, it must exit 0. `kw` goes to CliRunner.invoke (e.g. `input`)."""
    result = CliRunner().invoke(cli, list(args), env=clean_env(env), catch_exceptions=False, **kw)
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def run_json(*args: str, env: dict[str, str | None] | None = None) -> dict:
    """`annotator ARGS --json` in-process, which must exit 0: its report."""
    return json.loads(run(*args, "--json", env=env, ok=True).stdout)


def assert_one_error_line(result: Result, exit_code: int, starts: str) -> None:
    """The command failed with `exit_code` and one line `Error: <starts>...`, no traceback."""
    assert result.exit_code == exit_code
    assert result.stderr.startswith(f"Error: {starts}"), result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert isinstance(result.exception, SystemExit)


def run_child(*args: str, env: dict, **kw) -> subprocess.CompletedProcess:
    """`python -m annotator ARGS` in its own process with exactly `env`."""
    return subprocess.run([sys.executable, "-m", "annotator", *args], env=env, capture_output=True,
                          text=True, timeout=120, **kw)


def child_env(tmp_path: Path, stub: StubLLM | None = None) -> dict:
    """The environment of a child run against `stub`, with the sample article ingested."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANNOTATOR_", "LABEL_STUDIO_"))}
    env.update(ANNOTATOR_DB=str(tmp_path / "cli.db"), ANNOTATOR_HOME=str(tmp_path / "home"),
               ANNOTATOR_MODEL="stub", OPENAI_API_KEY="test-key")
    if stub is not None:
        env["OPENAI_BASE_URL"] = stub.base_url
    assert run_child("ingest", ARTICLE, env=env).returncode == 0
    return env
