"""A real VictoriaMetrics for integration tests: free loopback port, temporary storage, stopped by PID.

    with start_victoria(tmp_path) as vm:
        vm.import_samples([("system_cpu_load_load5", {"ip": "10.0.0.1"}, 1_700_000_000, 0.5)])
        source = PrometheusSource(vm.url)

The binary comes from Debian's `victoria-metrics` package (`scripts/install-services.sh`). A missing binary
FAILS the test: integration tests are not allowed to skip silently.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from alarm_access.adapters.tsdb.sql import Sample

BINARY = "victoria-metrics"
#: (metric name, labels, epoch seconds, value)
SampleTuple = tuple[str, Mapping[str, str], float, float]


@dataclass
class VictoriaMetrics:
    """A running server: `url` is its base URL, `process` its child process (stop/continue it by `pid`)."""

    url: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def import_samples(self, samples: Iterable[SampleTuple | Sample]) -> None:
        """Ingest samples (Prometheus text format with millisecond timestamps); queryable on return. A
        `Sample`'s ingestion time is not sent: a Prometheus-compatible store has none to report."""
        lines = []
        for metric, labels, ts, value, *_ in samples:
            rendered = ",".join(f"{name}={json.dumps(text)}" for name, text in sorted(labels.items()))
            lines.append(f"{metric}{{{rendered}}} {_number(value)} {round(ts * 1000)}")
        with httpx.Client(base_url=self.url, timeout=10) as client:
            client.post("/api/v1/import/prometheus", content="\n".join(lines) + "\n").raise_for_status()
            # Freshly ingested rows sit in an in-memory buffer for up to a second; flush them to be searchable.
            client.get("/internal/force_flush").raise_for_status()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The server hangs (SIGSTOP) inside the block: it accepts connections but never answers."""
        os.kill(self.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.pid, signal.SIGCONT)


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def start_victoria(storage: Path, ready_timeout: float = 15.0) -> Iterator[VictoriaMetrics]:
    """Start VictoriaMetrics with its data in `storage`, wait for `/health`, stop it on exit."""
    binary = shutil.which(BINARY)
    if binary is None:
        pytest.fail(f"{BINARY} is not on PATH: run scripts/install-services.sh (installs Debian victoria-metrics)")
    port = free_port()
    log = (storage / "victoria.log").open("wb")
    process = subprocess.Popen(
        [binary, f"-storageDataPath={storage / 'data'}", f"-httpListenAddr=127.0.0.1:{port}",
         "-retentionPeriod=100y", "-search.latencyOffset=0s", "-search.disableCache"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    server = VictoriaMetrics(f"http://127.0.0.1:{port}", process)
    try:
        _wait_healthy(server, ready_timeout, storage / "victoria.log")
        yield server
    finally:
        os.kill(process.pid, signal.SIGCONT)  # a test that paused it must not leave it unkillable
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_healthy(server: VictoriaMetrics, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"{BINARY} exited with {server.process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.05)
    pytest.fail(f"{BINARY} was not healthy within {timeout}s: {log_path.read_text()[-2000:]}")
