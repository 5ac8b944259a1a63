"""`run_access --access-type data --hash-ring 1`: processes share the businesses and hand them over.

Real Redis (locks, queues; and the leases, or a real etcd holding them), real VictoriaMetrics, real
subprocesses; 24 businesses of one strategy each. Three processes split the businesses between them;
`kill -9` of one: the survivors own everything again within two lease TTLs (the measured takeover is
printed); a fourth process takes a share; SIGTERM of one hands its share over at once; `manage.py hash_ring`
reports the members and their shares. Across the whole test every sample's record id is queued exactly once.
Two `-H celery` schedulers share the businesses the same way, and a real worker delivers every record once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis

from alarm_access.kernel.hashing import count_md5
from tests.services.access_env import AccessEnv, stop
from tests.services.celery_worker import start_worker
from tests.services.etcd import etcd
from tests.services.exposition import sample
from tests.services.redis_server import RedisServer
from tests.services.victoria import VictoriaMetrics, free_port

pytestmark = pytest.mark.integration
__all__ = ["etcd"]  # the session fixture, imported for pytest

INTERVAL = 10
TTL = 3.0
#: 24 keys: with 12, one of 3-4 members owned none about 3% of the time, and "everyone has a share" never came
BUSINESSES = list(range(101, 125))


def strategy(biz: int) -> dict[str, object]:
    return {
        "id": biz, "bk_biz_id": biz, "name": f"ring {biz}", "scenario": "os", "is_enabled": True,
        "update_time": 1700000000, "labels": [],
        "items": [{
            "id": biz * 10, "name": "v", "no_data_config": {"is_enabled": False}, "target": [[]],
            "algorithms": [{"id": biz, "type": "Threshold", "level": 1,
                            "config": [{"threshold": 1e9, "method": "gte"}]}],
            "query_configs": [{
                "id": biz, "data_source_label": "bk_monitor", "data_type_label": "time_series",
                "result_table_id": f"ring.t{biz}", "metric_field": "v", "agg_method": "AVG", "agg_interval": INTERVAL,
                "agg_dimension": ["bk_target_ip", "bk_target_cloud_id"], "agg_condition": [],
                "metric_id": f"bk_monitor.ring.t{biz}.v",
            }],
        }],
        "detects": [], "actions": [],
    }


def ip(biz: int) -> str:
    return f"10.2.{biz - 100}.1"


class Ring:
    def __init__(self, env: AccessEnv, vm: VictoriaMetrics, tmp_path: Path, ttl: float = TTL) -> None:
        self.env, self.vm, self.ttl = env, vm, ttl
        self.redis = redis.Redis.from_url(env.env["REDIS_URL"])
        self.processes: dict[str, tuple[subprocess.Popen[str], int]] = {}
        self.samples: list[tuple[int, int]] = []  # (biz, bucket)
        (tmp_path / "strategies.json").write_text(json.dumps([strategy(b) for b in BUSINESSES]))
        (tmp_path / "hosts.json").write_text(json.dumps({"hosts": [
            {"bk_host_id": biz, "bk_host_innerip": ip(biz), "bk_cloud_id": 0, "bk_biz_id": biz,
             "bk_state": "运营中[需告警]", "topo_link": {f"module|{biz}": [f"biz|{biz}", f"module|{biz}"]}}
            for biz in BUSINESSES]}))
        env.manage("load_strategies", str(tmp_path / "strategies.json"))
        env.manage("load_hosts", str(tmp_path / "hosts.json"))

    def ingest(self, buckets: list[int]) -> None:
        rows = [(f"ring_t{biz}_v", {"bk_target_ip": ip(biz), "bk_target_cloud_id": "0"}, ts, float(biz + ts % 13))
                for biz in BUSINESSES for ts in buckets]
        self.vm.import_samples(rows)
        self.samples.extend((biz, ts) for biz in BUSINESSES for ts in buckets)

    def start(self, name: str, *extra: str) -> None:
        port = free_port()
        process = self.env.spawn("run_access", "--access-type", "data", "--hash-ring", "1", *extra,
                                 "--min-interval", "0.2", "--session-ttl", str(self.ttl), "--metrics-port", str(port),
                                 log=f"{name}.log")
        self.processes[name] = (process, port)

    def owned(self) -> dict[str, float]:
        """Owned business count per live process, from each one's /metrics (absent: not scraped yet)."""
        counts = {}
        for name, (process, port) in self.processes.items():
            if process.poll() is not None:
                continue
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                continue
            value = sample(text, 'alarm_access_ring_owned_keys{access_type="data"}')
            if value is not None:
                counts[name] = value
        return counts

    def shared_by(self, names: set[str]) -> bool:
        owned = self.owned()
        return set(owned) == names and sum(owned.values()) == len(BUSINESSES) and all(owned.values())

    def queued(self) -> Counter[str]:
        ids: Counter[str] = Counter()
        for biz in BUSINESSES:
            for line in self.redis.lrange(f"{self.env.prefix}.access.data.{biz}.{biz * 10}", 0, -1):
                ids[f"{biz}:{json.loads(line)['record_id']}"] += 1
        return ids

    def expected(self) -> set[str]:
        return {f"{biz}:{count_md5({'bk_target_ip': ip(biz), 'bk_target_cloud_id': '0'})}.{ts}"
                for biz, ts in self.samples}

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> float:
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                logs = "\n".join(self.env.log(f"{name}.log")[-1500:] for name in self.processes)
                raise AssertionError(f"{what} not reached within {timeout}s:\n{logs}")
            time.sleep(0.2)
        return time.monotonic() - started


@pytest.mark.parametrize("store", ["redis", "etcd"])
def test_processes_share_businesses_and_hand_over_without_gaps_or_doubles(
        env: AccessEnv, vm: VictoriaMetrics, tmp_path: Path, store: str, request: pytest.FixtureRequest) -> None:
    env.env.update(TSDB_URL=vm.url, ALARM_ACCESS_RING_STORE=store)
    if store == "etcd":
        env.env["ALARM_ACCESS_ETCD_URL"] = request.getfixturevalue("etcd")
    ring = Ring(env, vm, tmp_path)
    now = int(time.time())
    t = now - now % INTERVAL
    ring.ingest([t - k * INTERVAL for k in range(3, 8)])
    try:
        for name in ("a", "b", "c"):
            ring.start(name)
        ring.wait(lambda: ring.shared_by({"a", "b", "c"}), 120, "three processes sharing the businesses")
        ring.wait(lambda: set(ring.queued()) >= ring.expected(), 60, "the first samples of every business")
        report = json.loads(env.manage("hash_ring", "--json", "--key", "101", "--simulate-join", "1").stdout)
        assert [m["state"] for m in report["members"]] == ["active"] * 3 and report["keys"] == len(BUSINESSES)
        assert sum(m["owned_keys"] for m in report["members"]) == len(BUSINESSES)
        assert report["key"]["owner"] in {m["id"] for m in report["members"]}
        assert 0 < report["simulate_join"]["moved"] <= len(BUSINESSES) // 2

        os.kill(ring.processes["c"][0].pid, signal.SIGKILL)
        ring.processes["c"][0].wait(10)
        takeover = ring.wait(lambda: ring.shared_by({"a", "b"}), 4 * TTL, "the survivors owning everything")
        print(f"\nring takeover after kill -9: {takeover:.1f} s = {takeover / TTL:.2f} lease TTLs")
        assert takeover <= 2 * TTL + 1  # two TTLs, plus the scrape's own delay
        ring.ingest([t - 2 * INTERVAL, t - INTERVAL])
        ring.wait(lambda: set(ring.queued()) >= ring.expected(), 60, "samples after the kill")
        gaps = [sample(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text,
                       'alarm_access_ring_handover_gap_seconds_count{access_type="data"}') or 0
                for name, (_, port) in ring.processes.items() if name in ("a", "b")]
        assert sum(gaps) >= 1  # the survivors measured how long the dead member's groups went unpulled

        ring.start("d")
        ring.wait(lambda: ring.shared_by({"a", "b", "d"}), 120, "a fourth process taking a share")

        started = time.monotonic()
        assert stop(ring.processes["a"][0], signal.SIGTERM, timeout=20) == 0
        handover = ring.wait(lambda: ring.shared_by({"b", "d"}), 4 * TTL, "the share of the stopped process")
        print(f"ring handover after SIGTERM: {time.monotonic() - started:.1f} s (after exit: {handover:.1f} s)")
        assert handover <= TTL  # peers see the leave at their next heartbeat, not after a lease TTL
        ring.ingest([t, t + INTERVAL])
        ring.wait(lambda: set(ring.queued()) >= ring.expected(), 90, "samples after the handover")
        stable = ring.queued()
        ring.wait(lambda: time.time() >= t + 3 * INTERVAL + 12, 60, "one more slot for a late double")
    finally:
        for process, _ in ring.processes.values():
            stop(process, signal.SIGTERM, timeout=20)
    queued = ring.queued()
    assert queued == stable, "records arrived after everything was delivered"
    doubled = sorted(rid for rid, n in queued.items() if n > 1)
    assert not doubled, f"pushed twice: {doubled[:5]}"
    assert set(queued) == ring.expected()


def test_celery_schedulers_share_the_businesses_and_a_worker_delivers_each_record_once(
        env: AccessEnv, vm: VictoriaMetrics, private_redis: RedisServer, tmp_path: Path) -> None:
    env.env.update(TSDB_URL=vm.url, CELERY_BROKER_URL=private_redis.url)
    ring = Ring(env, vm, tmp_path)
    now = int(time.time())
    t = now - now % INTERVAL
    ring.ingest([t - k * INTERVAL for k in range(2, 6)])
    worker = start_worker(env.env, tmp_path, "w", private_redis.url)
    try:
        for name in ("a", "b"):
            ring.start(name, "-H", "celery")
        ring.wait(lambda: ring.shared_by({"a", "b"}), 120, "two schedulers sharing the businesses")
        ring.wait(lambda: set(ring.queued()) >= ring.expected(), 90, "every sample through the worker")
        stable = ring.queued()
        ring.wait(lambda: time.time() >= t + 2 * INTERVAL + 12, 60, "one more slot for a late double")
    finally:
        for process, _ in ring.processes.values():
            stop(process, signal.SIGTERM, timeout=20)
        worker.stop()
    assert ring.queued() == stable and max(stable.values()) == 1 and set(stable) == ring.expected()
    assert "group pulled" in worker.log()
