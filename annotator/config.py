"""Settings (flags, then environment, then defaults) and the tool's own directories."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DEFAULT_DB = "annotator.db"
DEFAULT_MODEL = "smollm2"


def db_path(flag: str | None = None) -> str:
    """Database path: flag, then ANNOTATOR_DB, then ./annotator.db."""
    return flag or os.environ.get("ANNOTATOR_DB") or DEFAULT_DB


def home() -> Path:
    """Directory for managed services (virtual environments, data, logs).

    ANNOTATOR_HOME overrides it, so tests and CI can keep everything in one place.
    """
    override = os.environ.get("ANNOTATOR_HOME")
    path = Path(override) if override else Path(platformdirs.user_data_dir("annotator"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Directory for generated credentials (files written with mode 600)."""
    override = os.environ.get("ANNOTATOR_HOME")
    path = Path(override) / "config" if override else Path(platformdirs.user_config_dir("annotator"))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_secret_file(path: Path, text: str) -> None:
    """Write a file readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
