# mypy: disallow-untyped-calls=False
# (kombu ships partial annotations, as in alarm_access.adapters.rabbitmq)
"""Throughput of one `run_access --access-type incident` consumer, next to a bare consume-and-ack loop.

    .venv/bin/python -m bench.incident_pipeline [--messages 5000] [--redis-url ...]

`--messages` defaults to `INCIDENT_BENCH_MESSAGES` (else 5 000). On a private vhost of the machine's RabbitMQ
and a private database on the machine's PostgreSQL (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/
postgres`; AccessEnv creates and drops a database of its own there), the sync queue is declared as the
consumer declares it (durable quorum, delivery limit, dead-letter exchange) and filled with the incident stream
of the e2e tests (`stream`: creates, updates with growing alert sets, merges; about 10 messages per incident)
plus a sentinel create last:

* `messages_per_s`: one `run_access --access-type incident` process is started on the full queue; the clock
  runs from its "consumer connected" log line (its timestamp: start-up and migrations check not counted) until
  the sentinel — the last message, one consumer handles the queue in order — is in the database: receive →
  parse → one transaction (lock, rules, rows) → commit → ack, per message;
* `floor_per_s`: the same bodies published again, then a bare kombu consumer on the same queue, same prefetch,
  acking each message as it arrives (after the service stopped, so the two do not share the CPU);
  `ratio` = `messages_per_s / floor_per_s`;
* `peak_rss_mb`: `VmHWM` of the `run_access` process, read just before it is stopped.

The stored rows are checked against the pure rules (`IncidentBook`) over the same stream; the figures are not
asserted: they depend on the machine. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from kombu.connection import Connection
from kombu.entity import Queue
from kombu.message import Message
from kombu.messaging import Consumer

from alarm_access.adapters.rabbitmq.incidents import quorum_arguments
from alarm_access.kernel.settings import IncidentSettings
from tests.access.incident.messages import T0, body
from tests.e2e.test_incident_e2e import QUEUE, SENTINEL, _amqp, db_state, expected_state, publish, sentinel, stream
from tests.services.access_env import AccessEnv, access_env, stop
from tests.services.rabbitmq import private_vhost

CONNECTED = "incident queue consumer connected"
SETTINGS = IncidentSettings()
DLQ = f"{QUEUE}.dead_letter"


def logged_at(log: str, needle: str) -> float:
    """Epoch seconds of the first log line with `needle`, from its `ts=` (UTC, milliseconds)."""
    line = next(line for line in log.splitlines() if needle in line)
    match = re.search(r"ts=(\S+)", line)
    assert match, line
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(match.group(1)) / 1024, 1) if match else 0.0


def declare(url: str) -> None:
    """The sync queue and its dead-letter queue, as the consumer declares them."""
    connection = _amqp(url)
    try:
        channel = connection.channel()
        channel.queue_declare(DLQ, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"})
        channel.queue_declare(QUEUE, durable=True, auto_delete=False,
                              arguments=quorum_arguments(DLQ, DLQ, SETTINGS.delivery_limit))
    finally:
        connection.close()


def ready(url: str) -> int:
    connection = _amqp(url)
    try:
        return int(connection.channel().queue_declare(QUEUE, passive=True).message_count)
    finally:
        connection.close()


def wait_applied(env: AccessEnv, version: int, timeout: float) -> float:
    """Wall time (epoch) at which the sentinel of `version` was stored."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(env.env["DATABASE_URL"], autocommit=True, connect_timeout=5) as conn:
        while True:
            row = conn.execute("SELECT version_sync_time FROM alarm_access_incident WHERE incident_id = %s",
                               (SENTINEL,)).fetchone()
            if row is not None and row[0] == version:
                return time.time()
            if time.monotonic() > deadline:
                raise SystemExit(f"the sentinel was not stored within {timeout}s:\n{env.log()[-3000:]}")
            time.sleep(0.005)


def floor(url: str, count: int) -> float:
    """Messages per second of a bare kombu consume-and-ack loop over `count` messages of the sync queue."""
    acked = 0

    def on_message(message: Message) -> None:
        nonlocal acked
        message.ack()
        acked += 1

    with Connection(url, heartbeat=0, connect_timeout=5) as connection:
        channel = connection.channel()
        channel.basic_qos(0, SETTINGS.prefetch, False)
        consumer = Consumer(channel, queues=[Queue(QUEUE, no_declare=True)], on_message=on_message,
                            auto_declare=False, no_ack=False)
        started = time.perf_counter()
        consumer.consume()
        while acked < count:
            connection.drain_events(timeout=30)
        elapsed = time.perf_counter() - started
        consumer.cancel()
    return count / elapsed


def run(env: AccessEnv, url: str, count: int) -> dict[str, Any]:
    messages = stream(count - 1, seed=3)
    bodies = [body(m) for m in messages] + [sentinel(1)]
    declare(url)
    publish(url, bodies)
    assert ready(url) == count, ready(url)
    process = env.spawn("run_access", "--access-type", "incident")
    try:
        env.wait_for_log(CONNECTED, timeout=60)
        done = wait_applied(env, T0 + 10_001, timeout=600)
        per_s = count / (done - logged_at(env.log(), CONNECTED))
        rss = peak_rss_mb(process.pid)
    finally:
        stop(process, signal.SIGTERM)
    state = db_state(env)
    if state != expected_state(messages):
        raise SystemExit("the stored rows differ from the rules' state over the same stream")
    left = ready(url)
    assert left == 0, f"{left} messages left in the queue after the consumer"
    publish(url, bodies)
    floor_per_s = floor(url, count)
    return {
        "messages": count, "messages_per_s": round(per_s), "floor_per_s": round(floor_per_s),
        "ratio": round(per_s / floor_per_s, 3), "peak_rss_mb": rss, "prefetch": SETTINGS.prefetch,
        "batch_size": SETTINGS.batch_size, "incidents": len(state["incidents"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=int(os.environ.get("INCIDENT_BENCH_MESSAGES", "5000")))
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    if args.messages < 2:
        parser.error("--messages must be at least 2")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with tempfile.TemporaryDirectory(prefix="incident-bench-") as tmp, private_vhost() as url, \
            access_env(Path(tmp), args.redis_url, BK_DATA_AIOPS_INCIDENT_BROKER_URL=url,
                       ALARM_ACCESS_DRAIN_TIMEOUT="10") as env:
        print(json.dumps(run(env, url, args.messages)), flush=True)


if __name__ == "__main__":
    main()
