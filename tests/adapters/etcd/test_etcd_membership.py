"""What the membership contract cannot say about etcd: several processes (clients) agree on one epoch per
membership, a member whose lease expired rejoins, a changed ttl moves the record to a new lease, and an
unreachable or hung etcd raises `SourceUnavailable` within the timeout."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from alarm_access.adapters.etcd.membership import EtcdMembership
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.ring.membership import MemberState, RingView
from tests.services.etcd import etcd
from tests.services.victoria import free_port

__all__ = ["etcd"]

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix() -> str:
    return f"test.ring.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def members(etcd: str, prefix: str) -> Iterator[list[EtcdMembership]]:
    """Three clients of one ring, as three processes would have."""
    clients = [EtcdMembership(etcd, prefix, "data.default", timeout=5) for _ in range(3)]
    yield clients
    for client in clients:
        client.close()


def test_concurrent_clients_give_one_membership_per_epoch(members: list[EtcdMembership]) -> None:
    views: list[RingView] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            for round_ in range(12):
                state = MemberState.ACTIVE if round_ >= 4 + index else MemberState.JOINING
                views.append(members[index].heartbeat(f"m{index}", state, 1.0 + index, ttl=30))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    by_epoch: dict[int, set[tuple[tuple[str, MemberState, float], ...]]] = {}
    for view in views:
        by_epoch.setdefault(view.epoch, set()).add(tuple((m.id, m.state, m.weight) for m in view.members))
    assert all(len(memberships) == 1 for memberships in by_epoch.values()), by_epoch
    final = members[0].view()
    assert [(m.id, m.state) for m in final.members] == [(f"m{i}", MemberState.ACTIVE) for i in range(3)]
    # 3 joins + 3 activations, however the clients interleaved (a join may be seen with its activation)
    assert 3 <= final.epoch <= 6 and all(client.view().epoch == final.epoch for client in members)


def test_an_expiry_seen_by_two_members_moves_the_epoch_once(members: list[EtcdMembership]) -> None:
    a, b, c = members
    a.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=30)
    b.heartbeat("b", MemberState.ACTIVE, 1.0, ttl=30)
    before = c.heartbeat("c", MemberState.ACTIVE, 1.0, ttl=1)
    time.sleep(2.0)
    seen_by_a = a.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=30)
    seen_by_b = b.heartbeat("b", MemberState.ACTIVE, 1.0, ttl=30)
    assert seen_by_a.epoch == seen_by_b.epoch == before.epoch + 1
    assert [m.id for m in seen_by_b.members] == ["a", "b"]
    # "c" was only slow: its next heartbeat takes a new lease and it is back, with a new epoch
    back = c.heartbeat("c", MemberState.ACTIVE, 1.0, ttl=30)
    assert back.epoch == before.epoch + 2 and [m.id for m in back.members] == ["a", "b", "c"]
    assert a.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=30).epoch == back.epoch


def test_a_member_back_from_an_expiry_nobody_noticed_moves_the_epoch(members: list[EtcdMembership]) -> None:
    a, b = members[0], members[1]
    a.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=30)
    before = b.heartbeat("b", MemberState.ACTIVE, 1.0, ttl=1)
    time.sleep(2.0)  # "b"'s lease expires; nobody looks
    back = b.heartbeat("b", MemberState.ACTIVE, 1.0, ttl=1)  # as Redis and the fake: the member was gone
    assert back.epoch == before.epoch + 1 and [m.id for m in back.members] == ["a", "b"]
    assert b.heartbeat("b", MemberState.ACTIVE, 1.0, ttl=1).epoch == back.epoch


def test_a_changed_ttl_is_a_change_and_moves_the_record_to_a_new_lease(members: list[EtcdMembership]) -> None:
    a = members[0]
    first = a.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=30)
    changed = a.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=2)
    assert changed.epoch == first.epoch + 1
    time.sleep(1.2)
    assert a.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=2).epoch == changed.epoch  # the 2 s lease is renewed
    time.sleep(1.6)  # past the 2 s lease's expiry (+0.5 s of etcd's expiry loop), had the keep-alive not renewed it
    view = members[1].view()
    assert [m.id for m in view.members] == ["a"] and view.epoch == changed.epoch
    assert 0.0 <= view.members[0].lease_age <= 2.0


def test_leave_of_a_member_another_client_holds(members: list[EtcdMembership]) -> None:
    a, b = members[0], members[1]
    a.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=30)
    joined = a.heartbeat("x", MemberState.ACTIVE, 1.0, ttl=30)
    b.leave("x")  # an operator's `hash_ring` command, say: not the process that holds the lease
    left = b.view()
    assert [m.id for m in left.members] == ["a"] and left.epoch == joined.epoch + 1
    assert a.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=30).epoch == left.epoch


def test_an_unreachable_etcd_is_source_unavailable(prefix: str) -> None:
    membership = EtcdMembership(f"http://127.0.0.1:{free_port()}", prefix, "data.default", timeout=1)
    with pytest.raises(SourceUnavailable, match="etcd ring heartbeat"):
        membership.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=30)
    with pytest.raises(SourceUnavailable):
        membership.view()
    with pytest.raises(SourceUnavailable):
        membership.leave("a")


def test_a_hung_etcd_is_source_unavailable_within_the_timeout(prefix: str) -> None:
    with socket.socket() as server:  # accepts connections (the backlog) and never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        membership = EtcdMembership(f"http://127.0.0.1:{server.getsockname()[1]}", prefix, "data.default",
                                    timeout=0.5)
        started = time.monotonic()
        with pytest.raises(SourceUnavailable):
            membership.heartbeat("a", MemberState.ACTIVE, 1.0, ttl=30)
        assert time.monotonic() - started < 2.0


def test_a_bad_url_is_a_config_error() -> None:
    for url in ("127.0.0.1:2379", "redis://127.0.0.1:2379", "http://127.0.0.1:notaport"):
        with pytest.raises(ConfigError):
            EtcdMembership(url, "p", "data.default", timeout=1)
