"""`RedisSink` against the machine's real Redis (127.0.0.1:6379, db 0), one key prefix per test."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from alarm_access.adapters.redis.sink import RedisSink
from alarm_access.kernel.errors import Backpressure, SourceUnavailable
from alarm_access.kernel.model import NoiseReduceConfig, StrategyGroup
from alarm_access.records.pipeline import PullResult, run
from tests.factories import NOW, T0, group, host, index, item, point, strategy

pytestmark = pytest.mark.integration


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    conn = redis.Redis(host="127.0.0.1", port=6379, db=0, decode_responses=True)
    yield conn
    conn.close()


def a_group() -> StrategyGroup:
    noise = NoiseReduceConfig(is_enabled=True, dimensions=("bk_target_ip",))
    return group(
        strategy(1, item(1, nodata=True), priority=5, priority_group_key="pg", noise_reduce=noise), strategy(2, item(2))
    )


def a_result(g: StrategyGroup) -> PullResult:
    return run(
        g,
        [point(), point(ip="127.0.0.2")],
        now=NOW,
        topology_index=index(host(1, "127.0.0.1"), host(2, "127.0.0.2")),
        seen_record_ids={},
        priority_state={},
    )


def test_deliver_writes_the_spec_keys_types_and_ttls(client: redis.Redis, prefix: str) -> None:
    g = a_group()
    result = a_result(g)
    RedisSink(client, prefix).deliver(result, g, checkpoint=T0, now=NOW)
    data = f"{prefix}.access.data.1.1"
    assert client.type(data) == "list" and client.llen(data) == 2
    assert 1790 < client.ttl(data) <= 1800
    first = json.loads(client.lindex(data, -1) or "")  # detect reads the tail first
    assert list(first) == ["time", "value", "values", "dimensions", "record_id", "dimension_fields", "access_time"]
    assert {json.loads(x)["record_id"] for x in client.lrange(data, 0, -1)} == {
        r.record_id for r in result.data[(1, 1)]
    }
    assert client.llen(f"{prefix}.access.data.2.2") == 2
    nodata = f"{prefix}.access.nodata.1.1"
    assert client.llen(nodata) == 2 and 590 < client.ttl(nodata) <= 600
    assert not client.exists(f"{prefix}.access.nodata.2.2")
    signal = f"{prefix}.access.data.signal"
    assert sorted(client.lrange(signal, 0, -1)) == ["1", "2"] and 1790 < client.ttl(signal) <= 1800
    priority = f"{prefix}.access.data.priority.pg"
    assert client.type(priority) == "hash" and client.hlen(priority) == 2 and 0 < client.ttl(priority) <= 600
    (noise,) = client.keys(f"{prefix}.access.noise_reduce.total.1.*")
    assert client.zcard(noise) == 2 and client.zscore(noise, next(iter(result.noise_writes[0].members))) == T0
    assert 86390 < client.ttl(noise) <= 86400


def test_overflow_guard_writes_nothing(client: redis.Redis, prefix: str) -> None:
    g = a_group()
    full = f"{prefix}.access.data.2.2"  # the second item: the first must not be written either
    client.rpush(full, "a", "b", "c")
    with pytest.raises(Backpressure, match=full):
        RedisSink(client, prefix, max_queue_length=2).deliver(a_result(g), g, checkpoint=T0, now=NOW)
    assert sorted(client.keys(f"{prefix}.*")) == [full] and client.llen(full) == 3


def test_delivery_records_dedupe_state_checkpoint_and_heartbeat(client: redis.Redis, prefix: str) -> None:
    g = a_group()
    sink = RedisSink(client, prefix)
    result = a_result(g)
    assert sink.read_checkpoint(g) == 0
    sink.deliver(result, g, checkpoint=T0, now=NOW)
    key = f"{prefix}.access.data.duplicate.strategy_group_{g.key}.{T0}"
    assert client.type(key) == "set" and 590 < client.ttl(key) <= 600
    seen = sink.read_seen(g, [T0, T0 - 60])
    assert seen == {T0: set(result.dedupe_additions[T0]), T0 - 60: set()}
    assert sink.read_checkpoint(g) == T0
    checkpoint = f"{prefix}.checkpoint.strategy_group_{g.key}"
    assert 3590 < client.ttl(checkpoint) <= 3600
    heartbeat = f"{prefix}.access.run.strategy_group_{g.key}"
    assert client.get(heartbeat) == str(NOW) and 3590 < client.ttl(heartbeat) <= 3600


def test_read_priority(client: redis.Redis, prefix: str) -> None:
    sink = RedisSink(client, prefix)
    client.hset(f"{prefix}.access.data.priority.pg", "md5", "5:100")
    assert sink.read_priority(["pg", "other"]) == {"pg": {"md5": "5:100"}, "other": {}}


def test_redis_errors_become_source_unavailable(prefix: str) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    with pytest.raises(SourceUnavailable, match="SMEMBERS"):
        RedisSink(dead, prefix).read_seen(a_group(), [T0])


def test_wrong_type_destination_raises_source_unavailable(client: redis.Redis, prefix: str) -> None:
    g = a_group()
    client.set(f"{prefix}.access.data.1.1", "not a list")
    with pytest.raises(SourceUnavailable, match="LLEN"):
        RedisSink(client, prefix).deliver(a_result(g), g, checkpoint=T0, now=NOW)
