"""Where the managed Label Studio keeps its records: SQLite in its data dir, or a PostgreSQL database.

Label Studio reads PostgreSQL from ``DJANGO_DB=default`` and ``POSTGRE_NAME``, ``POSTGRE_USER``,
``POSTGRE_PASSWORD``, ``POSTGRE_HOST``, ``POSTGRE_PORT`` (its settings, core/settings/base.py) and
connects with psycopg 3, which its lock already holds. The database a data dir was started on is
remembered beside it (database.json, mode 600: it holds the password), so a later start without a
database uses it again, and a start naming another database is refused rather than leaving the data
dir's files and its records in two places. Only ``label`` (no password) is ever printed.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ..errors import InputError, ServiceError
from ..settings import ENV_LS_DATABASE, write_secret_file
from .procs import base_env

SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = 5432
RECORD = "database.json"
SQLITE_FILE = "label_studio.sqlite3"  # Label Studio's own name for its SQLite file in the data dir
URL_FORM = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
REFUSED = 3  # exit code of LOGIN_CHECK when PostgreSQL refuses the login
# Run by Label Studio's own Python (psycopg is in its lock), with libpq's PG* variables: no secret in argv.
LOGIN_CHECK = (
    "import sys, psycopg\n"
    "try:\n"
    "    psycopg.connect(connect_timeout=10).close()\n"
    "except psycopg.Error as exc:\n"
    "    print(' '.join(str(exc).split()), file=sys.stderr)\n"
    f"    sys.exit({REFUSED})\n"
)


def _bad_url(problem: str) -> InputError:
    return InputError(f"the Label Studio database (--database or {ENV_LS_DATABASE}) {problem}; "
                      f"give it as {URL_FORM} (percent-encode special characters)")


@dataclasses.dataclass(frozen=True)
class PostgresDatabase:
    """A PostgreSQL database for Label Studio. The repr and ``label`` leave out the password."""

    user: str
    password: str = dataclasses.field(repr=False)
    host: str
    port: int
    name: str

    @classmethod
    def parse(cls, url: str) -> PostgresDatabase:
        """Read ``postgresql://USER:PASSWORD@HOST[:PORT]/DATABASE``; errors never repeat the URL."""
        scheme, sep, _ = url.partition("://")
        if not sep:
            raise _bad_url("is not a URL")
        if scheme.lower() not in SCHEMES:
            raise _bad_url(f"is not a PostgreSQL URL (it starts with {scheme[:20]}://)")
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            raise _bad_url("has an invalid host or port") from None
        name = unquote(parts.path.lstrip("/"))
        if parts.query or parts.fragment:
            raise _bad_url("takes no query parameters or fragment")
        if not host:
            raise _bad_url("names no host")
        if not parts.username:
            raise _bad_url("names no user")
        if not name or "/" in name:
            raise _bad_url("names no database (the path after the host)")
        return cls(user=unquote(parts.username), password=unquote(parts.password or ""),
                   host=host, port=port or DEFAULT_PORT, name=name)

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def label(self) -> str:
        """The printable form: ``postgresql://user@host:port/db``."""
        return f"postgresql://{quote(self.user, safe='')}@{self.address}/{quote(self.name, safe='')}"

    @property
    def url(self) -> str:
        """The full URL, password included: only for the record file."""
        return (f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
                f"@{self.address}/{quote(self.name, safe='')}")

    def same_database(self, other: PostgresDatabase) -> bool:
        """The same server and database (the user and password may change)."""
        return (self.host.lower(), self.port, self.name) == (other.host.lower(), other.port, other.name)

    def env(self) -> dict[str, str]:
        """Label Studio's own settings for this database."""
        return {
            "DJANGO_DB": "default",
            "POSTGRE_NAME": self.name,
            "POSTGRE_USER": self.user,
            "POSTGRE_PASSWORD": self.password,
            "POSTGRE_HOST": self.host,
            "POSTGRE_PORT": str(self.port),
        }

    def check_reachable(self, timeout: float = 5.0) -> None:
        """Fail in seconds, naming host:port, when nothing accepts a TCP connection there."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {timeout:.0f} s"
            raise ServiceError(
                f"cannot reach PostgreSQL at {self.address} for Label Studio ({reason}); start it, "
                f"or correct the host and port in --database or {ENV_LS_DATABASE}"
            ) from None

    def check_login(self, python: Path) -> None:
        """Log in once with Label Studio's own driver, so a wrong password or database name is one line."""
        env = base_env()
        env.update({"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
                    "PGPASSWORD": self.password, "PGDATABASE": self.name})
        try:
            done = subprocess.run([str(python), "-c", LOGIN_CHECK], env=env, capture_output=True,
                                  text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServiceError(f"could not check the login to PostgreSQL at {self.address} "
                               f"({type(exc).__name__}); try again, or read its server log") from None
        lines = done.stderr.strip().splitlines()
        reason = (lines[-1] if lines else f"exit code {done.returncode}")
        if self.password:
            reason = reason.replace(self.password, "***")
        if done.returncode == REFUSED:
            raise ServiceError(
                f"PostgreSQL at {self.address} refused Label Studio's login ({reason}); correct the user, "
                f"password or database name in --database or {ENV_LS_DATABASE}"
            )
        if done.returncode != 0:
            raise ServiceError(
                f"could not check the login to PostgreSQL at {self.address} with {python} ({reason}); "
                f"re-create Label Studio's environment with `annotator labelstudio install --upgrade`"
            )


def sqlite_label(data_dir: Path) -> str:
    return f"sqlite ({data_dir / SQLITE_FILE})"


def remembered(base_dir: Path) -> PostgresDatabase | None:
    """The PostgreSQL database the data dir under ``base_dir`` was started on (None: SQLite)."""
    path = base_dir / RECORD
    try:
        return PostgresDatabase.parse(json.loads(path.read_text())["url"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, InputError):
        raise ServiceError(f"cannot read the database of Label Studio's data dir from {path}; restore it, "
                           f"or move it aside with {base_dir / 'data'} to start afresh") from None


def remember(base_dir: Path, database: PostgresDatabase) -> None:
    write_secret_file(base_dir / RECORD, json.dumps({"url": database.url}, indent=2) + "\n")


def resolve(base_dir: Path, data_dir: Path, wanted: PostgresDatabase | None) -> PostgresDatabase | None:
    """The database to start on: the one wanted, else the one remembered; None means SQLite.

    A data dir that already ran on another database (SQLite included) is an error naming both.
    """
    saved = remembered(base_dir)
    if wanted is None:
        return saved
    if saved is None and (data_dir / SQLITE_FILE).exists():
        raise _conflict(base_dir, data_dir, sqlite_label(data_dir), wanted.label)
    if saved is not None and not saved.same_database(wanted):
        raise _conflict(base_dir, data_dir, saved.label, wanted.label)
    return wanted


def _conflict(base_dir: Path, data_dir: Path, old: str, new: str) -> ServiceError:
    moved = f"{data_dir} and {base_dir / RECORD}" if (base_dir / RECORD).exists() else str(data_dir)
    return ServiceError(
        f"the Label Studio data dir {data_dir} runs on {old}, not {new}; start without --database "
        f"(and without {ENV_LS_DATABASE}) to keep using it, or move {moved} aside to start afresh on {new}"
    )
