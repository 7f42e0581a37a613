"""Shared pytest fixtures."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pytest

from annotator.services.labelstudio import LabelStudioServer, ServerInfo
from annotator.services.llamacpp import LocalLLMServer


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory):
    """A Label Studio server for the session (ServerInfo: url, token, email, password...).

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
