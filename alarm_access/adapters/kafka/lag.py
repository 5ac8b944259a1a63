"""Consumer lag per partition, as the consumer itself sees it: `high watermark - committed offset`.

The high watermark is the one of the consumer's last fetch (`get_watermark_offsets(cached=True)`), not a
broker query: it costs no round trip, and brokers that report a wrong end offset through ListOffsets (the
test broker does) cannot skew it. Before the first commit of a partition the consumer's position stands in
for the committed offset. Observed at most every `interval` seconds; partitions no longer assigned are
removed from the gauge, so a rebalanced partition is reported only by its new owner.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Set
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from alarm_access import metrics

Partition = tuple[str, int]


class LagObserver:
    def __init__(self, access_type: str, interval: float = 5.0) -> None:
        self._access_type = access_type
        self._interval = interval
        self._next = 0.0
        self._reported: set[Partition] = set()

    def observe(self, consumer: Any, assigned: Set[Partition], committed: Mapping[Partition, int]) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._interval
        for topic, partition in self._reported - assigned:
            metrics.STREAM_LAG.remove(self._access_type, topic, str(partition))
        self._reported &= set(assigned)
        if not assigned:
            return
        try:
            positions = {(tp.topic, tp.partition): tp.offset
                         for tp in consumer.position([TopicPartition(t, p) for t, p in assigned])}
            watermarks = {key: consumer.get_watermark_offsets(TopicPartition(*key), cached=True) for key in assigned}
        except KafkaException:  # a lag sample is advisory: skip it, never fail the poll for it
            return
        for key in assigned:
            _low, high = watermarks[key]
            base = committed.get(key, positions.get(key, -1))
            if high < 0 or base < 0:  # nothing fetched yet: unknown, not zero
                continue
            metrics.STREAM_LAG.labels(self._access_type, key[0], str(key[1])).set(max(high - base, 0))
            self._reported.add(key)

    def forget(self) -> None:
        """The consumer closed: its partitions are no longer reported by this process."""
        for topic, partition in self._reported:
            metrics.STREAM_LAG.remove(self._access_type, topic, str(partition))
        self._reported.clear()
