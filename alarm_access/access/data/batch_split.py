"""Splitting one large pull into batches by time bucket (spec data-access §3.14, without the bugs of §9.6).

`split_points` is pure: it decides which points a pull keeps (the time-point limit, applied once to the
whole pull rather than per sub-task) and cuts them into batches of whole time buckets, so that

* dedupe stays correct: the ids of one bucket (in-pull duplicates included) are all seen by one sub-task,
  and concurrent sub-tasks never write the same dedupe set;
* the time-point limit stays correct: at most `max_time_points` buckets newer than the stored checkpoint
  are kept, and the checkpoint candidate is the last kept one, as in an unsplit pull.

Difference from the unsplit pipeline (`records.limit`): the limit counts the buckets that hold a point
with a value, before dedupe and filters, among those newer than the stored checkpoint; buckets at or
before it (the overlap the window re-reads for late points) are always kept and never counted. A bucket
whose points all turn out duplicate or filtered therefore still counts: catching up can take one more
pull, nothing is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.model import StrategyGroup
from alarm_access.records.standardize import point_time

Point = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """The batches of one pull (each a list of points in query order) and the checkpoint they lead to.

    `checkpoint` is the last kept bucket when the limit fired, else the newest bucket holding a value;
    None when no point has both a value and a time. `discarded` counts the points of discarded buckets,
    `counted` the kept buckets the limit counted (newer than the checkpoint, holding a value).
    """

    batches: tuple[tuple[Point, ...], ...]
    checkpoint: int | None
    limited: bool
    discarded: int
    counted: int = 0


def time_limit(group: StrategyGroup, max_time_points: int, *, inline: bool) -> int:
    """The time-point limit of a pull of `group` cut into batches: `max_time_points` for time series, 0
    (none) for other data and with inline thresholds (spec §3.15: the merge mode has no limit)."""
    times_limited = any(qc.data_type_label == "time_series" for qc in group.first_item.query_configs)
    return max_time_points if times_limited and not inline else 0


def split_points(
    points: Sequence[Point],
    *,
    value_field: str,
    batch_size: int,
    max_time_points: int,
    checkpoint: int,
) -> BatchPlan:
    """Cut `points` into batches of whole buckets, about `batch_size` points each (a bucket larger than
    `batch_size` is a batch of its own). Points without a time are left out; points whose value is None
    stay (the sub-task counts them as `none_value` drops). `max_time_points <= 0` disables the limit."""
    buckets: dict[int, list[Point]] = {}
    valued: set[int] = set()
    for point in points:
        time = point_time(point)
        if not time:
            continue
        buckets.setdefault(time, []).append(point)
        if point.get(value_field) is not None:
            valued.add(time)
    newer = sorted(t for t in valued if t > checkpoint)
    limited = 0 < max_time_points < len(newer)
    if limited:
        last_kept = newer[max_time_points - 1]
        candidate: int | None = last_kept
        kept_times = sorted(t for t in buckets if t <= last_kept)
    else:
        candidate = max(valued) if valued else None
        kept_times = sorted(buckets)
    kept = set(kept_times)
    discarded = sum(len(bucket) for time, bucket in buckets.items() if time not in kept)
    batches: list[tuple[Point, ...]] = []
    current: list[Point] = []
    for time in kept_times:
        bucket = buckets[time]
        if current and len(current) + len(bucket) > batch_size:
            batches.append(tuple(current))
            current = []
        current.extend(bucket)
    if current:
        batches.append(tuple(current))
    return BatchPlan(tuple(batches), candidate, limited, discarded, max_time_points if limited else len(newer))
