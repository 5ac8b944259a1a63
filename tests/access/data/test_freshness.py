"""bk_data freshness gating (`access.data.freshness`, spec §3.12): the pure walk, the gated fetch, and
`pull_group` on the in-memory fakes (`MemorySource` with ingestion times, `MemoryGuards` holding the end)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from alarm_access import metrics
from alarm_access.access.data import freshness
from alarm_access.access.data.ports import SeriesPoints
from alarm_access.access.data.pull import PullExtras, PullReport, pull_group
from alarm_access.access.data.query import item_plan, query_item
from alarm_access.access.data.schedule import query_window
from alarm_access.adapters.memory.data import MemoryRecordSink, MemorySource
from alarm_access.adapters.memory.event import ManualClock
from alarm_access.adapters.memory.guards import MemoryGuards
from alarm_access.kernel.model import QueryConfig, StrategyGroup
from alarm_access.kernel.settings import DataSettings
from tests.factories import T0, group, host, index, item, point, qc, strategy

#: buckets T0 and T0 + 60 have closed (10 s delay): the computed window ends at T0 + 120
NOW = T0 + 180
SETTINGS = DataSettings()
POINTS = [point(t=T0), point(ip="127.0.0.2", t=T0), point(t=T0 + 60), point(ip="127.0.0.2", t=T0 + 60)]


def bk_data(**fields: Any) -> QueryConfig:
    return qc(data_source_label="bk_data", result_table_id="2_system_cpu_load", **fields)


def a_group(query: QueryConfig | None = None, **item_fields: Any) -> StrategyGroup:
    return group(strategy(1, item(1, query=query or bk_data(), **item_fields)))


class World:
    def __init__(self, g: StrategyGroup, local_times: dict[int, int] | None) -> None:
        self.group = g
        self.source = MemorySource(POINTS, local_times=local_times)
        self.sink = MemoryRecordSink()
        self.guards = MemoryGuards(clock=ManualClock(NOW))

    def pull(self, now: int = NOW) -> PullReport:
        return pull_group(self.group, now, source=self.source, sink=self.sink, settings=SETTINGS,
                          topology=index(host(1, "127.0.0.1"), host(2, "127.0.0.2")),
                          extras=PullExtras(end_times=self.guards))

    def delivered_times(self) -> list[int]:
        return sorted(r.time for r in self.sink.records(1, 1))


# --- the pure walk ------------------------------------------------------------------------------------------

def test_the_gate_is_the_earliest_time_ingested_within_the_threshold() -> None:
    local_times = {T0 + 120: NOW - 1, T0: NOW - 300, T0 + 60: NOW - 10}
    assert freshness.gate_time(local_times, NOW, 10) == T0 + 60  # 10 s before now is still within
    assert freshness.gate_time(local_times, NOW, 9) == T0 + 120
    assert freshness.gate_time(local_times, NOW, 0) is None
    assert freshness.gate_time({T0: NOW + 5}, NOW, 0) == T0  # ingested "after" now: a clock skew, gated
    assert freshness.gate_time({}, NOW, 10) is None


def test_points_at_or_after_the_gate_are_cut_with_their_ingestion_times() -> None:
    points = SeriesPoints(POINTS, is_partial=True, local_times={T0: 1, T0 + 60: 2})
    kept = freshness.before(points, T0 + 60)
    assert [p["_time_"] for p in kept] == [T0, T0]
    assert kept.is_partial and kept.local_times == {T0: 1}


def test_the_hold_lives_five_intervals_and_at_least_five_minutes() -> None:
    assert [freshness.hold_ttl(i) for i in (10, 60, 61, 300, 3600)] == [300, 300, 305, 1500, 18000]


def test_only_a_bk_data_time_series_queried_alone_is_gated() -> None:
    def gated(g: StrategyGroup) -> bool:
        return freshness.gated(g, item_plan(g.first_item, "test"))

    assert gated(a_group())
    assert gated(a_group(expression="load5"))  # the expression is the query's own alias
    assert not gated(a_group(qc()))  # bk_monitor
    assert not gated(a_group(bk_data(data_type_label="log")))
    two = (bk_data(alias="a"), bk_data(alias="b", metric_field="load15"))
    assert not gated(group(strategy(1, dataclasses.replace(item(1, expression="a + b"), query_configs=two))))


def test_a_held_end_replaces_the_computed_one() -> None:
    assert query_window(T0, NOW, 60, delay=10) == query_window(T0, NOW, 60, delay=10, until=0)
    assert query_window(T0, NOW, 60, delay=10, until=T0 + 60).end == T0 + 60  # type: ignore[union-attr]
    assert query_window(T0, NOW, 60, delay=10, until=T0 - 60) is None


def test_a_time_shift_moves_the_ingestion_times_back_with_the_points() -> None:
    shifted = a_group(bk_data(functions=({"id": "time_shift", "params": [{"id": "n", "value": "1h"}]},)))
    source = MemorySource([point(t=T0 - 3600)], local_times={T0 - 3600: 42})
    points = query_item(item_plan(shifted.first_item, "test", now=NOW), source, T0, T0 + 60)
    assert [p["_time_"] for p in points] == [T0] and points.local_times == {T0: 42}


# --- the gated fetch ----------------------------------------------------------------------------------------

def test_a_gate_holds_the_pulls_end_once_and_later_slices_are_not_queried() -> None:
    g, guards = a_group(), MemoryGuards(clock=ManualClock(NOW))
    answers = {T0: SeriesPoints([point(t=T0)], local_times={T0: NOW - 60}),
               T0 + 60: SeriesPoints([point(t=T0 + 60)], local_times={T0 + 60: NOW - 2})}
    asked: list[int] = []

    def fetch(start: int, end: int) -> SeriesPoints:
        asked.append(start)
        return answers.get(start, SeriesPoints([point(t=start)], local_times={start: NOW}))

    gated = freshness.gate_fetch(fetch, g, guards, now=NOW, until=T0 + 180, threshold=10)
    assert [p["_time_"] for p in gated(T0, T0 + 60)] == [T0]
    assert guards.take_end_time(g.key) is None  # nothing held yet: T0 is old enough
    assert list(gated(T0 + 60, T0 + 120)) == []
    assert list(gated(T0 + 120, T0 + 180)) == [] and asked == [T0, T0 + 60]
    assert guards.end_time_ttl(g.key) == 300
    assert guards.take_end_time(g.key) == T0 + 180 and guards.take_end_time(g.key) is None


# --- pull_group ---------------------------------------------------------------------------------------------

def test_fresh_buckets_are_held_back_and_pulled_by_the_next_window_which_ends_at_the_held_end() -> None:
    w = World(a_group(), {T0: NOW - 100, T0 + 60: NOW - 5})
    report = w.pull()
    assert report.window is not None and report.window.end == T0 + 120
    assert w.delivered_times() == [T0, T0] and report.checkpoint == T0
    assert w.guards.end_time_ttl(w.group.key) == 300
    # A minute later the computed end would be T0 + 180: the held end is used, and taken.
    report = w.pull(NOW + 60)
    assert report.window is not None and report.window.end == T0 + 120 and w.source.calls[-1][2] == T0 + 120
    assert w.delivered_times() == [T0, T0, T0 + 60, T0 + 60] and report.checkpoint == T0 + 60
    assert w.guards.end_time_ttl(w.group.key) == -2
    report = w.pull(NOW + 60)
    assert report.window is not None and report.window.end == T0 + 180


def test_a_bucket_still_fresh_at_the_next_pull_holds_the_same_end_again() -> None:
    w = World(a_group(), {T0: NOW + 55})
    w.pull()
    assert w.delivered_times() == []
    w.pull(NOW + 60)  # 5 s after the bucket's newest sample arrived: still fresh
    assert w.delivered_times() == [] and w.source.calls[-1][2] == T0 + 120
    assert w.guards.take_end_time(w.group.key) == T0 + 120


def test_stale_ingestion_times_or_none_gate_nothing() -> None:
    for local_times in ({T0: NOW - 100, T0 + 60: NOW - 11}, None):
        w = World(a_group(), local_times)
        w.pull()
        assert w.delivered_times() == [T0, T0, T0 + 60, T0 + 60], local_times
        assert w.guards.end_time_ttl(w.group.key) == -2


def test_other_sources_are_neither_gated_nor_read_a_held_end() -> None:
    w = World(a_group(qc()), {T0: NOW, T0 + 60: NOW})
    w.guards.hold_end_time(w.group.key, T0 + 60, 300)
    report = w.pull()
    assert report.window is not None and report.window.end == T0 + 120
    assert w.delivered_times() == [T0, T0, T0 + 60, T0 + 60]
    assert w.guards.end_time_ttl(w.group.key) == 300  # not taken


def test_an_ingestion_time_ahead_of_the_clock_is_held_counted_as_a_skew_and_warned(
        caplog: pytest.LogCaptureFixture) -> None:
    def holds(reason: str) -> float:
        return metrics.REGISTRY.get_sample_value("alarm_access_data_freshness_holds_total", {"reason": reason}) or 0.0

    before = holds("future"), holds("fresh")
    w = World(a_group(), {T0: NOW - 100, T0 + 60: NOW + 3600})  # an hour ahead: the source's clock is wrong
    w.pull()
    assert w.delivered_times() == [T0, T0]
    assert (holds("future"), holds("fresh")) == (before[0] + 1, before[1])
    assert [r.levelname for r in caplog.records if "ahead of this clock" in r.getMessage()] == ["WARNING"]


def test_a_held_end_later_than_the_computed_one_is_capped_at_the_last_closed_bucket() -> None:
    w = World(a_group(), None)
    w.guards.hold_end_time(w.group.key, T0 + 600, 300)  # written under a shorter delay, or by a skewed clock
    report = w.pull()
    assert report.window is not None and report.window.end == T0 + 120
    held = query_window(0, NOW, 60, delay=10, until=T0 + 60)  # an earlier held end is the end
    assert held is not None and held.end == T0 + 60
