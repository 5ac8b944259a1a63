"""What the `data` service tells its status page (`alarm_access.status`): served groups, outcomes, slots, ring.

`DataAccess` reports the groups it serves after every sync (with their next slots), the next slot of every
group it dispatches, and its ring view after every heartbeat; `PullRunner` (inline, `-H process`) reports
each pull's outcome: pushed records, the skip reason, or the failure. With `-H celery` the pulls run in the
workers, so the scheduler reports what it sees: each job published (or not). Every call is cheap — a few
dictionary writes under the board's lock — and none can fail the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from alarm_access.kernel.model import StrategyGroup
from alarm_access.ring.membership import RingMember
from alarm_access.status.collect import ring_members
from alarm_access.status.model import FAILED, OK, PUBLISHED, SKIPPED, GroupInfo, StatusBoard


class DataStatus:
    def __init__(self, board: StatusBoard, *, clock: Callable[[], float] = time.time) -> None:
        self._board = board
        self._clock = clock

    def served(self, groups: Iterable[StrategyGroup], next_slots: Mapping[str, int]) -> None:
        """The groups this process serves now (after a refresh or a ring change), and when each runs next."""
        self._board.set_groups(GroupInfo(g.key, g.strategy_ids, ":".join(g.source), g.interval) for g in groups)
        self._board.set_next_slots(next_slots)

    def next_slot(self, key: str, slot: int) -> None:
        self._board.set_next_slots({key: slot})

    def ring(self, member: RingMember) -> None:
        self._board.set_ring(ring_members(member.view, member.id))

    def pulled(self, key: str, pushed: int) -> None:
        self._board.record(key, OK, self._clock(), pushed=pushed)

    def skipped(self, key: str, reason: str) -> None:
        self._board.record(key, SKIPPED, self._clock(), detail=reason)

    def failed(self, key: str, exc: BaseException) -> None:
        self._board.record(key, FAILED, self._clock(), detail=type(exc).__name__,
                           error=f"{type(exc).__name__}: {exc}")

    def published(self, key: str, ok: bool) -> None:
        """`-H celery`: the job of `key` was published to its queue (`ok`), or could not be."""
        if ok:
            self._board.record(key, PUBLISHED, self._clock())
        else:
            self._board.record(key, FAILED, self._clock(), detail="publish",
                               error="the pull job could not be published to the Celery broker")
