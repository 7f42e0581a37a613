"""Shared machinery for the local services the tool manages (Label Studio, llama.cpp).

Each service runs as a subprocess from its own virtual environment, in its own
session (process group), with stdout/stderr in a log file under ``home()/"logs"``.
A small JSON state file (pid, port, url, log path) lets a later call reuse, inspect
or stop the running process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx

from .config import home
from .errors import ServiceError

Progress = Callable[[str], None]

LOG_TAIL_LINES = 15
_RUN_MARKER = "===== "  # starts the header line written before each run in a log


# --------------------------------------------------------------------------- ports, pids


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """True if 127.0.0.1:<port> can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _reap(pid: int) -> None:
    """Collect an exited child of this process so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def pid_alive(pid: int | None, cmd_contains: str | None = None) -> bool:
    """True if process <pid> runs (zombies count as dead).

    With ``cmd_contains``, the process's command line must also contain that text,
    which guards against a recycled pid (checked where /proc exists).
    """
    if not pid or pid <= 1:
        return False
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    proc_dir = Path("/proc") / str(pid)
    if proc_dir.is_dir():
        try:
            stat = (proc_dir / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
            if cmd_contains is not None:
                cmdline = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ")
                return cmd_contains.encode() in cmdline
        except (OSError, IndexError):
            return False
    return True


def stop_pid(pid: int | None, grace: float = 15.0) -> bool:
    """Stop process <pid> and its process group: SIGTERM, then SIGKILL after ``grace`` s.

    Returns True if a running process was stopped.
    """
    if not pid_alive(pid):
        return False
    assert pid is not None
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            break
        time.sleep(0.2)
    else:
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    # Children that ignored SIGTERM after their leader exited.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        if pgid == pid:  # started with start_new_session=True: it leads its own group
            os.killpg(pgid, sig)
        else:  # never signal a group we may belong to ourselves
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------- logs, http


def logs_dir() -> Path:
    path = home() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_tail(path: Path | str | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last non-empty lines of a log file joined into one line ('' if unreadable)."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    marker = text.rfind("\n" + _RUN_MARKER)  # only the latest run's lines
    if marker >= 0:
        text = text[marker + 1 :]
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def _with_tail(message: str, log_path: Path | str | None) -> str:
    tail = log_tail(log_path)
    return f"{message}; last log lines: {tail}" if tail else message


def wait_http(
    url: str,
    timeout: float,
    proc: subprocess.Popen | int | None = None,
    *,
    log_path: Path | str | None = None,
    name: str = "the service",
    headers: dict[str, str] | None = None,
) -> float:
    """Poll GET <url> until it answers 200; return the seconds waited.

    Fails fast if ``proc`` (a Popen or a pid) exits first. Errors name the log file
    and quote its last lines.
    """
    start = time.monotonic()
    deadline = start + timeout
    last = "no answer"
    with httpx.Client(timeout=5.0, headers=headers) as client:
        while True:
            exited = _exit_status(proc)
            if exited is not None:
                raise ServiceError(
                    _with_tail(
                        f"{name} exited ({exited}) before {url} answered; "
                        f"read the log {log_path} for the cause",
                        log_path,
                    )
                )
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return time.monotonic() - start
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if time.monotonic() >= deadline:
                raise ServiceError(
                    _with_tail(
                        f"{name} did not answer {url} with 200 within {timeout:.0f} s "
                        f"(last: {last}); read the log {log_path}, or stop it and start again",
                        log_path,
                    )
                )
            time.sleep(0.5)


def _exit_status(proc: subprocess.Popen | int | None) -> str | None:
    if proc is None:
        return None
    if isinstance(proc, int):
        return None if pid_alive(proc) else "gone"
    code = proc.poll()
    return None if code is None else f"exit code {code}"


def http_ok(url: str, timeout: float = 3.0, headers: dict[str, str] | None = None) -> bool:
    """True if GET <url> answers 200 right now."""
    try:
        return httpx.get(url, timeout=timeout, headers=headers).status_code == 200
    except httpx.HTTPError:
        return False


def start_process(
    cmd: Sequence[str | os.PathLike],
    log_path: Path,
    env: dict[str, str],
    cwd: Path | None = None,
) -> subprocess.Popen:
    """Start <cmd> in its own session with stdout and stderr appended to <log_path>."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n{_RUN_MARKER}{time.strftime('%Y-%m-%d %H:%M:%S')} start {cmd[0]}\n".encode())
        log.flush()
        try:
            return subprocess.Popen(
                [str(c) for c in cmd],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise ServiceError(
                f"could not run {cmd[0]} ({exc.strerror}); reinstall its environment "
                f"by deleting {Path(cmd[0]).parent.parent} and starting again"
            ) from exc


# --------------------------------------------------------------------------- state file


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


# --------------------------------------------------------------------------- venvs


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_exists(venv: Path, check: str) -> bool:
    pattern = Path(check)
    if pattern.is_absolute():
        return pattern.exists()
    if any(ch in check for ch in "*?["):
        return any(venv.glob(check))
    return (venv / check).exists()


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(
    path: Path,
    requirements: list[list[str]],
    check: str,
    progress: Progress | None = None,
) -> Path:
    """Create the virtual environment <path> and pip-install into it, once.

    ``requirements`` is a list of ``pip install`` argument lists run in order.
    Nothing happens if ``check`` (a path or glob relative to the venv, or an
    absolute path) already exists. pip's output goes to ``logs/<venv name>-install.log``.
    Concurrent callers wait for each other.
    """
    path = Path(path)
    if _check_exists(path, check):
        return path
    say = progress or (lambda _msg: None)
    log_path = logs_dir() / f"{path.name}-install.log"
    with _file_lock(path.parent / f".{path.name}.lock"):
        if _check_exists(path, check):  # installed while we waited for the lock
            return path
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        steps: list[list[str]] = []
        if not venv_python(path).exists():
            steps.append([sys.executable, "-m", "venv", str(path)])
        for args in requirements:
            steps.append([str(venv_python(path)), "-m", "pip", "install", *args])
        with open(log_path, "ab") as log:
            for i, cmd in enumerate(steps, 1):
                if "install" in cmd:
                    what = " ".join(cmd[cmd.index("install") + 1 :])
                    say(f"[{i}/{len(steps)}] installing {what} into {path} (log: {log_path})")
                else:
                    what = "a virtual environment"
                    say(f"[{i}/{len(steps)}] creating {path} (log: {log_path})")
                log.write(
                    f"\n{_RUN_MARKER}{time.strftime('%Y-%m-%d %H:%M:%S')} $ {' '.join(cmd)}\n".encode()
                )
                log.flush()
                code = subprocess.call(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
                )
                if code != 0:
                    raise ServiceError(
                        f"installing {what} into {path} failed (exit code {code}); "
                        f"read {log_path}, fix the cause (network, compiler), then retry"
                    )
        if not _check_exists(path, check):
            raise ServiceError(
                f"{path} was installed but {check} is missing; read {log_path}, "
                f"delete {path} and retry"
            )
        say(f"installed {path}")
    return path


# --------------------------------------------------------------------------- managed service


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

    # subclasses -------------------------------------------------------------
    @property
    def venv_dir(self) -> Path:
        return home() / f"{self.slug}-venv"

    requirements: list[list[str]] = []
    install_check = "bin/python"

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

    def ensure_installed(self, progress: Progress | None = None) -> Path:
        """Install the service's virtual environment if it is missing; return its path."""
        return ensure_venv(self.venv_dir, self.requirements, self.install_check, progress)

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
        if self.port is not None:
            if not port_is_free(self.port):
                raise ServiceError(
                    f"port {self.port} for {self.name} is already in use; "
                    f"choose another port or leave it unset to pick a free one"
                )
            port = self.port
        else:
            port = free_port()
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
            except BaseException:
                stop_pid(proc.pid)
                ServiceState.clear(self.state_file)
                raise
        return state

    def stop(self) -> bool:
        """Stop the recorded process (whole process group). True if one was running."""
        state = ServiceState.load(self.state_file)
        stopped = False
        if state is not None and pid_alive(state.pid, cmd_contains=str(self.venv_dir)):
            stopped = stop_pid(state.pid)
        ServiceState.clear(self.state_file)
        return stopped


def base_env(extra_path: Path | None = None) -> dict[str, str]:
    """A clean environment for a service: PATH (venv bin first), HOME and LANG only."""
    path = os.environ.get("PATH", os.defpath)
    if extra_path is not None:
        path = f"{extra_path}{os.pathsep}{path}"
    return {
        "PATH": path,
        "HOME": os.environ.get("HOME") or str(Path.home()),
        "LANG": os.environ.get("LANG") or "C.UTF-8",
    }
