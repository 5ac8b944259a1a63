"""bk_data freshness gating end to end on real services: `SqlSource` on the test database (PostgreSQL with
DATABASE_URL) with ingestion times in `local_time`, `RedisSink` and `RedisGuards` on the machine's Redis."""

from __future__ import annotations

import json

import pytest
import redis

from alarm_access.access.data.pull import PullExtras, PullReport, pull_group
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.adapters.redis.locks import RedisGuards
from alarm_access.adapters.redis.sink import RedisSink
from alarm_access.adapters.tsdb.sql import Sample, SqlSource
from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.settings import DataSettings
from tests.factories import T0, group, host, index, item, qc, strategy

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

#: buckets T0 and T0 + 60 have closed (10 s delay): the computed window ends at T0 + 120
NOW = T0 + 180
METRIC = "2_system_cpu_load_load5"
HOSTS = ({"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": "0"},
         {"bk_target_ip": "127.0.0.2", "bk_target_cloud_id": "0"})


def a_group() -> StrategyGroup:
    query = qc(data_source_label="bk_data", result_table_id="2_system_cpu_load")
    return group(strategy(1, item(1, query=query)))


def write(source: SqlSource, local_times: dict[int, int]) -> None:
    """Two hosts' samples in each bucket of `local_times`, the second host's ingested last."""
    source.write_samples(Sample(METRIC, labels, t + 15, 1.0 + n, local_time=local - 1 + n)
                         for t, local in local_times.items() for n, labels in enumerate(HOSTS))


class Pulls:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client, self.keys, self.group = client, RedisKeys(prefix), a_group()
        self.source = SqlSource()
        self.sink, self.guards = RedisSink(client, prefix), RedisGuards(client, prefix)
        self.hold_key = f"{prefix}.access.data.last_end_time.group_key_{self.group.key}"

    def pull(self, now: int) -> PullReport:
        return pull_group(self.group, now, source=self.source, sink=self.sink, settings=DataSettings(),
                          topology=index(host(1, "127.0.0.1"), host(2, "127.0.0.2")),
                          extras=PullExtras(end_times=self.guards))

    def delivered_times(self) -> list[int]:
        return sorted(json.loads(line)["time"] for line in self.client.lrange(self.keys.data(1, 1), 0, -1))


def test_a_fresh_bucket_is_held_back_until_the_next_pull_whose_window_ends_at_the_held_end(
        client: redis.Redis, prefix: str) -> None:
    p = Pulls(client, prefix)
    write(p.source, {T0: NOW - 100, T0 + 60: NOW - 5})
    report = p.pull(NOW)
    assert report.window is not None and report.window.end == T0 + 120
    assert p.delivered_times() == [T0, T0], "the bucket ingested 5 s ago is not delivered"
    assert report.checkpoint == T0 and p.sink.read_checkpoint(p.group) == T0
    assert p.hold_key == p.keys.last_end_time(p.group.key)
    assert client.get(p.hold_key) == str(T0 + 120).encode()
    assert 295 <= int(client.ttl(p.hold_key)) <= 300  # max(300, 5 x 60)

    # A minute later the computed end would be T0 + 180 and the bucket T0 + 120 has data: the held end wins.
    write(p.source, {T0 + 120: NOW + 50})
    report = p.pull(NOW + 60)
    assert report.window is not None and report.window.end == T0 + 120
    assert not client.exists(p.hold_key)
    assert p.delivered_times() == [T0, T0, T0 + 60, T0 + 60]
    assert p.sink.read_checkpoint(p.group) == T0 + 60


def test_stale_ingestion_times_gate_nothing(client: redis.Redis, prefix: str) -> None:
    p = Pulls(client, prefix)
    write(p.source, {T0: NOW - 100, T0 + 60: NOW - 11})
    report = p.pull(NOW)
    assert report.window is not None and report.window.end == T0 + 120
    assert p.delivered_times() == [T0, T0, T0 + 60, T0 + 60]
    assert not client.exists(p.hold_key)
