"""`manage.py access_replay`: the `data` pipeline over a past range, group by group, without the scheduler.

The range `[start, end)` of a group is run in chunks of the group's expiry age (`records.filters.expire_after`,
at least 30 min), each with `now` = the chunk's end, so a past point is judged as a live pull at that time
would have judged it (not dropped as expired by today's clock). Each chunk is queried like a live pull
(`access.data.query`: every query config, expression, functions) and run through the same pipeline without
the time-point limit (a replay wants every bucket of its range).
The range ends at the last closed bucket (as a live pull's window does), a bk_data bucket still being ingested
is left out as a live pull would hold it back (`access.data.freshness`, without writing a hold), and priority
inhibition is not applied: the replayed records are not judged against, nor written as, priority claims.

- dry run (no `guards`): no dedupe state is read — the records are what a live run produced for the range,
  with the same record ids — and nothing is written;
- push (`guards` given): the stored dedupe state is read and the records are delivered with it like one batch of a
  bounded pull (`RecordSink.deliver(final=False)`): records, nodata copies and dedupe state in one
  transaction, but never the checkpoint, the run heartbeat or the slot mark — a replay does not move the
  checkpoint (backwards or forwards) and does not pretend access ran. A range already delivered, within the
  dedupe TTL (10 intervals), pushes nothing new. Groups detected inline (static thresholds) get records on
  `access.data.*` like the others: replay does not write anomalies.
  Each chunk is pushed under the group lock (`PullGuards.lock`, waiting up to `lock_ttl` for a live pull to
  finish) and its fence (`jobs.REPLAY_SLOT`), from reading the dedupe state to the delivery: a live pull can
  neither run beside it nor, by taking the lock over (`-H process`), slip a delivery between the replay's
  read and write — the replay's transaction is then refused and the chunk read and run again. So a range a
  live pull is delivering at the same moment is pushed once, not twice.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from alarm_access.access.data import freshness
from alarm_access.access.data.jobs import REPLAY_SLOT, Fence, FencedOut
from alarm_access.access.data.ports import PullGuards, RecordSink, SeriesPoints, TimeSeriesSource
from alarm_access.access.data.query import item_plan, query_item
from alarm_access.kernel.model import Record, StrategyGroup
from alarm_access.kernel.settings import DataSettings
from alarm_access.records import pipeline
from alarm_access.records.enrich import TopologyIndex
from alarm_access.records.filters import expire_after
from alarm_access.records.pipeline import PullResult
from alarm_access.records.standardize import point_time

#: how often a chunk is read and run again when live pulls keep taking the group over during its push
PUSH_ATTEMPTS = 5
#: seconds between two attempts at the group lock while a live pull holds it
LOCK_POLL = 0.2


@dataclass(slots=True)
class ReplayChunk:
    """One chunk of one group's replay: its records per `(strategy id, item id)` and its drops."""

    group_key: str
    start: int
    end: int
    records: dict[tuple[int, int], tuple[Record, ...]] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)
    pulled: int = 0


def chunks(group: StrategyGroup, start: int, end: int) -> Iterator[tuple[int, int]]:
    """`[start, end)` cut at multiples of the group's interval into spans no longer than its expiry age."""
    span = expire_after(group.first_item) - expire_after(group.first_item) % group.interval or group.interval
    cursor = start
    while cursor < end:
        stop = min(end, cursor - cursor % group.interval + span)
        yield cursor, stop
        cursor = stop


def closed_until(group: StrategyGroup, settings: DataSettings, now: float) -> int:
    """The end of the last bucket a live pull at `now` would read (`schedule.query_window`'s `until`): a
    replay never reads a bucket still filling — its dedupe state would make the live pull drop the whole one."""
    delay = settings.time_delay + max(item.time_delay for _, item in group.items)
    until = int(now) - delay
    return until - until % group.interval


def replay_group(group: StrategyGroup, start: int, end: int, *, source: TimeSeriesSource, sink: RecordSink,
                 topology: TopologyIndex, settings: DataSettings, guards: PullGuards | None = None
                 ) -> Iterator[ReplayChunk]:
    """Replay `group` over `[start, end)`, chunk by chunk (module docstring); raises as `pull_group`.

    With `guards` the chunks are pushed (under the group lock); without, it is a dry run. `FencedOut` when
    the lock stayed held for `settings.lock_ttl` or live pulls took a chunk over `PUSH_ATTEMPTS` times."""
    plan_settings = pipeline.PipelineSettings(max_time_points=0,
                                              disabled_host_states=frozenset(settings.disabled_host_states))
    for chunk_start, chunk_end in chunks(group, start, min(end, closed_until(group, settings, time.time()))):
        plan = item_plan(group.first_item, f"strategy group {group.key}", now=chunk_end)
        points = query_item(plan, source, chunk_start, chunk_end)
        gate = freshness.gate_time(points.local_times or {}, int(time.time()), settings.bkdata_local_time_threshold)
        if gate is not None and freshness.gated(group, plan):  # what a live pull would hold back (no hold here)
            points = freshness.before(points, gate)

        def run(seen: dict[int, set[str]], points: SeriesPoints = points, now: int = chunk_end) -> PullResult:
            # no priority state in, none out: past claims would overwrite the live ones (and be judged by them)
            return pipeline.run(group, points, now=now, topology_index=topology, seen_record_ids=seen,
                                priority_state={}, settings=plan_settings, access_time=time.time(),
                                is_partial=points.is_partial)

        result = run({}) if guards is None else _push(group, points, run, sink=sink, guards=guards,
                                                       lock_ttl=settings.lock_ttl, now=chunk_end)
        yield ReplayChunk(group.key, chunk_start, chunk_end, dict(result.data), dict(result.drops), len(points))


def _push(group: StrategyGroup, points: SeriesPoints, run: Callable[[dict[int, set[str]]], PullResult], *,
          sink: RecordSink, guards: PullGuards, lock_ttl: int, now: int) -> PullResult:
    """Read the dedupe state, run and deliver one chunk under the group lock (module docstring)."""
    times = {point_time(p) for p in points} - {None}
    for _ in range(PUSH_ATTEMPTS):
        fence = _lock(group, guards, lock_ttl)
        try:
            result = run(sink.read_seen(group, times))
            sink.deliver(dataclasses.replace(result, priority_writes=()), group, checkpoint=0, now=now,
                         fence=fence, final=False)
            return result
        except FencedOut:
            continue  # a live pull took the group over between our read and write: read its state again
        finally:
            guards.unlock(fence)
    raise FencedOut(f"group {group.key}: live pulls took the group over {PUSH_ATTEMPTS} times during a replay push")


def _lock(group: StrategyGroup, guards: PullGuards, ttl: int) -> Fence:
    """The group lock under the replay fence, waiting up to `ttl` (the longest a live pull can hold it)."""
    deadline = time.monotonic() + ttl
    while (fence := guards.lock(group.key, REPLAY_SLOT, ttl)) is None:
        if time.monotonic() >= deadline:
            raise FencedOut(f"group {group.key}: its lock stayed held for {ttl} s, replay push not attempted")
        time.sleep(LOCK_POLL)
    return fence
