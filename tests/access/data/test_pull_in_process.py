"""`pull_group` in process, on the in-memory fakes (`adapters.memory.data`): no real service involved.

The fakes are held to the real adapters' contracts (`tests/adapters/memory`), so these tests pin the
pull's effect order: nothing is written before the query and the pipeline succeeded, and a delivery is
written entirely or not at all — a failed pull is repeated in full by the next one, exactly once.
"""

from __future__ import annotations

import pytest

from alarm_access.access.data.pull import pull_group
from alarm_access.adapters.memory.data import MemoryRecordSink, MemorySource
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.settings import DataSettings
from alarm_access.records.enrich import TopologyIndex
from tests.factories import T0, group, host, index, item, point, strategy

#: the buckets T0 and T0 + 60 have closed (10 s delay); T0 + 120 has not
NOW = T0 + 180
SETTINGS = DataSettings()
POINTS = [point(t=T0), point(ip="127.0.0.2", t=T0), point(t=T0 + 60), point(ip="127.0.0.2", t=T0 + 60),
          point(t=T0 + 120)]


def a_group() -> StrategyGroup:
    return group(strategy(1, item(1, nodata=True)), strategy(2, item(2)))


def topology() -> TopologyIndex:
    return index(host(1, "127.0.0.1"), host(2, "127.0.0.2"))


def pull(g: StrategyGroup, source: MemorySource, sink: MemoryRecordSink, now: int = NOW) -> dict[tuple[int, int], int]:
    return pull_group(g, now, source=source, sink=sink, topology=topology(), settings=SETTINGS).pushed


def delivered_ids(sink: MemoryRecordSink, strategy_id: int, item_id: int) -> list[str]:
    return [r.record_id for r in sink.records(strategy_id, item_id)]


def test_a_pull_delivers_the_closed_buckets_once() -> None:
    g, source, sink = a_group(), MemorySource(POINTS), MemoryRecordSink()
    assert pull(g, source, sink) == {(1, 1): 4, (2, 2): 4}
    records = sink.records(1, 1)
    assert sorted({r.time for r in records}) == [T0, T0 + 60]  # T0 + 120 is still open
    assert len({r.record_id for r in records}) == 4
    assert delivered_ids(sink, 2, 2) == [r.record_id for r in records]
    assert sink.read_checkpoint(g) == T0 + 60
    assert sink.heartbeats[g.key] == NOW and sink.signal == [1, 2]
    assert sink.read_seen(g, [T0, T0 + 60]) == {
        t: {r.record_id for r in records if r.time == t} for t in (T0, T0 + 60)
    }
    # Pulling the same data again (a repeated slot) re-reads both buckets: dedupe drops every point.
    before = sink.state()
    assert pull(g, source, sink) == {}
    assert source.queries == 2
    after = sink.state()
    assert after["data"] == before["data"] and after["seen"] == before["seen"]
    assert after["checkpoints"] == before["checkpoints"]
    # The next slot re-reads the last bucket (overlap) and delivers only the bucket that closed since.
    assert pull(g, source, sink, NOW + 60) == {(1, 1): 1, (2, 2): 1}
    assert [r.time for r in sink.records(1, 1)][4:] == [T0 + 120] and sink.read_checkpoint(g) == T0 + 120


def test_a_source_failure_writes_nothing() -> None:
    g, source, sink = a_group(), MemorySource(POINTS), MemoryRecordSink()
    pull(g, source, sink)
    before = sink.state()
    source.fail_with = TimeoutError("read timed out")
    with pytest.raises(SourceUnavailable, match="timed out"):
        pull(g, source, sink, NOW + 60)
    assert sink.state() == before and sink.deliveries == 1


def test_a_failed_delivery_is_repeated_in_full_exactly_once() -> None:
    g, source, sink = a_group(), MemorySource(POINTS), MemoryRecordSink()
    sink.fail_next_deliver = SourceUnavailable("EXEC failed")
    empty = sink.state()
    with pytest.raises(SourceUnavailable, match="EXEC failed"):
        pull(g, source, sink)
    assert sink.state() == empty and sink.read_checkpoint(g) == 0
    assert pull(g, source, sink, NOW + 60) == {(1, 1): 5, (2, 2): 5}  # the retry also sees bucket T0 + 120
    ids = delivered_ids(sink, 1, 1)
    assert len(ids) == len(set(ids)) == 5 and sink.read_checkpoint(g) == T0 + 120
    assert pull(g, source, sink, NOW + 120) == {}
    assert delivered_ids(sink, 1, 1) == ids and delivered_ids(sink, 2, 2) == ids
