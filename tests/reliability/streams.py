"""Kafka helpers the reliability pipelines share: start a consumer service and wait until it has its
partitions, and count a topic's messages by id, read to its end."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from tests.services.access_env import AccessEnv
from tests.services.kafka import FAST_GROUP


def spawn_consumer(env: AccessEnv, access_type: str, log: str) -> subprocess.Popen[str]:
    """`run_access --access-type ACCESS_TYPE`, returned once its consumer was assigned its partitions."""
    process = env.spawn("run_access", "--access-type", access_type, log=log)
    env.wait_for_log("kafka consumer assigned partitions", name=log, timeout=90)
    return process


def topic_counts(bootstrap: str, topic: str, key: Callable[[Message], str], timeout: float = 30) -> Counter[str]:
    """`key(message)` -> how many messages of the (single-partition) `topic` have it, read from offset 0 up to
    the high watermark of the consumer's own fetches (not ListOffsets: tansu's is off by a batch)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reliability-{time.monotonic_ns()}",
                         "enable.auto.commit": False, **FAST_GROUP})
    partition = TopicPartition(topic, 0, 0)
    consumer.assign([partition])
    counts: Counter[str] = Counter()
    position, deadline = 0, time.monotonic() + timeout
    try:
        while True:
            for message in consumer.consume(num_messages=1000, timeout=0.2):
                if message.error() is not None:
                    raise KafkaException(message.error())
                counts[key(message)] += 1
                position = (message.offset() or 0) + 1
            high = consumer.get_watermark_offsets(partition, cached=True)[1]
            if high >= 0 and position >= high:  # -1001 until the first fetch answered
                return counts
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: read to {position}, the end is {high}, within {timeout}s")
    finally:
        consumer.close()
