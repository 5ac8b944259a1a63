"""The membership contract, run against the in-memory fake, real Redis and real etcd: leases, expiry, epochs, leave;
and `RingMember` on top of it: JOINING owns nothing, ACTIVE shares, a dead member's keys move, leave is now."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from alarm_access.adapters.etcd.membership import EtcdMembership
from alarm_access.adapters.memory.event import ManualClock
from alarm_access.adapters.memory.membership import MemoryMembership
from alarm_access.adapters.redis.membership import RedisMembership
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.ring.membership import Membership, MemberState, RingMember
from tests.conftest import TEST_REDIS_URL
from tests.services.etcd import etcd

__all__ = ["etcd"]

KEYS = [str(biz) for biz in range(1, 201)]


@dataclass
class World:
    membership: Membership
    #: let `seconds` pass for the store (the fake's clock; real time for Redis and etcd)
    wait: Callable[[float], object]


@pytest.fixture(params=["memory", "redis", "etcd"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "memory":
        clock = ManualClock(1000.0)
        yield World(MemoryMembership(clock=clock), clock.advance)
        return
    if request.param == "etcd":
        membership = EtcdMembership(request.getfixturevalue("etcd"), f"test.ring.{uuid.uuid4().hex[:8]}",
                                    "data.default", timeout=2)
        yield World(membership, time.sleep)
        membership.close()
        return
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_timeout=2)
    prefix = f"test.ring.{uuid.uuid4().hex[:8]}"
    yield World(RedisMembership(client, prefix, "data.default"), time.sleep)
    keys = list(client.scan_iter(f"{prefix}.*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_heartbeats_join_renew_and_change_the_epoch_only_on_change(world: World) -> None:
    first = world.membership.heartbeat("a", MemberState.JOINING, 1.0, ttl=5)
    assert [(m.id, m.state) for m in first.members] == [("a", MemberState.JOINING)]
    renewed = world.membership.heartbeat("a", MemberState.JOINING, 1.0, ttl=5)
    assert renewed.epoch == first.epoch  # a plain renewal changes nothing
    active = world.membership.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=5)
    assert active.epoch > first.epoch and active.nodes[0].id == "a"
    both = world.membership.heartbeat("b", MemberState.ACTIVE, 2.0, ttl=5)
    assert both.epoch > active.epoch and [(n.id, n.weight) for n in both.nodes] == [("a", 1.0), ("b", 2.0)]


def test_an_expired_lease_is_dropped_by_anyone_s_heartbeat(world: World) -> None:
    # 1 s: etcd's shortest lease (whole seconds); etcd's expiry loop may take another ~0.5 s to drop it
    world.membership.heartbeat("short", MemberState.ACTIVE, 1.0, ttl=1)
    before = world.membership.heartbeat("long", MemberState.ACTIVE, 1.0, ttl=30)
    assert {m.id for m in before.members} == {"short", "long"}
    world.wait(2.0)
    after = world.membership.heartbeat("long", MemberState.ACTIVE, 1.0, ttl=30)
    assert {m.id for m in after.members} == {"long"} and after.epoch > before.epoch
    assert world.membership.view().epoch == after.epoch


def test_leave_removes_at_once(world: World) -> None:
    world.membership.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=30)
    view = world.membership.heartbeat("b", MemberState.ACTIVE, 1.0, ttl=30)
    world.membership.leave("b")
    after = world.membership.view()
    assert [m.id for m in after.members] == ["a"] and after.epoch > view.epoch
    world.membership.leave("b")  # twice is harmless and changes nothing
    assert world.membership.view().epoch == after.epoch


def test_ring_members_share_the_keys_and_take_over_a_dead_one(world: World) -> None:
    members = [RingMember(world.membership, name, ttl=ttl, access_type="data")
               for name, ttl in (("a", 30.0), ("b", 30.0), ("c", 1.0))]
    now = 0.0
    for member in members:
        member.tick(now)
    assert not any(member.owned(KEYS) for member in members)  # JOINING: nobody owns anything yet
    for member in members:
        member.activate()
        member.tick(now)
    for member in members:  # a heartbeat later, everyone sees the final view
        member.tick(now + 100)
    shares = [member.owned(KEYS) for member in members]
    assert set().union(*shares) == set(KEYS) and sum(len(share) for share in shares) == len(KEYS)
    assert all(40 < len(share) < 100 for share in shares), [len(s) for s in shares]
    world.wait(2.0)  # "c" is dead: it sends no heartbeat and its lease expires
    a, b = members[0], members[1]
    for member in (a, b):
        member.tick(now + 200)
    assert a.owned(KEYS) | b.owned(KEYS) == set(KEYS) and not (a.owned(KEYS) & b.owned(KEYS))
    assert shares[0] <= a.owned(KEYS) and shares[1] <= b.owned(KEYS)  # only the dead member's keys moved


def test_leave_hands_over_at_the_next_heartbeat_and_a_down_store_keeps_the_view_until_the_lease_ends(
        world: World) -> None:
    a = RingMember(world.membership, "a", ttl=30.0, access_type="data")
    b = RingMember(world.membership, "b", ttl=30.0, access_type="data")
    for member in (a, b):
        member.activate()
        member.tick(0.0)
    a.tick(100.0)
    b.leave()
    assert not b.owned(KEYS)
    a.tick(200.0)
    assert a.owned(KEYS) == set(KEYS)
    if isinstance(world.membership, MemoryMembership):
        world.membership.down = True
        with pytest.raises(SourceUnavailable):
            world.membership.view()
        assert not a.tick(205.0) and a.owned(KEYS) == set(KEYS)  # within its lease: keeps working
        assert a.tick(231.0) and a.owned(KEYS) == set()  # lease over: the others own its keys now
