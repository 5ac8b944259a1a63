"""End-to-end throughput of `run_access --access-type real_time_data`, next to the pure pipeline and a plain consume.

    .venv/bin/python -m bench.realtime_pipeline [--points 50000] [--redis-url ...]

`--points` defaults to `REALTIME_BENCH_POINTS` (else 50 000). On a private tansu broker (or `KAFKA_BOOTSTRAP`), a
private database and a unique Redis prefix, one real-time strategy on `system.cpu_summary` (`usage`), its table
on one single-partition topic, `hosts` known hosts (100, or one per 1 000 points), each point a distinct host and
second within the last 20 minutes (one record each, none expired):

* `points_per_s`: the points are produced first; then one `run_access --access-type real_time_data` process is
  started, and the clock runs from its partition assignment (the log line's timestamp: start-up, the strategy
  load and the group join are not counted) until the last record is in detect's list in Redis — consume →
  decode → flatten → pipeline → push (one MULTI/EXEC per batch) → commit;
* `pure_points_per_s`: the same messages through `routing.decode`, `routing.flatten` and `pipeline.run` in this
  process, in batches of the service's batch size, with empty dedupe and priority state — no Kafka, no Redis;
* `plain_consume_per_s`: a plain confluent-kafka `consume()` loop over the same topic, same run (after the
  service stopped, so the two do not share the CPU); `ratio` = `points_per_s / plain_consume_per_s`;
* `peak_rss_mb`: the peak RSS (`VmHWM`) of the `run_access` process, read just before it is stopped.
Prints one JSON line. Nothing is asserted: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from confluent_kafka import Producer

from alarm_access.access.real_time_data.routing import TableTopic, compile_routes, decode, flatten
from alarm_access.formats import parse_strategy_documents, parse_topology_document
from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.settings import RealTimeSettings
from alarm_access.records import pipeline
from alarm_access.records.enrich import index_topology
from bench.event_pipeline import broker, plain_consume
from tests.e2e.test_real_time_e2e import CPU_DIMS, strategy
from tests.services.access_env import AccessEnv, access_env, stop
from tests.services.kafka import create_topics

TABLE = "system.cpu_summary"
STRATEGY_ID = 31
ASSIGNED = "kafka consumer assigned partitions"
BATCH_SIZE = RealTimeSettings().batch_size


def host_count(points: int) -> int:
    return max(100, -(-points // 1000))


def hosts_document(count: int) -> dict[str, Any]:
    return {"hosts": [
        {"bk_host_id": 1000 + i, "bk_host_innerip": ip(i), "bk_cloud_id": 0, "bk_biz_id": 2,
         "bk_state": "运营中[需告警]", "topo_link": {f"module|{i % 50}": ["biz|2", f"set|{i % 5}", f"module|{i % 50}"]}}
        for i in range(count)]}


def ip(index: int) -> str:
    return f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"


def messages(points: int, hosts: int, base: int) -> list[bytes]:
    """`points` messages: point i is host `i % hosts` at second `base + i // hosts` (all distinct)."""
    return [json.dumps({"time": base + i // hosts,
                        "dimensions": {"bk_target_ip": ip(i % hosts), "bk_target_cloud_id": "0", "bk_biz_id": "2",
                                       "bk_cmdb_level": "[]"},
                        "metrics": {"usage": round(i % 1000 / 10, 1)}}).encode() + b"\x00"
            for i in range(points)]


def produce_all(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for value in values:
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0


def pure(values: list[bytes], hosts: dict[str, Any], bootstrap: str, topic: str) -> float:
    """Points per second of decode + flatten + `pipeline.run` over `values`, batched as the service batches."""
    strategies, errors = parse_strategy_documents([strategy(STRATEGY_ID, TABLE, "usage")])
    topology, host_errors = parse_topology_document(hosts)
    assert not errors and not host_errors, (errors, host_errors)
    routes, problems = compile_routes(strategies, [TableTopic(TABLE, bootstrap, topic, tuple(CPU_DIMS))])
    assert not problems, problems
    index = index_topology(topology)
    by_biz = routes.by_topic[topic]
    settings = pipeline.PipelineSettings(max_time_points=0)
    pushed = 0
    started = time.perf_counter()
    for start in range(0, len(values), BATCH_SIZE):
        points: dict[str, tuple[StrategyGroup, list[dict[str, Any]]]] = {}
        for value in values[start:start + BATCH_SIZE]:
            flat = flatten(decode(value), by_biz)
            if flat is None:
                continue
            groups, point = flat
            for group in groups:
                points.setdefault(group.key, (group, []))[1].append(point)
        now = int(time.time())
        for group, group_points in points.values():
            result = pipeline.run(group, group_points, now=now, topology_index=index, seen_record_ids={},
                                  priority_state={}, settings=settings)
            pushed += sum(len(records) for records in result.data.values())
    elapsed = time.perf_counter() - started
    assert pushed == len(values), f"the pure run made {pushed} records of {len(values)} points"
    return len(values) / elapsed


def assigned_at(log: str) -> float:
    """Epoch seconds of the partition assignment, from the log line's `ts=` (UTC, milliseconds)."""
    line = next(line for line in log.splitlines() if ASSIGNED in line)
    match = re.search(r"ts=(\S+)", line)
    assert match, line
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(match.group(1)) / 1024, 1) if match else 0.0


def wait_for(client: redis.Redis, key: str, count: int, timeout: float, env: AccessEnv) -> float:
    """Wall time (epoch) at which `key` held `count` records."""
    deadline = time.monotonic() + timeout
    while client.llen(key) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {client.llen(key)} of {count} records within {timeout}s:\n{env.log()[-3000:]}")
        time.sleep(0.005)
    return time.time()


def run(env: AccessEnv, bootstrap: str, topic: str, args: argparse.Namespace) -> dict[str, Any]:
    client = redis.Redis.from_url(args.redis_url)
    key = f"{env.prefix}.access.data.{STRATEGY_ID}.{STRATEGY_ID * 10}"
    hosts = host_count(args.points)
    values = messages(args.points, hosts, int(time.time()) - 1200)
    produce_all(bootstrap, topic, values)
    process = env.spawn("run_access", "--access-type", "real_time_data")
    try:
        env.wait_for_log(ASSIGNED, timeout=60)
        done = wait_for(client, key, args.points, timeout=600, env=env)
        points_per_s = args.points / (done - assigned_at(env.log()))
        rss = peak_rss_mb(process.pid)
    finally:
        stop(process, signal.SIGTERM)
        keys = list(client.scan_iter(f"{env.prefix}.*", count=1000))
        if keys:
            client.delete(*keys)
    plain = plain_consume(bootstrap, topic, args.points)
    pure_per_s = pure(values, hosts_document(hosts), bootstrap, topic)
    return {
        "points": args.points, "points_per_s": round(points_per_s), "pure_points_per_s": round(pure_per_s),
        "plain_consume_per_s": round(plain), "ratio": round(points_per_s / plain, 3), "peak_rss_mb": rss,
        "hosts": hosts, "batch_size": BATCH_SIZE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=int(os.environ.get("REALTIME_BENCH_POINTS", "50000")))
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    topic = f"bench-rt-{tag}"
    with tempfile.TemporaryDirectory(prefix="realtime-bench-") as tmp, broker(Path(tmp)) as bootstrap:
        directory = Path(tmp)
        create_topics(bootstrap, [topic, f"dlq-{tag}"])
        with access_env(directory, args.redis_url, KAFKA_BOOTSTRAP=bootstrap, KAFKA_GROUP_PREFIX=f"bench-{tag}",
                        ALARM_ACCESS_REAL_TIME_DLQ_TOPIC=f"dlq-{tag}",
                        ALARM_ACCESS_REAL_TIME_SESSION_TIMEOUT_MS="2000",
                        ALARM_ACCESS_REAL_TIME_HEARTBEAT_INTERVAL_MS="500",
                        ALARM_ACCESS_REAL_TIME_OFFSET_RESET="earliest", ALARM_ACCESS_DRAIN_TIMEOUT="10") as env:
            (directory / "strategies.json").write_text(json.dumps([strategy(STRATEGY_ID, TABLE, "usage")]))
            (directory / "sources.json").write_text(json.dumps({
                "kafka_topics": [{"data_id": 1001, "bootstrap_servers": bootstrap, "topic": topic}],
                "result_tables": [{"table_id": TABLE, "data_id": 1001, "dimensions": CPU_DIMS}]}))
            (directory / "hosts.json").write_text(json.dumps(hosts_document(host_count(args.points))))
            for command, name in (("load_strategies", "strategies"), ("load_sources", "sources"),
                                  ("load_hosts", "hosts")):
                env.manage(command, str(directory / f"{name}.json"))
            print(json.dumps(run(env, bootstrap, topic, args)), flush=True)


if __name__ == "__main__":
    main()
