"""A service's own virtual environment, installed from a lock shipped with the package.

Each managed service has a constraints file (``constraints/<slug>.txt``): every package
of its environment pinned to versions tested together, passed to ``pip install -c``, so
an upstream release cannot change what a new machine gets. ``drift`` says how an
installed environment differs from its lock; ``ensure_venv(recreate=True)`` re-creates
one that does. pip's output goes to ``home()/"logs"/"<venv name>-install.log"``; a lock
file next to the venv makes concurrent callers wait for each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import ServiceError
from .procs import RUN_MARKER, logs_dir

# Packages a new venv brings itself (seeded by ensurepip), never pinned.
SEED_PACKAGES = frozenset({"pip", "setuptools", "wheel", "distribute"})

_LIST_INSTALLED = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}))"
)


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


# --------------------------------------------------------------------------- the lock (pure)


def canonical_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> dict[str, str]:
    """``name==version`` lines of a constraints file, by canonical name (comments skipped)."""
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise ValueError(f"lock line {raw!r} is not name==version")
        pins[canonical_name(name)] = version.split(";", 1)[0].strip()
    return pins


def compare(pins: dict[str, str], installed: dict[str, str]) -> list[str]:
    """How an environment differs from its lock, one phrase a package (empty: it matches)."""
    have = {canonical_name(k): v for k, v in installed.items()}
    found = []
    for name, version in sorted(pins.items()):
        if name not in have:
            found.append(f"{name} missing (lock {version})")
        elif have[name] != version:
            found.append(f"{name} {have[name]} (lock {version})")
    for name in sorted(set(have) - set(pins) - SEED_PACKAGES):
        found.append(f"{name} {have[name]} (not in the lock)")
    return found


def summarize(differences: list[str], shown: int = 3) -> str:
    """The first differences, then how many more."""
    head = "; ".join(differences[:shown])
    more = len(differences) - shown
    return f"{head}; and {more} more" if more > 0 else head


# --------------------------------------------------------------------------- the venv (edge)


def installed_versions(venv: Path) -> dict[str, str]:
    """Every distribution installed in <venv>, asked of its own Python."""
    try:
        done = subprocess.run(
            [str(venv_python(venv)), "-c", _LIST_INSTALLED],
            capture_output=True, text=True, timeout=120, env=_clean_env(),
        )
        return json.loads(done.stdout) if done.returncode == 0 else {}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}


def drift(venv: Path, lock_file: Path | None) -> list[str]:
    """How the installed <venv> differs from <lock_file> (empty when it matches or there is no lock)."""
    if lock_file is None or not venv_python(venv).exists():
        return []
    return compare(parse_lock(lock_file.read_text()), installed_versions(venv))


def ensure_venv(
    path: Path,
    requirements: list[list[str]],
    check: str,
    progress: Callable[[str], None] | None = None,
    lock_file: Path | None = None,
    recreate: bool = False,
) -> Path:
    """Create the virtual environment <path> and pip-install into it, once.

    ``requirements`` is a list of ``pip install`` argument lists run in order, each
    constrained by ``lock_file`` (``pip install -c``) when given. Nothing happens if
    ``check`` (a path or glob relative to the venv, or an absolute path) already exists,
    unless ``recreate`` is set and the environment differs from its lock: then it is
    installed anew beside the old one, which replaces it only once the new one is
    complete. Concurrent callers wait for each other.
    """
    path = Path(path)
    if _check_exists(path, check) and not recreate:
        return path
    say = progress or (lambda _msg: None)
    log_path = logs_dir() / f"{path.name}-install.log"
    with _file_lock(path.parent / f".{path.name}.lock"):
        if _check_exists(path, check):
            differences = drift(path, lock_file) if recreate else []
            if not differences:
                return path
            say(f"{path} differs from its lock ({summarize(differences)}): installing it anew")
            _refuse_if_in_use(path)
            old = path.with_name(path.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            try:
                _install(path, requirements, check, lock_file, log_path, say)
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                old.rename(path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            _install(path, requirements, check, lock_file, log_path, say)
        say(f"installed {path}")
    return path


def _install(
    path: Path,
    requirements: list[list[str]],
    check: str,
    lock_file: Path | None,
    log_path: Path,
    say: Callable[[str], None],
) -> None:
    steps: list[tuple[list[str], str]] = []
    if not venv_python(path).exists():
        steps.append(([sys.executable, "-m", "venv", str(path)], ""))
    pinned = ["-c", str(lock_file)] if lock_file is not None else []
    for args in requirements:
        steps.append(([str(venv_python(path)), "-m", "pip", "install", *pinned, *args], " ".join(args)))
    _run_steps(path, steps, log_path, say)
    if not _check_exists(path, check):
        raise ServiceError(
            f"{path} was installed but {check} is missing; read {log_path}, "
            f"delete {path} and retry"
        )


def _refuse_if_in_use(path: Path) -> None:
    """A venv a running process uses is never replaced under it."""
    marker = str(path).encode() + b"/"
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if marker in (proc / "cmdline").read_bytes().replace(b"\0", b" "):
                raise ServiceError(
                    f"process {proc.name} runs from {path}; stop it (`annotator labelstudio stop`, "
                    f"`annotator llm stop`) and run the install again"
                )


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}


def _run_steps(
    path: Path, steps: list[tuple[list[str], str]], log_path: Path, say: Callable[[str], None]
) -> None:
    """Run the install commands (command, what it installs) in order, output appended to <log_path>."""
    env = _clean_env()
    with open(log_path, "ab") as log:
        for i, (cmd, what) in enumerate(steps, 1):
            if what:
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
