"""The life cycle every managed service shares: install, start or reuse, status, stop.

A small JSON state file (pid, port, url, log path) lets a later call reuse, inspect
or stop the running process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from ..errors import ServiceError
from ..settings import home
from .procs import (
    free_port,
    http_ok,
    log_tail,
    logs_dir,
    pid_alive,
    port_is_free,
    start_process,
    stop_pid,
    wait_http,
)
from .venv import drift, ensure_venv, summarize

CONSTRAINTS_DIR = Path(__file__).with_name("constraints")

Progress = Callable[[str], None]


@dataclasses.dataclass
class ServiceState:
    """What a later call needs to find a running service again."""

    pid: int
    port: int
    url: str
    log_path: str

    @classmethod
    def load(cls, path: Path) -> ServiceState | None:
        try:
            data = json.loads(path.read_text())
            return cls(
                pid=int(data["pid"]),
                port=int(data["port"]),
                url=str(data["url"]),
                log_path=str(data["log_path"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        tmp.replace(path)

    @staticmethod
    def clear(path: Path) -> None:
        path.unlink(missing_ok=True)


class ManagedService:
    """Common life cycle of a local service: install, start or reuse, status, stop.

    Subclasses set the class attributes and implement ``_command`` and ``_env``.
    """

    name = "service"  # for messages
    slug = "service"  # for file names
    health_path = "/health"
    start_timeout = 60.0

    def __init__(self, base_dir: Path | None = None, port: int | None = None):
        self.default_location = base_dir is None
        self.base_dir = Path(base_dir) if base_dir is not None else home() / self.slug
        self.port = port
        self.drift_at_start: list[str] = []  # how the environment differed from its lock at the last start

    # subclasses -------------------------------------------------------------
    @property
    def venv_dir(self) -> Path:
        return home() / f"{self.slug}-venv"

    requirements: list[list[str]] = []
    install_check = "bin/python"
    cli_group = "service"  # `annotator <cli_group> install --upgrade` re-creates the environment

    def _command(self, port: int) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        raise NotImplementedError

    # common -----------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.base_dir / "state.json"

    @property
    def log_path(self) -> Path:
        if self.default_location:
            return logs_dir() / f"{self.slug}.log"
        digest = hashlib.sha1(str(self.base_dir.resolve()).encode()).hexdigest()[:8]
        return logs_dir() / f"{self.slug}-{digest}.log"

    @property
    def lock_file(self) -> Path:
        """The constraints file shipped with the package that pins every package of the environment."""
        return CONSTRAINTS_DIR / f"{self.slug}.txt"

    @property
    def upgrade_command(self) -> str:
        return f"annotator {self.cli_group} install --upgrade"

    def ensure_installed(self, progress: Progress | None = None, upgrade: bool = False) -> Path:
        """Install the service's virtual environment (``venv_dir``) from its lock if missing.

        With ``upgrade``, an environment that differs from the lock is re-created from it.
        """
        return ensure_venv(self.venv_dir, self.requirements, self.install_check, progress,
                           lock_file=self.lock_file, recreate=upgrade)

    def drift(self) -> list[str]:
        """How the installed environment differs from the lock (empty: it matches)."""
        return drift(self.venv_dir, self.lock_file)

    def stop(self) -> bool:
        """Stop the recorded process (whole process group). True if one was running."""
        state = ServiceState.load(self.state_file)
        stopped = False
        if state is not None and pid_alive(state.pid, cmd_contains=str(self.venv_dir)):
            stopped = stop_pid(state.pid)
        ServiceState.clear(self.state_file)
        return stopped

    # internals ----------------------------------------------------------------
    def _url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def _alive_state(self) -> ServiceState | None:
        state = ServiceState.load(self.state_file)
        if state is None:
            return None
        if not pid_alive(state.pid, cmd_contains=str(self.venv_dir)):
            ServiceState.clear(self.state_file)
            return None
        return state

    def _running(self) -> ServiceState | None:
        """The state of the recorded process if it runs and answers its health check."""
        state = self._alive_state()
        if state is not None and http_ok(state.url + self.health_path):
            return state
        return None

    def _launch(self, wait: bool = True, progress: Progress | None = None) -> ServiceState:
        """Reuse the recorded process if it is alive, else start a new one."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        state = self._alive_state()
        if state is not None:
            if wait:  # it may still be starting: wait for it rather than start a second one
                wait_http(
                    state.url + self.health_path,
                    self.start_timeout,
                    state.pid,
                    log_path=state.log_path,
                    name=self.name,
                )
            return state
        self.ensure_installed(progress)
        differences = self.drift_at_start = self.drift()
        port = self._pick_port()
        log_path = self.log_path
        proc = start_process(self._command(port), log_path, self._env(), cwd=self.base_dir)
        state = ServiceState(pid=proc.pid, port=port, url=self._url(port), log_path=str(log_path))
        state.save(self.state_file)
        if wait:
            try:
                wait_http(
                    state.url + self.health_path,
                    self.start_timeout,
                    proc,
                    log_path=log_path,
                    name=self.name,
                )
            except ServiceError as exc:
                stop_pid(proc.pid)
                ServiceState.clear(self.state_file)
                if not differences:
                    raise
                raise ServiceError(self._failed_start(log_path, differences)) from exc
            except BaseException:
                stop_pid(proc.pid)
                ServiceState.clear(self.state_file)
                raise
        return state

    def drift_hint(self, differences: list[str]) -> str:
        return (
            f"its environment {self.venv_dir} differs from the lock shipped with annotator "
            f"({summarize(differences)}): run `{self.upgrade_command}` to re-create it from the lock"
        )

    def _failed_start(self, log_path: Path, differences: list[str]) -> str:
        """One line for a start that failed in an environment that drifted from its lock."""
        tail = log_tail(log_path, lines=3)
        return (
            f"{self.name} did not start (read the log {log_path}); {self.drift_hint(differences)}"
            + (f"; last log lines: {tail}" if tail else "")
        )

    def _pick_port(self) -> int:
        """The configured port if it is free (else an error), or any free port."""
        if self.port is None:
            return free_port()
        if not port_is_free(self.port):
            raise ServiceError(
                f"port {self.port} for {self.name} is already in use; "
                f"choose another port or leave it unset to pick a free one"
            )
        return self.port
