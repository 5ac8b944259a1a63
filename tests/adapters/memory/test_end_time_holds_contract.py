"""The `EndTimeHolds` part of `PullGuards` (bk_data freshness gating's held window end), run against
`MemoryGuards` and `RedisGuards` (real Redis, one key prefix per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alarm_access.kernel.errors import SourceUnavailable
from tests.adapters.memory.guard_world import WORLD_PARAMS, MemoryWorld, World, worlds
from tests.factories import T0


@pytest.fixture(params=WORLD_PARAMS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    yield from worlds(request)


def test_a_held_end_is_taken_once_with_its_ttl(world: World) -> None:
    assert world.guards.take_end_time("g") is None
    world.guards.hold_end_time("g", T0, 300)
    assert 295 <= world.end_time_ttl("g") <= 300 and world.end_time_ttl("other") == -2
    assert world.guards.take_end_time("other") is None
    assert world.guards.take_end_time("g") == T0
    assert world.guards.take_end_time("g") is None and world.end_time_ttl("g") == -2


def test_a_new_hold_replaces_the_held_one_and_its_ttl(world: World) -> None:
    world.guards.hold_end_time("g", T0, 300)
    world.guards.hold_end_time("g", T0 + 60, 1500)
    assert 1495 <= world.end_time_ttl("g") <= 1500
    assert world.guards.take_end_time("g") == T0 + 60


@pytest.mark.parametrize("raw", ["0", "-60", "soon", ""], ids=["zero", "negative", "text", "empty"])
def test_a_held_value_that_is_not_a_positive_time_is_none_and_is_deleted(world: World, raw: str) -> None:
    world.set_end_time_raw("g", raw)
    assert world.guards.take_end_time("g") is None
    assert world.end_time_ttl("g") == -2


def test_a_store_failure_is_unavailable() -> None:
    world = MemoryWorld()
    world.memory_guards.fail_with = SourceUnavailable("down")
    with pytest.raises(SourceUnavailable):
        world.guards.hold_end_time("g", T0, 300)
    with pytest.raises(SourceUnavailable):
        world.guards.take_end_time("g")
