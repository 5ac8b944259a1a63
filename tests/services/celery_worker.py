"""Real `celery worker` processes of alarm-access for tests, each with its own log and metrics port.

`start_worker(env, directory, name, queues, broker_url)` starts `celery -A alarm_access worker --pool=solo`
(or the `pool_args` given) with the test's environment (database, key prefix, TSDB) and waits for its
"ready" line; `kill_9` and `stop` end it by PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.services.access_env import ROOT
from tests.services.victoria import free_port

ALL_QUEUES = ("celery_service", "celery_service_qos", "celery_service_batch")


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[str]
    log_path: Path
    metrics_port: int

    def log(self) -> str:
        return self.log_path.read_text()

    def metric(self, name: str) -> float:
        """Sum of every sample of metric `name` this worker serves (0 when absent)."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name) and not line.startswith("#") and line[len(name)] in "{ ")

    def kill_9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_worker(env: Mapping[str, str], directory: Path, name: str, broker_url: str, *,
                 queues: tuple[str, ...] = ALL_QUEUES, timeout: float = 60,
                 pool_args: tuple[str, ...] = ("--pool=solo",)) -> Worker:
    """`pool_args` replace `--pool=solo`, e.g. `("--pool=prefork", "--concurrency=2")`."""
    log_path = directory / f"worker-{name}.log"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "alarm_access", "worker", *pool_args, "-n", f"{name}@%h",
         "-Q", ",".join(queues), "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
        cwd=ROOT, env={**env, "CELERY_BROKER_URL": broker_url, "ALARM_ACCESS_WORKER_METRICS_PORT": str(port)},
        text=True, stdout=log_path.open("w"), stderr=subprocess.STDOUT,
    )
    worker = Worker(name, process, log_path, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "ready." in worker.log():
            return worker
        if process.poll() is not None:
            break
        time.sleep(0.1)
    worker.stop()
    raise AssertionError(f"celery worker {name} did not start:\n{worker.log()[-4000:]}")
