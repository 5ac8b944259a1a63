"""`access_replay --push` beside live pulls, on the in-memory fakes: the replay pushes each chunk under the group
lock, so a live pull that takes the group over between the replay's read of the dedupe state and its delivery
makes the replay read and run again — every record reaches detect once, whoever delivered it first."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from alarm_access.access.data.jobs import FencedOut
from alarm_access.access.data.pull import PullExtras, pull_group
from alarm_access.access.data.replay import replay_group
from alarm_access.adapters.memory.data import MemoryRecordSink, MemorySource
from alarm_access.adapters.memory.guards import MemoryGuards
from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.settings import DataSettings
from alarm_access.records.enrich import TopologyIndex
from tests.factories import T0, group, host, index, item, point, qc, strategy

SETTINGS = DataSettings()
POINTS = [point(ip=ip, t=T0 + k * 60) for k in range(3) for ip in ("127.0.0.1", "127.0.0.2")]
LIVE_NOW = T0 + 3 * 60 + 10  # the three buckets have closed


def a_group() -> StrategyGroup:
    return group(strategy(1, item(1)))


def topology() -> TopologyIndex:
    return index(host(1, "127.0.0.1"), host(2, "127.0.0.2"))


class RacingSink(MemoryRecordSink):
    """Runs `race` once, right after the first dedupe read: a live pull lands between a replay's read and write."""

    def __init__(self) -> None:
        super().__init__()
        self.race: Any = None

    def read_seen(self, group: StrategyGroup, times: Any) -> dict[int, set[str]]:
        seen = super().read_seen(group, times)
        race, self.race = self.race, None
        if race is not None:
            race()
        return seen


def replay(g: StrategyGroup, sink: MemoryRecordSink, guards: MemoryGuards,
           settings: DataSettings = SETTINGS) -> int:
    chunks = replay_group(g, T0, T0 + 3 * 60, source=MemorySource(POINTS), sink=sink, topology=topology(),
                          settings=settings, guards=guards)
    return sum(len(records) for chunk in chunks for records in chunk.records.values())


def test_a_live_pull_taking_the_group_over_mid_push_delivers_once_and_the_replay_adds_nothing() -> None:
    g, sink = a_group(), RacingSink()
    guards = MemoryGuards(sink=sink)

    def live_pull() -> None:  # -H process: the live pull takes the lock over, as `PullRunner` does inline
        fence = guards.lock(g.key, LIVE_NOW, SETTINGS.lock_ttl, take_over=True)
        assert fence is not None
        pull_group(g, LIVE_NOW, source=MemorySource(POINTS), sink=sink, topology=topology(), settings=SETTINGS,
                   extras=PullExtras(fence=fence))
        guards.unlock(fence)

    sink.race = live_pull
    replay(g, sink, guards)
    delivered = Counter(r.record_id for r in sink.records(1, 1))
    assert len(delivered) == len(POINTS) and set(delivered.values()) == {1}
    assert guards.lock_token(g.key) is None  # the replay released the lock it took


def test_a_replay_beside_no_live_pull_pushes_every_record_once_and_again_nothing() -> None:
    g, sink = a_group(), MemoryRecordSink()
    guards = MemoryGuards(sink=sink)
    assert replay(g, sink, guards) == len(POINTS)
    assert replay(g, sink, guards) == 0
    assert len(sink.records(1, 1)) == len(POINTS) and sink.checkpoints == {}


def test_a_lock_held_past_lock_ttl_fails_the_group_without_writing() -> None:
    g, sink = a_group(), MemoryRecordSink()
    guards = MemoryGuards(sink=sink)
    assert guards.lock(g.key, LIVE_NOW, 60) is not None  # a live pull that holds the group
    before = sink.state()
    with pytest.raises(FencedOut, match="stayed held for 1 s"):
        replay(g, sink, guards, DataSettings(lock_ttl=1))
    assert sink.state() == before


def test_a_bk_data_bucket_still_being_ingested_is_left_out_of_a_replay_without_a_hold() -> None:
    bk_data = qc(data_source_label="bk_data", result_table_id="2_system_cpu_load")
    g, sink = group(strategy(1, item(1, query=bk_data))), MemoryRecordSink()
    guards = MemoryGuards(sink=sink)
    source = MemorySource(POINTS, local_times={T0: T0 + 70, T0 + 60: int(time.time()), T0 + 120: T0 + 190})
    chunks = list(replay_group(g, T0, T0 + 3 * 60, source=source, sink=sink, topology=topology(),
                               settings=SETTINGS, guards=guards))
    assert sorted({r.time for c in chunks for rs in c.records.values() for r in rs}) == [T0]
    assert guards.take_end_time(g.key) is None
