"""The query model end to end (`access.data.query`): `run_access --access-type data --once` against a real
VictoriaMetrics and Redis, with an expression over two metrics, a `time_shift`, and partial answers (§3.13).

Expected values are computed here from the samples written, not read back from the service.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from alarm_access.kernel.hashing import count_md5
from tests.services.access_env import AccessEnv
from tests.services.data_world import HOSTS, INTERVAL, hosts_document, strategy_document
from tests.services.victoria import VictoriaMetrics, free_port

pytestmark = pytest.mark.integration

DAY = 86400
IP = "10.0.1.1"


def aligned_buckets(count: int) -> list[int]:
    now = int(time.time())
    return [now - now % INTERVAL - k * INTERVAL for k in range(3, 3 + count)]


def load(env: AccessEnv, tmp_path: Path, *documents: dict[str, Any]) -> None:
    (tmp_path / "s.json").write_text(json.dumps(list(documents)))
    (tmp_path / "h.json").write_text(json.dumps(hosts_document()))
    env.manage("load_strategies", str(tmp_path / "s.json"))
    env.manage("load_hosts", str(tmp_path / "h.json"))


def queued(client: redis.Redis, env: AccessEnv, strategy_id: int) -> dict[str, dict[str, Any]]:
    """record id → record of the detect queue of `strategy_id` (whose item id is the same)."""
    lines = client.lrange(f"{env.prefix}.access.data.{strategy_id}.{strategy_id}", 0, -1)
    records = [json.loads(line) for line in lines]
    assert len({r["record_id"] for r in records}) == len(records), "a record was pushed twice"
    return {r["record_id"]: r for r in records}


def record_id(ip: str, ts: int) -> str:
    return f"{count_md5({'bk_target_ip': ip, 'bk_target_cloud_id': '0'})}.{ts}"


def series(metric: str, ts: int, value: float, ip: str = IP) -> tuple[str, dict[str, str], int, float]:
    return (metric, {"bk_target_ip": ip, "bk_target_cloud_id": "0"}, ts, value)


def test_an_expression_over_two_metrics(env: AccessEnv, vm: VictoriaMetrics, client: redis.Redis,
                                        tmp_path: Path) -> None:
    document = strategy_document(11)
    item = document["items"][0]  # type: ignore[index]
    first = item["query_configs"][0]
    first["alias"] = "a"
    item["query_configs"] = [first, {**first, "result_table_id": "system.mem", "metric_field": "pct_used",
                                     "alias": "b", "metric_id": "bk_monitor.system.mem.pct_used"}]
    item["expression"] = "a / b * 100"
    load(env, tmp_path, document)
    buckets = aligned_buckets(3)
    ips = list(HOSTS)[:2]
    rows = [series("system_cpu_load_load5", ts, 1.0 + n + k, ip) for n, ip in enumerate(ips)
            for k, ts in enumerate(buckets)]
    rows += [series("system_mem_pct_used", ts, 0.0 if k == 0 else 4.0, ip) for ip in ips
             for k, ts in enumerate(buckets)]
    vm.import_samples(rows)
    env.env["TSDB_URL"] = vm.url
    env.manage("run_access", "--access-type", "data", "--once")
    records = queued(client, env, 11)
    expected = {record_id(ip, ts): (1.0 + n + k) / 4.0 * 100 for n, ip in enumerate(ips)
                for k, ts in enumerate(buckets) if k > 0}  # k == 0: b is 0, the bucket is dropped
    assert {rid: r["value"] for rid, r in records.items()} == pytest.approx(expected)
    assert all(set(r["values"]) >= {"a", "b", "_result_"} for r in records.values())


def test_time_shift_reads_yesterday_at_todays_bucket_times(env: AccessEnv, vm: VictoriaMetrics,
                                                           client: redis.Redis, tmp_path: Path) -> None:
    document = strategy_document(11)
    document["items"][0]["query_configs"][0]["functions"] = [  # type: ignore[index]
        {"id": "time_shift", "params": [{"id": "n", "value": "1d"}]}]
    load(env, tmp_path, document)
    buckets = aligned_buckets(3)
    vm.import_samples([series("system_cpu_load_load5", ts - DAY, 100.0 + k) for k, ts in enumerate(buckets)]
                      + [series("system_cpu_load_load5", ts, 1.0) for ts in buckets])
    env.env["TSDB_URL"] = vm.url
    env.manage("run_access", "--access-type", "data", "--once")
    records = queued(client, env, 11)
    assert {rid: r["value"] for rid, r in records.items()} == {
        record_id(IP, ts): 100.0 + k for k, ts in enumerate(buckets)}


class PartialProxy:
    """A TSDB proxy that marks every `query_range` answer `isPartial` (as a VictoriaMetrics cluster whose
    storage node did not answer)."""

    def __init__(self, upstream: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply = httpx.post(upstream + self.path, content=body, timeout=30,
                                   headers={"Content-Type": self.headers.get("Content-Type", "")})
                content = reply.content
                if "query_range" in self.path and reply.status_code == 200:
                    content = json.dumps({**reply.json(), "isPartial": True}).encode()
                self.send_response(reply.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test log is for the service."""

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def partial_proxy(vm: VictoriaMetrics) -> Iterator[PartialProxy]:
    proxy = PartialProxy(vm.url)
    yield proxy
    proxy.close()


def test_a_partial_answer_is_marked_or_for_a_double_check_strategy_not_delivered(
    env: AccessEnv, vm: VictoriaMetrics, partial_proxy: PartialProxy, client: redis.Redis, tmp_path: Path
) -> None:
    load(env, tmp_path, strategy_document(11), strategy_document(12))
    buckets = aligned_buckets(2)
    vm.import_samples([series(metric, ts, 3.0) for metric in ("system_cpu_load_load5", "system_mem_pct_used")
                       for ts in buckets])
    env.env.update(TSDB_URL=partial_proxy.url, ALARM_ACCESS_DATA_DOUBLE_CHECK_STRATEGY_IDS="12")
    done = env.manage("run_access", "--access-type", "data", "--once", check=False)
    marked = queued(client, env, 11)
    assert set(marked) == {record_id(IP, ts) for ts in buckets}
    assert all(r.get("is_partial") is True for r in marked.values())
    assert queued(client, env, 12) == {}  # double-check: nothing of the pull delivered
    checkpoints = list(client.scan_iter(f"{env.prefix}.*checkpoint*"))
    assert len(checkpoints) == 1, checkpoints  # strategy 11's group's: 12's did not move
    assert done.returncode == 1 and "double-check strategies [12]" in done.stderr + done.stdout

