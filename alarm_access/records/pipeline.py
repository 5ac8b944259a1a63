"""The `data` record pipeline of one strategy-group pull, as one pure function (spec data-access §3).

    points → None-drop → standardize → dedupe → expire → enrich → host status → item scope
           → time-point limit → priority → per-item queues, nodata, signal, noise counts

`run` reads nothing and writes nothing: the caller loads the dedupe and priority state, calls `run`, pushes
the result, and only then commits `dedupe_additions` and the checkpoint (ARCHITECTURE principle 6).

Deviations from the original, besides those documented in the stages:
* duplicates are dropped even when the group uses priorities (the original kept them only to drop them
  again before the priority check, spec §9.7);
* the group's own checks run once per record, not once per record per filter class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.model import Record, StrategyGroup
from alarm_access.records.collector import gc_paused
from alarm_access.records.dedupe import Deduper
from alarm_access.records.enrich import TopologyIndex
from alarm_access.records.filters import HOST_DISABLED, KEEP
from alarm_access.records.limit import limit_time_points
from alarm_access.records.noise import noise_writes
from alarm_access.records.priority import PriorityWrite, decide_priority, priority_members
from alarm_access.records.result import DEFAULT_SETTINGS, DroppedPoint, ItemKey, PipelineSettings, PullResult
from alarm_access.records.series_cache import SeriesCache, decide, series_cache
from alarm_access.records.standardize import build_record

__all__ = ["DroppedPoint", "PipelineSettings", "PullResult", "run"]

#: one accepted record: the record, its raw point (for drop details) and the indexes of the items retaining it
_Entry = tuple[Record, Mapping[str, Any], tuple[int, ...]]


def _entry_time(entry: _Entry) -> int:
    return entry[0].time


class _Drops:
    """Drop counts by reason and, in detail mode, the dropped points themselves."""

    __slots__ = ("counts", "detail", "points")

    def __init__(self, detail: bool) -> None:
        self.counts: Counter[str] = Counter()
        self.detail = detail
        self.points: list[DroppedPoint] = []

    def __call__(self, reason: str, point: Mapping[str, Any], item: ItemKey | None = None) -> None:
        self.counts[reason] += 1
        if self.detail:
            self.points.append(DroppedPoint(reason, point, item))

    def per_item(self, reason: str, point: Mapping[str, Any], items: tuple[ItemKey, ...]) -> None:
        """One drop for each of `items` (item-level reasons)."""
        if self.detail:
            for item in items:
                self(reason, point, item)
        else:
            self.counts[reason] += len(items)


@dataclass(slots=True)
class _Accepted:
    entries: list[_Entry]
    max_queried: int
    created: int


def _accept(
    cache: SeriesCache,
    points: Sequence[Mapping[str, Any]],
    deduper: Deduper,
    drop: _Drops,
    *,
    now: int,
    index: TopologyIndex,
    settings: PipelineSettings,
    stamp: float,
    is_partial: bool,
) -> _Accepted:
    """None-drop, dedupe, expire, enrich, host status and item scope, point by point.

    Everything that depends only on a point's series (record id digest, enrichment, host status, item
    scope) is computed once per series and shared by the series' points.
    """
    plan = cache.plan
    rplan, keys = plan.records, plan.keys
    value_field, max_age = rplan.value_field, plan.max_age
    memo, decisions = cache.memo.of, cache.decisions
    entries: list[_Entry] = []
    append = entries.append
    max_queried = created = 0
    # The hot loop: one pass, everything per series looked up, the current bucket's dedupe sets kept at hand
    # (points come ordered by time, so consecutive points share a bucket).
    bucket_time: Any = None
    seen: AbstractSet[str] = frozenset()
    new: set[str] = set()
    # Newest-first like the original, so of two identical points in one result the later one is kept.
    for point in reversed(points):
        if point.get(value_field) is None:
            drop("none_value", point)
            continue
        time = point.get("_time_") or point.get("time")  # `point_time`, inlined
        if not time:
            drop("no_time", point)
            continue
        max_queried = max(max_queried, time)
        series = memo(point)
        record_id = f"{series.digest}.{time}"
        if time != bucket_time:
            bucket_time = time
            seen, new = deduper.bucket(time)
        if record_id in seen or record_id in new:
            drop("duplicate", point)
            continue
        new.add(record_id)
        created += 1
        if now - time > max_age:  # `is_expired`, inlined
            drop("expired", point)
            continue
        decision = decisions.get(series)
        if decision is None:
            decision = decisions[series] = decide(plan, series.dimensions, index, settings)
        status, retained, outside = decision
        if status != KEEP:
            if status != HOST_DISABLED:
                drop(status, point)
                continue
            drop.per_item(HOST_DISABLED, point, keys)
        if outside:
            drop.per_item("out_of_target", point, outside)
        append((build_record(rplan, point, time, (record_id, series.dimensions, series.fields), stamp,
                             is_partial=is_partial),
                point, retained))
    return _Accepted(entries, max_queried, created)


def _fan_out(kept: list[_Entry], n_items: int, inhibited: AbstractSet[tuple[int, int]]) -> list[list[Record]]:
    """Records per item index: retained by the item and not inhibited for it."""
    per_item: list[list[Record]] = [[] for _ in range(n_items)]
    for position, (record, _, retained) in enumerate(kept):
        for index in retained:
            if not inhibited or (position, index) not in inhibited:
                per_item[index].append(record)
    return per_item


@gc_paused
def run(
    group: StrategyGroup,
    points: Sequence[Mapping[str, Any]],
    *,
    now: int,
    topology_index: TopologyIndex,
    seen_record_ids: Mapping[int, AbstractSet[str]],
    priority_state: Mapping[str, Mapping[str, str]],
    settings: PipelineSettings = DEFAULT_SETTINGS,
    access_time: float | None = None,
    is_partial: bool = False,
    detail: bool = False,
    cache: SeriesCache | None = None,
) -> PullResult:
    """Process the `points` one query of `group` returned (in query order) at time `now`.

    `seen_record_ids` holds the stored dedupe sets of the points' buckets, `priority_state` the hashes named
    by `records.priority.priority_group_keys(group)`. `access_time` (default `now`) is stamped on records.
    With `detail`, `dropped_points` lists every drop with its point. `cache` (from `series_cache`) carries
    the plan and per-series work from an earlier run of the same pull.
    """
    cache = cache or series_cache(group, topology_index)
    plan = cache.plan
    drop = _Drops(detail)
    deduper = Deduper(seen_record_ids)
    accepted = _accept(
        cache,
        points,
        deduper,
        drop,
        now=now,
        index=topology_index,
        settings=settings,
        stamp=float(now) if access_time is None else access_time,
        is_partial=is_partial,
    )
    limit = limit_time_points(accepted.entries, settings.max_time_points if plan.limit_times else 0, _entry_time)
    for entry in accepted.entries if limit.discarded_times else ():
        if entry[0].time in limit.discarded_times:
            drop("time_limit", entry[1])
    kept = limit.kept

    members = priority_members(group)
    inhibited: AbstractSet[tuple[int, int]] = frozenset()
    priority_writes: tuple[PriorityWrite, ...] = ()
    if members and kept:
        candidates = [(record.record_id.partition(".")[0], retained) for record, _, retained in kept]
        decision = decide_priority(candidates, members, priority_state, now)
        inhibited, priority_writes = decision.inhibited, decision.writes
        for position, index in sorted(inhibited):
            drop("inhibited", kept[position][1], plan.keys[index])

    per_item = _fan_out(kept, len(plan.keys), inhibited)
    data = {plan.keys[i]: tuple(records) for i, records in enumerate(per_item) if records}
    surviving = tuple(entry[0] for entry in kept)
    nodata = {
        plan.keys[i]: surviving for i, (_, item) in enumerate(group.items) if item.no_data.is_enabled and surviving
    }
    if limit.last_time_point is not None:
        checkpoint: int | None = limit.last_time_point
    elif surviving:
        checkpoint = max(record.time for record in surviving)
    else:
        checkpoint = accepted.max_queried or None
    return PullResult(
        group_key=group.key,
        data=data,
        nodata=nodata,
        signal=tuple(dict.fromkeys(key[0] for key in data)),
        dedupe_additions=deduper.additions(limit.discarded_times),
        priority_writes=priority_writes,
        noise_writes=noise_writes(group, data),
        checkpoint=checkpoint,
        last_time_point=limit.last_time_point,
        discarded_times=limit.discarded_times,
        drops=dict(drop.counts),
        dropped_points=tuple(drop.points),
        pulled=len(points),
        created=accepted.created,
    )
