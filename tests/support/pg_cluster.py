"""A throwaway PostgreSQL server for tests: Debian's binaries, a cluster in a temporary directory.

PostgreSQL refuses to run as root. As root, initdb and pg_ctl run as an unprivileged user: in a
user namespace mapped onto root's own files when the kernel allows it (nothing to chown, and it
works where /dev/null is not writable by other users), else as the `postgres` system user on a
directory it owns. Clients connect over TCP on 127.0.0.1 with a password (scram-sha-256).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from annotator.services.procs import free_port

SUPERUSER = "postgres"


def bindir() -> Path | None:
    """Where initdb and pg_ctl are: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]),
                         reverse=True)
    return next((Path(p) for p in candidates if (Path(p) / "initdb").exists()), None)


def psql_path(bin_dir: Path) -> str | None:
    own = bin_dir / "psql"
    return str(own) if own.exists() else shutil.which("psql")


def _as_unprivileged() -> tuple[list[str], str | None]:
    """The command prefix that runs PostgreSQL's tools as a user other than root, and who owns the files."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam(SUPERUSER)
    except KeyError:
        user = pwd.getpwnam("nobody")
    namespace = ["unshare", "--user", f"--map-user={user.pw_uid}", f"--map-group={user.pw_gid}", "--"]
    with contextlib.suppress(OSError):
        if subprocess.run([*namespace, "true"], capture_output=True).returncode == 0:
            return namespace, None
    return ["runuser", "-u", user.pw_name, "--"], user.pw_name


@dataclass
class PostgresCluster:
    """A running cluster on 127.0.0.1:<port> with a password-protected superuser."""

    root: Path
    bin_dir: Path
    port: int
    password: str = field(repr=False)
    prefix: list[str]
    psql: str

    @classmethod
    def start(cls) -> PostgresCluster:
        bin_dir = bindir()
        psql = psql_path(bin_dir) if bin_dir else None
        if bin_dir is None or psql is None:
            raise RuntimeError("PostgreSQL is not installed: `make system-deps` installs Debian's postgresql")
        prefix, owner = _as_unprivileged()
        root = Path(tempfile.mkdtemp(prefix="annotator-pg-"))
        password = secrets.token_urlsafe(12)
        (root / "pw").write_text(password + "\n")
        if owner is not None:
            shutil.chown(root, owner, owner)
            shutil.chown(root / "pw", owner, owner)
        cluster = cls(root, bin_dir, free_port(), password, prefix, psql)
        try:
            cluster._run("initdb", "-D", str(root / "data"), "-U", SUPERUSER, f"--pwfile={root / 'pw'}",
                         "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--no-sync")
            (root / "pw").unlink()
            options = f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            cluster._run("pg_ctl", "-D", str(root / "data"), "-o", options, "-l", str(root / "server.log"),
                         "-w", "-t", "60", "start")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.prefix, str(self.bin_dir / tool), *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "-t", "60", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def sql(self, query: str, database: str = "postgres", user: str = SUPERUSER,
            password: str | None = None) -> list[list[str]]:
        """Rows of <query> run by psql over TCP (tab-separated fields, no headers)."""
        env = {**os.environ, "PGPASSWORD": self.password if password is None else password}
        done = subprocess.run(
            [self.psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", database, "-X", "-A",
             "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query],
            capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    def create_database(self, name: str, owner: str, password: str, own: bool = True) -> str:
        """A login role (made if missing) and a new database; the URL for Label Studio.

        With ``own`` False the database belongs to the superuser and the role may only connect.
        """
        if not self.sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{owner}'"):
            self.sql(f"CREATE ROLE \"{owner}\" LOGIN PASSWORD '{password}'")
        self.sql(f"CREATE DATABASE \"{name}\"" + (f" OWNER \"{owner}\"" if own else ""))
        return f"postgresql://{quote(owner, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/{name}"
