"""The `AnomalySink` contract, run against `MemoryAnomalySink` and `RedisAnomalySink` (real Redis, one key prefix
per test): read-back, idempotence by delivery key (two anomalies sharing an anomaly id are both pushed, a
replay of either pushes nothing), all-or-nothing on a full queue, priority and QoS state kept
between pushes, an unreachable store.

The queue limit (`ALARM_ACCESS_EVENT_QUEUE_MAX_LEN`, `max_queue_length` here) applies before anything is
written: a batch is refused (`Backpressure`) when the anomaly list of any `(strategy, item)` it touches already
holds MORE than the limit; the batch itself may take a list past it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Protocol

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from alarm_access.access.event.kinds import EventKind, FlatEvent
from alarm_access.access.event.ports import AnomalySink
from alarm_access.access.event.routing import build_routing
from alarm_access.access.event.standardize import Anomaly
from alarm_access.adapters.memory.event_ports import MemoryAnomalySink
from alarm_access.adapters.redis.events import RedisAnomalySink
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.kernel.errors import Backpressure, SourceUnavailable
from alarm_access.kernel.model import Strategy, Topology
from alarm_access.records.enrich import index_topology
from tests.access.event.test_event_fanout import HOSTS, NOW, T, agent, event_strategy
from tests.access.event.test_event_fanout import anomalies as standardized
from tests.services.victoria import free_port


class SizedSink(AnomalySink, Protocol):
    max_queue_length: int


class Harness(Protocol):
    prefix: str
    sink: SizedSink

    def lines(self, strategy_id: int, item_id: int) -> list[str]:
        """Anomaly ids of the list of `(strategy_id, item_id)`, in delivery order."""
        ...

    def signal(self) -> list[str]: ...

    def snapshot(self, key: str) -> str | None: ...

    def unreachable(self) -> AnomalySink: ...


class MemoryHarness:
    def __init__(self, prefix: str, *, max_queue_length: int = 100, qos_enabled: bool = False,
                 qos_threshold: int = 3) -> None:
        self.prefix = prefix
        self.memory = MemoryAnomalySink(max_queue_length=max_queue_length, qos_enabled=qos_enabled,
                                        qos_threshold=qos_threshold)
        self.sink: SizedSink = self.memory

    def lines(self, strategy_id: int, item_id: int) -> list[str]:
        return [a.anomaly_id for a in self.memory.lists.get((strategy_id, item_id), [])]

    def signal(self) -> list[str]:
        return list(self.memory.signal)

    def snapshot(self, key: str) -> str | None:
        return self.memory.snapshots.get(key)

    def unreachable(self) -> AnomalySink:
        sink = MemoryAnomalySink()
        sink.fail_push = SourceUnavailable("memory store unreachable")
        return sink


class RedisHarness:
    def __init__(self, client: redis.Redis, prefix: str, *, max_queue_length: int = 100, qos_enabled: bool = False,
                 qos_threshold: int = 3) -> None:
        self.client, self.prefix = client, prefix
        self.sink: SizedSink = RedisAnomalySink(client, prefix, max_queue_length=max_queue_length,
                                                qos_enabled=qos_enabled, qos_threshold=qos_threshold)

    def _list(self, key: str) -> list[str]:
        # LPUSH: the head is the newest
        return [v.decode() if isinstance(v, bytes) else v for v in reversed(self.client.lrange(key, 0, -1))]

    def lines(self, strategy_id: int, item_id: int) -> list[str]:
        return [next(iter(json.loads(line)["anomaly"].values()))["anomaly_id"]
                for line in self._list(f"{self.prefix}.detect.anomaly.list.{strategy_id}.{item_id}")]

    def signal(self) -> list[str]:
        return self._list(f"{self.prefix}.detect.anomaly.signal")

    def snapshot(self, key: str) -> str | None:
        value = self.client.get(key)
        return value.decode() if isinstance(value, bytes) else value

    def unreachable(self) -> AnomalySink:
        dead = redis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5,
                           retry=Retry(NoBackoff(), 0))  # fail at once, not after redis-py's retries
        return RedisAnomalySink(dead, self.prefix, max_queue_length=100)


MakeHarness = Callable[..., Harness]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def make(request: pytest.FixtureRequest) -> Iterator[MakeHarness]:
    """A factory of harnesses: `make(max_queue_length=..., qos_enabled=..., qos_threshold=...)`."""
    prefix = f"test.anomaly.{uuid.uuid4().hex}"
    if request.param == "memory":
        yield lambda **options: MemoryHarness(prefix, **options)
        return
    client: redis.Redis = request.getfixturevalue("client")
    yield lambda **options: RedisHarness(client, prefix, **options)
    keys = list(client.scan_iter(match=f"{prefix}.*"))
    if keys:
        client.delete(*keys)


def found(h: Harness, *strategies: Strategy, times: range = range(3)) -> list[Anomaly]:
    """The anomalies of one agent event per time `T + i`, fanned out to `strategies` (default: strategy 1)."""
    route, problems = build_routing(strategies or (event_strategy(1, "agent-gse"),),
                                    index_topology(Topology(hosts=HOSTS)),
                                    snapshot_key=RedisKeys(h.prefix).strategy_snapshot, disabled_states=set())
    assert problems == []
    return standardized(*(agent(time=T + i) for i in times), route=route)


def ids(anomalies: list[Anomaly], strategy_id: int | None = None) -> list[str]:
    return [a.anomaly_id for a in anomalies if strategy_id is None or a.strategy_id == strategy_id]


def test_a_push_is_read_back_in_order_with_its_signal_and_snapshot(make: MakeHarness) -> None:
    h = make()
    batch = found(h)
    unused = RedisKeys(h.prefix).strategy_snapshot(9, 9)
    plan = h.sink.push(batch, {batch[0].snapshot_key: '{"id": 1}', unused: "{}"}, NOW)
    assert plan.pushed == 3 and list(plan.pushes) == [(1, 1)]
    assert h.lines(1, 1) == ids(batch)
    assert h.signal() == ["1.1"]
    assert h.snapshot(batch[0].snapshot_key) == '{"id": 1}'
    assert h.snapshot(unused) is None  # only the snapshots of pushed strategies are written


def test_an_anomaly_id_is_pushed_once_across_pushes_and_within_a_batch(make: MakeHarness) -> None:
    h = make()
    first = found(h, times=range(2))
    assert h.sink.push(first, {}, NOW).pushed == 2
    overlapping = found(h, times=range(4))
    plan = h.sink.push([*overlapping, overlapping[3]], {}, NOW)  # two delivered, two new, one twice
    assert plan.pushed == 2 and dict(plan.drops) == {"duplicate": 3}
    assert h.lines(1, 1) == ids(overlapping)
    replay = h.sink.push(overlapping, {}, NOW)
    assert replay.pushed == 0 and replay.drops["duplicate"] == 4
    assert h.signal() == ["1.1", "1.1"]  # a push that pushed nothing signals nothing


def test_a_list_over_the_limit_refuses_the_whole_batch_and_marks_nothing_delivered(make: MakeHarness) -> None:
    h = make(max_queue_length=2)
    both = (event_strategy(1, "agent-gse"), event_strategy(2, "agent-gse"))
    assert h.sink.push(found(h, both[0]), {}, NOW).pushed == 3  # list 1.1 now holds 3 > 2
    mixed = found(h, *both, times=range(10, 12))
    assert {a.strategy_id for a in mixed} == {1, 2}
    with pytest.raises(Backpressure):
        h.sink.push(mixed, {}, NOW)
    assert len(h.lines(1, 1)) == 3 and h.lines(2, 2) == []  # the list with room got nothing either
    assert h.signal() == ["1.1"]
    h.sink.max_queue_length = 100  # detect drained the queue
    plan = h.sink.push(mixed, {}, NOW)
    assert plan.pushed == 4 and not plan.drops  # nothing of the refused batch was marked delivered
    assert h.lines(2, 2) == ids(mixed, 2)


def test_the_limit_counts_the_lines_already_queued_not_the_batch(make: MakeHarness) -> None:
    h = make(max_queue_length=2)
    assert h.sink.push(found(h, times=range(3)), {}, NOW).pushed == 3  # an empty list takes a batch of 3
    h.sink.max_queue_length = 3
    assert h.sink.push(found(h, times=range(3, 4)), {}, NOW).pushed == 1  # holds 3: not more than 3
    with pytest.raises(Backpressure):
        h.sink.push(found(h, times=range(4, 5)), {}, NOW)  # holds 4 > 3
    assert len(h.lines(1, 1)) == 4


def test_priority_state_is_kept_between_pushes(make: MakeHarness) -> None:
    h = make()
    high, low = event_strategy(2, "agent-gse", priority=5), event_strategy(1, "agent-gse", priority=1)
    batch = found(h, high, low, times=range(1))
    assert h.sink.push([a for a in batch if a.strategy_id == 2], {}, NOW).pushed == 1
    later = h.sink.push([a for a in batch if a.strategy_id == 1], {}, NOW + 1)
    assert later.pushed == 0 and dict(later.drops) == {"inhibited": 1}
    assert h.lines(1, 1) == [] and h.lines(2, 2) == ids(batch, 2)


def test_qos_counts_are_kept_within_the_window(make: MakeHarness) -> None:
    """With QoS on by setting (not only by the original's control key): found by this suite, every push of the
    Redis sink raised TypeError (it skipped reading one pipeline reply)."""
    h = make(qos_enabled=True, qos_threshold=2)
    plan = h.sink.push(found(h, times=range(3)), {}, NOW)
    assert (plan.pushed, plan.drops["qos"]) == (2, 1)
    more = h.sink.push(found(h, times=range(3, 5)), {}, NOW + 1)
    assert (more.pushed, more.drops["qos"]) == (0, 2)
    assert len(h.lines(1, 1)) == 2


def test_an_unreachable_store_raises_source_unavailable(make: MakeHarness) -> None:
    h = make()
    dead = h.unreachable()
    assert dead.push([], {}, NOW).pushed == 0  # an empty batch needs no store
    with pytest.raises(SourceUnavailable):
        dead.push(found(h), {}, NOW)


def disks_full(h: Harness, *mounts: str) -> list[Anomaly]:
    """One disk-full anomaly per mount point, all of host 127.0.0.1 in the same second (strategy 1)."""
    route, _ = build_routing((event_strategy(1, "disk-full-gse"),), index_topology(Topology(hosts=HOSTS)),
                             snapshot_key=RedisKeys(h.prefix).strategy_snapshot, disabled_states=set())
    flats = [FlatEvent(EventKind.DISK_FULL, T, 0, 0, "", "127.0.0.1", "",
                       extra={"free": 5, "fstype": "ext4", "disk": mount, "file_system": "/dev/vdb"})
             for mount in mounts]
    return standardized(*flats, route=route)


def test_two_anomalies_sharing_an_anomaly_id_are_both_pushed_and_a_replay_pushes_neither(make: MakeHarness) -> None:
    """With the original's ids, two disks full on one host in one second share the anomaly id: the replay
    dedupe tells them apart (delivery key), the detect-facing keys (check result, checkpoint) do not."""
    h = make()
    batch = disks_full(h, "/data1", "/data2")
    assert len({a.anomaly_id for a in batch}) == 1 and len({a.delivery_key for a in batch}) == 2
    plan = h.sink.push(batch, {}, NOW)
    assert plan.pushed == 2 and not plan.drops
    assert h.lines(1, 1) == ids(batch)
    assert h.sink.push(disks_full(h, "/data2", "/data1"), {}, NOW + 1).drops == {"duplicate": 2}  # replayed
    third = h.sink.push(disks_full(h, "/data1", "/data3"), {}, NOW + 2)  # one replayed, one new disk
    assert (third.pushed, dict(third.drops)) == (1, {"duplicate": 1})
    assert h.lines(1, 1) == [batch[0].anomaly_id] * 3  # /data1, /data2, /data3
    assert h.signal() == ["1.1", "1.1"]
