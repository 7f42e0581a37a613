"""Processes of the managed services: ports, pids, start and stop, logs, HTTP polls.

Each service runs in its own session (process group), with stdout/stderr appended to
a log file under ``home()/"logs"``; each run starts with a header line in that log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from ..errors import ServiceError
from ..settings import home

LOG_TAIL_LINES = 15
RUN_MARKER = "===== "  # starts the header line written before each run in a log


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


def start_process(
    cmd: Sequence[str | os.PathLike],
    log_path: Path,
    env: dict[str, str],
    cwd: Path | None = None,
) -> subprocess.Popen:
    """Start <cmd> in its own session with stdout and stderr appended to <log_path>."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n{RUN_MARKER}{time.strftime('%Y-%m-%d %H:%M:%S')} start {cmd[0]}\n".encode())
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
    marker = text.rfind("\n" + RUN_MARKER)  # only the latest run's lines
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
