"""The managed Label Studio on PostgreSQL: a real PostgreSQL server (`postgres`) and real Label Studio servers.

The first tests need neither: they check the database URL, the remembered database and the errors
that come before any server starts.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from annotator.errors import InputError, ServiceError
from annotator.services.labelstudio import LabelStudioServer
from annotator.services.labelstudio_db import PostgresDatabase
from annotator.services.procs import free_port
from annotator.settings import write_secret_file

SECRET = "s3cr:et/pw@x"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "annotator", "labelstudio", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def home_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANNOTATOR_LABELSTUDIO_DATABASE", "COLUMNS")}
    return {**env, "ANNOTATOR_HOME": str(home), "COLUMNS": "400", **extra}


def password_of(url: str) -> str:
    return PostgresDatabase.parse(url).password


def assert_hidden(password: str, *texts: str) -> None:
    for text in texts:
        assert password not in text and quote(password, safe="") not in text


# --------------------------------------------------------------------------- no server needed


def test_a_url_is_read_into_label_studios_settings_and_printed_without_its_password():
    db = PostgresDatabase.parse(f"postgresql://ann%40x:{quote(SECRET, safe='')}@db.example:6543/ls_db")
    assert (db.user, db.password, db.host, db.port, db.name) == ("ann@x", SECRET, "db.example", 6543, "ls_db")
    assert db.label == "postgresql://ann%40x@db.example:6543/ls_db"
    assert db.env() == {"DJANGO_DB": "default", "POSTGRE_NAME": "ls_db", "POSTGRE_USER": "ann@x",
                        "POSTGRE_PASSWORD": SECRET, "POSTGRE_HOST": "db.example", "POSTGRE_PORT": "6543"}
    assert PostgresDatabase.parse(db.url) == db and SECRET not in repr(db)
    assert PostgresDatabase.parse("postgres://u@[::1]/d").label == "postgresql://u@[::1]:5432/d"


@pytest.mark.parametrize("url, problem", [
    ("u:pw@host/db", "is not a URL"),
    ("mysql://u:pw@host/db", "is not a PostgreSQL URL (it starts with mysql://)"),
    ("postgresql://u:pw@host:notaport/db", "has an invalid host or port"),
    ("postgresql://u:pw@/db", "names no host"),
    ("postgresql://:pw@host/db", "names no user"),
    ("postgresql://u:pw@host/", "names no database"),
    ("postgresql://u:pw@host/db?sslmode=require", "takes no query parameters"),
])
def test_a_bad_url_is_one_line_that_never_repeats_it(url, problem):
    with pytest.raises(InputError) as caught:
        PostgresDatabase.parse(url)
    message = str(caught.value)
    assert problem in message and "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in message
    assert "pw" not in message.replace("PASSWORD", "") and "\n" not in message


@pytest.mark.process
def test_the_cli_says_a_bad_url_in_one_line(tmp_path):
    done = cli(home_env(tmp_path), "start", "--database", f"postgresql://u:{SECRET}@host:99999/db")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("Error: the Label Studio database (--database or ANNOTATOR_LABELSTUDIO_DATABASE) "
                                  "has an invalid host or port;")
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
    assert_hidden(SECRET, done.stderr)


@pytest.mark.process
def test_an_unreachable_database_is_one_line_naming_host_and_port_before_label_studio_starts(tmp_path):
    port = free_port()  # nothing listens there
    env = home_env(tmp_path, ANNOTATOR_LABELSTUDIO_DATABASE=f"postgresql://ls:{quote(SECRET, safe='')}@127.0.0.1:{port}/ls")
    done = cli(env, "start")
    assert done.returncode == 1
    assert done.stderr.startswith(f"Error: cannot reach PostgreSQL at 127.0.0.1:{port} for Label Studio "
                                  f"(Connection refused); start it, or correct the host and port")
    assert len(done.stderr.strip().splitlines()) == 1
    assert_hidden(SECRET, done.stdout, done.stderr)
    assert not (tmp_path / "labelstudio" / "state.json").exists()  # no Label Studio process was started
    assert not (tmp_path / "labelstudio-venv").exists()  # nor its environment installed


@pytest.mark.process
def test_a_data_dir_that_ran_on_sqlite_refuses_a_postgresql_database_naming_both(tmp_path):
    data = tmp_path / "labelstudio" / "data"
    data.mkdir(parents=True)
    (data / "label_studio.sqlite3").write_bytes(b"")  # what a start on SQLite leaves in the data dir
    env = home_env(tmp_path)
    done = cli(env, "start", "--database", f"postgresql://ls:{quote(SECRET, safe='')}@127.0.0.1:5432/ls")
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith(f"Error: the Label Studio data dir {data} runs on sqlite "
                                  f"({data / 'label_studio.sqlite3'}), not postgresql://ls@127.0.0.1:5432/ls;")
    assert f"move {data} aside" in done.stderr
    assert_hidden(SECRET, done.stderr)
    status = cli(env, "status")
    assert status.stdout == f"not running\n  database: sqlite ({data / 'label_studio.sqlite3'})\n"


# --------------------------------------------------------------------------- a real PostgreSQL


def latest_run(log_path: Path) -> str:
    text = log_path.read_text(errors="replace")
    return text[text.rfind("\n===== "):]


@pytest.mark.postgres
@pytest.mark.labelstudio
def test_label_studio_on_postgresql_keeps_a_project_made_through_the_api_in_its_project_table(
        labelstudio_pg, labelstudio_pg_url, postgres):
    title = f"pg {uuid.uuid4().hex[:8]}"
    response = httpx.post(f"{labelstudio_pg.url}/api/projects", json={"title": title},
                          headers={"Authorization": f"Token {labelstudio_pg.token}"}, timeout=60)
    assert response.status_code == 201, response.text
    db = PostgresDatabase.parse(labelstudio_pg_url)
    rows = postgres.sql(f"SELECT id, title FROM project WHERE title = '{title}'", database=db.name,
                        user=db.user, password=db.password)
    assert rows == [[str(response.json()["id"]), title]]
    assert labelstudio_pg.database == f"postgresql://ls_user@127.0.0.1:{postgres.port}/labelstudio"
    assert_hidden(db.password, Path(labelstudio_pg.log_path).read_text(errors="replace"))


def cli_home(tmp_path: Path, labelstudio_pg) -> Path:
    """A home for the CLI that shares the installed environment and the admin login of `labelstudio_pg`."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "labelstudio-venv").symlink_to(LabelStudioServer().venv_dir)
    write_secret_file(home / "config" / "labelstudio.json", json.dumps(
        {"email": labelstudio_pg.email, "password": labelstudio_pg.password, "token": labelstudio_pg.token}))
    return home


@pytest.mark.postgres
@pytest.mark.labelstudio
def test_the_cli_starts_on_the_database_it_is_given_remembers_it_and_never_prints_its_password(
        tmp_path, labelstudio_pg, labelstudio_pg_url, postgres):
    home = cli_home(tmp_path, labelstudio_pg)
    password, label = password_of(labelstudio_pg_url), f"postgresql://ls_user@127.0.0.1:{postgres.port}/labelstudio"
    env = home_env(home)
    outputs = []
    try:
        started = cli(home_env(home, ANNOTATOR_LABELSTUDIO_DATABASE=labelstudio_pg_url), "start")
        outputs.append(started.stdout + started.stderr)
        assert started.returncode == 0, started.stderr
        assert f"  database: {label}\n" in started.stdout
        record = home / "labelstudio" / "database.json"
        assert stat.S_IMODE(record.stat().st_mode) == 0o600

        status = cli(env, "status")  # no database given: the remembered one
        outputs.append(status.stdout + status.stderr)
        assert status.returncode == 0 and f"  database: {label}\n" in status.stdout

        other = postgres.create_database("other", "ls_user", password)
        refused = cli(env, "start", "--database", other)
        outputs.append(refused.stdout + refused.stderr)
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
        assert refused.stderr.startswith(
            f"Error: the Label Studio data dir {home / 'labelstudio' / 'data'} runs on {label}, "
            f"not postgresql://ls_user@127.0.0.1:{postgres.port}/other;")

        assert cli(env, "stop").stdout == "stopped\n"
        stopped = cli(env, "status")
        outputs.append(stopped.stdout)
        assert stopped.stdout == f"not running\n  database: {label}\n"
        again = cli(env, "start")  # the remembered database, and the data it holds
        outputs.append(again.stdout + again.stderr)
        assert again.returncode == 0 and f"  database: {label}\n" in again.stdout
        assert not (home / "labelstudio" / "data" / "label_studio.sqlite3").exists()
    finally:
        cli(env, "stop")
    assert_hidden(password, *outputs, (home / "logs" / "labelstudio.log").read_text(errors="replace"))


@pytest.mark.postgres
def test_a_wrong_password_or_database_name_is_one_line_before_label_studio_starts(tmp_path, postgres,
                                                                                  labelstudio_pg_url):
    db = PostgresDatabase.parse(labelstudio_pg_url)
    wrong = f"postgresql://ls_user:{quote(SECRET, safe='')}@127.0.0.1:{postgres.port}/labelstudio"
    missing = f"postgresql://ls_user:{quote(db.password, safe='')}@127.0.0.1:{postgres.port}/nothing_here"
    for url, reason in ((wrong, 'password authentication failed for user "ls_user"'),
                        (missing, 'database "nothing_here" does not exist')):
        server = LabelStudioServer(base_dir=tmp_path / uuid.uuid4().hex[:6], database=url)
        with pytest.raises(ServiceError) as caught:
            server.start()
        message = str(caught.value)
        assert message.startswith(f"PostgreSQL at 127.0.0.1:{postgres.port} refused Label Studio's login (")
        assert reason in message and "\n" not in message
        assert_hidden(SECRET, message)
        assert_hidden(db.password, message)
        assert not server.state_file.exists() and not (server.base_dir / "database.json").exists()


@pytest.mark.postgres
@pytest.mark.labelstudio
def test_a_database_label_studio_may_not_create_tables_in_fails_in_one_line_and_sends_no_crash_report(
        tmp_path, postgres):
    password = "weak " + uuid.uuid4().hex[:8]
    url = postgres.create_database("not_mine", "weak_user", password, own=False)
    server = LabelStudioServer(base_dir=tmp_path / "ls", database=url)
    with pytest.raises(ServiceError) as caught:
        server.start()
    message = str(caught.value)
    assert message.startswith("Label Studio exited") and "permission denied for schema public" in message
    assert "\n" not in message
    run = latest_run(server.log_path)
    assert_hidden(password, message, run)
    assert "sentry" not in run.lower()  # the crash, with its database settings, goes nowhere
    assert not (server.base_dir / "database.json").exists()


def collected(*args: str, files: tuple[str, ...] = ("test_ls_roundtrip.py", "test_serve.py", "test_page_browser.py")):
    done = subprocess.run([sys.executable, "-m", "pytest", *[f"tests/{name}" for name in files], "--collect-only",
                           "-q", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=Path(__file__).parent.parent, timeout=300)
    assert done.returncode in (0, 5), done.stdout + done.stderr  # 5: every test deselected
    return [line for line in done.stdout.splitlines() if "::" in line]


@pytest.mark.postgres
def test_the_round_trip_serve_and_page_tests_run_on_both_databases_and_a_plain_run_needs_no_postgresql():
    on_sqlite = [item for item in collected("-m", "labelstudio") if item.endswith("[sqlite]")]
    assert {item.split("::")[0] for item in on_sqlite} == {
        "tests/test_ls_roundtrip.py", "tests/test_serve.py", "tests/test_page_browser.py"}
    assert collected("-m", "postgres") == [item.replace("[sqlite]", "[postgresql]") for item in on_sqlite]
    plain = collected(files=("test_labelstudio_pg.py",))  # a plain `pytest`: no PostgreSQL needed
    needs_postgresql = ("project_table", "the_cli_starts", "wrong_password", "create_tables", "both_databases")
    # The URL reading (1) and bad URLs (7 cases); the CLI ones run a child process and need --all.
    assert len(plain) == 8 and not [item for item in plain if any(name in item for name in needs_postgresql)]
