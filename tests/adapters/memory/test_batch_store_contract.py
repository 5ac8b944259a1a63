"""The `BatchStore` contract (with the batch delivery of `RecordSink.deliver(batch=...)`), run against
`MemoryBatchStore` + `MemoryBatchSink` and `RedisBatchStore` + `RedisSink` (real Redis, one key prefix per test).

A round is started under the group lock; each payload is delivered (taken) exactly once; the round's state
reads back what was delivered; the last batch finalises it once; a failed or expired round never is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from alarm_access.access.data.jobs import BatchJob, Fence, FencedOut, RoundState
from alarm_access.access.data.pull import PullExtras, deliver_points
from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.settings import DataSettings
from alarm_access.records.pipeline import run
from tests.adapters.memory.guard_world import WORLD_PARAMS, World, worlds
from tests.factories import NOW, T0, group, host, index, item, point, strategy

SLOT = T0 + 60
TOPOLOGY = index(host(1, "127.0.0.1"), host(2, "127.0.0.2"))
#: two batches of whole buckets: T0 (two series), then T0 + 60
BATCHES = [[point(t=T0), point(ip="127.0.0.2", t=T0)], [point(t=T0 + 60)]]


@pytest.fixture(params=WORLD_PARAMS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    yield from worlds(request)


def a_group() -> StrategyGroup:
    return group(strategy(1, item(1)))


def start(world: World, g: StrategyGroup, *, ttl: int = 30, checkpoint: int = T0 + 60, lock_ttl: float = 30,
          batches: list[list[dict[str, Any]]] = BATCHES) -> tuple[Fence, list[BatchJob]]:
    fence = world.guards.lock(g.key, slot=SLOT, ttl=lock_ttl, take_over=True)
    assert fence is not None
    world.store.start_round(fence, ttl=ttl, checkpoint=checkpoint, now=NOW, batches=batches)
    jobs = [BatchJob(g.key, 1, SLOT, NOW, fence.token, i, len(batches), ((1, 1),)) for i in range(1, len(batches) + 1)]
    return fence, jobs


def deliver(world: World, g: StrategyGroup, job: BatchJob, points: list[dict[str, Any]]) -> None:
    """What a batch sub-task does with the points it loaded: pipeline, then one fenced batch delivery."""
    deliver_points(g, points, job.now, checkpoint=0, window=None, sink=world.sink, topology=TOPOLOGY,
                   settings=DataSettings(inline_threshold=False), extras=PullExtras(fence=Fence(g.key, job.token,
                                                                                                job.slot)),
                   batch=job)


def record_ids(g: StrategyGroup, points: list[dict[str, Any]]) -> list[str]:
    result = run(g, points, now=NOW, topology_index=TOPOLOGY, seen_record_ids={}, priority_state={})
    return [r.record_id for r in result.data[(1, 1)]]


def loaded(world: World, jobs: list[BatchJob]) -> list[list[dict[str, Any]]]:
    out = []
    for job in jobs:
        points = world.store.load(job)
        assert points is not None
        out.append(points)
    return out


def test_a_round_stores_its_payloads_and_state_under_the_extended_lock(world: World) -> None:
    g = a_group()
    fence, jobs = start(world, g, lock_ttl=5, batches=[*BATCHES, [{**point(t=T0 + 120), "tags": ("a", "b")}]])
    assert 29_000 < world.lock_pttl(g.key) <= 30_000  # the round holds the lock for its own TTL
    assert [world.store.load(job) for job in jobs] == json.loads(json.dumps(
        [*BATCHES, [{**point(t=T0 + 120), "tags": ["a", "b"]}]]))  # what a JSON round trip gives
    assert world.store.load(BatchJob(g.key, 1, SLOT, NOW, fence.token, 4, 3, ((1, 1),))) is None
    state = RoundState(fence.token, 3, frozenset(), 0, "", False)
    assert world.store.round_state(g.key, fence.token) == state
    assert world.store.previous_round(g.key) == state
    assert world.store.round_state(g.key, fence.token + 1) is None


@pytest.mark.parametrize("why", ["unlocked", "superseded", "slot_done"])
def test_a_round_is_started_only_under_the_lock_for_a_slot_not_done(world: World, why: str) -> None:
    g = a_group()
    fence = world.guards.lock(g.key, slot=SLOT, ttl=30)
    assert fence is not None
    if why == "unlocked":
        world.guards.unlock(fence)
    elif why == "superseded":
        assert world.guards.lock(g.key, slot=SLOT, ttl=30, take_over=True) is not None
    else:
        result = run(g, [point(t=T0)], now=NOW, topology_index=TOPOLOGY, seen_record_ids={}, priority_state={})
        world.sink.deliver(result, g, checkpoint=T0, now=NOW, fence=fence)  # slot SLOT delivered
    with pytest.raises(FencedOut):
        world.store.start_round(fence, ttl=30, checkpoint=T0 + 60, now=NOW, batches=BATCHES)
    assert world.store.round_state(g.key, fence.token) is None and world.store.previous_round(g.key) is None
    assert world.store.load(BatchJob(g.key, 1, SLOT, NOW, fence.token, 1, 2, ((1, 1),))) is None


def test_each_payload_is_taken_exactly_once_and_results_read_back_in_delivery_order(world: World) -> None:
    g = a_group()
    fence, jobs = start(world, g)
    first, second = loaded(world, jobs)  # a twin of each sub-task loaded the payload too
    deliver(world, g, jobs[1], second)  # sub-tasks finish in any order
    assert world.store.load(jobs[1]) is None
    assert world.store.round_state(g.key, fence.token) == RoundState(fence.token, 2, frozenset({2}), 0, "", False)
    with pytest.raises(FencedOut):
        deliver(world, g, jobs[1], second)  # the twin: the payload is gone, nothing is written again
    deliver(world, g, jobs[0], first)
    assert world.store.round_state(g.key, fence.token) == RoundState(fence.token, 2, frozenset({1, 2}), 0, "",
                                                                     False)
    assert world.pushed(1, 1) == record_ids(g, second) + record_ids(g, first)
    assert world.sink.read_seen(g, [T0, T0 + 60]) == {T0: set(record_ids(g, first)),
                                                     T0 + 60: set(record_ids(g, second))}
    assert world.sink.read_checkpoint(g) == 0 and world.heartbeat(g.key) is None  # the round's last step does


def test_a_delivery_with_a_superseded_token_leaves_the_payload(world: World) -> None:
    g = a_group()
    _fence, jobs = start(world, g)
    points = loaded(world, jobs)[0]
    assert world.guards.lock(g.key, slot=SLOT + 60, ttl=30, take_over=True) is not None
    with pytest.raises(FencedOut):
        deliver(world, g, jobs[0], points)
    assert world.store.load(jobs[0]) == points and world.pushed(1, 1) == []


def test_the_last_batch_finalises_the_round_once(world: World) -> None:
    g = a_group()
    fence, jobs = start(world, g)
    points = loaded(world, jobs)
    deliver(world, g, jobs[0], points[0])
    assert world.store.finalise(g.key, fence.token) == ("pending", 0)
    assert world.sink.read_checkpoint(g) == 0 and world.guards.lock(g.key, slot=SLOT, ttl=30) is None
    deliver(world, g, jobs[1], points[1])
    assert world.store.finalise(g.key, fence.token) == ("finalised", T0 + 60)
    assert world.sink.read_checkpoint(g) == T0 + 60 and world.heartbeat(g.key) == NOW
    state = world.store.round_state(g.key, fence.token)
    assert state is not None and state.finalised and state.complete
    assert world.store.previous_round(g.key) is None
    assert world.store.finalise(g.key, fence.token) == ("finalised_before", 0)
    after = world.guards.lock(g.key, slot=SLOT, ttl=30)  # released: a new pull takes it without take-over
    assert after is not None
    result = run(g, [point(t=T0 + 120)], now=NOW, topology_index=TOPOLOGY, seen_record_ids={}, priority_state={})
    with pytest.raises(FencedOut, match="already done"):  # the round marked its slot delivered
        world.sink.deliver(result, g, checkpoint=T0 + 120, now=NOW, fence=after)


def test_finalising_never_moves_the_checkpoint_back(world: World) -> None:
    g = a_group()
    early = world.guards.lock(g.key, slot=SLOT - 60, ttl=30)
    assert early is not None
    result = run(g, [point(t=T0 + 600)], now=NOW, topology_index=TOPOLOGY, seen_record_ids={}, priority_state={})
    world.sink.deliver(result, g, checkpoint=T0 + 600, now=NOW, fence=early)
    world.guards.unlock(early)
    fence, jobs = start(world, g, checkpoint=T0 + 60)
    for job, points in zip(jobs, loaded(world, jobs), strict=True):
        deliver(world, g, job, points)
    assert world.store.finalise(g.key, fence.token) == ("finalised", T0 + 600)
    assert world.sink.read_checkpoint(g) == T0 + 600


def test_a_failed_round_keeps_its_first_reason_and_is_never_finalised(world: World) -> None:
    g = a_group()
    fence, jobs = start(world, g)
    points = loaded(world, jobs)
    deliver(world, g, jobs[0], points[0])
    world.store.fail(g.key, fence.token, "boom", 2)
    world.store.fail(g.key, fence.token, "second failure", 2)
    failed = RoundState(fence.token, 2, frozenset({1}), 2, "boom", False)
    assert world.store.round_state(g.key, fence.token) == failed
    assert world.store.load(jobs[1]) is None  # payloads dropped
    assert world.guards.lock(g.key, slot=SLOT + 60, ttl=30) is not None  # the round's lock released
    with pytest.raises(FencedOut):
        deliver(world, g, jobs[1], points[1])
    assert world.store.finalise(g.key, fence.token) == ("failed", 0)
    assert world.sink.read_checkpoint(g) == 0 and world.heartbeat(g.key) is None
    assert world.store.previous_round(g.key) == failed  # reported by the group's next pull...
    world.store.forget_round(g.key, fence.token + 1)  # (another round: nothing happens)
    assert world.store.previous_round(g.key) == failed
    world.store.forget_round(g.key, fence.token)  # ...which then forgets it
    assert world.store.previous_round(g.key) is None


def test_failing_a_round_leaves_a_newer_holders_lock(world: World) -> None:
    g = a_group()
    fence, _jobs = start(world, g)
    newer = world.guards.lock(g.key, slot=SLOT + 60, ttl=30, take_over=True)
    assert newer is not None
    world.store.fail(g.key, fence.token, "lock lost", 2)
    assert world.guards.lock(g.key, slot=SLOT + 120, ttl=30) is None


def test_payloads_expire_then_the_round(world: World) -> None:
    g = a_group()
    fence, jobs = start(world, g, ttl=1, lock_ttl=1)
    points = loaded(world, jobs)
    world.expire_payload(jobs[0], 1)
    assert world.store.load(jobs[0]) is None
    with pytest.raises(FencedOut):  # a sub-task that loaded it in time but delivers too late
        deliver(world, g, jobs[0], points[0])
    assert world.pushed(1, 1) == []
    assert world.store.round_state(g.key, fence.token) == RoundState(fence.token, 2, frozenset(), 0, "", False)
    world.expire_round(g.key, fence.token, 2)  # the state lives twice the round's TTL
    assert world.store.round_state(g.key, fence.token) is None
    assert world.store.previous_round(g.key) is None
    assert world.store.finalise(g.key, fence.token) == ("gone", 0)
    assert world.sink.read_checkpoint(g) == 0
