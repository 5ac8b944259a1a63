"""Runs `manage.py` commands of alarm-access as real subprocesses against a private database.

Each `AccessEnv` has its own database — a fresh PostgreSQL database when `DATABASE_URL` points at
PostgreSQL (as in CI), else a SQLite file in the test's directory — migrated on creation and dropped
afterwards, plus its own Redis key prefix, so tests can run side by side on one Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]


class AccessEnv:
    def __init__(self, directory: Path, database_url: str, redis_url: str, extra: Mapping[str, str]) -> None:
        self.directory = directory
        self.prefix = f"test.{uuid.uuid4().hex[:10]}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "ALARM_ACCESS_KEY_PREFIX": self.prefix,
            "ALARM_ACCESS_VAR_DIR": str(directory / "var"),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def manage(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `manage.py ARGS` to completion; with `check`, fail on a non-zero exit with its output."""
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, text=True,
                              capture_output=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}")
        return done

    def spawn(self, *args: str, log: str = "process.log") -> subprocess.Popen[str]:
        """Start `manage.py ARGS` in the background; its output goes to `directory/log`."""
        out = (self.directory / log).open("w")
        return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, text=True,
                                stdout=out, stderr=subprocess.STDOUT)

    def log(self, name: str = "process.log") -> str:
        return (self.directory / name).read_text()

    def wait_for_log(self, needle: str, timeout: float = 60, name: str = "process.log") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log(name):
                return
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in the log within {timeout}s:\n{self.log(name)[-4000:]}")


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    """Send `sig` and wait for the exit code (kill -9 after `timeout`)."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"process did not exit within {timeout}s of signal {sig}") from None


@contextmanager
def private_database(directory: Path) -> Iterator[str]:
    """A migrated-on-demand database URL of its own: PostgreSQL when DATABASE_URL is PostgreSQL, else SQLite."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{directory / 'access.sqlite3'}"
        return
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    server = base.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def access_env(directory: Path, redis_url: str, **extra: str) -> Iterator[AccessEnv]:
    """A migrated private database and key prefix; yields the env to run commands in."""
    with private_database(directory) as database_url:
        env = AccessEnv(directory, database_url, redis_url, extra)
        env.manage("migrate", "-v0")
        yield env
