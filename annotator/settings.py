"""Settings in one place: flags, then environment, then defaults; the tool's own directories.

Every command resolves what it needs here (database, LLM server, Label Studio
server), so the order "flag, environment, default" and the names of the
environment variables are written once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import platformdirs

DEFAULT_DB = "annotator.db"
DEFAULT_SCHEMA = "news_events"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_URL = "https://api.openai.com/v1"

ENV_DB = "ANNOTATOR_DB"
ENV_MODEL = "ANNOTATOR_MODEL"
ENV_HOME = "ANNOTATOR_HOME"
ENV_OPENAI_KEY = "OPENAI_API_KEY"
ENV_OPENAI_URL = "OPENAI_BASE_URL"
ENV_LS_URL = "LABEL_STUDIO_URL"
ENV_LS_KEY = "LABEL_STUDIO_API_KEY"
ENV_LS_DATABASE = "ANNOTATOR_LABELSTUDIO_DATABASE"


def env(name: str) -> str | None:
    """An environment variable, with empty values treated as unset."""
    value = os.environ.get(name)
    return value if value else None


def first(*values: str | None) -> str | None:
    """The first value that is set: flag, then environment, then default."""
    return next((v for v in values if v), None)


def db_path(flag: str | None = None) -> str:
    """Database path: flag, then ANNOTATOR_DB, then ./annotator.db."""
    return first(flag, env(ENV_DB), DEFAULT_DB)  # type: ignore[return-value]


def busy_timeout() -> float:
    """Seconds a command waits for another one's write to the database: ANNOTATOR_BUSY_TIMEOUT, else 30."""
    value = env("ANNOTATOR_BUSY_TIMEOUT")
    try:
        return max(0.0, float(value)) if value else 30.0
    except ValueError:
        return 30.0


def redact_url(url: str | None) -> str:
    """A URL safe to print: user name and password removed."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class LLMSettings:
    """Where the LLM is and what it is called; `api_key` is never stored or printed."""

    base_url: str | None = field(repr=False)  # may hold credentials: `server` is the printable form
    api_key: str | None = field(repr=False)
    model: str | None

    @property
    def server(self) -> str:
        """The server's identity as stored with drafts (no credentials)."""
        return redact_url(self.base_url or OPENAI_URL).rstrip("/")


def llm_settings(base_url: str | None = None, model: str | None = None) -> LLMSettings:
    """LLM settings from flags, then OPENAI_BASE_URL / OPENAI_API_KEY / ANNOTATOR_MODEL."""
    return LLMSettings(first(base_url, env(ENV_OPENAI_URL)), env(ENV_OPENAI_KEY), first(model, env(ENV_MODEL)))


@dataclass(frozen=True)
class LabelStudioSettings:
    """Which Label Studio server to use; both None means the managed local one."""

    url: str | None = field(repr=False)
    api_key: str | None = field(repr=False)


def labelstudio_settings(url: str | None = None) -> LabelStudioSettings:
    """Label Studio settings from the flag, then LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY."""
    return LabelStudioSettings(first(url, env(ENV_LS_URL)), env(ENV_LS_KEY))


def labelstudio_database(flag: str | None = None) -> str | None:
    """The managed Label Studio's PostgreSQL URL: flag, then ANNOTATOR_LABELSTUDIO_DATABASE (None: as before)."""
    return first(flag, env(ENV_LS_DATABASE))


def home() -> Path:
    """Directory for managed services (virtual environments, data, logs).

    ANNOTATOR_HOME overrides it, so tests and CI can keep everything in one place.
    """
    override = env(ENV_HOME)
    path = Path(override) if override else Path(platformdirs.user_data_dir("annotator"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Directory for generated credentials (files written with mode 600)."""
    override = env(ENV_HOME)
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
