"""The `RecordSink` contract, run against `MemoryRecordSink` and `RedisSink` (real Redis, one key prefix per test).

The same assertions hold for both, so in-process tests on the fake say something about the real sink.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Protocol

import pytest
import redis

from alarm_access.access.data.jobs import REPLAY_SLOT, Fence, FencedOut
from alarm_access.access.data.ports import RecordSink
from alarm_access.adapters.memory.data import MemoryRecordSink
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.adapters.redis.sink import RedisSink
from alarm_access.kernel.errors import Backpressure
from alarm_access.kernel.model import StrategyGroup
from alarm_access.records.pipeline import PullResult, run
from tests.factories import NOW, T0, group, host, index, item, point, strategy


class Harness(Protocol):
    """One sink under test plus what the contract needs to look at (and set up) behind the port."""

    sink: RecordSink

    def pushed(self, strategy_id: int, item_id: int) -> list[str]:
        """Record ids of the detect queue, in delivery order."""
        ...

    def pushed_nodata(self, strategy_id: int, item_id: int) -> list[str]: ...

    def hold_fence(self, group_key: str, token: int) -> None:
        """Make `token` the group's current lock token (what `PullGuards.lock` does)."""
        ...


class MemoryHarness:
    def __init__(self, max_queue_length: int) -> None:
        self.memory = MemoryRecordSink(max_queue_length=max_queue_length)
        self.sink: RecordSink = self.memory

    def pushed(self, strategy_id: int, item_id: int) -> list[str]:
        return [r.record_id for r in self.memory.records(strategy_id, item_id)]

    def pushed_nodata(self, strategy_id: int, item_id: int) -> list[str]:
        return [r.record_id for r in self.memory.nodata.get((strategy_id, item_id), [])]

    def hold_fence(self, group_key: str, token: int) -> None:
        self.memory.set_fence(group_key, token)


class RedisHarness:
    def __init__(self, client: redis.Redis, prefix: str, max_queue_length: int) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self.sink: RecordSink = RedisSink(client, prefix, max_queue_length=max_queue_length)

    def _ids(self, key: str) -> list[str]:
        # LPUSH puts the newest line at the head: the delivery order is the reversed list.
        return [json.loads(line)["record_id"] for line in reversed(self.client.lrange(key, 0, -1))]

    def pushed(self, strategy_id: int, item_id: int) -> list[str]:
        return self._ids(self.keys.data(strategy_id, item_id))

    def pushed_nodata(self, strategy_id: int, item_id: int) -> list[str]:
        return self._ids(self.keys.nodata(strategy_id, item_id))

    def hold_fence(self, group_key: str, token: int) -> None:
        self.client.set(self.keys.fence(group_key), token)


MakeHarness = Callable[..., Harness]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def make(request: pytest.FixtureRequest) -> Iterator[MakeHarness]:
    """A factory of harnesses: `make(max_queue_length=...)`."""
    if request.param == "memory":
        yield lambda max_queue_length=5_000_000: MemoryHarness(max_queue_length)
        return
    client: redis.Redis = request.getfixturevalue("client")
    prefix = f"test.{uuid.uuid4().hex}"
    yield lambda max_queue_length=5_000_000: RedisHarness(client, prefix, max_queue_length)
    keys = list(client.scan_iter(match=f"{prefix}.*"))
    if keys:
        client.delete(*keys)


def a_group() -> StrategyGroup:
    return group(strategy(1, item(1, nodata=True), priority=5, priority_group_key="pg"), strategy(2, item(2)))


def a_result(g: StrategyGroup, t: int = T0, seen: dict[int, set[str]] | None = None) -> PullResult:
    return run(
        g,
        [point(t=t), point(ip="127.0.0.2", t=t)],
        now=NOW,
        topology_index=index(host(1, "127.0.0.1"), host(2, "127.0.0.2")),
        seen_record_ids=seen or {},
        priority_state={},
    )


def ids(result: PullResult, key: tuple[int, int], *, nodata: bool = False) -> list[str]:
    return [r.record_id for r in (result.nodata if nodata else result.data)[key]]


def test_nothing_stored_reads_as_empty(make: MakeHarness) -> None:
    h, g = make(), a_group()
    assert h.sink.read_checkpoint(g) == 0
    assert h.sink.read_seen(g, [T0, T0 - 60]) == {T0: set(), T0 - 60: set()}
    assert h.sink.read_seen(g, []) == {}
    assert h.sink.read_priority(["pg", "other"]) == {"pg": {}, "other": {}}
    assert h.pushed(1, 1) == []
    assert h.sink.last_runs([g.key]) == {} and h.sink.last_runs([]) == {}


def test_a_delivery_is_read_back(make: MakeHarness) -> None:
    h, g = make(), a_group()
    result = a_result(g)
    assert len(result.data[(1, 1)]) == 2 and result.dedupe_additions[T0]
    h.sink.deliver(result, g, checkpoint=T0, now=NOW)
    assert h.sink.read_checkpoint(g) == T0
    assert h.sink.read_seen(g, [T0, T0 - 60]) == {T0: set(result.dedupe_additions[T0]), T0 - 60: set()}
    assert h.pushed(1, 1) == ids(result, (1, 1)) and h.pushed(2, 2) == ids(result, (2, 2))
    assert h.pushed_nodata(1, 1) == ids(result, (1, 1), nodata=True) and h.pushed_nodata(2, 2) == []
    assert h.sink.read_priority(["pg"]) == {"pg": dict(result.priority_writes[0].updates)}
    assert h.sink.last_runs([g.key, "never-pulled"]) == {g.key: NOW}  # the run heartbeat handover gaps read


def test_deliveries_append_in_order(make: MakeHarness) -> None:
    h, g = make(), a_group()
    first, second = a_result(g), a_result(g, T0 + 60)
    h.sink.deliver(first, g, checkpoint=T0, now=NOW)
    h.sink.deliver(second, g, checkpoint=T0 + 60, now=NOW)
    assert h.pushed(1, 1) == ids(first, (1, 1)) + ids(second, (1, 1))
    assert h.sink.read_checkpoint(g) == T0 + 60
    assert h.sink.read_seen(g, [T0 + 60]) == {T0 + 60: set(second.dedupe_additions[T0 + 60])}


def test_a_full_queue_refuses_the_whole_delivery(make: MakeHarness) -> None:
    h, g = make(max_queue_length=1), a_group()
    first = a_result(g)
    h.sink.deliver(first, g, checkpoint=T0, now=NOW)  # the queues were empty: 2 records go in
    with pytest.raises(Backpressure):
        h.sink.deliver(a_result(g, T0 + 60), g, checkpoint=T0 + 60, now=NOW + 60)
    assert h.sink.read_checkpoint(g) == T0
    assert h.sink.read_seen(g, [T0, T0 + 60]) == {T0: set(first.dedupe_additions[T0]), T0 + 60: set()}
    assert h.pushed(1, 1) == ids(first, (1, 1)) and h.pushed(2, 2) == ids(first, (2, 2))
    assert h.pushed_nodata(1, 1) == ids(first, (1, 1), nodata=True)


def test_a_fenced_delivery_never_moves_the_checkpoint_back(make: MakeHarness) -> None:
    h, g = make(), a_group()
    h.hold_fence(g.key, 7)
    h.sink.deliver(a_result(g, T0 + 60), g, checkpoint=T0 + 60, now=NOW, fence=Fence(g.key, 7, slot=100))
    late = a_result(g)
    h.sink.deliver(late, g, checkpoint=T0, now=NOW, fence=Fence(g.key, 7, slot=200))
    assert h.sink.read_checkpoint(g) == T0 + 60
    assert h.sink.read_seen(g, [T0]) == {T0: set(late.dedupe_additions[T0])}


@pytest.mark.parametrize(("token", "slot"), [(6, 300), (7, 100)], ids=["superseded-token", "slot-done"])
def test_a_stale_fenced_delivery_writes_nothing(make: MakeHarness, token: int, slot: int) -> None:
    h, g = make(), a_group()
    h.hold_fence(g.key, 7)
    first = a_result(g)
    h.sink.deliver(first, g, checkpoint=T0, now=NOW, fence=Fence(g.key, 7, slot=100))
    with pytest.raises(FencedOut):
        h.sink.deliver(a_result(g, T0 + 60), g, checkpoint=T0 + 60, now=NOW, fence=Fence(g.key, token, slot=slot))
    assert h.sink.read_checkpoint(g) == T0
    assert h.sink.read_seen(g, [T0 + 60]) == {T0 + 60: set()}
    assert h.pushed(1, 1) == ids(first, (1, 1))


def test_a_non_final_delivery_writes_records_and_dedupe_but_not_the_checkpoint(make: MakeHarness) -> None:
    h, g = make(), a_group()
    h.hold_fence(g.key, 7)
    fence = Fence(g.key, 7, slot=100)
    first, second = a_result(g), a_result(g, T0 + 60)
    h.sink.deliver(first, g, checkpoint=T0, now=NOW, fence=fence, final=False)
    h.sink.deliver(second, g, checkpoint=T0 + 60, now=NOW, fence=fence, final=False)  # the slot is not marked done
    assert h.pushed(1, 1) == ids(first, (1, 1)) + ids(second, (1, 1))
    assert h.sink.read_seen(g, [T0]) == {T0: set(first.dedupe_additions[T0])}
    assert h.sink.read_checkpoint(g) == 0 and h.sink.last_runs([g.key]) == {}
    with pytest.raises(FencedOut):  # still fenced
        h.sink.deliver(a_result(g, T0 + 120), g, checkpoint=0, now=NOW, fence=Fence(g.key, 6, slot=100), final=False)
    h.sink.deliver(a_result(g, T0 + 120, seen={T0 + 120: set()}), g, checkpoint=T0 + 60, now=NOW, fence=fence)
    assert h.sink.read_checkpoint(g) == T0 + 60 and h.sink.last_runs([g.key]) == {g.key: NOW}
    with pytest.raises(FencedOut):  # the final delivery marked the slot done
        h.sink.deliver(a_result(g, T0 + 180), g, checkpoint=0, now=NOW, fence=fence, final=False)


def test_a_replay_fence_delivers_after_any_slot_but_never_as_a_final_delivery(make: MakeHarness) -> None:
    h, g = make(), a_group()
    h.hold_fence(g.key, 7)
    h.sink.deliver(a_result(g), g, checkpoint=T0, now=NOW, fence=Fence(g.key, 7, slot=100))
    replay = Fence(g.key, 7, slot=REPLAY_SLOT)
    later = a_result(g, T0 + 60)
    h.sink.deliver(later, g, checkpoint=0, now=NOW, fence=replay, final=False)  # slot 100 done: still accepted
    assert h.sink.read_seen(g, [T0 + 60]) == {T0 + 60: set(later.dedupe_additions[T0 + 60])}
    with pytest.raises(ValueError, match="final=False only"):  # it would fence every live pull out
        h.sink.deliver(a_result(g, T0 + 120), g, checkpoint=0, now=NOW, fence=replay)
    assert h.sink.read_seen(g, [T0 + 120]) == {T0 + 120: set()} and h.sink.read_checkpoint(g) == T0
