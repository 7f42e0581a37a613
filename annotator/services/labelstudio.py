"""A local Label Studio server in its own virtual environment, with a known user and token.

Facts this relies on (checked on a live Label Studio 1.23.2): the server pins an old openai so it
never shares the project's environment; legacy tokens only work when
LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN is set as the data dir is first created; a
taken port makes it silently move to port+1; stray PORT/HOST/USERNAME/PASSWORD
variables are read, so it gets a clean environment. It runs on SQLite in its data dir, or
on a PostgreSQL database (labelstudio_db.py).

It runs with legacy tokens on (the default here) or, as a team's server usually does, off: then
its commands use a personal access token of the admin (labelstudio_tokens.py), and the switch is
set through the organization's settings, so it also holds for a data dir made the other way.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from pathlib import Path

import httpx

from ..errors import ServiceError
from ..labelstudio.auth import KeyAuth, refusal
from ..settings import config_dir, labelstudio_database, write_secret_file
from . import labelstudio_db, labelstudio_tokens
from .base import ManagedService, Progress, ServiceState
from .procs import base_env

LABEL_STUDIO_VERSION = "1.23.2"
ADMIN_EMAIL = "admin@annotator.local"


@dataclasses.dataclass
class ServerInfo:
    """How to reach a Label Studio server. The repr hides the password and token."""

    url: str
    email: str
    password: str = dataclasses.field(repr=False)
    token: str = dataclasses.field(repr=False)
    """The key commands use: the legacy token, or with legacy tokens off the admin's personal access token."""
    pid: int | None = None
    port: int | None = None
    log_path: Path | None = None
    database: str = ""  # sqlite (path) or postgresql://user@host:port/db: never the password
    legacy_tokens: bool = True


class LabelStudioServer(ManagedService):
    """Install, start (or reuse), inspect and stop a local Label Studio.

    ``base_dir`` (default ``home()/"labelstudio"``) holds the data dir and the state
    file. Credentials live in ``config_dir()/"labelstudio.json"`` for the default
    location, else in ``base_dir/"credentials.json"`` (mode 600 either way).
    ``ensure_installed`` creates ``home()/"labelstudio-venv"`` with label-studio if
    missing (about 2 min).

    ``database`` is a PostgreSQL URL to run on (read here: a bad one fails at once); without it
    the server runs on ANNOTATOR_LABELSTUDIO_DATABASE for the default location, else on the
    database its data dir was started on (SQLite unless one was given). The database is
    remembered beside the data dir.

    ``legacy_tokens`` False starts it with legacy tokens off (commands then use a personal access
    token), True with them on; None (the default) as it was last started (on for a new data dir).
    """

    name = "Label Studio"
    slug = "labelstudio"
    health_path = "/health"
    start_timeout = 300.0
    # Installed with the lock (constraints/labelstudio.txt). The bounds here are known breaks that a
    # refresh of the lock must keep: Label Studio 1.23.2 asks for sentry-sdk>=2.16 with no upper bound,
    # and exits at start-up with sentry-sdk 3 ("Unknown option 'send_default_pii'").
    requirements = [[f"label-studio=={LABEL_STUDIO_VERSION}", "sentry-sdk<3"]]
    install_check = "bin/label-studio"
    cli_group = "labelstudio"

    def __init__(self, base_dir: Path | None = None, port: int | None = None, database: str | None = None,
                 legacy_tokens: bool | None = None):
        super().__init__(base_dir=base_dir, port=port)
        self.legacy_tokens = legacy_tokens
        self.wanted_database = labelstudio_db.PostgresDatabase.parse(database) if database else None
        self._database: labelstudio_db.PostgresDatabase | None = None

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def credentials_file(self) -> Path:
        if self.default_location:
            return config_dir() / "labelstudio.json"
        return self.base_dir / "credentials.json"

    def start(self, wait: bool = True, progress: Progress | None = None) -> ServerInfo:
        """Return the running server, starting it first if needed.

        With ``wait`` it blocks until /health answers (up to 180 s; a new data dir
        runs migrations) and checks that the token is accepted. A PostgreSQL database is checked
        first: a database other than the data dir's, or one that cannot be reached, is an error.
        """
        database = self._prepare_database(progress)
        state = self._launch(wait=wait, progress=progress)
        if database is not None:
            labelstudio_db.remember(self.base_dir, database)
        if wait:
            self._settle_tokens(state.url)
        info = self._info(state)
        if wait:
            self._check_token(info)
        return info

    def personal_token(self) -> str:
        """A personal access token of the running server's admin (the one kept, while it works)."""
        state = self._running()
        if state is None:
            raise ServiceError("the managed Label Studio is not running; start it: annotator labelstudio start")
        creds = self._credentials()
        with labelstudio_tokens.login(state.url, creds["email"], creds["password"]) as session:
            token = labelstudio_tokens.personal_token(session, creds.get("personal_token"))
        if token != creds.get("personal_token"):
            self._save_credentials({**creds, "personal_token": token})
        return token

    def status(self) -> ServerInfo | None:
        """The running server if its process is alive and /health answers, else None."""
        state = self._running()
        return None if state is None else self._info(state)

    def database_label(self) -> str:
        """The database the data dir runs on, printable: ``sqlite (path)`` or the URL without password."""
        database = self._database or labelstudio_db.remembered(self.base_dir)
        return labelstudio_db.sqlite_label(self.data_dir) if database is None else database.label

    def check_database(self) -> labelstudio_db.PostgresDatabase | None:
        """The PostgreSQL database to start on (None: SQLite); an error if it is not the data dir's,
        or if nothing answers at its address while no server runs."""
        wanted, from_env = self.wanted_database, labelstudio_database() if self.default_location else None
        if wanted is None and from_env:
            wanted = labelstudio_db.PostgresDatabase.parse(from_env)
        database = self._database = labelstudio_db.resolve(self.base_dir, self.data_dir, wanted)
        if database is not None and self._alive_state() is None:
            database.check_reachable()
        return database

    # internals ----------------------------------------------------------------
    def _prepare_database(self, progress: Progress | None) -> labelstudio_db.PostgresDatabase | None:
        """`check_database`, then a login with Label Studio's own driver before a new process starts."""
        database = self.check_database()
        if database is not None and self._alive_state() is None:
            self.ensure_installed(progress)
            database.check_login(self.venv_dir / "bin" / "python")
        return database

    def _credentials(self) -> dict[str, str]:
        """Read the credentials, generating them on first use."""
        path = self.credentials_file
        try:
            creds = json.loads(path.read_text())
            if all(creds.get(k) for k in ("email", "password", "token")):
                return creds
        except (OSError, ValueError):
            pass
        creds = {
            "email": ADMIN_EMAIL,
            "password": secrets.token_urlsafe(18),
            "token": secrets.token_hex(20),  # 40 hex characters
        }
        self._save_credentials(creds)
        return creds

    def _save_credentials(self, creds: dict) -> None:
        write_secret_file(self.credentials_file, json.dumps(creds, indent=2) + "\n")

    def _wants_legacy(self) -> bool:
        if self.legacy_tokens is not None:
            return self.legacy_tokens
        return self._credentials().get("legacy_tokens", True) is not False

    def _settle_tokens(self, url: str) -> None:
        """Set the organization's legacy-token switch as wanted, and with legacy tokens off keep a working
        personal access token; nothing to do while legacy tokens stay on as they were."""
        creds, legacy = self._credentials(), self._wants_legacy()
        if legacy and creds.get("legacy_tokens", True) is not False and self.legacy_tokens is None:
            return
        with labelstudio_tokens.login(url, creds["email"], creds["password"]) as session:
            labelstudio_tokens.set_legacy_tokens(session, legacy)
            if not legacy:
                creds["personal_token"] = labelstudio_tokens.personal_token(session, creds.get("personal_token"))
        self._save_credentials({**creds, "legacy_tokens": legacy})

    def _command(self, port: int) -> list[str]:
        return [
            str(self.venv_dir / "bin" / "label-studio"),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(port),
        ]

    def _env(self) -> dict[str, str]:
        creds = self._credentials()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = base_env(self.venv_dir / "bin")
        env.update(
            {
                "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
                "LABEL_STUDIO_USERNAME": creds["email"],
                "LABEL_STUDIO_PASSWORD": creds["password"],
                "LABEL_STUDIO_USER_TOKEN": creds["token"],
                "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true" if self._wants_legacy() else "false",
                "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
                "LATEST_VERSION_CHECK": "false",
                "COLLECT_ANALYTICS": "false",
                # Loopback webhooks and a loopback ML backend (`annotator serve`) are refused otherwise.
                "SSRF_PROTECTION_ENABLED": "false",
                "ML_BLOCK_LOCAL_IP": "false",
                # No crash reports to Label Studio's Sentry: they carry the frames' variables, such as the
                # database settings with their password.
                "SENTRY_DSN": "",
                "FRONTEND_SENTRY_DSN": "",
            }
        )
        if self._database is not None:
            env.update(self._database.env())
        return env

    def _info(self, state: ServiceState) -> ServerInfo:
        creds = self._credentials()
        legacy = creds.get("legacy_tokens", True) is not False or not creds.get("personal_token")
        return ServerInfo(
            url=state.url,
            email=creds["email"],
            password=creds["password"],
            token=creds["token"] if legacy else creds["personal_token"],
            legacy_tokens=legacy,
            pid=state.pid,
            port=state.port,
            log_path=Path(state.log_path),
            database=self.database_label(),
        )

    def _check_token(self, info: ServerInfo) -> None:
        try:
            response = httpx.get(f"{info.url}/api/projects", auth=KeyAuth(info.url, info.token), timeout=30.0)
        except httpx.HTTPError as exc:
            raise ServiceError(
                f"Label Studio at {info.url} did not answer /api/projects ({type(exc).__name__}); "
                f"read the log {info.log_path}"
            ) from exc
        if response.status_code != 200 and not info.legacy_tokens:
            cause = (refusal(response.text) or (f"HTTP {response.status_code}",))[0]  # JSON or not
            raise ServiceError(f"Label Studio at {info.url} refused its admin's personal access token ({cause}); "
                               "start it again: annotator labelstudio start --no-legacy-tokens")
        if response.status_code != 200:
            raise ServiceError(
                f"Label Studio at {info.url} refused the API token (HTTP {response.status_code}): "
                f"the data dir {self.data_dir} predates the legacy-token switch or its "
                f"credentials changed; stop the server, move {self.data_dir} aside "
                f"and start again to create a fresh one"
            )
