"""Shared pytest fixtures, and which tests a plain `pytest` runs.

A plain `pytest` runs the quick in-process tests only. Tests that need a real Label
Studio, the llama.cpp server, Chromium, PostgreSQL or the package index, run a child
process, or wait on real time carry a marker (a test that uses the
`labelstudio` or `llama_server` fixture gets its marker here) and run with `--all`,
which `make test` passes, or when chosen with `-m`.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlparse

import pytest

from annotator.services.labelstudio import LabelStudioServer, ServerInfo
from annotator.services.llamacpp import LocalLLMServer

SERVICE_MARKERS = ("labelstudio", "llamacpp", "browser", "install", "postgres", "process", "slow")
FIXTURE_MARKERS = {"labelstudio": "labelstudio", "labelstudio_sqlite": "labelstudio", "labelstudio_pg": "postgres",
                   "postgres": "postgres", "llama_server": "llamacpp"}


@pytest.fixture(autouse=True)
def _loggers_as_they_were():
    """A command run in-process (serve sets up its own log lines) leaves the loggers as it found them."""
    import logging

    logger = logging.getLogger("annotator.backend")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def pytest_addoption(parser):
    parser.addoption(
        "--all", action="store_true",
        help="also run the tests that need Label Studio, llama.cpp, Chromium or the package index "
             "(make test passes it)",
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
    if config.getoption("--all") or config.getoption("markexpr"):
        return
    kept, left = [], []
    for item in items:
        (left if any(item.get_closest_marker(m) for m in SERVICE_MARKERS) else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


@pytest.fixture(scope="session")
def labelstudio(request):
    """A Label Studio server for the session (ServerInfo: url, token, email, password...).

    On SQLite (`labelstudio_sqlite`), or on PostgreSQL (`labelstudio_pg`) for the modules of
    POSTGRES_TOO, which run on both. Each server starts once for the whole session.
    """
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("labelstudio_pg")
    return request.getfixturevalue("labelstudio_sqlite")


@pytest.fixture(scope="session")
def labelstudio_sqlite(tmp_path_factory):
    """A Label Studio server on SQLite for the session (ServerInfo: url, token, email, password...).

    Uses LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY when both are set; otherwise starts a
    managed server on a fresh data dir (so the legacy token works) and stops it at the end.
    """
    url = os.environ.get("LABEL_STUDIO_URL")
    key = os.environ.get("LABEL_STUDIO_API_KEY")
    if url and key:
        yield ServerInfo(
            url=url.rstrip("/"),
            email=os.environ.get("LABEL_STUDIO_EMAIL", ""),
            password=os.environ.get("LABEL_STUDIO_PASSWORD", ""),
            token=key,
            port=urlparse(url).port,
        )
        return
    server = LabelStudioServer(base_dir=tmp_path_factory.mktemp("ls"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def llama_server():
    """The local llama.cpp server (LocalLLMInfo: url ending in /v1, model "smollm2").

    Uses the default location so the venv is built once and reused; installs it if
    missing. Stops the server at the end only if this fixture started it.
    """
    server = LocalLLMServer()
    already_running = server.status() is not None
    info = server.start()
    try:
        yield info
    finally:
        if not already_running:
            server.stop()


# --------------------------------------------------------------------------- PostgreSQL

POSTGRES_TOO = ("test_ls_roundtrip.py", "test_serve.py", "test_page_browser.py",
               "test_overlap.py")  # also run on PostgreSQL (the labeling queue locks tasks there)


def pytest_generate_tests(metafunc):
    """The tests of POSTGRES_TOO that use `labelstudio` run once per database: [sqlite] and [postgresql]."""
    if "labelstudio" in metafunc.fixturenames and metafunc.definition.path.name in POSTGRES_TOO:
        metafunc.parametrize(
            "labelstudio", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
        )


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for the session on a free loopback port (tests/support/pg_cluster.py), stopped at the end."""
    from tests.support.pg_cluster import PostgresCluster

    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def labelstudio_pg_url(postgres) -> str:
    """The URL (with its password) of the database `labelstudio_pg` runs on."""
    return postgres.create_database("labelstudio", "ls_user", "pg pass:" + secrets.token_hex(8))


@pytest.fixture(scope="session")
def labelstudio_pg(tmp_path_factory, labelstudio_pg_url):
    """A managed Label Studio on the `postgres` server for the session (ServerInfo, base dir in tmp).

    At the end its log, written by every test that used it, must not hold the database password.
    """
    server = LabelStudioServer(base_dir=tmp_path_factory.mktemp("ls-pg"), database=labelstudio_pg_url)
    try:
        yield server.start()
    finally:
        server.stop()
    password = server.wanted_database.password
    assert password not in server.log_path.read_text(errors="replace"), f"{server.log_path} holds the password"
