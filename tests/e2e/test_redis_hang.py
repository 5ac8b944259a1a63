"""A hung Redis (`SIGSTOP`) surfaces within the documented bound (README, `ALARM_ACCESS_NETWORK_TIMEOUT`).

A Redis operation — connect, handshake and command — fails within `(retries + 1) * T` = 3 T plus its backoff
(< 0.5 s), and once Redis timed out the cycle's remaining groups fail at once. So a `--once` run over the
three groups of `data_world` logs its first "group pull failed" and exits within one bound of the moment
Redis hung: before the run (every connection is fresh) or during it (a pooled connection, hung while the
first group's TSDB query is held by a gate). The margin of 2 s covers logging and the interpreter's exit.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.services.access_env import AccessEnv, access_env, stop
from tests.services.data_world import INTERVAL, ingest, samples_at, write_world
from tests.services.redis_server import RedisServer, start_redis
from tests.services.victoria import VictoriaMetrics, free_port, start_victoria

pytestmark = pytest.mark.integration

RETRIES = 2
BACKOFF = 0.5  # the sum of the client's backoff pauses between its attempts is 0.3 s
MARGIN = 2.0
WAIT = 40  # seconds a run may take before the test gives up on it (before the fix: 30 T)


def bound(timeout: float) -> float:
    return (RETRIES + 1) * timeout + BACKOFF


class GatedProxy:
    """A TSDB proxy that holds the first `query_range` until `release()`; `arrived` is set when it comes."""

    def __init__(self, upstream: str) -> None:
        self.arrived, self._gate = threading.Event(), threading.Event()
        arrived, gate = self.arrived, self._gate

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if "query_range" in self.path and not arrived.is_set():
                    arrived.set()
                    gate.wait(30)
                reply = httpx.post(upstream + self.path, content=body, timeout=30,
                                   headers={"Content-Type": self.headers.get("Content-Type", "")})
                self.send_response(reply.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test log is for the service."""

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def release(self) -> None:
        self._gate.set()

    def close(self) -> None:
        self._gate.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AccessEnv, RedisServer, VictoriaMetrics]]:
    """One database, Redis and VictoriaMetrics for every case: the three groups, with samples to pull."""
    directory = tmp_path_factory.mktemp("redis-hang")
    (directory / "redis").mkdir()
    (directory / "vm").mkdir()
    with start_redis(directory / "redis") as server, start_victoria(directory / "vm") as vm, \
            access_env(directory, server.url, ALARM_ACCESS_DRAIN_TIMEOUT="2") as env:
        strategies, hosts = write_world(directory)
        env.manage("load_strategies", str(strategies))
        env.manage("load_hosts", str(hosts))
        now = int(time.time())
        ingest(vm, samples_at([now - now % INTERVAL - k * INTERVAL for k in range(3, 6)]))
        yield env, server, vm


def _logged_at(log: str, needle: str) -> float | None:
    """The wall-clock time of the first log line holding `needle` (its `ts=`), None if there is none."""
    for line in log.splitlines():
        if needle in line and line.startswith("ts="):
            return datetime.fromisoformat(line.split()[0].removeprefix("ts=")).timestamp()
    return None


def _exit_code(process: subprocess.Popen[str], env: AccessEnv, log: str) -> int:
    try:
        return process.wait(WAIT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"run_access --once still running after {WAIT} s:\n{env.log(log)[-3000:]}") from None


def _run(env: AccessEnv, server: RedisServer, timeout: float, log: str, *, tsdb: str,
         gate: GatedProxy | None) -> tuple[float, float, int]:
    """Run `--once` with Redis hung before it (no `gate`) or once `gate` holds the first query; the seconds
    from the hang to the first "group pull failed" line and to the exit, and the exit code. A hang before
    the run counts from the cycle's start ("strategy groups synced"), so the interpreter's start-up is out."""
    env.env.update(ALARM_ACCESS_NETWORK_TIMEOUT=str(timeout), TSDB_URL=tsdb)
    with server.paused() if gate is None else nullcontext():
        process = env.spawn("run_access", "--access-type", "data", "--once", log=log)
        try:
            hung = None
            if gate is not None:
                assert gate.arrived.wait(30), env.log(log)
                with server.paused():
                    hung = time.time()
                    gate.release()
                    code = _exit_code(process, env, log)
            else:
                code = _exit_code(process, env, log)
            exited = time.time()
        finally:
            stop(process, timeout=5)
    text = env.log(log)
    hung = hung or _logged_at(text, "strategy groups synced")
    failed = _logged_at(text, "group pull failed")
    assert hung is not None and failed is not None, text
    return failed - hung, exited - hung, code


@pytest.mark.parametrize("timeout", [1.0, 2.0])
@pytest.mark.parametrize("when", ["before", "during"])
def test_hung_redis_fails_the_run_within_the_bound(
    world: tuple[AccessEnv, RedisServer, VictoriaMetrics], timeout: float, when: str
) -> None:
    env, server, vm = world
    proxy = GatedProxy(vm.url) if when == "during" else None
    try:
        first, exited, code = _run(env, server, timeout, f"{when}-{timeout}.log",
                                   tsdb=proxy.url if proxy else vm.url, gate=proxy)
    finally:
        if proxy is not None:
            proxy.close()
    log = env.log(f"{when}-{timeout}.log")
    print(f"redis hung {when} the run, T={timeout}: first failure {first:.2f} s, exit {exited:.2f} s")
    assert code == 1, log
    assert "Traceback" not in log, log
    assert first <= bound(timeout) + MARGIN, log
    assert exited <= bound(timeout) + MARGIN, log
