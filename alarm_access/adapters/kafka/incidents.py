"""`access.incident.ports.IncidentSource` over one Kafka topic: the alternative to the RabbitMQ sync queue.

Built from the project's `KafkaStream` (commit after `done`, cooperative rebalancing, bounded calls) and its
`KafkaDeadLetters` producer; no Kafka client code of its own.

* `receive` hands out one message at a time from a buffer filled by `poll` (at most `prefetch` at once).
* `ack` marks the message done: its offset is committed by the stream's policy (every `prefetch` messages or
  second) and at close, so a crash replays what was stored but not committed yet — a `duplicate` then (the
  store's version rules make a replay change nothing).
* `dead_letter` produces a copy to the dead-letter topic with the reason in its headers and waits for the
  broker's acknowledgement before marking the message done: a bad message is never lost nor redelivered
  forever. Kafka keeps no delivery count, so a message that crashes the consumer comes back until it no longer
  does; transient store failures are held and retried in the process, as with RabbitMQ.
* `keepalive` pauses fetching and polls, which keeps the group membership (`max.poll.interval.ms`) while a
  message is held through a database outage; the next `receive` resumes fetching.

A message of a partition revoked while it was buffered is still handed out and applied (harmlessly: the new
owner's replay of it is a `duplicate`), but its offset is not committed here (`KafkaStream.done`).
"""

from __future__ import annotations

import itertools
import time
from collections import deque

from alarm_access.access.incident.ports import Delivery
from alarm_access.kernel.stream import DeadLetterSink, MessageStream, StreamMessage


class KafkaIncidentSource:
    """One consumer of the incident topic. Not thread-safe (the incident service's loop thread uses it)."""

    def __init__(self, stream: MessageStream, dead_letters: DeadLetterSink, *, prefetch: int) -> None:
        self._stream = stream
        self._dead_letters = dead_letters
        self._prefetch = prefetch
        self._buffer: deque[StreamMessage] = deque()
        self._held: dict[int, StreamMessage] = {}
        self._tags = itertools.count(1)
        self._paused = False
        self._closed = False

    def receive(self, timeout: float) -> Delivery | None:
        if self._paused:
            self._stream.resume()
            self._paused = False
        if not self._buffer:
            self._buffer.extend(self._stream.poll(self._prefetch, timeout))
        while self._buffer:
            message = self._buffer.popleft()
            if message.value is None:  # a tombstone carries no sync message: nothing to store
                self._done(message)
                continue
            tag = next(self._tags)
            self._held[tag] = message
            return Delivery(message.value, tag, epoch=0, origin=message.position)
        return None

    def ack(self, delivery: Delivery) -> None:
        self._done(self._held.pop(delivery.tag))

    def dead_letter(self, delivery: Delivery, reason: str, detail: str) -> None:
        message = self._held[delivery.tag]
        self._dead_letters.send(message, reason, detail)
        self._dead_letters.flush()
        del self._held[delivery.tag]
        self._done(message)

    def keepalive(self) -> None:
        if not self._paused:
            self._stream.pause()
            self._paused = True
        self._buffer.extend(self._stream.poll(self._prefetch, 0.05))

    def _done(self, message: StreamMessage) -> None:
        self._stream.done([message])
        self._stream.maybe_commit(time.time())

    def close(self) -> None:
        """Commit what was acked, leave the group; buffered and held messages are replayed by the next owner."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.close()
        finally:
            self._dead_letters.close()
