"""A private etcd for tests: Debian's `etcd-server` 3.4 on free loopback ports, one per test session.

    def test_something(etcd: str) -> None:   # the client URL, e.g. http://127.0.0.1:PORT
        EtcdMembership(etcd, f"test.{uuid.uuid4().hex[:8]}", "data.default", timeout=2)

The binary comes from `scripts/install-services.sh`. A missing binary FAILS the test (integration tests are
not allowed to skip silently). `TEST_ETCD_URL` in the environment points the tests at a running etcd instead.
The server runs with a 50 ms heartbeat / 500 ms election timeout, which brings etcd's minimum lease TTL down
to its floor of one second (it is `ceil(1.5 * election timeout)`: 2 s with the defaults).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.services.victoria import free_port

BINARY = "etcd"


@contextmanager
def start_etcd(directory: Path, ready_timeout: float = 15.0) -> Iterator[str]:
    """Start etcd with its data in `directory`; yield its client URL once it answers; stop it by PID."""
    binary = shutil.which(BINARY)
    if binary is None:
        pytest.fail(f"{BINARY} is not on PATH: run scripts/install-services.sh (installs Debian etcd-server)")
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    log_path = directory / "etcd.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [binary, "--name", "default", "--data-dir", str(directory / "data"),
         "--listen-client-urls", client, "--advertise-client-urls", client,
         "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", f"default={peer}",
         "--heartbeat-interval", "50", "--election-timeout", "500", "--logger", "zap", "--log-level", "warn"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(client, process, ready_timeout, log_path)
        yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{BINARY} exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            # a range read goes through raft's read index: it answers once the member is leader
            reply = httpx.post(f"{url}/v3/kv/range", json={"key": "AA=="}, timeout=1)
            if reply.status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.05)
    pytest.fail(f"{BINARY} was not ready within {timeout}s: {log_path.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def etcd() -> Iterator[str]:
    """Client URL of the session's etcd (a private one, or `TEST_ETCD_URL`)."""
    external = os.environ.get("TEST_ETCD_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="etcd-") as directory, start_etcd(Path(directory)) as url:
        yield url
