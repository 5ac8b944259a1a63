"""Time-point limit (spec data-access §3.6): one pull forwards at most N distinct time buckets.

A window that fell far behind (checkpoint lag) is caught up N buckets per run, oldest first, instead of
flooding detect with all of it at once. The discarded buckets are neither pushed nor marked seen, and the
checkpoint moves to the last kept bucket, so the next run pulls them again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_MAX_TIME_POINTS = 10


@dataclass(frozen=True, slots=True)
class TimeLimit(Generic[T]):
    """`kept` entries in their input order; `last_time_point` is `None` when the limit did not fire."""

    kept: list[T]
    last_time_point: int | None
    discarded_times: frozenset[int]


def limit_time_points(entries: Sequence[T], max_points: int, time_of: Callable[[T], int]) -> TimeLimit[T]:
    """Keep the entries of the `max_points` earliest distinct times (no limit when `max_points <= 0`)."""
    times = sorted({time_of(entry) for entry in entries})
    if max_points <= 0 or len(times) <= max_points:
        return TimeLimit(list(entries), None, frozenset())
    discarded = frozenset(times[max_points:])
    kept = [entry for entry in entries if time_of(entry) not in discarded]
    return TimeLimit(kept, times[max_points - 1], discarded)
