"""Integration tests of the managed local services against the real servers (no mocks)."""

from __future__ import annotations

import json
import os
import stat
import time

import httpx
import openai
import pytest
from label_studio_sdk import LabelStudio

from annotator.services.labelstudio import LabelStudioServer
from annotator.services.llamacpp import LocalLLMServer
from annotator.services.procs import pid_alive

SMALL_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "count": {"type": "integer"}},
    "required": ["city", "count"],
}
MESSAGES = [
    {"role": "user", "content": "Three people live in Paris. Answer in JSON with city and count."}
]


# --------------------------------------------------------------------------- Label Studio


@pytest.mark.labelstudio
def test_labelstudio_lifecycle(tmp_path):
    """Start on a new data dir, reuse, stop, restart: the token works throughout."""
    base = tmp_path / "ls"
    server = LabelStudioServer(base_dir=base)
    t0 = time.monotonic()
    info = server.start()
    print(f"Label Studio first start on a new data dir: {time.monotonic() - t0:.1f} s")
    try:
        assert info.url == f"http://127.0.0.1:{info.port}"
        assert pid_alive(info.pid)
        assert stat.S_IMODE(os.stat(server.credentials_file).st_mode) == 0o600
        assert server.credentials_file == base / "credentials.json"
        assert info.token not in repr(info) and info.password not in repr(info)
        assert len(info.token) == 40 and info.email == "admin@annotator.local"

        # A second server object on the same base dir reuses the running process.
        again = LabelStudioServer(base_dir=base).start()
        assert again.pid == info.pid and again.port == info.port
        assert again.token == info.token
        assert server.status() is not None

        assert server.stop() is True
        assert server.status() is None
        assert not pid_alive(info.pid)

        # Restart on the existing data dir: same credentials, the token still works.
        t0 = time.monotonic()
        restarted = server.start()
        print(f"Label Studio restart on an existing data dir: {time.monotonic() - t0:.1f} s")
        assert restarted.pid != info.pid
        assert restarted.token == info.token
        client = LabelStudio(base_url=restarted.url, api_key=restarted.token)
        assert client.users.whoami().email == info.email
    finally:
        server.stop()
    assert server.status() is None


@pytest.mark.labelstudio
def test_labelstudio_token_lists_projects(labelstudio):
    client = LabelStudio(base_url=labelstudio.url, api_key=labelstudio.token)
    projects = list(client.projects.list())
    assert isinstance(projects, list)
    response = httpx.get(
        f"{labelstudio.url}/api/projects",
        headers={"Authorization": f"Token {labelstudio.token}"},
        timeout=30,
    )
    assert response.status_code == 200


# --------------------------------------------------------------------------- llama.cpp


def _client(info) -> openai.OpenAI:
    return openai.OpenAI(base_url=info.url, api_key="local", max_retries=0, timeout=120)


@pytest.mark.llamacpp
def test_llama_lists_model(llama_server):
    assert llama_server.url.endswith("/v1")
    models = httpx.get(f"{llama_server.url}/models", timeout=30).json()
    assert "smollm2" in [m["id"] for m in models["data"]]
    assert llama_server.model == "smollm2"


@pytest.mark.llamacpp
def test_llama_start_reuses_running_server(llama_server):
    server = LocalLLMServer()
    assert server.start().pid == llama_server.pid
    status = server.status()
    assert status is not None and status.pid == llama_server.pid
    assert server.model_path().name.endswith(".gguf")


@pytest.mark.llamacpp
def test_llama_json_object_with_schema(llama_server):
    response = _client(llama_server).chat.completions.create(
        model=llama_server.model,
        messages=MESSAGES,
        response_format={"type": "json_object", "schema": SMALL_SCHEMA},
        max_tokens=64,
        temperature=0,
    )
    data = json.loads(response.choices[0].message.content)
    assert isinstance(data["city"], str)
    assert isinstance(data["count"], int)


@pytest.mark.llamacpp
def test_llama_rejects_json_schema(llama_server):
    """llama-cpp-python's server only knows "text" and "json_object".

    Measured on 0.3.36: it answers HTTP 500 (not 4xx) with a pydantic literal_error,
    so a client must not treat this 500 as a transient server fault worth retrying.
    """
    with pytest.raises(openai.APIStatusError) as caught:
        _client(llama_server).chat.completions.create(
            model=llama_server.model,
            messages=MESSAGES,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": SMALL_SCHEMA},
            },
            max_tokens=16,
        )
    assert caught.value.status_code == 500
    assert "Input should be 'text' or 'json_object'" in str(caught.value)
