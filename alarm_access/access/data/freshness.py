"""bk_data freshness gating (spec data-access §3.12, §1.5): buckets still being ingested are held back.

bk_data (the computing platform) writes a bucket's samples over some time, so a bucket queried just after
it closed may be incomplete. For a gated group (`gated`: a `("bk_data", "time_series")` source, one query
config, no multi-metric expression — as the original), after each query:

1. the point times are walked in ascending order; the first one whose newest ingestion time
   (`SeriesPoints.local_times`) is at most `ALARM_ACCESS_DATA_BKDATA_LOCAL_TIME_THRESHOLD` seconds before
   `now` (or after it) is the gate (`gate_time`, pure);
2. at a gate, the pull's window end is held (`EndTimeHolds.hold_end_time`, the original's
   `access.data.last_end_time.group_key_{SGK}`, TTL `hold_ttl`) and every point at or after the gate is
   dropped. The value held is the window end of this pull (the original's `until_timestamp`), not the
   gate: the next pull takes it (deleting it) as its own window end, capped at the last closed bucket
   (`pull.window_for`), so it re-queries the held-back buckets — and holds the same end again if they are
   still fresh — before the window moves on. The checkpoint moves only to the points delivered.

A source that cannot tell ingestion times (`local_times` None, Prometheus-compatible APIs) gates nothing.
The hold is written right after the query, before the delivery (as the original): a pull that then fails
leaves a hold that only pins the next window's end, which that pull re-gates from fresh answers anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from alarm_access import metrics
from alarm_access.access.data.fetch import Fetch
from alarm_access.access.data.ports import EndTimeHolds, SeriesPoints
from alarm_access.access.data.query import ItemPlan
from alarm_access.kernel.model import StrategyGroup
from alarm_access.logs import ctx
from alarm_access.records.standardize import point_time

logger = logging.getLogger("alarm_access.access.data")

#: the only source whose buckets are gated (labels as in `QueryConfig.source`)
GATED_SOURCE = ("bk_data", "time_series")
#: the original's ACCESS_END_TIME_KEY TTL, the floor of `hold_ttl`
HOLD_TTL_FLOOR = 300


def gated(group: StrategyGroup, plan: ItemPlan) -> bool:
    """Whether `group`'s pulls are gated: a bk_data time series queried alone (no expression joining
    several query configs, `ItemPlan.expression` None)."""
    return group.source == GATED_SOURCE and len(plan.configs) == 1 and plan.expression is None


def hold_ttl(interval: int) -> int:
    """Seconds a held window end lives: the original's `max(300, 5 * interval)`, so that a long interval's
    next pull still finds it."""
    return max(HOLD_TTL_FLOOR, 5 * interval)


def gate_time(local_times: Mapping[int, int], now: int, threshold: int) -> int | None:
    """The earliest point time whose newest ingestion time is within `threshold` seconds of `now`
    (`now - local_time <= threshold`, a future ingestion time included); None when every time is older."""
    for time in sorted(local_times):
        if now - local_times[time] <= threshold:
            return time
    return None


def before(points: SeriesPoints, gate: int) -> SeriesPoints:
    """The points of `points` strictly before `gate` (a point without a time is kept, the pipeline drops it)."""
    kept = [p for p in points if (t := point_time(p)) is None or t < gate]
    return SeriesPoints(kept, is_partial=points.is_partial,
                        local_times={t: lt for t, lt in (points.local_times or {}).items() if t < gate})


def gate_fetch(fetch: Fetch, group: StrategyGroup, holds: EndTimeHolds, *, now: int, until: int,
               threshold: int) -> Fetch:
    """`fetch` with gating: the first answer holding a gate holds `until` (the pull's window end) and is cut
    at the gate. The slices of one pull are fetched oldest first (`access.data.bounded`), so once a gate
    was found a later slice holds only later buckets: it is not queried at all."""
    gate: int | None = None

    def gated_fetch(start: int, end: int) -> SeriesPoints:
        nonlocal gate
        if gate is not None:
            return SeriesPoints()
        points = fetch(start, end)
        found = gate_time(points.local_times or {}, now, threshold)
        if found is None:
            return points
        gate = found
        holds.hold_end_time(group.key, until, hold_ttl(group.interval))
        local_time = (points.local_times or {})[found]
        skewed = local_time > now + threshold
        metrics.FRESHNESS_HOLDS.labels("future" if skewed else "fresh").inc()
        logger.log(logging.WARNING if skewed else logging.INFO,
                   "bk_data ingestion time ahead of this clock: buckets held back until it has passed" if skewed
                   else "bk_data buckets still being ingested: held back until a later pull",
                   extra=ctx(sgk=group.key, gate=found, local_time=local_time, now=now, until=until))
        return before(points, found)

    return gated_fetch
