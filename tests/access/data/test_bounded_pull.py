"""`-H process` pulls over the batch threshold (`access.data.bounded`), on the in-memory fakes.

The same window pulled whole (threshold 0) and in batches must deliver the same record ids and store the same
checkpoint; the batched pull queries slices of whole buckets of about `batch_size` points, writes the
checkpoint only after its last batch, and a pull that fails between two batches is completed by the next one
without a duplicate.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from typing import Any

import pytest

from alarm_access.access.data.bounded import BoundedPull, next_boundary
from alarm_access.access.data.jobs import Fence
from alarm_access.access.data.pull import PullExtras, PullReport, pull_group
from alarm_access.adapters.memory.data import MemoryRecordSink, MemorySource
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.kernel.model import StrategyGroup, TargetCondition
from alarm_access.kernel.settings import DataSettings
from alarm_access.records.enrich import TopologyIndex
from alarm_access.records.result import PullResult
from tests.factories import T0, group, host, index, item, point, strategy

SERIES = 30
BUCKETS = 8
NOW = T0 + BUCKETS * 60 + 60
#: 240 points: batches of 2 buckets (60 points); the time-point limit (10) does not fire
SETTINGS = DataSettings(batch_threshold=100, batch_size=60)


def ip(n: int) -> str:
    return f"10.0.0.{n + 1}"


def points(buckets: int = BUCKETS, start: int = T0) -> list[dict[str, Any]]:
    return [point(ip=ip(n), t=start + 60 * k, value=float(n + k)) for k in range(buckets) for n in range(SERIES)]


def topology() -> TopologyIndex:
    return index(*(host(n + 1, ip(n)) for n in range(SERIES)))


def a_group() -> StrategyGroup:
    return group(strategy(1, item(1)), strategy(2, item(2, target=(
        (TargetCondition("bk_target_ip", "eq", ({"bk_target_ip": ip(0), "bk_target_cloud_id": 0},)),),
    ))))


class RecordingSink(MemoryRecordSink):
    """Remembers each delivery's size and whether it was final; can fail the n-th delivery."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[int, bool, int]] = []  # (records, final, stored checkpoint after it)
        self.fail_at: int | None = None

    def deliver(self, result: PullResult, group: StrategyGroup, **kwargs: Any) -> None:
        if self.fail_at is not None and len(self.log) + 1 == self.fail_at:
            self.fail_at = None
            raise SourceUnavailable("EXEC failed")
        super().deliver(result, group, **kwargs)
        records = len({r.record_id for records in result.data.values() for r in records})
        self.log.append((records, kwargs.get("final", True), self.checkpoints.get(group.key, 0)))


def pull(g: StrategyGroup, source: MemorySource, sink: MemoryRecordSink, bounded: BoundedPull | None,
         *, settings: DataSettings = SETTINGS, now: int = NOW, fence: Fence | None = None) -> PullReport:
    sink.set_fence(g.key, 1)
    extras = PullExtras(fence=fence or Fence(g.key, 1, now), batched=bounded)
    return pull_group(g, now, source=source, sink=sink, topology=topology(), settings=settings, extras=extras)


def delivered(sink: MemoryRecordSink, key: tuple[int, int] = (1, 1)) -> Counter[str]:
    return Counter(r.record_id for r in sink.records(*key))


def test_a_large_pull_is_delivered_in_batches_like_a_whole_one() -> None:
    g = a_group()
    whole_sink, sink = MemoryRecordSink(), RecordingSink()
    whole = pull(g, MemorySource(points()), whole_sink, None)
    source = MemorySource(points())
    report = pull(g, source, sink, BoundedPull(SETTINGS))
    assert delivered(sink) == delivered(whole_sink) and len(delivered(sink)) == SERIES * BUCKETS
    assert max(delivered(sink).values()) == 1
    assert delivered(sink, (2, 2)) == delivered(whole_sink, (2, 2)) and len(delivered(sink, (2, 2))) == BUCKETS
    assert sink.read_checkpoint(g) == whole_sink.read_checkpoint(g) == T0 + (BUCKETS - 1) * 60
    assert report.checkpoint == whole.checkpoint and report.pushed == whole.pushed
    assert report.pulled == whole.pulled == SERIES * BUCKETS and report.batches == 0  # 0: nothing handed off
    # Batches of whole buckets, none final; then one final delivery that moves the checkpoint.
    assert [final for _, final, _ in sink.log] == [False] * (len(sink.log) - 1) + [True]
    assert all(stored == 0 for _, _, stored in sink.log[:-1]) and sink.log[-1][0] == 0
    assert all(records % SERIES == 0 and records <= SETTINGS.batch_size for records, _, _ in sink.log[:-1])
    assert sum(records for records, _, _ in sink.log) == SERIES * BUCKETS
    assert sink.heartbeats[g.key] == NOW and sink.slots_done[g.key] == NOW
    # Slices: one probe bucket, then whole buckets of about batch_size points, in order, covering the window.
    bounds = [(start, end) for _, start, end in source.calls]
    assert all(end == next_start for (_, end), (next_start, _) in itertools.pairwise(bounds))
    assert bounds[0][1] - bounds[0][0] <= 60
    first_data = next(i for i, (_, start, end) in enumerate(source.calls) if source.query(g.query_config, start, end))
    assert all(end - start <= 4 * 60 for start, end in bounds[:first_data + 1])  # the probe: at most 4 buckets
    assert report.window is not None and (bounds[0][0], bounds[-1][1]) == (report.window.start, report.window.end)
    assert all((end - start) // 60 <= SETTINGS.batch_size // SERIES for start, end in bounds[first_data + 1:])


def test_the_density_of_the_previous_pull_sizes_the_slices() -> None:
    g, bounded = a_group(), BoundedPull(SETTINGS)
    pull(g, MemorySource(points()), RecordingSink(), bounded)
    source, sink, whole_sink = MemorySource(points(buckets=BUCKETS + 4)), RecordingSink(), MemoryRecordSink()
    pull(g, source, sink, bounded, now=NOW + 4 * 60, fence=Fence(g.key, 1, NOW + 4 * 60))
    sizes = [len(source.query(qc, start, end)) for qc, start, end in list(source.calls)]
    assert max(sizes) <= SETTINGS.batch_size  # no probe: every slice was sized from the density
    pull(g, MemorySource(points(buckets=BUCKETS + 4)), whole_sink, None, now=NOW + 4 * 60,
         fence=Fence(g.key, 1, NOW + 4 * 60))
    assert delivered(sink) == delivered(whole_sink) and len(delivered(sink)) > SERIES * BUCKETS


def test_a_small_pull_is_one_query_and_one_transaction_once_its_density_is_known() -> None:
    settings = dataclasses.replace(SETTINGS, batch_threshold=150)
    g, bounded = a_group(), BoundedPull(settings)
    small, sink = points(buckets=4), RecordingSink()
    now = T0 + 3 * 60 + 60
    first = MemorySource(small[:60])
    pull(g, first, sink, bounded, settings=settings, now=now, fence=Fence(g.key, 1, now))
    assert first.queries > 1  # probe, then the rest
    source = MemorySource(small)  # the next window: 4 buckets from the checkpoint's, 120 points by the density
    pull(g, source, sink, bounded, settings=settings, now=now + 60, fence=Fence(g.key, 1, now + 60))
    assert source.queries == 1 and [final for _, final, _ in sink.log[-1:]] == [True]
    assert len(delivered(sink)) == 120 and sink.read_checkpoint(g) == T0 + 180


def test_an_empty_group_costs_one_query_once_known_empty() -> None:
    g, bounded = a_group(), BoundedPull(SETTINGS)
    first = MemorySource([])
    pull(g, first, RecordingSink(), bounded)
    assert first.queries > 1  # probing 1, 2, 4, ... buckets: the window is 31 buckets
    again = MemorySource([])
    pull(g, again, RecordingSink(), bounded)
    assert again.queries == 1


def test_the_time_point_limit_applies_to_the_whole_pull_and_stops_the_queries() -> None:
    g = a_group()
    lagging = points(buckets=20, start=NOW - 21 * 60 - 60 * 5)  # 20 buckets, all newer than checkpoint 0
    settings = dataclasses.replace(SETTINGS, max_time_points=5)
    whole_sink, sink = MemoryRecordSink(), RecordingSink()
    pull(g, MemorySource(lagging), whole_sink, None, settings=settings)
    source = MemorySource(lagging)
    report = pull(g, source, sink, BoundedPull(settings), settings=settings)
    kept = sorted({r.time for r in sink.records(1, 1)})
    assert len(kept) == 5 and kept == sorted({r.time for r in whole_sink.records(1, 1)})
    assert sink.read_checkpoint(g) == kept[-1] == whole_sink.read_checkpoint(g)
    assert report.drops.get("time_limit", 0) < SERIES * 15  # later buckets were not even queried
    assert max(end for _, _, end in source.calls) <= kept[-1] + 60 * (SETTINGS.batch_size // SERIES)


def test_a_pull_failing_between_batches_is_completed_by_the_next_without_duplicates() -> None:
    g, bounded, sink = a_group(), BoundedPull(SETTINGS), RecordingSink()
    sink.fail_at = 3
    with pytest.raises(SourceUnavailable):
        pull(g, MemorySource(points()), sink, bounded)
    assert 0 < len(delivered(sink)) < SERIES * BUCKETS and sink.read_checkpoint(g) == 0
    assert g.key not in sink.heartbeats and g.key not in sink.slots_done
    pull(g, MemorySource(points()), sink, bounded, now=NOW + 1, fence=Fence(g.key, 1, NOW + 1))
    ids = delivered(sink)
    assert len(ids) == SERIES * BUCKETS and max(ids.values()) == 1
    assert sink.read_checkpoint(g) == T0 + (BUCKETS - 1) * 60


@pytest.mark.parametrize(("density", "room", "expected"), [
    (None, 10, 60), (None, 10, 60), (0.0, 10, 600), (10.0, 100, 600), (30.0, 100, 120), (500.0, 100, 60),
])
def test_next_boundary(density: float | None, room: int, expected: int) -> None:
    assert next_boundary(0, 600, 60, density, room=room, batch_size=60) == expected
    assert next_boundary(0, 600, 60, None, room=room, batch_size=60, probe=4) == 240


def test_an_empty_pull_halves_the_remembered_density_instead_of_forgetting_it() -> None:
    g, bounded = a_group(), BoundedPull(SETTINGS)
    pull(g, MemorySource(points()), RecordingSink(), bounded)
    pull(g, MemorySource([]), RecordingSink(), bounded, now=NOW + 1, fence=Fence(g.key, 1, NOW + 1))
    source = MemorySource(points())
    pull(g, source, RecordingSink(), bounded, now=NOW + 2, fence=Fence(g.key, 1, NOW + 2))
    sizes = [len(source.query(qc, start, end)) for qc, start, end in list(source.calls)]
    assert len(sizes) > 1 and max(sizes) <= 2 * SETTINGS.batch_size  # not the whole window in one query
