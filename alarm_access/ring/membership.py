"""Membership of the ring: the `Membership` port and `RingMember`, one process's lease and view.

A member is `JOINING` from its first heartbeat until its access type has loaded its strategies, then
`ACTIVE`; on SIGTERM it becomes `LEAVING` and removes itself before it exits, so the others take over at
once. Only `ACTIVE` members own keys. A member whose lease (`--session-ttl`) was not renewed is gone; leases
are renewed every third of the TTL, so one missed heartbeat does not drop a member. `epoch` is a counter of
the membership store that increases on every membership change: a view with a newer epoch replaces an older
one, and an unchanged epoch means unchanged ownership (nothing to recompute).

Handover without doubles rests on the group lock's fencing token (`access.data.runner`): a process that
still believes it owns a group after it lost it is fenced out at delivery; the new owner resumes from the
group's checkpoint at its next slot, so nothing is skipped either.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from alarm_access import metrics
from alarm_access.kernel.errors import AccessError
from alarm_access.logs import ctx
from alarm_access.ring.ownership import Node, owner

logger = logging.getLogger("alarm_access.ring")


class MemberState(enum.StrEnum):
    JOINING = "joining"
    ACTIVE = "active"
    LEAVING = "leaving"


@dataclass(frozen=True, slots=True)
class MemberInfo:
    id: str
    state: MemberState
    weight: float
    #: seconds since the member's last heartbeat, as the store saw it
    lease_age: float


@dataclass(frozen=True, slots=True)
class RingView:
    epoch: int
    members: tuple[MemberInfo, ...]

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(Node(m.id, m.weight) for m in self.members if m.state == MemberState.ACTIVE)


class Membership(Protocol):
    """Leases of the members of one ring (access type + cluster). Every call is bounded by a timeout and
    raises `SourceUnavailable` when the store cannot be reached."""

    def heartbeat(self, member: str, state: MemberState, weight: float, ttl: float) -> RingView:
        """Renew `member`'s lease for `ttl` seconds in `state`, drop expired members, return the view."""
        ...

    def leave(self, member: str) -> None:
        """Remove `member` now (its keys move to the others at their next heartbeat)."""
        ...

    def view(self) -> RingView: ...


class RingPorts(Protocol):
    def ring_member(self) -> RingMember:
        """This process's membership of its ring (access type + deployment cluster)."""
        ...


class RingMember:
    """One process's membership: call `tick(now)` from the service loop; `owns(key)` answers from the last
    view. Not thread-safe (the service loop is the only caller)."""

    def __init__(self, membership: Membership, member_id: str, *, ttl: float, weight: float = 1.0,
                 access_type: str) -> None:
        self.id = member_id
        self._membership = membership
        self._ttl = ttl
        self._weight = weight
        self._access_type = access_type
        self._state = MemberState.JOINING
        self._view = RingView(-1, ())
        self._nodes: Sequence[Node] = ()
        self._next_heartbeat = 0.0
        self._lease_until = 0.0

    @property
    def next_heartbeat(self) -> float:
        return self._next_heartbeat

    @property
    def view(self) -> RingView:
        return self._view

    def activate(self) -> None:
        """The access type loaded its strategies: take a share at the next heartbeat (which is now)."""
        if self._state == MemberState.JOINING:
            self._state = MemberState.ACTIVE
            self._next_heartbeat = 0.0

    def tick(self, now: float) -> bool:
        """Heartbeat when due; True when the view (and so ownership) changed. A failed heartbeat keeps the
        last view until the own lease would have expired — after that this member owns nothing, since the
        others have taken its keys over."""
        if now < self._next_heartbeat:
            return False
        try:
            view = self._membership.heartbeat(self.id, self._state, self._weight, self._ttl)
        except AccessError as exc:  # SourceUnavailable: no lease renewed
            logger.error("ring heartbeat failed: %s", exc, extra=ctx(member=self.id))
            self._next_heartbeat = now + min(1.0, self._ttl / 3)
            if now >= self._lease_until and self._nodes:
                self._nodes = ()
                return True
            return False
        self._next_heartbeat = now + self._ttl / 3
        self._lease_until = now + self._ttl
        # the epoch alone is not enough: a Redis restarted without persistence counts epochs from 0 again
        changed = view.epoch != self._view.epoch or view.nodes != self._view.nodes
        self._view = view
        if changed:
            self._nodes = view.nodes
            _observe(self._access_type, view)
            logger.info("ring membership changed", extra=ctx(
                member=self.id, epoch=view.epoch, active=len(self._nodes), members=len(view.members)))
        return changed

    def owns(self, key: str) -> bool:
        return self._state == MemberState.ACTIVE and owner(key, self._nodes) == self.id

    def owned(self, keys: Collection[str]) -> frozenset[str]:
        return frozenset(key for key in keys if self.owns(key))

    def leave(self) -> None:
        """SIGTERM: become LEAVING and remove the lease, so peers take over now, not after the TTL."""
        self._state = MemberState.LEAVING
        self._nodes = ()
        try:
            self._membership.leave(self.id)
        except AccessError as exc:
            logger.warning("ring leave failed; peers take over when the lease expires: %s", exc,
                           extra=ctx(member=self.id))


def _observe(access_type: str, view: RingView) -> None:
    metrics.RING_CHANGES.labels(access_type).inc()
    for state in MemberState:
        metrics.RING_MEMBERS.labels(access_type, state.value).set(
            sum(1 for m in view.members if m.state == state))
