"""A private PostgreSQL cluster on a free loopback port, for tests that stop and restart the database.

The machine's shared PostgreSQL (127.0.0.1:5432) must never be stopped: other tests use it. This one is
`initdb`-ed into a temporary directory (trust auth, superuser `postgres`), listens on 127.0.0.1:<free port>
with its unix socket in that directory, and is stopped (`pg_ctl stop -m immediate` on exit) and deleted
afterwards. `stop()` / `start()` in between stop and restart the same cluster with the same data, port and
socket — a database that went away and came back.

The binaries are the newest `/usr/lib/postgresql/*/bin` (or `PG_BIN`); a missing one FAILS the test (CI must
not skip). PostgreSQL refuses to run as root, so under root the cluster runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.services.victoria import free_port

BINARIES = ("initdb", "pg_ctl", "postgres")


def _version(bin_dir: str) -> tuple[int, ...]:
    name = Path(bin_dir).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def find_bin_dir() -> Path:
    """The directory holding initdb, pg_ctl and postgres: `PG_BIN`, else the newest /usr/lib/postgresql/*/bin."""
    candidates = [os.environ["PG_BIN"]] if os.environ.get("PG_BIN") else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    for candidate in candidates:
        if all(os.access(Path(candidate) / name, os.X_OK) for name in BINARIES):
            return Path(candidate)
    pytest.fail(f"no PostgreSQL server binaries ({', '.join(BINARIES)}) in {candidates or '/usr/lib/postgresql/*/bin'}"
                " (Debian package postgresql; or set PG_BIN)")


class PostgresServer:
    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self._user: str | None = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root and there is no `postgres` user to run a private PostgreSQL as")
            self._user = "postgres"
        # in /tmp (not the test's tmp_path, which is private to root) and short: unix socket paths are limited
        self.directory = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
        if self._user is not None:
            shutil.chown(self.directory, self._user, self._user)
        self.data = self.directory / "data"
        self.logfile = self.directory / "postgres.log"
        self.port = free_port()
        self._initialised = False

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, user=self._user,
                              cwd=self.directory)
        if done.returncode != 0:
            log = self.logfile.read_text()[-3000:] if self.logfile.exists() else ""
            pytest.fail(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}\n"
                        f"{log}")
        return done

    def _ctl(self, *args: str) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args)

    def start(self) -> None:
        """Start the cluster (initdb first the first time) and wait until it accepts connections."""
        if not self._initialised:
            self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C", "--no-sync")
            self._initialised = True
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=50")
        self._ctl("-l", str(self.logfile), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m MODE` and wait until the postmaster is gone (connections are refused from then on)."""
        self._ctl("-m", mode, "-w", "-t", "60", "stop")

    @property
    def running(self) -> bool:
        done = subprocess.run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True,
                              text=True, timeout=30, check=False, user=self._user)
        return done.returncode == 0

    def create_database(self, name: str) -> str:
        """Create database `name`; its URL."""
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        """Stop the cluster if it runs and delete its directory."""
        try:
            if self._initialised and self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def start_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    with start_postgres() as server:
        yield server
