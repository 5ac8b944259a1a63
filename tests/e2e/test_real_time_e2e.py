"""`run_access --access-type real_time_data` end to end: real broker (tansu), real Redis, real subprocesses.

Points produced for two real-time strategies (two result tables, two topics) arrive as records in detect's
queues with the record ids of the original's rule (md5 of the table's dimension values + `.time`); a point of
another business, a malformed message and a point of an unknown host do not; two processes share the
partitions and, after `kill -9` of one, every produced point's record id is in the queues exactly once; with
`-H celery` the consumed batches are delivered by a real worker.
`REAL_TIME_E2E_POINTS` sets the size of the kill test's stream (default 3000).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from alarm_access.adapters.celery.streams import REAL_TIME_QUEUE
from alarm_access.kernel.hashing import count_md5
from tests.services.access_env import AccessEnv, access_env, stop
from tests.services.celery_worker import start_worker
from tests.services.exposition import sample
from tests.services.kafka import create_topics, kafka, produce, read_topic
from tests.services.redis_server import RedisServer
from tests.services.victoria import free_port

pytestmark = pytest.mark.integration
__all__ = ["kafka"]

POINTS = int(os.environ.get("REAL_TIME_E2E_POINTS", "3000"))
CPU_DIMS = ["bk_target_ip", "bk_target_cloud_id", "bk_biz_id"]
DISK_DIMS = ["bk_target_ip", "bk_target_cloud_id", "bk_biz_id", "mount_point", "bk_cmdb_level"]
HOSTS = {"10.0.0.1": 101, "10.0.0.2": 102}


def strategy(strategy_id: int, table: str, metric: str, biz: int = 2) -> dict[str, Any]:
    return {
        "id": strategy_id, "bk_biz_id": biz, "name": f"real-time {metric}", "scenario": "os", "is_enabled": True,
        "update_time": 1700000000, "labels": [],
        "items": [{
            "id": strategy_id * 10, "name": metric, "no_data_config": {"is_enabled": False}, "target": [[]],
            "algorithms": [{"id": strategy_id, "type": "Threshold", "level": 2, "config": []}],
            "query_configs": [{"id": strategy_id, "data_source_label": "bk_monitor", "data_type_label": "time_series",
                               "result_table_id": table, "metric_field": metric, "agg_method": "REAL_TIME",
                               "agg_interval": 60, "agg_dimension": ["bk_target_ip"], "agg_condition": [],
                               "metric_id": f"bk_monitor.{table}.{metric}"}],
        }],
        "detects": [], "actions": [],
    }


def point(at: int, ip: str, metrics: dict[str, float], biz: Any = "2", **dims: str) -> bytes:
    dimensions = {"bk_target_ip": ip, "bk_target_cloud_id": "0", "bk_biz_id": biz, "bk_cmdb_level": "[]", **dims}
    return json.dumps({"time": at, "dimensions": dimensions, "metrics": metrics}).encode() + b"\x00"


def record_id(message: bytes, dims: list[str]) -> str:
    """The original's rule: md5 of the table's dimension values (bk_cmdb_level excluded) + "." + time."""
    body = json.loads(message.rstrip(b"\x00"))
    identity = {d: body["dimensions"].get(d) for d in dims if d != "bk_cmdb_level"}
    return f"{count_md5(identity)}.{body['time']}"


class RealTimeWorld:
    def __init__(self, env: AccessEnv, bootstrap: str, tag: str, partitions: int) -> None:
        self.env, self.bootstrap = env, bootstrap
        self.topics = {"cpu": f"rt-cpu-{tag}", "disk": f"rt-disk-{tag}"}
        self.dlq = f"rt-dlq-{tag}"
        create_topics(bootstrap, self.topics.values(), partitions=partitions)
        create_topics(bootstrap, [self.dlq])
        self.redis = redis.Redis.from_url(env.env["REDIS_URL"])

    def records(self, strategy_id: int) -> list[dict[str, Any]]:
        key = f"{self.env.prefix}.access.data.{strategy_id}.{strategy_id * 10}"
        return [json.loads(line) for line in self.redis.lrange(key, 0, -1)]

    def wait(self, condition: Callable[[], bool], timeout: float = 90, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not reached within {timeout}s:\n{self.env.log()[-3000:]}")
            time.sleep(0.2)

    def wait_stable(self, read: Callable[[], object], quiet: float = 3.0) -> None:
        """Until `read()` gave the same answer for `quiet` seconds (a late duplicate would have arrived)."""
        last, since = read(), time.monotonic()
        while time.monotonic() - since < quiet:
            time.sleep(0.2)
            now = read()
            if now != last:
                last, since = now, time.monotonic()


def make_world(tmp_path: Path, redis_url: str, kafka: str, partitions: int) -> Iterator[RealTimeWorld]:
    tag = uuid.uuid4().hex[:8]
    with access_env(tmp_path, redis_url, KAFKA_GROUP_PREFIX=f"test-{tag}",
                    ALARM_ACCESS_REAL_TIME_DLQ_TOPIC=f"rt-dlq-{tag}",
                    ALARM_ACCESS_REAL_TIME_SESSION_TIMEOUT_MS="2000",
                    ALARM_ACCESS_REAL_TIME_HEARTBEAT_INTERVAL_MS="500",
                    ALARM_ACCESS_REAL_TIME_OFFSET_RESET="earliest", ALARM_ACCESS_DRAIN_TIMEOUT="10") as env:
        world = RealTimeWorld(env, kafka, tag, partitions)
        (tmp_path / "strategies.json").write_text(json.dumps([
            strategy(31, "system.cpu_summary", "usage"), strategy(32, "system.disk", "in_use"),
            strategy(33, "system.cpu_summary", "usage", biz=3)]))
        (tmp_path / "sources.json").write_text(json.dumps({
            "kafka_topics": [{"data_id": 1001, "bootstrap_servers": kafka, "topic": world.topics["cpu"]},
                             {"data_id": 1002, "bootstrap_servers": kafka, "topic": world.topics["disk"]}],
            "result_tables": [{"table_id": "system.cpu_summary", "data_id": 1001, "dimensions": CPU_DIMS},
                              {"table_id": "system.disk", "data_id": 1002, "dimensions": DISK_DIMS}]}))
        (tmp_path / "hosts.json").write_text(json.dumps({"hosts": [
            {"bk_host_id": host_id, "bk_host_innerip": ip, "bk_cloud_id": 0, "bk_biz_id": 2,
             "bk_state": "运营中[需告警]", "topo_link": {f"module|{host_id}": ["biz|2", "set|1", f"module|{host_id}"]}}
            for ip, host_id in HOSTS.items()]}))
        for command, name in (("load_strategies", "strategies"), ("load_sources", "sources"), ("load_hosts", "hosts")):
            env.manage(command, str(tmp_path / f"{name}.json"))
        yield world
        keys = list(world.redis.scan_iter(f"{env.prefix}.*", count=1000))
        if keys:
            world.redis.delete(*keys)
        world.redis.close()


@pytest.fixture
def world(tmp_path: Path, redis_url: str, kafka: str) -> Iterator[RealTimeWorld]:
    yield from make_world(tmp_path, redis_url, kafka, partitions=1)


@pytest.fixture
def shared_world(tmp_path: Path, redis_url: str, kafka: str) -> Iterator[RealTimeWorld]:
    yield from make_world(tmp_path, redis_url, kafka, partitions=4)


def test_points_of_two_strategies_become_records_with_the_original_ids(world: RealTimeWorld) -> None:
    at = int(time.time()) - 5
    cpu = [point(at, "10.0.0.1", {"usage": 12.5}), point(at + 1, "10.0.0.2", {"usage": 80})]
    disk = [point(at, "10.0.0.1", {"in_use": 0.5}, mount_point="/data")]
    dropped = [point(at, "10.0.0.1", {"usage": 1}, biz="0"),  # business 0: discarded
               point(at, "10.9.9.9", {"usage": 1})]  # unknown host: dropped by the host filter
    produce(world.bootstrap, world.topics["cpu"], [*cpu, *dropped, b"{not json"])
    produce(world.bootstrap, world.topics["disk"], disk)
    port = free_port()
    process = world.env.spawn("run_access", "--access-type", "real_time_data", "--metrics-port", str(port))
    lag = ('alarm_access_stream_consumer_lag_messages{access_type="real_time_data",partition="0",'
           f'topic="{world.topics["cpu"]}"}}')

    def scrape() -> str:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text

    try:
        world.wait(lambda: len(world.records(31)) >= 2 and len(world.records(32)) >= 1, what="both strategies")
        world.wait_stable(lambda: (len(world.records(31)), len(world.records(32))))
        dead = read_topic(world.bootstrap, world.dlq, expected=1)
        # lag is the fetch's high watermark minus the committed offset: 0 once the batch was committed
        world.wait(lambda: sample(scrape(), lag) == 0, what="consumer lag 0 after the commit")
        exposition = scrape()
    finally:
        assert stop(process, signal.SIGTERM) == 0, world.env.log()
    cpu_records = sorted(world.records(31), key=lambda r: r["time"])
    assert [r["record_id"] for r in cpu_records] == [record_id(m, CPU_DIMS) for m in cpu]
    assert [r["value"] for r in cpu_records] == [12.5, 80]
    assert cpu_records[0]["values"] == {"usage": 12.5, "_result_": 0, "time": at}  # the original's _result_: 0
    assert cpu_records[0]["dimension_fields"] == ["bk_target_ip", "bk_target_cloud_id", "bk_biz_id"]
    assert cpu_records[0]["dimensions"]["bk_host_id"] == "101"  # enriched from the host topology (as in data)
    [disk_record] = world.records(32)
    assert disk_record["record_id"] == record_id(disk[0], DISK_DIMS)
    assert world.records(33) == []  # business 3 has the strategy, but no point of business 3 was produced
    assert [m.value for m in dead] == [b"{not json"]
    assert "real-time batch pushed" in world.env.log()
    routed = 'alarm_access_stream_messages_total{access_type="real_time_data",status="%s"}'
    assert sample(exposition, routed % "invalid") == 1 and sample(exposition, routed % "unrouted") == 1
    assert sample(exposition, routed % "routed") == 4  # 2 cpu + 1 disk + the unknown host (dropped later)
    assert (sample(exposition, 'alarm_access_records_dropped_total{access_type="real_time_data",reason="unknown_host"}')
            == 1)
    assert (sample(exposition, 'alarm_access_stream_rebalances_total{access_type="real_time_data",kind="assigned"}')
            or 0) >= 1


def test_two_processes_share_the_partitions_and_a_kill_loses_and_doubles_nothing(
        shared_world: RealTimeWorld) -> None:
    world = shared_world
    base = int(time.time()) - 600
    messages = [point(base + i // 2, f"10.0.0.{1 + i % 2}", {"usage": float(i)}) for i in range(POINTS)]
    chunks = [messages[i:i + POINTS // 20] for i in range(0, POINTS, POINTS // 20)]

    def trickle() -> None:
        for chunk in chunks:
            produce(world.bootstrap, world.topics["cpu"], chunk, partitions=4)
            time.sleep(0.5)

    producer = threading.Thread(target=trickle)
    env = world.env
    env.env["ALARM_ACCESS_REAL_TIME_BATCH_SIZE"] = "50"
    first = env.spawn("run_access", "--access-type", "real_time_data", log="first.log")
    second = env.spawn("run_access", "--access-type", "real_time_data", log="second.log")
    key = f"{env.prefix}.access.data.31.310"
    producer.start()  # the stream keeps coming while the processes share it, so the kill lands mid-stream
    try:
        world.wait(lambda: "real-time batch pushed" in env.log("first.log")
                   and "real-time batch pushed" in env.log("second.log"), what="both processes consuming")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert world.redis.llen(key) < POINTS, "the kill did not land mid-stream; the test proves nothing"
        world.wait(lambda: world.redis.llen(key) >= POINTS, timeout=180, what="every point after the kill")
        world.wait_stable(lambda: world.redis.llen(key))
    finally:
        producer.join()
        assert stop(second, signal.SIGTERM) == 0, env.log("second.log")
    ids = Counter(json.loads(line)["record_id"] for line in world.redis.lrange(key, 0, -1))
    expected = {record_id(m, CPU_DIMS) for m in messages}
    assert set(ids) == expected and max(ids.values()) == 1


def test_celery_workers_deliver_the_consumed_batches(world: RealTimeWorld, private_redis: RedisServer,
                                                     tmp_path: Path) -> None:
    at = int(time.time()) - 5
    cpu = [point(at + i, f"10.0.0.{1 + i % 2}", {"usage": float(i)}) for i in range(40)]
    produce(world.bootstrap, world.topics["cpu"], [*cpu, b"[1, 2]"])
    world.env.env["CELERY_BROKER_URL"] = private_redis.url
    worker = start_worker(world.env.env, tmp_path, "rt", private_redis.url, queues=(REAL_TIME_QUEUE,))
    consumer = world.env.spawn("run_access", "-H", "celery", "--access-type", "real_time_data")
    try:
        world.wait(lambda: len(world.records(31)) >= len(cpu), what="every point through the worker")
        world.wait_stable(lambda: len(world.records(31)))
        dead = read_topic(world.bootstrap, world.dlq, expected=1)
    finally:
        assert stop(consumer, signal.SIGTERM) == 0, world.env.log()
        worker.stop()
    assert sorted(r["record_id"] for r in world.records(31)) == sorted(record_id(m, CPU_DIMS) for m in cpu)
    assert [m.value for m in dead] == [b"[1, 2]"]
    # the consumer only published; the worker ran the pipeline
    assert "real-time batch pushed" not in world.env.log() and "real-time batch pushed" in worker.log()
