"""The `MessageStream` and `DeadLetterSink` contracts, run against the memory fakes and the Kafka adapters on a real
broker (tansu, or `KAFKA_BOOTSTRAP`): one topic and one consumer group per test.

The same assertions hold for both, so in-process tests of the event service on the fakes say something about
production. A "crash" is a member that stops without committing (its done offsets are dropped and the Kafka
client is closed under the adapter, as when the process is killed); "reopen" is a new member of the same group.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Protocol

import pytest

from alarm_access.adapters.kafka.consumer import KafkaStream
from alarm_access.adapters.kafka.dlq import KafkaDeadLetters
from alarm_access.adapters.memory.event import ManualClock, MemoryEventStream, MemoryLog
from alarm_access.adapters.memory.event_ports import MemoryDeadLetters
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.kernel.stream import DeadLetterSink, MessageStream, StreamMessage
from tests.services.kafka import FAST_GROUP, Consumed, create_topics, kafka, produce, read_topic
from tests.services.victoria import free_port

__all__ = ["kafka"]  # the session fixture, imported for pytest

DATA_ID = 1000
#: a long pause: longer than the test session timeout (2 s), so a member that stopped heartbeating is evicted
PAUSE_SECONDS = 2.5
#: a poll timeout far longer than any wait for messages already produced
LONG_POLL = 30.0


class World(Protocol):
    """One broker under test and what the contract needs to do behind the ports."""

    #: how long a poll may take to bring what was produced (a real consumer joins its group first)
    patience: float

    def topic(self, partitions: int) -> str:
        """A new topic of the test's own."""
        ...

    def produce(self, topic: str, values: list[bytes], partitions: int) -> None:
        """Value `i` (1-based) to partition `i % partitions`, in order."""
        ...

    def open(self, topic: str, group: str, *, every_messages: int = 5000, every_seconds: float = 3600) -> MessageStream:
        ...

    def crash(self, stream: MessageStream) -> None:
        """Stop the member without committing anything."""
        ...

    def now(self) -> float:
        """The time to hand to `maybe_commit`."""
        ...

    def elapse(self, seconds: float) -> None:
        """Let `seconds` pass for the commit policy."""
        ...

    def unreachable_stream(self, topic: str) -> MessageStream: ...

    def dead_letters(self, topic: str) -> DeadLetterSink: ...

    def unreachable_dead_letters(self, topic: str) -> DeadLetterSink: ...

    def read(self, topic: str, expected: int) -> list[Consumed]: ...


class MemoryWorld:
    patience = 0.0

    def __init__(self) -> None:
        self.log = MemoryLog()
        self.clock = ManualClock()

    def topic(self, partitions: int) -> str:
        name = f"events-{uuid.uuid4().hex[:8]}"
        self.log.create_topic(name, partitions)
        return name

    def produce(self, topic: str, values: list[bytes], partitions: int) -> None:
        for i, value in enumerate(values, start=1):
            self.log.produce(topic, value, partition=i % partitions)

    def open(self, topic: str, group: str, *, every_messages: int = 5000, every_seconds: float = 3600) -> MessageStream:
        return MemoryEventStream(self.log, {topic: DATA_ID}, group=group, commit_every_messages=every_messages,
                                 commit_every_seconds=every_seconds, clock=self.clock)

    def crash(self, stream: MessageStream) -> None:
        assert isinstance(stream, MemoryEventStream)
        stream.crash()

    def now(self) -> float:
        return self.clock.now()

    def elapse(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def unreachable_stream(self, topic: str) -> MessageStream:
        stream = MemoryEventStream(MemoryLog(), {topic: DATA_ID})
        stream.fail_poll = SourceUnavailable("memory broker unreachable")
        return stream

    def dead_letters(self, topic: str) -> DeadLetterSink:
        return MemoryDeadLetters(self.log, topic)

    def unreachable_dead_letters(self, topic: str) -> DeadLetterSink:
        sink = MemoryDeadLetters(MemoryLog(), topic)
        sink.fail_flush = SourceUnavailable("memory broker unreachable")
        return sink

    def read(self, topic: str, expected: int) -> list[Consumed]:
        return [Consumed(r.key, r.value, dict(r.headers)) for _p, _o, r in self.log.read(topic)]


class KafkaWorld:
    patience = 20.0

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.opened: list[KafkaStream] = []
        self.stranded: list[KafkaDeadLetters] = []

    def topic(self, partitions: int) -> str:
        name = f"events-{uuid.uuid4().hex[:8]}"
        create_topics(self.bootstrap, [name], partitions)
        return name

    def produce(self, topic: str, values: list[bytes], partitions: int) -> None:
        produce(self.bootstrap, topic, values, partitions)

    def _stream(self, bootstrap: str, topic: str, group: str, *, every_messages: int, every_seconds: float,
                timeout: float = 5.0) -> KafkaStream:
        stream = KafkaStream(bootstrap=bootstrap, group_id=group, topics={topic: DATA_ID}, timeout=timeout,
                             access_type="event",
                                  options={"auto.offset.reset": "earliest", **FAST_GROUP},
                                  commit_every_messages=every_messages, commit_every_seconds=every_seconds,
                                  join_timeout=30)
        self.opened.append(stream)
        return stream

    def open(self, topic: str, group: str, *, every_messages: int = 5000, every_seconds: float = 3600) -> MessageStream:
        return self._stream(self.bootstrap, topic, group, every_messages=every_messages, every_seconds=every_seconds)

    def crash(self, stream: MessageStream) -> None:
        assert isinstance(stream, KafkaStream)
        # a killed process loses its in-memory done offsets and never commits again; closing the client then
        # only ends the membership (the revoke callback finds nothing done, auto-commit is off)
        stream._done.clear()
        stream._closed = True
        stream._consumer.close()

    def now(self) -> float:
        return time.time()  # the real consumer times its policy with its own monotonic clock

    def elapse(self, seconds: float) -> None:
        time.sleep(seconds)

    def unreachable_stream(self, topic: str) -> MessageStream:
        return self._stream(f"127.0.0.1:{free_port()}", topic, group(), every_messages=5000, every_seconds=3600,
                            timeout=1.0)

    def dead_letters(self, topic: str) -> DeadLetterSink:
        return KafkaDeadLetters(self.bootstrap, topic, timeout=10)

    def unreachable_dead_letters(self, topic: str) -> DeadLetterSink:
        sink = KafkaDeadLetters(f"127.0.0.1:{free_port()}", topic, timeout=0.5)
        self.stranded.append(sink)
        return sink

    def read(self, topic: str, expected: int) -> list[Consumed]:
        return read_topic(self.bootstrap, topic, expected, timeout=15)

    def close(self) -> None:
        for stream in self.opened:
            stream.close()
        for sink in self.stranded:  # drop unsendable copies: the producer then stops retrying (and logging)
            sink._producer.purge()
            sink._producer.flush(0)


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "memory":
        yield MemoryWorld()
        return
    real = KafkaWorld(request.getfixturevalue("kafka"))
    yield real
    real.close()


def group() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"


def values(count: int) -> list[bytes]:
    return [f"m{i}".encode() for i in range(1, count + 1)]


def take(world: World, stream: MessageStream, expected: int) -> list[StreamMessage]:
    """Poll until `expected` messages arrived (the world's patience at most)."""
    out: list[StreamMessage] = []
    deadline = time.monotonic() + world.patience
    while True:
        out.extend(stream.poll(100, 0.2))
        if len(out) >= expected or time.monotonic() >= deadline:
            return out


def quiet(world: World, stream: MessageStream, seconds: float) -> list[StreamMessage]:
    """Everything polled over `seconds` (one poll on the fake, which never waits)."""
    out: list[StreamMessage] = []
    deadline = time.monotonic() + (seconds if world.patience else 0)
    while True:
        out.extend(stream.poll(100, 0.2))
        if time.monotonic() >= deadline:
            return out


def by_partition(messages: list[StreamMessage]) -> dict[int, list[tuple[int, bytes | None]]]:
    out: dict[int, list[tuple[int, bytes | None]]] = {}
    for m in messages:
        out.setdefault(m.partition, []).append((m.offset, m.value))
    return out


def expected_partitions(produced: list[bytes], partitions: int) -> dict[int, list[tuple[int, bytes | None]]]:
    out: dict[int, list[tuple[int, bytes | None]]] = {}
    for i, value in enumerate(produced, start=1):
        log = out.setdefault(i % partitions, [])
        log.append((len(log), value))
    return out


# --- MessageStream ---------------------------------------------------------------------------------------------


def test_poll_returns_every_produced_message_once_in_partition_order(world: World) -> None:
    topic, produced = world.topic(3), values(30)
    world.produce(topic, produced, 3)
    stream = world.open(topic, group())
    got = take(world, stream, 30)
    assert by_partition(got) == expected_partitions(produced, 3)
    assert {(m.topic, m.data_id) for m in got} == {(topic, DATA_ID)}
    assert quiet(world, stream, 1.0) == []
    stream.close()
    stream.close()  # idempotent


def test_a_poll_returns_what_has_arrived_without_waiting_for_a_full_batch(world: World) -> None:
    topic = world.topic(1)
    world.produce(topic, values(1), 1)
    stream = world.open(topic, group())
    assert len(take(world, stream, 1)) == 1  # the member has joined and caught up
    world.produce(topic, values(3), 1)
    started = time.monotonic()
    got = stream.poll(1000, LONG_POLL)  # 3 messages, not 1 000: it must not wait the timeout out for more
    assert 1 <= len(got) <= 3 and time.monotonic() - started < LONG_POLL / 2
    stream.close()


def test_close_commits_done_messages_and_a_new_member_gets_only_the_rest(world: World) -> None:
    topic, produced, g = world.topic(2), values(20), group()
    world.produce(topic, produced, 2)
    stream = world.open(topic, g)
    got = take(world, stream, 20)
    assert len(got) == 20
    stream.done(m for m in got if m.offset < 4)  # the first four of each partition
    stream.close()
    again = world.open(topic, g)
    rest = take(world, again, 12)
    assert sorted((m.partition, m.offset) for m in rest) == [(p, o) for p in (0, 1) for o in range(4, 10)]
    assert quiet(world, again, 1.0) == []
    again.close()


def test_a_crash_replays_what_was_not_committed_by_the_message_count_policy(world: World) -> None:
    topic, g = world.topic(1), group()
    world.produce(topic, values(10), 1)
    stream = world.open(topic, g, every_messages=5)
    got = take(world, stream, 10)
    stream.done(got[:5])
    stream.maybe_commit(world.now())  # 5 done messages: committed
    stream.done(got[5:8])
    stream.maybe_commit(world.now())  # 3 more: below the count, kept
    world.crash(stream)
    again = world.open(topic, g, every_messages=5)
    assert [m.offset for m in take(world, again, 5)] == [5, 6, 7, 8, 9]
    again.close()


def test_a_crash_replays_what_was_not_committed_by_the_time_policy(world: World) -> None:
    topic, g = world.topic(1), group()
    world.produce(topic, values(3), 1)
    stream = world.open(topic, g, every_messages=1000, every_seconds=0.5)
    got = take(world, stream, 3)
    world.elapse(0.6)
    stream.done(got[:1])
    stream.maybe_commit(world.now())  # more than 0.5 s since the start: committed
    stream.done(got[1:2])
    stream.maybe_commit(world.now())  # just committed: kept
    world.crash(stream)
    again = world.open(topic, g)
    assert [m.offset for m in take(world, again, 2)] == [1, 2]
    again.close()


def test_pause_keeps_the_membership_and_fetches_nothing_new_until_resume(world: World) -> None:
    topic, g = world.topic(1), group()
    world.produce(topic, values(5), 1)
    stream = world.open(topic, g)
    first = take(world, stream, 5)
    assert [m.offset for m in first] == [0, 1, 2, 3, 4]
    stream.pause()
    world.produce(topic, values(5), 1)
    assert quiet(world, stream, PAUSE_SECONDS) == []
    stream.resume()
    rest = take(world, stream, 5)
    assert [m.offset for m in rest] == [5, 6, 7, 8, 9]
    stream.done(first + rest)
    stream.close()  # still the partition's owner after the long pause: the commit is accepted
    again = world.open(topic, g)
    assert quiet(world, again, 3.0) == []
    again.close()


def test_an_unreachable_broker_makes_poll_raise_source_unavailable(world: World) -> None:
    stream = world.unreachable_stream("nowhere")
    deadline = time.monotonic() + max(world.patience, 1.0)
    with pytest.raises(SourceUnavailable):  # never an endless "no data"
        while time.monotonic() < deadline:
            stream.poll(10, 0.2)
    stream.close()


# --- DeadLetterSink ------------------------------------------------------------------------------------------


def test_a_dead_lettered_copy_is_readable_with_its_error_headers_after_flush(world: World) -> None:
    topic = world.topic(1)
    sink = world.dead_letters(topic)
    detail = "bad json: " + "é" * 3000
    sink.send(StreamMessage("gse-base", 2, 41, b"{not json", 1000), "bad_json", detail)
    sink.send(StreamMessage("gse-custom", 0, 7, None, 1100000), "empty", "no value")
    sink.flush()
    copies = world.read(topic, 2)
    assert [(c.key, c.value) for c in copies] == [(b"gse-base/2/41", b"{not json"), (b"gse-custom/0/7", None)]
    assert copies[0].headers == {
        "x-error-reason": b"bad_json", "x-error": detail[:2000].encode(), "x-original-topic": b"gse-base",
        "x-original-partition": b"2", "x-original-offset": b"41", "x-data-id": b"1000"}
    assert copies[1].headers["x-error-reason"] == b"empty" and copies[1].headers["x-data-id"] == b"1100000"
    sink.close()
    sink.close()


def test_a_flush_that_is_not_acknowledged_raises_source_unavailable(world: World) -> None:
    sink = world.unreachable_dead_letters("dlq-nowhere")
    sink.send(StreamMessage("gse-base", 0, 1, b"x", 1000), "bad_json", "x")
    with pytest.raises(SourceUnavailable):
        sink.flush()
    sink.close()  # never raises


# --- the fake's own test knobs (no real counterpart) -----------------------------------------------------------


def test_memory_reopen_restarts_from_the_committed_offsets_and_refuses_the_crashed_stream() -> None:
    log = MemoryLog()
    log.create_topic("t", 2)
    for i in range(6):
        log.produce("t", b"v", partition=i % 2)
    stream = MemoryEventStream(log, {"t": 1}, commit_every_messages=2)
    got = stream.poll(4, 0)
    assert [(m.partition, m.offset) for m in got] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    stream.done(got[:2])
    stream.maybe_commit(0)
    stream.done(got[2:3])  # not committed
    again = stream.reopen()
    with pytest.raises(RuntimeError):
        stream.poll(1, 0)
    assert log.committed_offsets("memory") == {("t", 0): 2}
    assert [(m.partition, m.offset) for m in again.poll(10, 0)] == [(0, 2), (1, 0), (1, 1), (1, 2)]


def test_memory_failures_commit_nothing_until_cleared() -> None:
    log = MemoryLog()
    log.create_topic("t")
    log.produce("t", b"v")
    stream = MemoryEventStream(log, {"t": 1}, commit_every_messages=1)
    stream.fail_poll = SourceUnavailable("down")
    with pytest.raises(SourceUnavailable):
        stream.poll(1, 0)
    stream.fail_poll = None
    stream.done(stream.poll(1, 0))
    stream.fail_commit = SourceUnavailable("down")
    with pytest.raises(SourceUnavailable):
        stream.maybe_commit(0)
    stream.close()  # logs the failed final commit, like the real one
    assert log.committed_offsets("memory") == {} and stream.closed
    dead = MemoryDeadLetters(log, "dlq")
    dead.fail_flush = SourceUnavailable("down")
    dead.send(StreamMessage("t", 0, 0, b"v", 1), "r", "d")
    with pytest.raises(SourceUnavailable):
        dead.flush()
    dead.fail_flush = None
    dead.flush()
    assert log.read("dlq") == [] and dead.flushes == 1  # the failed copy is lost: the caller sends it again

