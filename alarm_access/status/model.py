"""The status model of a running access service, and `StatusBoard`, the thread-safe place it is kept.

Pure: no framework, no client library, no clock (every time is a parameter, epoch seconds). The service loop
writes to a `StatusBoard`; the HTTP threads of `/status` read `StatusBoard.groups()` / `ring()` — copies of
immutable rows, taken under one lock, so a page never shows half of an update. `snapshot_to_dict` and
`snapshot_from_dict` are the `/status.json` wire form (the Django admin page reads it back).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

#: outcomes of a group's last unit of work; `pending` until its first pull
PENDING, OK, FAILED, SKIPPED, PUBLISHED = "pending", "ok", "failed", "skipped", "published"


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """One strategy group as this process sees it. `last_pull` is the epoch of the last pull (or, with
    `-H celery`, of the last publish: the pull then runs in a worker and its outcome is not seen here)."""

    key: str
    strategy_ids: tuple[int, ...]
    source: str
    interval: int
    next_slot: int | None = None
    last_pull: float | None = None
    outcome: str = PENDING
    #: the skip reason, or the exception class of a failure
    detail: str = ""
    #: the message of the last failure; kept after later successes so an intermittent error stays visible
    last_error: str = ""
    last_error_at: float | None = None
    pushed_last: int = 0
    pushed_total: int = 0

    @property
    def failing(self) -> bool:
        return self.outcome == FAILED


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """A hash-ring member: `share` is its weight over the active members' weights (0 unless active)."""

    id: str
    state: str
    weight: float
    share: float
    lease_age: float
    is_self: bool = False


@dataclass(frozen=True, slots=True)
class PartitionLag:
    access_type: str
    topic: str
    partition: int
    lag: int


@dataclass(frozen=True, slots=True)
class DeadLetterCount:
    access_type: str
    reason: str
    count: int


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """What `/status` shows. `ring` is None when the process runs without `--hash-ring 1`."""

    access_type: str
    handler: str
    generated_at: float
    ready: bool
    groups: tuple[GroupStatus, ...] = ()
    ring: tuple[MemberStatus, ...] | None = None
    partitions: tuple[PartitionLag, ...] = ()
    dead_letters: tuple[DeadLetterCount, ...] = ()
    #: where the snapshot came from (the admin page names the URL it fetched)
    origin: str = ""

    def matching(self, query: str) -> tuple[GroupStatus, ...]:
        """The groups whose strategy ids contain `query` (a strategy id, or a part of one); all when empty."""
        wanted = query.strip()
        if not wanted:
            return self.groups
        return tuple(g for g in self.groups if any(wanted in str(sid) for sid in g.strategy_ids))


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """The static part of a group, as the catalog knows it."""

    key: str
    strategy_ids: tuple[int, ...]
    source: str
    interval: int


class StatusBoard:
    """Thread-safe status of one process: written by the service loop, read by the HTTP threads."""

    def __init__(self) -> None:
        self._groups: dict[str, GroupStatus] = {}
        self._ring: tuple[MemberStatus, ...] | None = None
        self._lock = threading.Lock()

    def set_groups(self, groups: Iterable[GroupInfo]) -> None:
        """The groups this process serves now: new ones are pending, kept ones keep their history (a
        changed definition too: the same key is the same query), the others are dropped."""
        with self._lock:
            current: dict[str, GroupStatus] = {}
            for info in groups:
                old = self._groups.get(info.key)
                base = old or GroupStatus(info.key, info.strategy_ids, info.source, info.interval)
                current[info.key] = replace(base, strategy_ids=info.strategy_ids, source=info.source,
                                            interval=info.interval)
            self._groups = current

    def set_next_slots(self, slots: Mapping[str, int]) -> None:
        with self._lock:
            for key, slot in slots.items():
                if key in self._groups:
                    self._groups[key] = replace(self._groups[key], next_slot=slot)

    def record(self, key: str, outcome: str, at: float, *, pushed: int = 0, detail: str = "",
               error: str = "") -> None:
        """The outcome of one unit of work of group `key` at `at` (ignored for a group not served)."""
        with self._lock:
            row = self._groups.get(key)
            if row is None:
                return
            row = replace(row, last_pull=at, outcome=outcome, detail=detail, pushed_last=pushed,
                          pushed_total=row.pushed_total + pushed)
            if outcome == FAILED:
                row = replace(row, last_error=error or detail, last_error_at=at)
            self._groups[key] = row

    def set_ring(self, members: tuple[MemberStatus, ...] | None) -> None:
        with self._lock:
            self._ring = members

    def groups(self) -> tuple[GroupStatus, ...]:
        """Every served group, ordered by its smallest strategy id (what a person searches by)."""
        with self._lock:
            rows = list(self._groups.values())
        return tuple(sorted(rows, key=lambda g: (min(g.strategy_ids, default=0), g.key)))

    def ring(self) -> tuple[MemberStatus, ...] | None:
        with self._lock:
            return self._ring


def snapshot_to_dict(snapshot: StatusSnapshot) -> dict[str, Any]:
    return dataclasses.asdict(snapshot)


def snapshot_from_dict(data: Mapping[str, Any]) -> StatusSnapshot:
    """The inverse of `snapshot_to_dict`; raises KeyError/TypeError/ValueError on a document of another shape."""
    ring = data.get("ring")
    return StatusSnapshot(
        access_type=str(data["access_type"]), handler=str(data["handler"]),
        generated_at=float(data["generated_at"]), ready=bool(data["ready"]),
        groups=tuple(GroupStatus(**{**g, "strategy_ids": tuple(g["strategy_ids"])}) for g in data["groups"]),
        ring=None if ring is None else tuple(MemberStatus(**m) for m in ring),
        partitions=tuple(PartitionLag(**p) for p in data["partitions"]),
        dead_letters=tuple(DeadLetterCount(**d) for d in data["dead_letters"]),
        origin=str(data.get("origin", "")),
    )
