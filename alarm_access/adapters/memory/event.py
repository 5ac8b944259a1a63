"""Fakes of the `event` access type's Kafka side: a partitioned in-memory log (`MemoryLog`, the broker) and
an `MessageStream` over it (`MemoryEventStream`); `event_ports.MemoryDeadLetters` writes to the same log.

Held by `tests/adapters/memory/test_event_stream_contract.py` to the same assertions as `KafkaStream`
on a real broker. Nothing here sleeps: a `poll` with nothing to return returns `[]` at
once instead of waiting out its timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from alarm_access.kernel.errors import AccessError, SourceUnavailable
from alarm_access.kernel.stream import StreamMessage

logger = logging.getLogger("alarm_access.adapters.memory.event")

Partition = tuple[str, int]


class ManualClock:
    """A clock that moves only when told: `clock()` / `clock.now()` read it, `advance(seconds)` moves it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


@dataclass(frozen=True, slots=True)
class LogRecord:
    value: bytes | None
    key: bytes | None = None
    headers: Mapping[str, bytes] = field(default_factory=dict)


class MemoryLog:
    """The broker: topics of partitions (append-only record lists) and the committed offsets of each group.

    Offsets are list positions. A committed offset is the next offset to read (Kafka's `offset + 1`).
    """

    def __init__(self) -> None:
        self.partitions: dict[Partition, list[LogRecord]] = {}
        self.committed: dict[str, dict[Partition, int]] = {}

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        for partition in range(partitions):
            self.partitions.setdefault((topic, partition), [])

    def partitions_of(self, topic: str) -> list[int]:
        return sorted(p for t, p in self.partitions if t == topic)

    def produce(self, topic: str, value: bytes | None, *, partition: int = 0, key: bytes | None = None,
                headers: Mapping[str, bytes] | None = None) -> int:
        """Append a record to an existing partition (`KeyError` otherwise); returns its offset."""
        records = self.partitions[(topic, partition)]
        records.append(LogRecord(value, key, dict(headers or {})))
        return len(records) - 1

    def read(self, topic: str) -> list[tuple[int, int, LogRecord]]:
        """Every `(partition, offset, record)` of `topic`, partition by partition."""
        return [(p, offset, record) for p in self.partitions_of(topic)
                for offset, record in enumerate(self.partitions[(topic, p)])]

    def committed_offsets(self, group: str) -> dict[Partition, int]:
        return dict(self.committed.get(group, {}))


class MemoryEventStream:
    """An `MessageStream` of one consumer group member owning every partition of `topics` (topic → data id).

    Same policy as `KafkaStream`: a fetch position per partition starting at the group's committed
    offset (else at 0 for `offset_reset="earliest"`, the end for `"latest"`); `poll` returns up to
    `max_messages` from the partitions in (topic, partition) order, nothing while paused; `done` records
    `offset + 1` per partition and counts the messages it advanced; `maybe_commit(now)` commits every
    `commit_every_messages` done messages or once `commit_every_seconds` passed since the last commit (times
    are the `now` values given, and `clock()` at start and at close); `close` commits what is done (a failure
    is logged, as the real one does) and is idempotent.

    Test knobs: `fail_poll` / `fail_commit`, while set, make every poll / commit raise them (the commit
    writes nothing). `crash()` stops the member without committing; `reopen()` gives the stream a restarted
    process gets (same log, group and policy; positions from the committed offsets). A stream used after
    close or crash raises `RuntimeError`. `commits` counts successful commits that wrote offsets.
    """

    def __init__(self, log: MemoryLog, topics: Mapping[str, int], *, group: str = "memory",
                 commit_every_messages: int = 5000, commit_every_seconds: float = 2.0,
                 offset_reset: str = "earliest", clock: Callable[[], float] = time.time) -> None:
        if offset_reset not in ("earliest", "latest"):
            raise ValueError(f"offset_reset must be earliest or latest, got {offset_reset!r}")
        self.log, self.topics, self.group = log, dict(topics), group
        self.fail_poll: AccessError | None = None
        self.fail_commit: AccessError | None = None
        self.commits = 0
        self._policy = (max(commit_every_messages, 1), commit_every_seconds)
        self._offset_reset, self._clock = offset_reset, clock
        self._positions: dict[Partition, int] = {}
        self._done: dict[Partition, int] = {}
        self._uncommitted = 0
        self._last_commit = clock()
        self._paused = False
        self._state = "open"  # then "closed" or "crashed"

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def closed(self) -> bool:
        return self._state != "open"

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"MemoryEventStream used after it was {self._state}")

    def _assign(self) -> list[Partition]:
        """Every partition of the subscribed topics (new ones too), positioned on first sight."""
        committed = self.log.committed.get(self.group, {})
        assigned = [(t, p) for t in sorted(self.topics) for p in self.log.partitions_of(t)]
        for key in assigned:
            if key not in self._positions:
                reset = 0 if self._offset_reset == "earliest" else len(self.log.partitions[key])
                self._positions[key] = committed.get(key, reset)
        return assigned

    def poll(self, max_messages: int, timeout: float) -> list[StreamMessage]:
        self._check_open()
        if self.fail_poll is not None:
            raise self.fail_poll
        assigned = self._assign()
        if self._paused:
            return []
        out: list[StreamMessage] = []
        for topic, partition in assigned:
            records = self.log.partitions[(topic, partition)]
            start = self._positions[(topic, partition)]
            stop = min(len(records), start + max_messages - len(out))
            out.extend(StreamMessage(topic, partition, offset, records[offset].value, self.topics[topic])
                       for offset in range(start, stop))
            self._positions[(topic, partition)] = max(start, stop)
        return out

    def done(self, messages: Iterable[StreamMessage]) -> None:
        self._check_open()
        for message in messages:
            key = (message.topic, message.partition)
            if key in self._positions and message.offset + 1 > self._done.get(key, -1):
                self._done[key] = message.offset + 1
                self._uncommitted += 1

    def maybe_commit(self, now: float) -> None:
        self._check_open()
        every_messages, every_seconds = self._policy
        if self._uncommitted >= every_messages or (self._uncommitted and now - self._last_commit >= every_seconds):
            self._commit(now)

    def _commit(self, now: float) -> None:
        if not self._done:
            return
        if self.fail_commit is not None:
            raise self.fail_commit
        self.log.committed.setdefault(self.group, {}).update(self._done)
        self._done.clear()
        self._uncommitted = 0
        self._last_commit = now
        self.commits += 1

    def pause(self) -> None:
        self._check_open()
        self._paused = True

    def resume(self) -> None:
        self._check_open()
        self._paused = False

    def close(self) -> None:
        if self._state != "open":
            return
        try:
            self._commit(self._clock())
        except SourceUnavailable as exc:
            logger.warning("final commit failed; uncommitted messages will be replayed: %s", exc)
        finally:
            self._state = "closed"

    def crash(self) -> None:
        """Stop like a killed process: done offsets not committed are lost."""
        if self._state == "open":
            self._state = "crashed"

    def reopen(self) -> MemoryEventStream:
        """The stream of a restarted process (crashing this one first if it is still open)."""
        self.crash()
        every_messages, every_seconds = self._policy
        return MemoryEventStream(self.log, self.topics, group=self.group, commit_every_messages=every_messages,
                                 commit_every_seconds=every_seconds, offset_reset=self._offset_reset,
                                 clock=self._clock)
