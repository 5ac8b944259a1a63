"""`RedisListStream` on a real Redis: oldest first, `done` removes, a crashed batch comes back first, in order."""

from __future__ import annotations

import uuid

import redis

from alarm_access.adapters.redis.list_stream import RedisListStream, processing_key


def test_take_done_and_recover(client: redis.Redis) -> None:
    key = f"test.alerts.{uuid.uuid4().hex}"
    try:
        for n in range(5):
            client.lpush(key, f"p{n}".encode())
        stream = RedisListStream(client, [key])
        batch = stream.poll(3, 0.1)
        assert [m.value for m in batch] == [b"p0", b"p1", b"p2"] and {m.topic for m in batch} == {key}
        assert client.llen(key) == 2 and client.llen(processing_key(key)) == 3
        stream.done(batch[:1])
        assert client.lrange(processing_key(key), 0, -1) == [b"p2", b"p1"]
        # a crash now: a new stream puts p1, p2 back in front of p3, p4
        again = RedisListStream(client, [key])
        assert again.recovered == 2 and client.llen(processing_key(key)) == 0
        everything = again.poll(10, 0.1)
        assert [m.value for m in everything] == [b"p1", b"p2", b"p3", b"p4"]
        again.done(everything)
        assert client.llen(key) == 0 and client.llen(processing_key(key)) == 0
        again.pause()
        client.lpush(key, b"p5")
        assert again.poll(10, 0.1) == []
        again.resume()
        assert [m.value for m in again.poll(10, 0.1)] == [b"p5"]
    finally:
        client.delete(key, processing_key(key))
