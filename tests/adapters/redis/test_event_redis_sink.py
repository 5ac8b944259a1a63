"""The event anomaly sink against the real Redis: keys, TTLs, idempotent replays, backpressure, QoS switch."""

from __future__ import annotations

import json

import pytest
import redis

from alarm_access.access.event.kinds import EventKind, FlatEvent
from alarm_access.access.event.standardize import Anomaly
from alarm_access.adapters.redis.events import RedisAnomalySink
from alarm_access.kernel.errors import Backpressure
from tests.access.event.test_event_fanout import NOW, T, agent, anomalies, event_strategy, routing

pytestmark = pytest.mark.integration


def batch(count: int = 3) -> list[Anomaly]:
    return anomalies(*(agent(time=T + i) for i in range(count)), route=routing(event_strategy(1, "agent-gse")))


def test_push_writes_every_hand_off_key_with_its_ttl(client: redis.Redis, prefix: str) -> None:
    sink = RedisAnomalySink(client, prefix, max_queue_length=100)
    found = batch()
    plan = sink.push(found, {found[0].snapshot_key: '{"id": 1}'}, NOW)
    assert plan.pushed == 3
    anomaly_list = f"{prefix}.detect.anomaly.list.1.1"
    assert client.lrange(anomaly_list, 0, -1) == [a.line.encode() for a in reversed(found)]  # newest at head
    assert 0 < client.ttl(anomaly_list) <= 1800
    assert client.lrange(f"{prefix}.detect.anomaly.signal", 0, -1) == [b"1.1"]
    result = f"{prefix}.detect.result.1.1.{found[0].md5}.2"
    assert client.zrange(result, 0, -1, withscores=True) == [(f"{T + i}|ANOMALY".encode(), float(T + i))
                                                              for i in range(3)]
    assert 0 < client.ttl(result) <= 3600
    checkpoint = f"{prefix}.detect.last.checkpoint.1.1"
    assert client.hgetall(checkpoint) == {f"detect.result.{found[0].md5}.2".encode(): str(T + 2).encode()}
    assert client.ttl(checkpoint) > 6 * 86400
    assert client.get(found[0].snapshot_key) == b'{"id": 1}' and 0 < client.ttl(found[0].snapshot_key) <= 3600


def test_a_replayed_batch_pushes_nothing_twice(client: redis.Redis, prefix: str) -> None:
    sink = RedisAnomalySink(client, prefix, max_queue_length=100)
    sink.push(batch(2), {}, NOW)
    again = sink.push(batch(4), {}, NOW)  # two already delivered, two new
    assert again.pushed == 2 and dict(again.drops) == {"duplicate": 2}
    assert client.llen(f"{prefix}.detect.anomaly.list.1.1") == 4


def test_a_full_queue_refuses_the_whole_batch(client: redis.Redis, prefix: str) -> None:
    sink = RedisAnomalySink(client, prefix, max_queue_length=1)
    client.lpush(f"{prefix}.detect.anomaly.list.1.1", "a", "b")
    with pytest.raises(Backpressure):
        sink.push(batch(), {}, NOW)
    assert client.llen(f"{prefix}.detect.anomaly.list.1.1") == 2
    assert not list(client.scan_iter(f"{prefix}.access.event.delivered.*"))


def test_the_original_qos_switch_turns_qos_on(client: redis.Redis, prefix: str) -> None:
    sink = RedisAnomalySink(client, prefix, max_queue_length=100, qos_threshold=2)
    assert sink.push(batch(3), {}, NOW).pushed == 3
    client.hset(f"{prefix}.access.event.qos.control", "on", 1)
    more = anomalies(*(agent(time=T + 10 + i) for i in range(3)), route=routing(event_strategy(1, "agent-gse")))
    plan = sink.push(more, {}, NOW)
    assert (plan.pushed, plan.drops["qos"]) == (2, 1)
    counts = list(client.scan_iter(f"{prefix}.access.event.qos.count.*"))
    assert len(counts) == 1 and 0 < client.ttl(counts[0]) <= 600


def test_two_disks_full_of_one_host_in_one_second_are_both_pushed_keyed_as_the_original(
        client: redis.Redis, prefix: str) -> None:
    """They share the original's anomaly id and md5: detect's keys are the original's (one check-result
    series, one checkpoint field), the dedupe set holds one delivery key each, and a replay adds nothing."""
    def disks() -> list[Anomaly]:
        return anomalies(*(FlatEvent(EventKind.DISK_FULL, T, 0, 0, "", "127.0.0.1", "",
                                     extra={"free": 5, "fstype": "ext4", "disk": d, "file_system": "/dev/vdb"})
                           for d in ("/data1", "/data2")), route=routing(event_strategy(1, "disk-full-gse")))

    sink = RedisAnomalySink(client, prefix, max_queue_length=100)
    found = disks()
    assert found[0].anomaly_id == found[1].anomaly_id and found[0].md5 == found[1].md5
    assert sink.push(found, {}, NOW).pushed == 2
    lines = [json.loads(line) for line in reversed(client.lrange(f"{prefix}.detect.anomaly.list.1.1", 0, -1))]
    assert [line["data"]["dimensions"]["disk"] for line in lines] == ["/data1", "/data2"]
    assert [line["data"]["record_id"] for line in lines] == [f"{found[0].md5}.{T}"] * 2
    assert client.zrange(f"{prefix}.detect.result.1.1.{found[0].md5}.2", 0, -1) == [f"{T}|ANOMALY".encode()]
    assert client.hgetall(f"{prefix}.detect.last.checkpoint.1.1") == {
        f"detect.result.{found[0].md5}.2".encode(): str(T).encode()}
    members = client.smembers(f"{prefix}.access.event.delivered.{T - T % 600}")
    assert members == {a.delivery_key.encode() for a in found}
    replay = sink.push(disks(), {}, NOW + 1)
    assert replay.pushed == 0 and dict(replay.drops) == {"duplicate": 2}
    assert client.llen(f"{prefix}.detect.anomaly.list.1.1") == 2
