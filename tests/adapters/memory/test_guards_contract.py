"""The `PullGuards` contract, run against `MemoryGuards` and `RedisGuards` (real Redis, one key prefix per test).

Group lock with fencing tokens (checked by the sink at delivery), token bucket, per-source concurrency slots,
circuit-breaking config. Expiry: the fake advances its clock, Redis is polled until the key is gone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alarm_access.access.data.jobs import Fence, FencedOut
from alarm_access.adapters.redis.locks import TOKEN_MAX_TTL, TOKEN_WINDOW
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.kernel.model import StrategyGroup
from alarm_access.records.pipeline import PullResult, run
from tests.adapters.memory.guard_world import WORLD_PARAMS, World, worlds
from tests.factories import NOW, T0, group, host, index, item, point, strategy

SOURCE = ("bk_monitor", "time_series")
BUDGET = 31


@pytest.fixture(params=WORLD_PARAMS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    yield from worlds(request)


def a_group() -> StrategyGroup:
    return group(strategy(1, item(1)))


def a_result(g: StrategyGroup, t: int = T0) -> PullResult:
    return run(g, [point(t=t)], now=NOW, topology_index=index(host(1, "127.0.0.1")), seen_record_ids={},
               priority_state={})


# --- group lock ---------------------------------------------------------------------------------------------

def test_a_free_lock_is_taken_and_refused_while_held(world: World) -> None:
    fence = world.guards.lock("g", slot=T0, ttl=30)
    assert fence is not None and fence == Fence("g", fence.token, T0) and fence.token > 0
    assert 29_000 < world.lock_pttl("g") <= 30_000
    assert world.guards.lock("g", slot=T0 + 60, ttl=30) is None
    other = world.guards.lock("h", slot=T0, ttl=30)  # groups are independent
    assert other is not None and other.group_key == "h"


def test_only_the_holder_releases_the_lock(world: World) -> None:
    first = world.guards.lock("g", slot=T0, ttl=30)
    second = world.guards.lock("g", slot=T0 + 60, ttl=30, take_over=True)
    assert first is not None and second is not None and second.token > first.token
    world.guards.unlock(first)  # superseded: must not release the new holder's lock
    assert world.guards.lock("g", slot=T0 + 120, ttl=30) is None
    world.guards.unlock(second)
    third = world.guards.lock("g", slot=T0 + 120, ttl=30)
    assert third is not None and third.token > second.token
    world.guards.unlock(second)  # twice, and no longer the holder: nothing happens
    assert world.guards.lock("g", slot=T0 + 180, ttl=30) is None


def test_an_expired_lock_is_taken_again_with_a_newer_token(world: World) -> None:
    first = world.guards.lock("g", slot=T0, ttl=0.15)
    assert first is not None and world.guards.lock("g", slot=T0, ttl=30) is None
    world.expire_lock("g", 0.15)
    again = world.guards.lock("g", slot=T0 + 60, ttl=30)
    assert again is not None and again.token > first.token
    world.guards.unlock(first)  # the expired holder releases nothing
    assert world.guards.lock("g", slot=T0 + 120, ttl=30) is None


def test_a_lock_under_a_millisecond_is_a_store_error(world: World) -> None:
    with pytest.raises(SourceUnavailable):
        world.guards.lock("g", slot=T0, ttl=0)
    assert world.guards.lock("g", slot=T0, ttl=30) is not None  # nothing was held


# --- fencing at delivery --------------------------------------------------------------------------------------

def test_a_superseded_token_is_fenced_out_at_delivery(world: World) -> None:
    g = a_group()
    stale = world.guards.lock(g.key, slot=T0, ttl=30)
    current = world.guards.lock(g.key, slot=T0 + 60, ttl=30, take_over=True)
    assert stale is not None and current is not None and current.token > stale.token
    with pytest.raises(FencedOut):
        world.sink.deliver(a_result(g), g, checkpoint=T0, now=NOW, fence=stale)
    assert world.sink.read_checkpoint(g) == 0 and world.pushed(1, 1) == []
    result = a_result(g)
    world.sink.deliver(result, g, checkpoint=T0, now=NOW, fence=current)
    assert world.sink.read_checkpoint(g) == T0
    assert world.pushed(1, 1) == [r.record_id for r in result.data[(1, 1)]]


def test_refused_attempts_hand_out_no_token(world: World) -> None:
    g = a_group()
    fence = world.guards.lock(g.key, slot=T0, ttl=30)
    assert fence is not None
    assert world.guards.lock(g.key, slot=T0, ttl=30) is None and world.guards.lock(g.key, slot=T0, ttl=30) is None
    world.sink.deliver(a_result(g), g, checkpoint=T0, now=NOW, fence=fence)  # still the current token
    assert world.sink.read_checkpoint(g) == T0


def test_a_pull_that_outlived_its_lock_is_fenced_out_once_another_took_it(world: World) -> None:
    g = a_group()
    slow = world.guards.lock(g.key, slot=T0, ttl=0.15)
    assert slow is not None
    world.expire_lock(g.key, 0.15)
    # Expiry alone fences nothing (nobody else pulled): the late delivery is still the newest one.
    world.sink.deliver(a_result(g), g, checkpoint=T0, now=NOW, fence=slow)
    assert world.sink.read_checkpoint(g) == T0
    slower = world.guards.lock(g.key, slot=T0 + 60, ttl=0.15)
    assert slower is not None
    world.expire_lock(g.key, 0.15)
    successor = world.guards.lock(g.key, slot=T0 + 120, ttl=30)
    assert successor is not None and successor.token > slower.token
    pushed = world.pushed(1, 1)
    with pytest.raises(FencedOut):
        world.sink.deliver(a_result(g, T0 + 60), g, checkpoint=T0 + 60, now=NOW, fence=slower)
    assert world.sink.read_checkpoint(g) == T0 and world.pushed(1, 1) == pushed


# --- token bucket -------------------------------------------------------------------------------------------

def test_a_new_bucket_starts_full_for_one_window_and_fast_pulls_are_free(world: World) -> None:
    assert world.guards.tokens_left("g", BUDGET) == BUDGET
    assert TOKEN_WINDOW - 2 <= world.tokens_ttl("g") <= TOKEN_WINDOW
    assert world.guards.spend_tokens("g", BUDGET, 0.4) == BUDGET
    assert world.guards.spend_tokens("g", BUDGET, 0.5) == BUDGET
    assert world.guards.spend_tokens("other", BUDGET, 0.2) == BUDGET  # a free spend starts the bucket too
    assert TOKEN_WINDOW - 2 <= world.tokens_ttl("other") <= TOKEN_WINDOW


def test_spends_are_whole_seconds_and_an_overdraft_pauses_the_group(world: World) -> None:
    assert world.guards.spend_tokens("g", BUDGET, 10.9) == BUDGET - 10  # a missing bucket starts full
    assert world.guards.spend_tokens("g", BUDGET, 0.6) == BUDGET - 11  # at least one second
    assert world.guards.spend_tokens("g", BUDGET, 20) == 0
    assert TOKEN_WINDOW - 2 <= world.tokens_ttl("g") <= TOKEN_WINDOW  # no debt: the window is not extended
    assert world.guards.tokens_left("g", BUDGET) == 0  # nothing left: the runner refuses the pull
    assert world.guards.spend_tokens("g", BUDGET, 5) == -5
    assert TOKEN_WINDOW < world.tokens_ttl("g") <= TOKEN_WINDOW + 5 * TOKEN_WINDOW // BUDGET + 1
    assert world.guards.tokens_left("g", BUDGET) == -5
    assert world.guards.spend_tokens("g", BUDGET, 5000) == -5005
    assert TOKEN_MAX_TTL - 2 <= world.tokens_ttl("g") <= TOKEN_MAX_TTL  # the pause is capped


def test_the_bucket_refills_after_its_window(world: World) -> None:
    assert world.guards.spend_tokens("g", BUDGET, 40) == BUDGET - 40
    world.end_token_window("g")
    assert world.guards.tokens_left("g", BUDGET) == BUDGET
    assert TOKEN_WINDOW - 2 <= world.tokens_ttl("g") <= TOKEN_WINDOW


# --- source concurrency slots ---------------------------------------------------------------------------------

def test_source_slots_are_limited_and_given_back(world: World) -> None:
    first, second = world.guards.take_source_slot(SOURCE, 2, 30), world.guards.take_source_slot(SOURCE, 2, 30)
    assert first and second and first != second
    assert world.guards.take_source_slot(SOURCE, 2, 30) is None
    assert world.guards.take_source_slot(("other", "time_series"), 2, 30) is not None  # per source
    world.guards.give_source_slot(SOURCE, "not-a-holder")  # nothing happens
    assert world.guards.take_source_slot(SOURCE, 2, 30) is None
    world.guards.give_source_slot(SOURCE, first)
    third = world.guards.take_source_slot(SOURCE, 2, 30)
    assert third and third not in (first, second)
    assert world.guards.take_source_slot(SOURCE, 2, 30) is None
    assert world.guards.take_source_slot(SOURCE, 0, 30) is None  # a limit of 0 admits nobody


def test_source_slot_leases_expire(world: World) -> None:
    assert world.guards.take_source_slot(SOURCE, 2, 0.15) and world.guards.take_source_slot(SOURCE, 2, 0.15)
    assert world.guards.take_source_slot(SOURCE, 2, 30) is None
    world.expire_slots(SOURCE, 0.15)  # a killed worker's slot comes back when its lease runs out
    assert world.guards.take_source_slot(SOURCE, 2, 30) and world.guards.take_source_slot(SOURCE, 2, 30)
    assert world.guards.take_source_slot(SOURCE, 2, 30) is None


def test_a_short_lease_does_not_cut_a_longer_one(world: World) -> None:
    """Each holder keeps its slot for its own lease (`take_source_slot`: "leased for `lease` seconds")."""
    long = world.guards.take_source_slot(SOURCE, 2, 30)
    short = world.guards.take_source_slot(SOURCE, 2, 0.15)
    assert long and short
    world.expire_lease(SOURCE, short, 0.15)
    assert world.guards.take_source_slot(SOURCE, 2, 30)  # the short lease's slot is free again
    assert world.guards.take_source_slot(SOURCE, 2, 30) is None  # the long lease still holds the other


# --- circuit-breaking config ------------------------------------------------------------------------------

def test_breaker_rules_are_the_stored_json_list(world: World) -> None:
    assert world.guards.breaker_rules() == []
    rules = [{"key": "bk_biz_id", "method": "eq", "value": ["2"]}, {"key": "strategy_id", "method": "eq",
                                                                   "value": [1], "condition": "or"}]
    world.set_breaker_config('[{"key": "bk_biz_id", "method": "eq", "value": ["2"]},'
                             ' {"key": "strategy_id", "method": "eq", "value": [1], "condition": "or"}]')
    assert world.guards.breaker_rules() == rules


@pytest.mark.parametrize("raw", ["", "not json", '{"key": "bk_biz_id"}', "3"], ids=["empty", "invalid", "object",
                                                                                    "number"])
def test_breaker_config_that_is_not_a_list_means_no_rules(world: World, raw: str) -> None:
    world.set_breaker_config(raw)
    assert world.guards.breaker_rules() == []
