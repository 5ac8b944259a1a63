"""A source that answers after 30 s must not delay the groups of other sources (-H celery, 2 workers).

Two groups read the slow source (a proxy that sleeps before forwarding to VictoriaMetrics), three groups the
fast one. With a concurrency limit of one pull per source, at most one worker waits on the slow source:
the fast groups are delivered in seconds while the slow query is still sleeping, and the refused slow pull
is counted by `alarm_access_source_limited_total` on the worker that refused it.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import redis

from tests.services.access_env import AccessEnv, stop
from tests.services.celery_worker import Worker, start_worker
from tests.services.data_world import INTERVAL, STRATEGIES, assert_exactly, hosts_document, ingest, samples_at
from tests.services.data_world import strategy_document as fast_strategy
from tests.services.redis_server import RedisServer
from tests.services.victoria import VictoriaMetrics, free_port

pytestmark = pytest.mark.integration

SLOW_SECONDS = 30


class SlowProxy:
    """Forwards to `upstream` after sleeping `delay` seconds; `asked` is set when the first query arrives."""

    def __init__(self, upstream: str, delay: float) -> None:
        self.asked = threading.Event()
        self.answered = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.asked.set()
                time.sleep(delay)
                reply = httpx.post(upstream + self.path, content=body, timeout=30,
                                   headers={"Content-Type": self.headers.get("Content-Type", "")})
                self.send_response(reply.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)
                proxy.answered.set()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def slow_strategy(strategy_id: int) -> dict[str, object]:
    """Strategies 11/12 again, as ids 21/22 on the `custom` source (another group key, the slow API)."""
    document = fast_strategy(strategy_id - 10)
    document["id"] = strategy_id
    item = document["items"][0]  # type: ignore[index]
    item["id"] = strategy_id
    item["query_configs"][0]["data_source_label"] = "custom"
    return document


def test_slow_source_does_not_delay_other_sources(
    env: AccessEnv, vm: VictoriaMetrics, private_redis: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    documents = [fast_strategy(sid) for sid in STRATEGIES] + [slow_strategy(21), slow_strategy(22)]
    (tmp_path / "s.json").write_text(json.dumps(documents))
    (tmp_path / "h.json").write_text(json.dumps(hosts_document()))
    env.manage("load_strategies", str(tmp_path / "s.json"))
    env.manage("load_hosts", str(tmp_path / "h.json"))
    now = int(time.time())
    samples = samples_at([now - now % INTERVAL - k * INTERVAL for k in range(3, 6)])
    ingest(vm, samples)
    slow = SlowProxy(vm.url, SLOW_SECONDS)
    env.env.update({
        "TSDB_URL": vm.url, "CELERY_BROKER_URL": private_redis.url, "ALARM_ACCESS_NETWORK_TIMEOUT": "45",
        "ALARM_ACCESS_DATA_SOURCE_CONCURRENCY": "1", "ALARM_ACCESS_DATA_SOURCE_URLS": f"custom:time_series={slow.url}",
    })
    client = redis.Redis.from_url(redis_url)
    workers: list[Worker] = []
    scheduler = None
    try:
        workers = [start_worker(env.env, tmp_path, f"w{n}", private_redis.url) for n in range(2)]
        started = time.time()
        scheduler = env.spawn("run_access", "-H", "celery", "--access-type", "data", "--min-interval", "0.2")
        deadline = time.monotonic() + SLOW_SECONDS
        while time.monotonic() < deadline:
            try:
                assert_exactly(client, env.prefix, samples)
                if slow.asked.is_set():  # wait for the condition: the slow pull may start after the fast ones
                    break
            except AssertionError:
                pass
            time.sleep(0.2)
        delivered = time.time()
        assert_exactly(client, env.prefix, samples)
        assert slow.asked.is_set() and not slow.answered.is_set(), "the slow source must still be answering"
        # a group's first slot starts at most one interval before the scheduler's first tick
        lateness_bound = delivered - started + INTERVAL
        assert lateness_bound < SLOW_SECONDS - 5, f"fast groups were {lateness_bound:.1f}s late"
        limited = sum(worker.metric("alarm_access_source_limited_total") for worker in workers)
        assert limited >= 1, [w.log()[-3000:] for w in workers]
        assert any("source concurrency limit reached" in w.log() and "source=custom:time_series" in w.log()
                   for w in workers)
    finally:
        if scheduler is not None:
            stop(scheduler)
        for worker in workers:
            worker.stop()
        slow.close()
        client.close()
