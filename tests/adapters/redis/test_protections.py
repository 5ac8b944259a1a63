"""Protections against a real Redis: fenced delivery, take-over, token bucket, source slots, breaker rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from alarm_access.access.data.breaker import compile_rules, unbroken_items
from alarm_access.access.data.jobs import FencedOut
from alarm_access.adapters.redis.locks import RedisGuards
from alarm_access.adapters.redis.sink import RedisSink
from alarm_access.kernel.model import StrategyGroup
from alarm_access.records import pipeline
from tests.factories import T0, group, host, index, item, point, strategy

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    prefix = f"test.prot.{uuid.uuid4().hex[:8]}"
    conn.client_setname(prefix)
    yield conn
    for key in conn.scan_iter(f"{prefix}.*"):
        conn.delete(key)
    conn.close()


def _prefix(client: redis.Redis) -> str:
    return str(client.client_getname())


def _deliver(sink: RedisSink, g: StrategyGroup, t: int, **kwargs: object) -> None:
    result = pipeline.run(g, [point(t=t)], now=t + 120, topology_index=index(host(1, "127.0.0.1")), seen_record_ids={},
                          priority_state={})
    sink.deliver(result, g, checkpoint=t, now=t + 120, **kwargs)  # type: ignore[arg-type]


def test_stale_holder_can_neither_push_nor_move_the_checkpoint_back(client: redis.Redis) -> None:
    guards, sink = RedisGuards(client, _prefix(client)), RedisSink(client, _prefix(client))
    g = group(strategy(1, item(1)))
    stale = guards.lock(g.key, slot=T0, ttl=60)
    assert stale is not None
    assert guards.lock(g.key, slot=T0, ttl=60) is None  # held: a Celery job skips
    current = guards.lock(g.key, slot=T0 + 60, ttl=60, take_over=True)
    assert current is not None and current.token > stale.token
    queue = sink.keys.data(1, 1)

    with pytest.raises(FencedOut):
        _deliver(sink, g, T0 + 60, fence=stale)
    assert client.llen(queue) == 0 and sink.read_checkpoint(g) == 0

    _deliver(sink, g, T0 + 60, fence=current)
    assert client.llen(queue) == 1 and sink.read_checkpoint(g) == T0 + 60
    with pytest.raises(FencedOut, match="already done"):  # the same slot twice: nothing pushed twice
        _deliver(sink, g, T0 + 120, fence=current)
    assert client.llen(queue) == 1

    newer = guards.lock(g.key, slot=T0 + 120, ttl=60, take_over=True)
    assert newer is not None
    _deliver(sink, g, T0, fence=newer)  # an older bucket: the checkpoint does not move back
    assert sink.read_checkpoint(g) == T0 + 60
    guards.unlock(newer)
    assert guards.lock(g.key, slot=T0 + 180, ttl=60) is not None


def test_token_bucket_follows_the_original_rules(client: redis.Redis) -> None:
    guards = RedisGuards(client, _prefix(client))
    assert guards.tokens_left("g", 31) == 31
    assert guards.spend_tokens("g", 31, 0.4) == 31  # fast pulls are free
    assert guards.spend_tokens("g", 31, 20.7) == 11
    assert guards.spend_tokens("g", 31, 15) == -4  # overdrawn: the bucket's TTL grows, the group pauses
    ttl = client.ttl(guards.keys.token("g"))
    assert 600 < ttl <= 600 + 4 * 600 // 31 + 1
    assert guards.tokens_left("g", 31) == -4


def test_source_slots_limit_concurrency_and_leases_expire(client: redis.Redis) -> None:
    guards = RedisGuards(client, _prefix(client))
    source = ("bk_monitor", "time_series")
    first, second = guards.take_source_slot(source, 2, 30), guards.take_source_slot(source, 2, 30)
    assert first and second and guards.take_source_slot(source, 2, 30) is None
    guards.give_source_slot(source, first)
    assert guards.take_source_slot(source, 2, 0.05) is not None
    assert guards.take_source_slot(("other", "time_series"), 2, 30) is not None


def test_breaker_rules_by_business_source_and_strategy(client: redis.Redis) -> None:
    guards = RedisGuards(client, _prefix(client))
    g = group(strategy(1, item(1)), strategy(2, item(2)))
    assert unbroken_items(g, compile_rules(guards.breaker_rules())) is g  # no rules: nothing broken
    client.set(guards.keys.circuit_breaking(),
               '[{"key": "bk_biz_id", "method": "eq", "value": ["2"]},'
               ' {"key": "strategy_source", "method": "eq", "value": ["bk_monitor:time_series"]},'
               ' {"key": "strategy_id", "method": "eq", "value": [2]},'
               ' {"key": "nope", "method": "bogus", "value": 1}]')
    kept = unbroken_items(g, compile_rules(guards.breaker_rules()))
    assert kept is not None and [s.id for s, _ in kept.items] == [1]
    client.set(guards.keys.circuit_breaking(), '[{"key": "data_source_label", "method": "reg", "value": "^bk_"}]')
    assert unbroken_items(g, compile_rules(guards.breaker_rules())) is None
