"""One pull of one strategy group: window → query → pipeline → push, in an order that is safe to crash in.

`pull_group` is the unit of work of the `data` access type, the same in every dispatcher (inline and Celery,
see `access.data.runner`). Effects are ordered per ARCHITECTURE principle 6: nothing is written before the query
and the pipeline succeeded, and the records, the dedupe state, the checkpoint and the run heartbeat are
written by the sink in one atomic step — so a worker killed at any point either delivered a pull entirely
(the next pull starts after it) or not at all (the next pull repeats it), never half of one.

With `PullExtras.fence` the delivery is fenced (a pull that lost its lock, or whose slot was already
delivered, writes nothing: `FencedOut`). With `PullExtras.thresholds` (every item of the group is a static
threshold, spec §3.15) the records are detected here and the anomalies are written instead of the
`access.data.*` queues, in the same transaction; nodata copies and noise counts are written as usual, and
the time-point limit does not apply (as in the original's merge mode). With `PullExtras.split` (Celery
workers, `access.data.batch`) a pull of more points than the batch threshold is handed to the splitter
instead, and `deliver_points` later delivers each batch in its sub-task. With `PullExtras.batched`
(`-H process`, `access.data.bounded`) a pull over the batch threshold is queried in time slices and delivered
in batches of whole buckets, each atomic with its dedupe state, the checkpoint written by the last delivery.
With `PullExtras.end_times` the buckets of a bk_data group still being ingested are held back until a later
pull (`access.data.freshness`, spec §3.12); its held window end is the one thing written outside the delivery
(taken before the query, written after it, unfenced, as the original): losing or repeating it costs at most
one interval's delay, never a bucket, since the window always starts at the checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from alarm_access import metrics
from alarm_access.access.data import freshness
from alarm_access.access.data.fetch import Fetch, fetcher
from alarm_access.access.data.jobs import BatchJob, Fence
from alarm_access.access.data.ports import EndTimeHolds, RecordSink, TimeSeriesSource
from alarm_access.access.data.query import item_plan
from alarm_access.access.data.schedule import QueryWindow, query_window
from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.ports import SnapshotKey
from alarm_access.kernel.settings import DataSettings
from alarm_access.logs import ctx
from alarm_access.records import pipeline
from alarm_access.records.anomaly import AnomalyWrites, detect_records
from alarm_access.records.enrich import TopologyIndex
from alarm_access.records.priority import priority_group_keys
from alarm_access.records.series_cache import SeriesCache
from alarm_access.records.standardize import point_time
from alarm_access.records.threshold import ItemThresholds

logger = logging.getLogger("alarm_access.access.data")


@dataclass(frozen=True, slots=True)
class PullReport:
    """What one pull did. `window` is None when no bucket had closed since the checkpoint."""

    group_key: str
    window: QueryWindow | None
    pulled: int = 0
    pushed: dict[tuple[int, int], int] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    checkpoint: int | None = None
    anomalies: int = 0
    #: > 0 when the pull was split into this many batch sub-tasks (nothing was delivered by the pull itself)
    batches: int = 0


class BatchedPull(Protocol):
    def __call__(self, group: StrategyGroup, fetch: Fetch, now: int, *, checkpoint: int, window: QueryWindow,
                 sink: RecordSink, topology: TopologyIndex, settings: DataSettings, extras: PullExtras
                 ) -> PullReport:
        """Query `window` through `fetch` and deliver it, in batches when it is large (`access.data.bounded`)."""
        ...


class Splitter(Protocol):
    def __call__(self, group: StrategyGroup, points: list[dict[str, Any]], *, window: QueryWindow,
                 checkpoint: int, now: int, fence: Fence, inline: bool) -> PullReport | None:
        """Split the pull into batch sub-tasks and return its report, or None to deliver it as one."""
        ...


@dataclass(frozen=True, slots=True)
class PullExtras:
    """Optional parts of a pull: the lock fence, inline thresholds per item with the strategy documents for
    the snapshots and the snapshot key (required with `thresholds`)."""

    fence: Fence | None = None
    thresholds: Mapping[tuple[int, int], ItemThresholds] | None = None
    documents: Mapping[int, str] = field(default_factory=dict)
    snapshot_key: SnapshotKey | None = None
    split: Splitter | None = None
    #: `-H process`: query and deliver large pulls in batches of whole buckets, in bounded memory
    batched: BatchedPull | None = None
    #: bk_data freshness gating (`access.data.freshness`); None: nothing is gated
    end_times: EndTimeHolds | None = None

    def __post_init__(self) -> None:
        if self.thresholds is not None and self.snapshot_key is None:
            raise ValueError("inline thresholds need the snapshot key")


NO_EXTRAS = PullExtras()


def window_for(group: StrategyGroup, checkpoint: int, now: int, settings: DataSettings, *,
               until: int | None = None) -> QueryWindow | None:
    """The query window of `group` at `now` given its stored checkpoint (spec data-access §1.5); a held
    window end `until` (bk_data freshness gating) is the end, unless the computed one is earlier."""
    return query_window(
        checkpoint,
        now,
        group.interval,
        delay=settings.time_delay + max(item.time_delay for _, item in group.items),
        overlap_intervals=settings.overlap_intervals,
        max_lookback=settings.max_lookback,
        min_update_time=min(item.update_time or strategy.update_time for strategy, item in group.items),
        until=until,
    )


def pull_group(
    group: StrategyGroup,
    now: int,
    *,
    source: TimeSeriesSource,
    sink: RecordSink,
    topology: TopologyIndex,
    settings: DataSettings,
    extras: PullExtras = NO_EXTRAS,
) -> PullReport:
    """Pull `group` once at `now` and deliver the result.

    Raises `SourceUnavailable` (query or Redis failed: nothing was written, the checkpoint did not move),
    `Backpressure` (a destination queue is full: nothing was written) or `FencedOut` (another pull owns the
    group or the slot is done: nothing was written). All mean "retry at a later slot".
    """
    checkpoint = sink.read_checkpoint(group)
    plan = item_plan(group.first_item, f"strategy group {group.key}", now=now)
    holds = extras.end_times if freshness.gated(group, plan) else None
    until = holds.take_end_time(group.key) if holds is not None else None
    window = window_for(group, checkpoint, now, settings, until=until)
    if window is None:
        return PullReport(group.key, None, checkpoint=checkpoint)
    fetch = fetcher(group, plan, source, settings)
    if holds is not None:
        fetch = freshness.gate_fetch(fetch, group, holds, now=now, until=window.end,
                                     threshold=settings.bkdata_local_time_threshold)
    if extras.batched is not None:
        return extras.batched(group, fetch, now, checkpoint=checkpoint, window=window, sink=sink, topology=topology,
                              settings=settings, extras=extras)
    points = fetch(window.start, window.end)
    # A partial answer is delivered here, whatever its size: batch sub-tasks would not carry `is_partial`.
    if extras.split is not None and extras.fence is not None and not points.is_partial:
        report = extras.split(group, points, window=window, checkpoint=checkpoint, now=now, fence=extras.fence,
                              inline=extras.thresholds is not None)
        if report is not None:
            return report
    return deliver_points(group, points, now, checkpoint=checkpoint, window=window, sink=sink, topology=topology,
                          settings=settings, extras=extras, is_partial=points.is_partial)


def deliver_points(
    group: StrategyGroup,
    points: Sequence[Mapping[str, Any]],
    now: int,
    *,
    checkpoint: int,
    window: QueryWindow | None,
    sink: RecordSink,
    topology: TopologyIndex,
    settings: DataSettings,
    extras: PullExtras = NO_EXTRAS,
    batch: BatchJob | None = None,
    final: bool = True,
    cache: SeriesCache | None = None,
    is_partial: bool = False,
) -> PullReport:
    """Run the pipeline on `points` and deliver the result in one transaction (raises as `pull_group`).

    With `batch` the points are one batch of a split pull: the parent already applied the time-point limit,
    and the delivery counts the batch done in its round instead of moving the checkpoint. With
    `final=False` they are one batch of a pull delivered in batches by this process (`access.data.bounded`,
    which applied the limit): the checkpoint, heartbeat and slot mark are left to the pull's last delivery, and
    `cache` carries the series work of the pull's earlier batches. `is_partial` marks the records (§3.13)."""
    seen = sink.read_seen(group, {point_time(p) for p in points} - {None})
    priorities = sink.read_priority(priority_group_keys(group))
    result = pipeline.run(
        group,
        points,
        now=now,
        topology_index=topology,
        seen_record_ids=seen,
        priority_state=priorities,
        settings=pipeline.PipelineSettings(
            max_time_points=0 if extras.thresholds or batch or not final else settings.max_time_points,
            disabled_host_states=frozenset(settings.disabled_host_states),
        ),
        access_time=time.time(),
        is_partial=is_partial,
        cache=cache,
    )
    new_checkpoint = max(checkpoint, result.checkpoint or 0)
    pushed = {key: len(records) for key, records in result.data.items()}
    anomalies: AnomalyWrites | None = None
    if extras.thresholds is not None and extras.snapshot_key is not None:
        detect_started = time.perf_counter()
        anomalies = detect_records(group, result.data, extras.thresholds, now=time.time(),
                                   snapshot_key=extras.snapshot_key, documents=extras.documents)
        metrics.DETECT_PROCESS_TIME.observe(time.perf_counter() - detect_started)
        result = dataclasses.replace(result, data={}, signal=())
    sink.deliver(result, group, checkpoint=new_checkpoint, now=now, fence=extras.fence, anomalies=anomalies,
                 batch=batch, final=final)
    report = PullReport(
        group.key,
        window,
        pulled=result.pulled,
        pushed=pushed,
        drops=dict(result.drops),
        checkpoint=new_checkpoint,
        anomalies=anomalies.count if anomalies else 0,
    )
    _observe(report, result.created, "batch delivered" if batch or not final else "group pulled")
    return report


def _observe(report: PullReport, created: int, message: str) -> None:
    metrics.DATA_PULL_COUNT.inc(created)
    # Per-strategy labels would grow without bound; the log line below names the queues instead.
    metrics.PUSH_COUNT.labels("data").inc(sum(report.pushed.values()))
    metrics.INLINE_ANOMALIES.inc(report.anomalies)
    for reason, count in report.drops.items():
        metrics.RECORDS_DROPPED.labels("data", reason).inc(count)
    logger.info(
        message,
        extra=ctx(
            sgk=report.group_key,
            window=f"{report.window.start}-{report.window.end}" if report.window else "-",
            points=report.pulled,
            pushed=sum(report.pushed.values()),
            queues=",".join(f"{s}.{i}" for s, i in report.pushed) or "-",
            drops=",".join(f"{k}:{v}" for k, v in sorted(report.drops.items())) or "-",
            checkpoint=report.checkpoint,
            anomalies=report.anomalies,
        ),
    )
