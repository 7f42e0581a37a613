"""A service's own virtual environment, created and pip-installed once.

pip's output goes to ``home()/"logs"/"<venv name>-install.log"``; a lock file next to
the venv makes concurrent callers wait for each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import ServiceError
from .procs import RUN_MARKER, logs_dir


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
    progress: Callable[[str], None] | None = None,
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
        steps: list[list[str]] = []
        if not venv_python(path).exists():
            steps.append([sys.executable, "-m", "venv", str(path)])
        for args in requirements:
            steps.append([str(venv_python(path)), "-m", "pip", "install", *args])
        _run_steps(path, steps, log_path, say)
        if not _check_exists(path, check):
            raise ServiceError(
                f"{path} was installed but {check} is missing; read {log_path}, "
                f"delete {path} and retry"
            )
        say(f"installed {path}")
    return path


def _run_steps(
    path: Path, steps: list[list[str]], log_path: Path, say: Callable[[str], None]
) -> None:
    """Run the install commands in order, output appended to <log_path>; stop at a failure."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    with open(log_path, "ab") as log:
        for i, cmd in enumerate(steps, 1):
            if "install" in cmd:
                what = " ".join(cmd[cmd.index("install") + 1 :])
                say(f"[{i}/{len(steps)}] installing {what} into {path} (log: {log_path})")
            else:
                what = "a virtual environment"
                say(f"[{i}/{len(steps)}] creating {path} (log: {log_path})")
            log.write(
                f"\n{RUN_MARKER}{time.strftime('%Y-%m-%d %H:%M:%S')} $ {' '.join(cmd)}\n".encode()
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
