"""`annotator connect` and the webhooks of `annotator serve` against a real Label Studio (no mocks).

Runs its own `annotator serve --register` (the `live` fixture of test_serve.py) on a project of
the session's Label Studio.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_serve  # noqa: E402
from test_serve import SCHEMA, XML  # noqa: E402

live, stub = test_serve.live, test_serve.stub  # the fixtures: a project served by `annotator serve --register`


def connect_cli(serve, project: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotator", "connect", "--project", project,
                           "--url", serve.env["LABEL_STUDIO_URL"], "--backend-url", serve.url,
                           "--db", str(serve.db_file)], env=serve.env, capture_output=True, text=True, timeout=60)


def titles(ls) -> list[str]:
    return sorted(p.title for p in ls.projects.list(page_size=1000))


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [" ".join(line.split()) for line in done.stderr.splitlines() if line.startswith("Error:")]


@pytest.mark.labelstudio
def test_connect_with_a_mistyped_project_creates_nothing_and_names_the_project_serve_serves(live):
    serve, ls, pid, _ = live
    before = titles(ls)
    done = connect_cli(serve, serve.project + "x")
    assert done.returncode != 0
    (line,) = error_lines(done)
    print(line)
    assert f"no project '{serve.project}x'" in line and f"serves project '{serve.project}'" in line, done.stderr
    assert "could not call" not in line and "Traceback" not in done.stderr
    assert titles(ls) == before  # no stray project
    # Another project that exists: serve refuses it, and nothing is added to it.
    other = ls.projects.create(title=f"other {serve.project}", label_config=XML)
    try:
        done = connect_cli(serve, other.title)
        assert done.returncode != 0
        (line,) = error_lines(done)
        print(line)
        assert f"serves project '{serve.project}'" in line and "could not call" not in line, done.stderr
        assert list(ls.ml.list(project=other.id)) == []
        assert [h for h in ls.webhooks.list(project=str(other.id)) if h.project == other.id] == []
    finally:
        ls.projects.delete(id=other.id)
    assert SCHEMA.name == "news_events"
