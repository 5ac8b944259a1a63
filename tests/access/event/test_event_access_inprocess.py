"""The `event` service cycle (`streaming.StreamAccess` + `EventHandler`) in process, on the memory fakes of its ports.

What is checked is the order of effects (ARCHITECTURE principle 6): a batch that cannot be delivered is held,
the stream paused and nothing of it committed; once the sink accepts again the held batch is delivered once,
the stream resumed and the offsets committed; a crash between push and commit replays without doubling.
The fakes are held to the real adapters' contracts by `tests/adapters/memory/test_*_contract.py`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import pytest

from alarm_access.access.event.handle import EventHandler
from alarm_access.access.event.ports import EventPorts
from alarm_access.adapters.memory.event import MemoryEventStream, MemoryLog
from alarm_access.adapters.memory.event_ports import (
    MemoryAnomalySink,
    MemoryDeadLetters,
    MemoryEventPorts,
    MemoryStrategyRepository,
)
from alarm_access.kernel.config import AccessConfig, AccessType
from alarm_access.kernel.errors import AccessError, Backpressure, SourceUnavailable
from alarm_access.kernel.model import Host, Topology
from alarm_access.kernel.settings import EventSettings
from alarm_access.runtime import CycleOutcome
from alarm_access.streaming import Polling, StreamAccess
from tests.e2e.test_event_e2e import gse, strategy

TOPIC, DLQ, GROUP, DATA_ID = "gse-base", "dlq", "memory", 1000
DISK_FULL = {"type": 6, "host": "10.0.0.1", "used_percent": 95, "free": 5, "fstype": "ext4", "disk": "/",
             "file_system": "/dev/vda1"}
TOPOLOGY = Topology(hosts=(Host(101, "10.0.0.1", 0, 2, agent_id="agent-101", state="运营中[需告警]",
                                topo_link={"module|101": ("biz|2", "set|1", "module|101")}),))
BAD = b"{not json"


class World:
    """One event service over the fakes: a log with `partitions` partitions, the DLQ, the anomaly sink."""

    def __init__(self, *, partitions: int = 1, batch_size: int = 1000, commit_every_messages: int = 1,
                 max_queue_length: int = 1_000_000, max_invalid_ratio: float = 0.5) -> None:
        self.log = MemoryLog()
        self.log.create_topic(TOPIC, partitions)
        self.partitions = partitions
        stream = MemoryEventStream(self.log, {TOPIC: DATA_ID}, group=GROUP,
                                   commit_every_messages=commit_every_messages, commit_every_seconds=3600)
        self.sink = MemoryAnomalySink(max_queue_length=max_queue_length)
        self.ports = MemoryEventPorts([stream], MemoryDeadLetters(self.log, DLQ), self.sink,
                                      MemoryStrategyRepository([strategy(23, "disk-full-gse")], TOPOLOGY))
        self.config = AccessConfig(access_type=AccessType.EVENT, event=EventSettings(
            batch_size=batch_size, poll_timeout=0.0, commit_every_messages=commit_every_messages,
            commit_every_seconds=3600, max_invalid_ratio=max_invalid_ratio, invalid_window=1000))
        self.access = self.start()
        self.produced = 0
        self.times: set[int] = set()
        self.bad: list[str] = []
        self.consumed: list[str] = []  # anomaly ids detect took off the queues
        self._base = int(time.time()) - 10

    def start(self) -> StreamAccess:
        ports: EventPorts = self.ports
        streams = ports.event_streams()
        polling = Polling(self.config.event.batch_size, self.config.event.poll_timeout)
        return StreamAccess("event", lambda: streams, EventHandler(self.config, ports), polling, ports.close)

    @property
    def stream(self) -> MemoryEventStream:
        return self.ports.streams[0]

    @property
    def dead(self) -> MemoryDeadLetters:
        return self.ports.dead

    def produce(self, count: int, bad: set[int] | frozenset[int] = frozenset()) -> None:
        """`count` messages round-robin over the partitions, one disk-full event each (its own time), except
        the positions in `bad`, which are not JSON."""
        for i in range(count):
            partition = self.produced % self.partitions
            if i in bad:
                offset = self.log.produce(TOPIC, BAD, partition=partition)
                self.bad.append(f"{TOPIC}/{partition}/{offset}")
            else:
                at = self._base - self.produced
                self.log.produce(TOPIC, gse(DISK_FULL, at), partition=partition)
                self.times.add(at)
            self.produced += 1

    def cycle(self) -> CycleOutcome:
        return self.access.cycle(time.time())

    def committed(self) -> dict[int, int]:
        return {p: offset for (_t, p), offset in self.log.committed_offsets(GROUP).items()}

    def detect(self) -> None:
        """What detect does: take every anomaly off the queues."""
        self.consumed.extend(self.sink.anomaly_ids())
        self.sink.lists.clear()

    def anomaly_ids(self) -> list[str]:
        return [*self.consumed, *self.sink.anomaly_ids()]

    def dead_letter_keys(self) -> Counter[str]:
        return Counter((r.key or b"").decode() for _p, _o, r in self.log.read(DLQ))

    def pushed(self) -> list[int]:
        return [plan.pushed for plan in self.sink.plans]


def assert_exactly_once(world: World) -> None:
    ids = world.anomaly_ids()
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)
    assert {int(i.split(".")[1]) for i in ids} == world.times  # anomaly id = md5.time.strategy.item.level


@pytest.mark.parametrize("failure", [Backpressure("anomaly queue full"), SourceUnavailable("redis down")],
                         ids=["backpressure", "source_unavailable"])
def test_a_failed_push_holds_the_batch_until_the_sink_accepts_then_delivers_it_once(failure: AccessError) -> None:
    w = World()
    w.produce(10)
    w.sink.fail_push = failure
    for _ in range(2):  # the first failure and a retry that fails again
        assert w.cycle().ok is False
        assert w.stream.paused and w.committed() == {} and w.sink.plans == []
    w.sink.fail_push = None
    assert w.cycle().ok is True
    assert w.pushed() == [10] and not w.stream.paused and w.committed() == {0: 10}
    assert w.cycle().ok is True and w.pushed() == [10]  # nothing left to deliver
    assert_exactly_once(w)


def test_a_full_queue_holds_the_batch_and_what_arrives_meanwhile_waits_for_resume() -> None:
    w = World(max_queue_length=0)
    w.produce(1)
    assert w.cycle().ok and w.committed() == {0: 1}  # the queue now holds 1 > 0 line
    w.produce(10)
    assert w.cycle().ok is False  # Backpressure: the queue is over its limit
    w.produce(5)  # arrives while the stream is paused
    assert w.cycle().ok is False
    assert w.stream.paused and w.committed() == {0: 1} and w.pushed() == [1]
    w.detect()
    assert w.cycle().ok is True
    assert w.pushed() == [1, 10] and not w.stream.paused and w.committed() == {0: 11}  # only the held batch
    w.detect()
    assert w.cycle().ok is True and w.pushed() == [1, 10, 5] and w.committed() == {0: 16}
    assert_exactly_once(w)


def test_a_failed_poll_holds_nothing_and_loses_nothing() -> None:
    w = World()
    w.produce(4)
    w.stream.fail_poll = SourceUnavailable("kafka down")
    assert w.cycle().ok is False
    assert not w.stream.paused and w.sink.plans == [] and w.committed() == {}
    w.stream.fail_poll = None
    assert w.cycle().ok is True and w.pushed() == [4] and w.committed() == {0: 4}
    assert_exactly_once(w)


def test_a_failed_commit_keeps_the_offsets_and_redelivery_doubles_nothing() -> None:
    w = World()
    w.produce(6)
    w.stream.fail_commit = SourceUnavailable("kafka down")
    for _ in range(2):
        assert w.cycle().ok is False
        assert w.committed() == {} and w.stream.paused
    w.stream.fail_commit = None
    assert w.cycle().ok is True and w.committed() == {0: 6} and not w.stream.paused
    assert sum(w.pushed()) == 6  # the batch went to the sink again, but no anomaly id twice
    assert_exactly_once(w)


def test_a_batch_over_the_invalid_ratio_is_held_and_nothing_of_it_written(caplog: pytest.LogCaptureFixture) -> None:
    w = World(max_invalid_ratio=0.5)
    w.produce(100, bad=set(range(0, 100, 5)) | set(range(1, 100, 5)) | set(range(2, 100, 5)))  # 60 % invalid
    caplog.set_level(logging.ERROR, logger="alarm_access.access.event")
    for _ in range(2):  # held: retried, refused again, until someone resolves it
        assert w.cycle().ok is False
        assert w.stream.paused and w.committed() == {}
    assert w.sink.plans == [] and w.dead_letter_keys() == Counter()
    errors = {getattr(r, "ctx", {}).get("error") for r in caplog.records}
    assert errors == {"TooManyInvalid"}


def test_below_the_invalid_ratio_bad_messages_are_dead_lettered_and_the_rest_delivered() -> None:
    w = World(max_invalid_ratio=0.5)
    w.produce(100, bad=set(range(0, 100, 10)))  # 10 % invalid
    assert w.cycle().ok is True
    assert w.dead_letter_keys() == Counter(w.bad) and len(w.bad) == 10
    assert {r.headers["x-error-reason"] for _p, _o, r in w.log.read(DLQ)} == {b"not_json"}
    assert w.pushed() == [90] and w.committed() == {0: 100} and not w.stream.paused
    assert_exactly_once(w)


def test_a_failed_dead_letter_flush_holds_the_batch_and_the_retry_pushes_nothing_twice() -> None:
    w = World()
    w.produce(20, bad={3, 11})
    w.dead.fail_flush = SourceUnavailable("dlq broker down")
    assert w.cycle().ok is False
    assert w.stream.paused and w.committed() == {} and w.dead_letter_keys() == Counter()
    assert w.pushed() == [18]  # anomalies go before dead letters: already pushed
    w.dead.fail_flush = None
    assert w.cycle().ok is True
    assert w.dead_letter_keys() == Counter(w.bad)
    assert w.pushed() == [18, 0] and w.sink.plans[-1].drops["duplicate"] == 18
    assert w.committed() == {0: 20} and not w.stream.paused
    assert_exactly_once(w)


def test_a_crash_between_push_and_commit_replays_without_duplicates_or_losses() -> None:
    w = World(partitions=2, batch_size=7, commit_every_messages=10)
    w.produce(40, bad={30, 33})  # partition 0 offset 15 (replayed below), partition 1 offset 16
    for _ in range(3):
        assert w.cycle().ok is True
    # 21 messages delivered (partition 0 first); the policy committed 14 of them, 7 are done but not committed
    assert w.committed() == {0: 14} and sum(w.pushed()) == 20
    del w.access  # the process dies: no close, no final commit
    w.ports.restart()
    w.access = w.start()
    for _ in range(10):
        if not w.cycle().ok or len(w.anomaly_ids()) == 38:
            break
    w.access.close()
    assert w.committed() == {0: 20, 1: 20}
    assert sum(p.drops["duplicate"] for p in w.sink.plans) == 6  # the 7 replayed messages, one of them bad
    assert_exactly_once(w)
    # a replayed bad message is dead-lettered again; its copies carry the same key
    assert w.dead_letter_keys() == Counter({f"{TOPIC}/0/15": 2, f"{TOPIC}/1/16": 1})
