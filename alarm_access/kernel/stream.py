"""Ports of the Kafka-consuming access types (`event`, `real_time_data`): a message stream with commit, and
dead letters. Adapters: `adapters.kafka`; fakes: `adapters.memory.event`.

`StreamMessage` is one consumed message and where it came from; every consumer of the project hands these
out, so a dead letter or a log line can always name `topic/partition@offset`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One consumed Kafka message and where it came from (`data_id` from the topic map, 0 when unknown)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    data_id: int

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


class MessageStream(Protocol):
    """Messages of the subscribed topics, with offsets committed only for messages marked `done`.

    At-least-once contract: a message is committed only after `done(...)` named it (its effect was delivered
    and, if bad, it was dead-lettered), so a crash replays every message not yet done. Every call is bounded
    by a timeout; a broker that cannot be reached raises `SourceUnavailable`.
    """

    def poll(self, max_messages: int, timeout: float) -> list[StreamMessage]:
        """Up to `max_messages` messages in partition order (waits at most `timeout` seconds)."""
        ...

    def done(self, messages: Iterable[StreamMessage]) -> None:
        """Mark messages processed; their offsets are committed by the commit policy or at close."""
        ...

    def maybe_commit(self, now: float) -> None:
        """Commit done offsets when the policy says so (every N messages or T seconds)."""
        ...

    def pause(self) -> None:
        """Stop fetching (backpressure); `poll` keeps the group membership alive and returns what was fetched."""
        ...

    def resume(self) -> None: ...

    def close(self) -> None:
        """Commit done offsets, leave the group, release the client. Safe to call twice."""
        ...


class DeadLetterSink(Protocol):
    def send(self, message: StreamMessage, reason: str, detail: str) -> None:
        """Queue a copy of `message` for the dead-letter topic, the error in its headers."""
        ...

    def flush(self) -> None:
        """Wait until every queued copy is acknowledged; `SourceUnavailable` if one was not."""
        ...

    def close(self) -> None: ...
