"""In-memory `ring.membership.Membership` on a manual clock, held to the same contract tests as Redis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.ring.membership import MemberInfo, MemberState, RingView


@dataclass
class _Lease:
    state: MemberState
    weight: float
    ttl: float
    expires: float


@dataclass
class MemoryMembership:
    """Leases of one ring; `clock()` is the store's clock (the Redis server's, in the real adapter)."""

    clock: Callable[[], float]
    leases: dict[str, _Lease] = field(default_factory=dict)
    epoch: int = 0
    #: set to make every call raise `SourceUnavailable` (the store is down)
    down: bool = False

    def heartbeat(self, member: str, state: MemberState, weight: float, ttl: float) -> RingView:
        self._check()
        now = self.clock()
        changed = self._prune(now)
        old = self.leases.get(member)
        if old is None or (old.state, old.weight, old.ttl) != (state, weight, ttl):
            changed = True
        self.leases[member] = _Lease(state, weight, ttl, now + ttl)
        self.epoch += changed
        return self._view(now)

    def leave(self, member: str) -> None:
        self._check()
        if self.leases.pop(member, None) is not None:
            self.epoch += 1

    def view(self) -> RingView:
        self._check()
        now = self.clock()
        self.epoch += self._prune(now)
        return self._view(now)

    def _check(self) -> None:
        if self.down:
            raise SourceUnavailable("membership store unreachable (fake)")

    def _prune(self, now: float) -> bool:
        expired = [member for member, lease in self.leases.items() if lease.expires <= now]
        for member in expired:
            del self.leases[member]
        return bool(expired)

    def _view(self, now: float) -> RingView:
        members = (MemberInfo(member, lease.state, lease.weight, max(0.0, now - (lease.expires - lease.ttl)))
                   for member, lease in sorted(self.leases.items()))
        return RingView(self.epoch, tuple(members))
