"""When each strategy group runs, and which time window it pulls. Pure: the tick is always a parameter.

Slots: a group with interval `I` runs once per slot `[s, s + I)` where `s ≡ offset (mod I)` and `offset` is
a stable hash of the group key, so groups spread over the interval instead of all firing at the top of
the minute, and every process computes the same slots for the same group.

`Schedule` is a deterministic state machine over (groups, tick): `sync(groups, tick)` applies a new set of
groups by diff (an unchanged group keeps its next slot), `pop_due(tick)` returns the slots due at `tick`.
A new group's current slot is due at once (the original waited ~90 s after start, spec §9.15). When a
tick arrives after several slots of a group have passed, only the latest slot runs — the checkpoint
window makes it pull every bucket the skipped ones would have — and the skipped slots are reported.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass


def stable_offset(key: str, interval: int) -> int:
    """Offset of a group's slots within its interval: the same for a key on every host and every run."""
    return int(hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()[:8], 16) % interval


def slot_start(tick: int, interval: int, offset: int) -> int:
    """Start of the slot that contains `tick` (the largest `s <= tick` with `s ≡ offset mod interval`)."""
    return tick - ((tick - offset) % interval)


@dataclass(frozen=True, slots=True)
class DueSlot:
    key: str
    slot: int
    interval: int
    lateness: int
    skipped: int


@dataclass(slots=True)
class _Entry:
    interval: int
    offset: int
    next_slot: int
    version: int


class Schedule:
    """Slots of every group, in a heap ordered by the next slot start. No clock, no I/O."""

    def __init__(self, late_after: int = 10) -> None:
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[int, str, int]] = []
        self._late_after = late_after
        # One counter for every entry ever made: a group removed and added again (ring ownership moving away
        # and back) must not match a heap item of its earlier life, which would run a stale slot twice.
        self._versions = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> set[str]:
        """The groups scheduled now."""
        return set(self._entries)

    def sync(self, groups: Mapping[str, int], tick: int) -> tuple[set[str], set[str]]:
        """Make the schedule hold exactly `groups` (key → interval). Returns (added or changed, removed)."""
        removed = set(self._entries) - set(groups)
        for key in removed:
            del self._entries[key]
        changed: set[str] = set()
        for key, interval in groups.items():
            entry = self._entries.get(key)
            if entry is not None and entry.interval == interval:
                continue
            offset = stable_offset(key, interval)
            version = next(self._versions)
            self._entries[key] = _Entry(interval, offset, slot_start(tick, interval, offset), version)
            heapq.heappush(self._heap, (self._entries[key].next_slot, key, version))
            changed.add(key)
        return changed, removed

    def next_slots(self) -> dict[str, int]:
        """Every scheduled group's next slot start (for the status page)."""
        return {key: entry.next_slot for key, entry in self._entries.items()}

    def next_due(self) -> int | None:
        """Epoch second at which the next slot starts (None when there are no groups)."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, tick: int) -> list[DueSlot]:
        """Every group whose slot has started by `tick`, each once, at its latest started slot."""
        due: list[DueSlot] = []
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > tick:
                return due
            _, key, _ = heapq.heappop(self._heap)
            entry = self._entries[key]
            current = slot_start(tick, entry.interval, entry.offset)
            skipped = (current - entry.next_slot) // entry.interval
            due.append(DueSlot(key, current, entry.interval, tick - current, skipped))
            entry.next_slot = current + entry.interval
            heapq.heappush(self._heap, (entry.next_slot, key, entry.version))

    def is_late(self, slot: DueSlot) -> bool:
        return slot.lateness > self._late_after

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap:
            _, key, version = heap[0]
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                return
            heapq.heappop(heap)


@dataclass(frozen=True, slots=True)
class QueryWindow:
    """Time buckets `[start, end)` to pull, both aligned to the interval."""

    start: int
    end: int


def query_window(
    checkpoint: int,
    now: int,
    interval: int,
    *,
    delay: int,
    overlap_intervals: int = 1,
    max_lookback: int = 1800,
    min_update_time: int = 0,
    until: int | None = None,
) -> QueryWindow | None:
    """The window a group pulls at `now` (spec data-access §1.5), or None when there is nothing to pull.

    - The window starts at the checkpoint (the newest bucket already pushed) minus `overlap_intervals`
      buckets — late points of the last buckets are picked up again, dedupe drops what was already seen.
    - A checkpoint older than the look-back (`max_lookback`, or 5 intervals for intervals over 5 minutes)
      or missing restarts from `now - lookback`, but never before the strategy's last update.
    - The window ends at the last bucket that closed `delay` seconds ago (end exclusive). It is not
      capped: the pipeline's time-point limit delivers the oldest `max_time_points` buckets and moves the
      checkpoint to the last of them, so a catch-up after an outage proceeds oldest first in bounded
      steps, while an empty stretch of history can never pin the window (a capped window that found no
      data would not move the checkpoint, and would be pulled again forever). A positive `until` (a held
      window end of bk_data freshness gating, `access.data.freshness`) is the end instead, unless the
      computed end is earlier (a hold written under a shorter delay must not read a bucket still open).
    """
    lookback = max(5 * interval, max_lookback) if interval > 300 else max_lookback
    since = checkpoint if checkpoint and now - checkpoint <= lookback else max(min_update_time, now - lookback)
    since -= since % interval
    start = since - overlap_intervals * interval
    end = (now - delay) - (now - delay) % interval
    if until:
        end = min(end, until)
    return QueryWindow(start, end) if start < end else None
