"""Large pulls in bounded memory (`-H process`): the window queried in time slices, delivered in batches.

With `ALARM_ACCESS_DATA_BATCH_THRESHOLD` > 0, `BoundedPull` replaces the one query and one transaction of
`pull.pull_group` for the pulls of this process:

1. the window is queried in **time slices of whole buckets** through the pull's `Fetch` (whatever query
   function `pull_group` uses). A slice is sized from the group's density (points per bucket, remembered
   from its previous pulls, halved by each emptier one): about `batch_size` points, or the whole rest of
   the window when that fits under the threshold. The density is counted per step that holds data (points
   / distinct steps of their times), so a window whose data fills only its newest buckets is not mistaken for
   a sparse one. A group this process has not pulled yet is probed with one step, then two, then
   `PROBE_MAX_STEPS` per slice while the slices come back empty; a group whose pulls keep finding nothing
   decays to being queried whole (an empty group costs one query per pull, not a probe);
2. while the points fetched so far, plus what the density predicts for the rest of the window, stay
   within the threshold, they are kept and delivered as before: one `deliver_points`, one transaction with
   the checkpoint. A small pull is unchanged (one query, once the group's density is known);
3. otherwise the pull is **delivered in batches**: what was fetched and every later slice is cut into
   batches of whole buckets (`batch_split.split_points`, the cut of the Celery sub-tasks, spec §3.14), each
   delivered as it comes by `deliver_points(final=False)`: its records and their dedupe state in one
   transaction, fenced, without checkpoint. The time-point limit is applied to the whole pull as
   `split_points` does (buckets newer than the checkpoint holding a value, counted before dedupe), and no
   slice is queried once the limit is reached;
4. after the last batch one more fenced transaction writes the checkpoint (`max(stored, newest kept
   bucket)`), the run heartbeat and the slot mark.

So points, records and their JSON are held for about one slice (`batch_size` points, or one bucket when a
bucket alone is larger) plus, before the pull turns out large, at most `batch_threshold` points — once the
density is known: the first slice of a group this process has not pulled yet holds up to `PROBE_MAX_STEPS`
steps of whatever the source has. A process
killed between two batches has delivered whole buckets with their dedupe state and not moved the
checkpoint: the next pull repeats the window, dedupe drops what was delivered, the rest is delivered once.
A failure (source, Redis, backpressure, fence) stops the pull the same way.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from alarm_access import metrics
from alarm_access.access.data.batch_split import Point, split_points, time_limit
from alarm_access.access.data.fetch import Fetch
from alarm_access.access.data.ports import RecordSink
from alarm_access.access.data.pull import PullExtras, PullReport, deliver_points
from alarm_access.access.data.schedule import QueryWindow
from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.settings import DataSettings
from alarm_access.logs import ctx
from alarm_access.records import pipeline
from alarm_access.records.enrich import TopologyIndex
from alarm_access.records.series_cache import SeriesCache, series_cache
from alarm_access.records.standardize import plan_records, point_time

logger = logging.getLogger("alarm_access.access.data")

#: the largest slice, in steps, of a group whose density is unknown (the probe doubles up to it)
PROBE_MAX_STEPS = 4


def slice_step(group: StrategyGroup) -> int:
    """Seconds between slice boundaries: a multiple of every bucket of the group's queries."""
    return math.lcm(*(qc.agg_interval for qc in group.first_item.query_configs if qc.agg_interval > 0), group.interval)


def _steps(start: int, end: int, step: int) -> int:
    """Slice steps from `start` to `end` (a partial step at either end counts as one)."""
    return max(1, -(-(end - (start - start % step)) // step))


def _density(points: Sequence[Point], step: int) -> float:
    """Points per step that holds any (0.0 for none; a point without a time counts in no step)."""
    steps = {time - time % step for time in map(point_time, points) if time}
    return len(points) / len(steps) if steps else 0.0


def next_boundary(cursor: int, end: int, step: int, density: float | None, *, room: float, batch_size: int,
                  probe: int = 1) -> int:
    """Where the slice starting at `cursor` ends (`<= end`): `probe` steps for an unknown `density` (points
    per step), the rest of the window when it holds about `room` points or fewer, else `batch_size` points'
    worth of steps (at least one)."""
    left = _steps(cursor, end, step)
    if density is None:
        steps = probe
    elif density * left <= room:
        steps = left
    else:
        steps = max(1, int(batch_size / max(density, 1.0)))
    return min(end, cursor - cursor % step + steps * step)


@dataclass(slots=True)
class _Batches:
    """A pull being delivered in batches: the limit left, the series work its batches share, the checkpoint
    it leads to, what was delivered."""

    limit_left: int
    cache: SeriesCache
    checkpoint: int | None = None
    batches: int = 0
    pulled: int = 0
    anomalies: int = 0
    pushed: Counter[tuple[int, int]] = field(default_factory=Counter)
    drops: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> bool:
        """The time-point limit was reached: later buckets are not pulled."""
        return self.limit_left < 0

    def add(self, report: PullReport) -> None:
        self.batches += 1
        self.anomalies += report.anomalies
        self.pushed.update(report.pushed)
        self.drops.update(report.drops)


class BoundedPull:
    """`pull.BatchedPull` of `-H process`; remembers each group's density (one float per group key)."""

    def __init__(self, settings: DataSettings) -> None:
        self._threshold = settings.batch_threshold
        self._batch_size = settings.batch_size
        self._density: dict[str, float] = {}

    def __call__(self, group: StrategyGroup, fetch: Fetch, now: int, *, checkpoint: int, window: QueryWindow,
                 sink: RecordSink, topology: TopologyIndex, settings: DataSettings, extras: PullExtras
                 ) -> PullReport:
        step, threshold = slice_step(group), self._threshold
        limit = time_limit(group, settings.max_time_points, inline=extras.thresholds is not None)

        partial = False  # some slice so far was a partial answer: what is delivered from here on is marked

        def deliver(points: Sequence[Point], batches: _Batches) -> None:
            self._deliver(group, points, batches, now, checkpoint=checkpoint, window=window, sink=sink,
                          topology=topology, settings=settings, extras=extras, is_partial=partial)

        remembered = self._density.get(group.key)
        peak = 0.0  # the densest slice of this pull, in points per step
        probe = 1  # slice steps while the density is unknown: doubled by every empty slice
        pending: list[Point] = []
        batches: _Batches | None = None
        cursor = window.start
        while cursor < window.end and not (batches and batches.done):
            density = peak or remembered
            expected = len(pending) + (density or 0.0) * _steps(cursor, window.end, step)
            if batches is None and expected > threshold:
                # the pull is (expected to be) large: from here on, batch by batch
                batches = _Batches(limit, series_cache(group, topology))
                if pending:
                    deliver(pending, batches)
                    pending = []
                continue
            room = self._batch_size if batches else threshold - len(pending)
            boundary = next_boundary(cursor, window.end, step, density, room=room, batch_size=self._batch_size,
                                     probe=probe)
            points = fetch(cursor, boundary)
            partial = partial or points.is_partial
            peak = max(peak, _density(points, step))
            # halved, not forgotten, by an emptier pull: one empty pull (an outage) must not make the next
            # pull of a dense group one unbounded query; a group that stays empty still decays to one query
            self._density[group.key] = max(peak, (remembered or 0.0) / 2)
            probe = min(probe * 2, PROBE_MAX_STEPS)
            cursor = boundary
            if batches is None:
                pending.extend(points)
            else:
                deliver(points, batches)
        if batches is None and len(pending) > threshold:  # the last slice made it large
            batches = _Batches(limit, series_cache(group, topology))
            deliver(pending, batches)
        if batches is None:
            return deliver_points(group, pending, now, checkpoint=checkpoint, window=window, sink=sink,
                                  topology=topology, settings=settings, extras=extras, is_partial=partial)
        return self._finish(group, batches, now, checkpoint=checkpoint, window=window, sink=sink,
                            topology=topology, extras=extras)

    def _deliver(self, group: StrategyGroup, points: Sequence[Point], batches: _Batches, now: int, *, checkpoint: int,
                 window: QueryWindow, sink: RecordSink, topology: TopologyIndex, settings: DataSettings,
                 extras: PullExtras, is_partial: bool) -> None:
        """Cut `points` (whole buckets, later than any delivered before) into batches and deliver each."""
        metrics.PROCESS_OVERFLOW.inc(len(points))
        limit = max(batches.limit_left, 0)
        plan = split_points(points, value_field=plan_records(group.first_item).value_field,
                            batch_size=self._batch_size, max_time_points=limit, checkpoint=checkpoint)
        batches.pulled += len(points)
        if plan.discarded:
            batches.drops["time_limit"] += plan.discarded
        timeless = len(points) - plan.discarded - sum(map(len, plan.batches))
        if timeless:
            batches.drops["no_time"] += timeless
        if plan.checkpoint is not None:
            batches.checkpoint = plan.checkpoint
        if limit:
            # -1 once the limit is used up: no later bucket may be delivered, so none is queried
            batches.limit_left = limit - plan.counted if limit > plan.counted else -1
        for batch in plan.batches:
            batches.add(deliver_points(group, batch, now, checkpoint=checkpoint, window=window, sink=sink,
                                       topology=topology, settings=settings, extras=extras, final=False,
                                       cache=batches.cache, is_partial=is_partial))

    def _finish(self, group: StrategyGroup, batches: _Batches, now: int, *, checkpoint: int, window: QueryWindow,
                sink: RecordSink, topology: TopologyIndex, extras: PullExtras) -> PullReport:
        """Every batch is delivered: write the checkpoint, heartbeat and slot mark (fenced) and report."""
        stored = max(checkpoint, batches.checkpoint or 0)
        nothing = pipeline.run(group, (), now=now, topology_index=topology, seen_record_ids={},
                               priority_state={})
        sink.deliver(nothing, group, checkpoint=stored, now=now, fence=extras.fence)
        report = PullReport(group.key, window, pulled=batches.pulled, pushed=dict(batches.pushed),
                            drops=dict(batches.drops), checkpoint=stored, anomalies=batches.anomalies)
        logger.info("group pulled in batches", extra=ctx(
            sgk=group.key, window=f"{window.start}-{window.end}", points=batches.pulled, batches=batches.batches,
            pushed=sum(batches.pushed.values()), drops=",".join(f"{k}:{v}" for k, v in sorted(batches.drops.items()))
            or "-", checkpoint=stored, time_limited=batches.done))
        return report
