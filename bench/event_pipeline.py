"""End-to-end throughput and latency of `run_access --access-type event`, next to a plain consume loop.

    .venv/bin/python -m bench.event_pipeline [--events 50000] [--rate 5000] [--duration 5] [--redis-url ...]

On a private tansu broker (or `KAFKA_BOOTSTRAP`), a private database and a unique Redis prefix:

* `events_per_s`: one `run_access --access-type event` process, already in its group; `--events` disk-full
  events on the 100 hosts of `FLEET` (distinct disks, so one anomaly each) are produced and the clock stops
  when the last anomaly is in Redis — produce → parse → fan out → push (one MULTI/EXEC per batch) → commit;
* `pure_events_per_s`: the same messages through `process_batch` (decode, parse, fan out, standardize) and
  `plan_delivery` (empty state) in this process, in batches of the service's batch size — no Kafka, no Redis;
* `plain_consume_per_s`: a plain confluent-kafka `consume()` loop reading the same messages, same run, the
  median of `PLAIN_RUNS` reads (one read of 50 000 messages lasts ~0.1 s and varied 300k-580k/s from run to
  run); `ratio` = `events_per_s / plain_consume_per_s`;
* `latency_p50_ms` / `latency_p99_ms`: events offered at `--rate` per second for `--duration` seconds; the
  time from produce to the anomaly seen in Redis (polled every 2 ms);
* `peak_rss_mb`: the peak RSS (`VmHWM`) of the `run_access` process, read just before it is stopped.
Prints one JSON line. Nothing is asserted: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from confluent_kafka import Consumer, Producer, TopicPartition

from alarm_access.access.event.batch import process_batch
from alarm_access.access.event.delivery import DeliveryState, plan_delivery
from alarm_access.access.event.handle import enabled_kinds
from alarm_access.access.event.routing import build_routing
from alarm_access.formats import parse_strategy_documents, parse_topology_document
from alarm_access.kernel.settings import EventSettings
from alarm_access.kernel.stream import StreamMessage
from alarm_access.records.enrich import index_topology
from tests.e2e.test_event_e2e import FLEET, KINDS, disk_full, strategy
from tests.services.access_env import AccessEnv, access_env, stop
from tests.services.kafka import FAST_GROUP, create_topics, start_tansu

POLL_TIMEOUT = "0.05"
PLAIN_RUNS = 5
STRATEGY_ID = 23


def hosts_document() -> dict[str, Any]:
    return {"hosts": [
        {"bk_host_id": host_id, "bk_host_innerip": ip, "bk_cloud_id": 0, "bk_biz_id": 2,
         "topo_link": {f"module|{host_id % 10}": ["biz|2", "set|1", f"module|{host_id % 10}"]}}
        for ip, host_id in FLEET.items()]}


def pure(values: list[bytes], topic: str, batch_size: int) -> float:
    """Events per second of `process_batch` + `plan_delivery` over `values`, batched as the service batches."""
    strategies, errors = parse_strategy_documents([strategy(STRATEGY_ID, KINDS[STRATEGY_ID])])
    topology, host_errors = parse_topology_document(hosts_document())
    assert not errors and not host_errors, (errors, host_errors)
    settings = EventSettings()
    routing, problems = build_routing(strategies, index_topology(topology),
                                      snapshot_key=lambda sid, ut: f"snapshot.{sid}.{ut}",
                                      disabled_states=settings.disabled_host_states)
    assert not problems, problems
    kinds = enabled_kinds(settings)
    messages = [StreamMessage(topic, 0, offset, value, 1000) for offset, value in enumerate(values)]
    pushed = 0
    started = time.perf_counter()
    for start in range(0, len(messages), batch_size):
        now = int(time.time())
        result = process_batch(messages[start:start + batch_size], routing, now, kinds)
        plan = plan_delivery(result.anomalies, DeliveryState(), now, settings.qos_threshold)
        pushed += plan.pushed
    elapsed = time.perf_counter() - started
    assert pushed == len(values), f"the pure run made {pushed} anomalies of {len(values)} events"
    return len(values) / elapsed


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(match.group(1)) / 1024, 1) if match else 0.0


@contextmanager
def broker(directory: Path) -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    with start_tansu(directory) as address:
        yield address


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


def plain_consume(bootstrap: str, topic: str, count: int) -> float:
    """Messages per second of a bare consume loop over the first `count` messages of `topic`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"plain-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, **FAST_GROUP})
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen, started = 0, time.perf_counter()
    while seen < count:
        seen += sum(1 for m in consumer.consume(num_messages=1000, timeout=1.0) if m.error() is None)
    elapsed = time.perf_counter() - started
    consumer.close()
    return count / elapsed


def wait_for(client: redis.Redis, key: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while client.llen(key) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {client.llen(key)} of {count} anomalies within {timeout}s")
        time.sleep(0.002)


def latency(bootstrap: str, topic: str, client: redis.Redis, key: str, *, first: int, rate: int,
            duration: float) -> list[float]:
    """Produce at `rate`/s and time each event from produce to its anomaly appearing in Redis."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    total = int(rate * duration)
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    started, seen = time.perf_counter(), client.llen(key)
    index = first
    while len(arrived) < total:
        due = min(total, int((time.perf_counter() - started) * rate) + 1)
        while index - first < due:
            producer.produce(topic, disk_full(index, time.time()))
            sent[index] = time.perf_counter()
            index += 1
        producer.poll(0)
        # LPUSH puts new lines at the head: everything but the `seen` oldest, in one read (an LLEN then an
        # LRANGE by count would skip the lines of a push landing between the two)
        lines = client.lrange(key, 0, -(seen + 1))
        if lines:
            now = time.perf_counter()
            for line in lines:
                arrived[int(json.loads(line)["data"]["dimensions"]["disk"][6:])] = now
            seen += len(lines)
        time.sleep(0.002)
    return sorted((arrived[i] - sent[i]) * 1000 for i in arrived)


def run(env: AccessEnv, bootstrap: str, topic: str, args: argparse.Namespace) -> dict[str, Any]:
    client = redis.Redis.from_url(args.redis_url)
    key = f"{env.prefix}.detect.anomaly.list.23.23"
    process = env.spawn("run_access", "--access-type", "event")
    try:
        env.wait_for_log("kafka consumer assigned partitions", timeout=60)
        values = [disk_full(index, time.time()) for index in range(args.events)]
        started = time.perf_counter()
        produce_all(bootstrap, topic, values)
        wait_for(client, key, args.events, timeout=600)
        events_per_s = args.events / (time.perf_counter() - started)
        latencies = latency(bootstrap, topic, client, key, first=args.events, rate=args.rate,
                            duration=args.duration)
        rss = peak_rss_mb(process.pid)
    finally:
        stop(process, signal.SIGTERM)
        if args.log:
            Path(args.log).write_text(env.log())
        keys = list(client.scan_iter(f"{env.prefix}.*", count=1000))
        if keys:
            client.delete(*keys)
    # after the service stopped, so that neither shares the CPU with it
    plain = statistics.median(plain_consume(bootstrap, topic, args.events) for _ in range(PLAIN_RUNS))
    pure_per_s = pure(values, topic, EventSettings().batch_size)
    return {
        "events": args.events, "events_per_s": round(events_per_s), "pure_events_per_s": round(pure_per_s),
        "plain_consume_per_s": round(plain), "ratio": round(events_per_s / plain, 3), "offered_rate": args.rate,
        "latency_p50_ms": round(statistics.median(latencies), 1),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        "peak_rss_mb": rss, "poll_timeout_s": float(POLL_TIMEOUT), "batch_size": EventSettings().batch_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=5000, help="offered events per second for the latency run")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--log", help="copy the run_access log to this file")
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    topic = f"bench-events-{tag}"
    with tempfile.TemporaryDirectory(prefix="event-bench-") as tmp, broker(Path(tmp)) as bootstrap:
        directory = Path(tmp)
        create_topics(bootstrap, [topic, f"dlq-{tag}"])
        with access_env(directory, args.redis_url, KAFKA_BOOTSTRAP=bootstrap, KAFKA_GROUP_PREFIX=f"bench-{tag}",
                        ALARM_ACCESS_EVENT_TOPICS=f"1000:{topic}", ALARM_ACCESS_EVENT_DLQ_TOPIC=f"dlq-{tag}",
                        ALARM_ACCESS_EVENT_SESSION_TIMEOUT_MS="2000", ALARM_ACCESS_EVENT_HEARTBEAT_INTERVAL_MS="500",
                        ALARM_ACCESS_EVENT_OFFSET_RESET="earliest",
                        ALARM_ACCESS_EVENT_POLL_TIMEOUT=POLL_TIMEOUT) as env:
            (directory / "strategies.json").write_text(json.dumps([strategy(STRATEGY_ID, KINDS[STRATEGY_ID])]))
            (directory / "hosts.json").write_text(json.dumps(hosts_document()))
            env.manage("load_strategies", str(directory / "strategies.json"))
            env.manage("load_hosts", str(directory / "hosts.json"))
            print(json.dumps(run(env, bootstrap, topic, args)), flush=True)


if __name__ == "__main__":
    main()
