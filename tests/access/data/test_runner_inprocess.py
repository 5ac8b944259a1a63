"""`PullRunner` (and `BatchRunner`) in process, on the memory fakes: `MemorySource`, `MemoryBatchSink` (a
`MemoryRecordSink`), `MemoryGuards` and `MemoryBatchStore`, sharing one `ManualClock`.

What is checked is the protections around a pull (spec data-access §3.7, §3.8, §3.14): a group held by
another pull is skipped, a pull that outlived its lock is fenced out at delivery, an empty token bucket or a
full source refuses the pull — each counted, nothing delivered, the checkpoint where it was. The fakes are
held to the Redis adapters' contracts by `tests/adapters/memory/test_{guards,batch_store}_contract.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

import pytest

from alarm_access import metrics
from alarm_access.access.data.batch import BatchRunner
from alarm_access.access.data.catalog import GroupCatalog, group_epoch
from alarm_access.access.data.jobs import BatchJob, Dispatcher, FencedOut, PullJob
from alarm_access.access.data.ports import DataPorts, TimeSeriesSource
from alarm_access.access.data.pull import PullExtras, pull_group
from alarm_access.access.data.runner import PullRunner
from alarm_access.access.data.split import BatchSplitter
from alarm_access.adapters.memory.batches import MemoryBatchSink, MemoryBatchStore
from alarm_access.adapters.memory.data import MemorySource
from alarm_access.adapters.memory.event import ManualClock
from alarm_access.adapters.memory.guards import MemoryGuards
from alarm_access.kernel.config import AccessConfig, AccessType
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.kernel.model import QueryConfig, Strategy, StrategyGroup, Topology
from alarm_access.kernel.settings import DataSettings
from tests.factories import T0, group, host, item, point, qc, strategy

#: the buckets T0 and T0 + 60 have closed (10 s delay); T0 + 120 has not
NOW = T0 + 180
SLOT = NOW - NOW % 60
POINTS = [point(t=T0), point(ip="127.0.0.2", t=T0), point(t=T0 + 60), point(ip="127.0.0.2", t=T0 + 60),
          point(t=T0 + 120)]
STRATEGIES = [strategy(1, item(1)), strategy(2, item(2))]
SETTINGS = DataSettings(inline_threshold=False, lock_ttl=180, token_budget=30, source_concurrency=2)


class Repository:
    def __init__(self, strategies: list[Strategy]) -> None:
        self._strategies = strategies

    def load_strategies(self) -> list[Strategy]:
        return list(self._strategies)

    def load_topology(self, bk_biz_ids: Collection[int]) -> Topology:
        return Topology(hosts=(host(1, "127.0.0.1"), host(2, "127.0.0.2")))


class World:
    """The `DataPorts` of one in-process test, wired to the fakes, and the runner under test."""

    def __init__(self, settings: DataSettings = SETTINGS, *, inline: bool = False, split: bool = False,
                 strategies: list[Strategy] = STRATEGIES) -> None:
        self._strategies = strategies
        self.clock = ManualClock(NOW)
        self.sink = MemoryBatchSink()
        self.guards = MemoryGuards(clock=self.clock, sink=self.sink)
        self.store = MemoryBatchStore(self.guards, self.sink, clock=self.clock)
        self.source = MemorySource(POINTS)
        self.published: list[dict[str, Any]] = []
        self.config = AccessConfig(access_type=AccessType.DATA, data=settings)
        ports: DataPorts = self
        self.catalog = GroupCatalog(ports)
        splitter = BatchSplitter(settings, self.store, self) if split else None
        self.runner = PullRunner(self.config, ports, self.catalog, inline=inline, clock=self.clock,
                                 splitter=splitter)
        self.group: StrategyGroup = group(*strategies)

    # --- DataPorts -----------------------------------------------------------------------------------------
    @property
    def strategies(self) -> Repository:
        return Repository(self._strategies)

    def snapshot_key(self, strategy_id: int, update_time: int) -> str:
        return f"memory.cache.strategy.snapshot.{strategy_id}.{update_time}"

    def close(self) -> None:
        """Nothing to close."""

    @property
    def record_sink(self) -> MemoryBatchSink:
        return self.sink

    def source_for(self, source: tuple[str, str]) -> TimeSeriesSource:
        return self.source

    def celery_dispatcher(self) -> Dispatcher:
        raise ConfigError("no broker in process")

    def strategy_documents(self, strategy_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
        return []

    # --- BatchPublisher ------------------------------------------------------------------------------------
    def submit_batch(self, payload: dict[str, Any], task_id: str) -> None:
        self.published.append(payload)

    # --- helpers ------------------------------------------------------------------------------------------
    def job(self, slot: int = SLOT, now: int = NOW) -> PullJob:
        return PullJob(self.group.key, slot, now, self.group.interval, group_epoch(self.group))

    def pushed(self) -> dict[tuple[int, int], list[str]]:
        return {key: [r.record_id for r in records] for key, records in self.sink.data.items()}


def counted(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(f"{name}_total", labels) or 0.0


def skipped(reason: str) -> float:
    return counted("alarm_access_data_pulls_skipped", reason=reason)


def nothing_delivered(w: World) -> None:
    assert w.sink.deliveries == 0 and w.pushed() == {}
    assert w.sink.read_checkpoint(w.group) == 0 and w.group.key not in w.sink.heartbeats


def test_an_unobstructed_pull_is_delivered_and_releases_its_guards() -> None:
    w = World()
    assert w.runner.run(w.job())
    assert w.source.queries == 1 and w.sink.deliveries == 1
    assert {key: len(ids) for key, ids in w.pushed().items()} == {(1, 1): 4, (2, 2): 4}
    assert w.sink.read_checkpoint(w.group) == T0 + 60 and w.sink.slots_done[w.group.key] == SLOT
    assert w.guards.lock_token(w.group.key) is None  # released after the pull
    assert w.guards.slot_holders(w.group.source) == []


def test_the_runner_gates_a_bk_data_group_on_its_guards() -> None:
    bk_data = qc(data_source_label="bk_data", result_table_id="2_system_cpu_load")
    w = World(strategies=[strategy(1, item(1, query=bk_data))])
    w.source = MemorySource(POINTS, local_times={T0: NOW - 100, T0 + 60: NOW - 5})  # T0 + 60 still arriving
    assert w.runner.run(w.job())
    assert [r.time for r in w.sink.records(1, 1)] == [T0, T0] and w.sink.read_checkpoint(w.group) == T0
    assert w.guards.take_end_time(w.group.key) == T0 + 120


def test_a_group_locked_by_another_pull_is_skipped_and_counted() -> None:
    w = World()
    other = w.guards.lock(w.group.key, slot=SLOT, ttl=SETTINGS.lock_ttl)
    assert other is not None
    before = skipped("locked")
    assert w.runner.run(w.job())  # a skip is not a failure
    assert skipped("locked") == before + 1
    assert w.source.queries == 0
    nothing_delivered(w)
    assert w.guards.lock_token(w.group.key) == other.token  # the other pull still holds it
    w.guards.unlock(other)
    assert w.runner.run(w.job()) and w.sink.read_checkpoint(w.group) == T0 + 60


def test_an_inline_job_takes_the_lock_over_and_the_previous_holder_is_fenced_out() -> None:
    w = World(inline=True)
    previous = w.guards.lock(w.group.key, slot=SLOT - 60, ttl=SETTINGS.lock_ttl)  # a hung or killed process
    assert previous is not None
    assert w.runner.run(w.job())
    assert w.sink.read_checkpoint(w.group) == T0 + 60 and w.guards.lock_token(w.group.key) is None
    state = w.sink.state()
    with pytest.raises(FencedOut):  # the previous holder wakes up and delivers its pull: refused
        pull_group(w.group, NOW - 60, source=w.source, sink=w.sink, topology=w.catalog.topology, settings=SETTINGS,
                   extras=PullExtras(fence=previous))
    assert w.sink.state() == state


def test_a_pull_that_outlives_its_lock_is_fenced_out_at_delivery() -> None:
    w = World()
    successor: list[int] = []

    def slow_query(qc: QueryConfig) -> list[dict[str, Any]]:
        w.clock.advance(SETTINGS.lock_ttl + 1)  # the query outlives the lock...
        taken = w.guards.lock(w.group.key, slot=SLOT + 60, ttl=SETTINGS.lock_ttl)  # ...and another pull takes it
        assert taken is not None
        successor.append(taken.token)
        return POINTS

    w.source = MemorySource(slow_query)
    before = skipped("fenced")
    assert w.runner.run(w.job())
    assert skipped("fenced") == before + 1 and w.source.queries == 1
    nothing_delivered(w)
    assert w.sink.read_seen(w.group, [T0, T0 + 60]) == {T0: set(), T0 + 60: set()}
    assert w.guards.lock_token(w.group.key) == successor[0]  # the stale pull did not release the successor's lock
    assert w.guards.slot_holders(w.group.source) == []  # its source slot was given back


def test_an_empty_token_bucket_refuses_the_pull_until_its_window_ends() -> None:
    w = World()
    assert w.group.interval == 60  # the budget is not scaled
    assert w.guards.spend_tokens(w.group.key, SETTINGS.token_budget, SETTINGS.token_budget + 12) == -12
    before = counted("alarm_access_data_token_forbidden")
    assert w.runner.run(w.job())
    assert counted("alarm_access_data_token_forbidden") == before + 1
    assert w.source.queries == 0
    nothing_delivered(w)
    assert w.guards.lock_token(w.group.key) is None  # the refused pull released its lock
    w.clock.advance(w.guards.tokens_ttl(w.group.key) + 1)  # the (extended) window ends: the bucket refills
    now = int(w.clock())
    assert w.runner.run(w.job(now - now % 60, now))
    assert w.source.queries == 1 and w.sink.read_checkpoint(w.group) == T0 + 120  # every bucket closed by now
    assert w.guards.tokens_left(w.group.key, SETTINGS.token_budget) == SETTINGS.token_budget  # a fast pull is free


def test_a_source_whose_every_slot_is_taken_refuses_the_pull() -> None:
    w = World()
    held = [w.guards.take_source_slot(w.group.source, 2, 60) for _ in range(2)]
    assert all(held)
    before = counted("alarm_access_source_limited", data_source_label="bk_monitor", data_type_label="time_series")
    assert w.runner.run(w.job())
    assert counted("alarm_access_source_limited", data_source_label="bk_monitor",
                   data_type_label="time_series") == before + 1
    assert w.source.queries == 0
    nothing_delivered(w)
    assert w.guards.lock_token(w.group.key) is None


def test_a_guard_store_failure_fails_the_pull_and_writes_nothing() -> None:
    w = World()
    w.guards.fail_with = SourceUnavailable("redis down")
    assert not w.runner.run(w.job())
    assert w.source.queries == 0
    nothing_delivered(w)


def test_a_split_pull_is_delivered_by_its_batches_and_finalised_by_the_last() -> None:
    w = World(dataclasses.replace(SETTINGS, batch_threshold=2, batch_size=2), split=True)
    assert w.runner.run(w.job())
    jobs = [BatchJob.from_json(payload) for payload in w.published]
    assert [job.index for job in jobs] == [1, 2] and w.sink.deliveries == 0
    assert w.guards.lock_token(w.group.key) == jobs[0].token  # the round holds the lock
    batches = BatchRunner(w.config, w, w.catalog, w.store)
    assert batches.run(jobs[1]) and w.sink.read_checkpoint(w.group) == 0
    assert batches.run(jobs[0])
    assert {key: len(ids) for key, ids in w.pushed().items()} == {(1, 1): 4, (2, 2): 4}
    assert w.sink.read_checkpoint(w.group) == T0 + 60 and w.sink.heartbeats[w.group.key] == NOW
    assert w.guards.lock_token(w.group.key) is None
    pushed = w.pushed()
    assert batches.run(jobs[0])  # a redelivered sub-task: nothing pushed twice
    assert w.pushed() == pushed


def test_a_batch_that_runs_after_its_round_expired_delivers_nothing() -> None:
    w = World(dataclasses.replace(SETTINGS, batch_threshold=2, batch_size=2, batch_wait=30), split=True)
    assert w.runner.run(w.job())
    jobs = [BatchJob.from_json(payload) for payload in w.published]
    w.clock.advance(2 * 30 + 1)  # payloads live 30 s, the round's state 60 s
    batches = BatchRunner(w.config, w, w.catalog, w.store)
    assert not batches.run(jobs[0])
    nothing_delivered(w)
