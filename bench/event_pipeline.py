"""End-to-end throughput and latency of `run_access --access-type event`, next to a plain consume loop.

    .venv/bin/python -m bench.event_pipeline [--events 50000] [--rate 1000] [--duration 5] [--redis-url ...]

On a private tansu broker (or `KAFKA_BOOTSTRAP`), a private database and a unique Redis prefix:

* `events_per_s`: one `run_access --access-type event` process, already in its group; `--events` disk-full
  events (distinct dimensions, so one anomaly each) are produced and the clock stops when the last anomaly is
  in Redis — produce → parse → fan out → push (one MULTI/EXEC per batch) → commit;
* `plain_consume_per_s`: a plain confluent-kafka `consume()` loop reading the same messages, same run;
* `latency_p50_ms` / `latency_p99_ms`: events offered at `--rate` per second for `--duration` seconds; the
  time from produce to the anomaly seen in Redis (polled every 2 ms).
Prints one JSON line. Nothing is asserted: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
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

from tests.e2e.test_event_e2e import KINDS, disk_full, strategy
from tests.services.access_env import AccessEnv, access_env, stop
from tests.services.kafka import FAST_GROUP, create_topics, start_tansu

POLL_TIMEOUT = "0.05"


@contextmanager
def broker(directory: Path) -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    with start_tansu(directory) as address:
        yield address


def produce_all(bootstrap: str, topic: str, first: int, count: int, at: float) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for index in range(first, first + count):
        while True:
            try:
                producer.produce(topic, disk_full(index, at))
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
        length = client.llen(key)
        if length > seen:
            now = time.perf_counter()
            for line in client.lrange(key, 0, length - seen - 1):
                arrived[int(json.loads(line)["data"]["dimensions"]["disk"][6:])] = now
            seen = length
        time.sleep(0.002)
    return sorted((arrived[i] - sent[i]) * 1000 for i in arrived)


def run(env: AccessEnv, bootstrap: str, topic: str, args: argparse.Namespace) -> dict[str, Any]:
    client = redis.Redis.from_url(args.redis_url)
    key = f"{env.prefix}.detect.anomaly.list.23.23"
    process = env.spawn("run_access", "--access-type", "event")
    try:
        env.wait_for_log("kafka consumer assigned partitions", timeout=60)
        started = time.perf_counter()
        produce_all(bootstrap, topic, 0, args.events, time.time())
        wait_for(client, key, args.events, timeout=600)
        events_per_s = args.events / (time.perf_counter() - started)
        plain = plain_consume(bootstrap, topic, args.events)
        latencies = latency(bootstrap, topic, client, key, first=args.events, rate=args.rate,
                            duration=args.duration)
    finally:
        stop(process, signal.SIGTERM)
        keys = list(client.scan_iter(f"{env.prefix}.*", count=1000))
        if keys:
            client.delete(*keys)
    return {
        "events": args.events, "events_per_s": round(events_per_s), "plain_consume_per_s": round(plain),
        "ratio": round(events_per_s / plain, 3), "offered_rate": args.rate,
        "latency_p50_ms": round(statistics.median(latencies), 1),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        "poll_timeout_s": float(POLL_TIMEOUT),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rate", type=int, default=1000, help="offered events per second for the latency run")
    parser.add_argument("--duration", type=float, default=5.0)
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
            (directory / "strategies.json").write_text(json.dumps([strategy(23, KINDS[23])]))
            (directory / "hosts.json").write_text(json.dumps({"hosts": [
                {"bk_host_id": 100 + i, "bk_host_innerip": f"10.0.0.{i}", "bk_cloud_id": 0, "bk_biz_id": 2,
                 "topo_link": {f"module|{i}": ["biz|2", "set|1", f"module|{i}"]}} for i in (1, 2)]}))
            env.manage("load_strategies", str(directory / "strategies.json"))
            env.manage("load_hosts", str(directory / "hosts.json"))
            print(json.dumps(run(env, bootstrap, topic, args)), flush=True)


if __name__ == "__main__":
    main()
