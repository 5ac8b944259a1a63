"""The world of the guards and batch-store contract suites: guards, sink and batch store sharing one state.

`MemoryWorld` wires `MemoryGuards`, `MemoryBatchSink` and `MemoryBatchStore` on one `ManualClock`;
`RedisWorld` wires `RedisGuards`, `RedisSink` and `RedisBatchStore` on the machine's Redis under a key prefix
of its own (deleted afterwards). Besides the ports, a world lets time pass until something has expired —
the fake by advancing its clock, Redis by polling the key until it is gone (with a deadline) — and shows
what the suites look at behind the ports (TTLs, the heartbeat, the pushed record ids).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Protocol

import pytest
import redis

from alarm_access.access.data.jobs import BatchJob
from alarm_access.access.data.ports import BatchStore, PullGuards, RecordSink
from alarm_access.adapters.memory.batches import MemoryBatchSink, MemoryBatchStore
from alarm_access.adapters.memory.event import ManualClock
from alarm_access.adapters.memory.guards import MemoryGuards
from alarm_access.adapters.redis.batches import RedisBatchStore
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.adapters.redis.locks import RedisGuards
from alarm_access.adapters.redis.sink import RedisSink

Source = tuple[str, str]
#: how long past a TTL Redis may take to report the key gone before a test fails
GRACE = 5.0


class World(Protocol):
    guards: PullGuards
    sink: RecordSink
    store: BatchStore

    def expire_lock(self, group_key: str, ttl: float) -> None:
        """Let the group lock, given `ttl` seconds, expire."""
        ...

    def expire_slots(self, source: Source, lease: float) -> None:
        """Let every slot of `source` (leases of `lease` seconds, the newest last) expire."""
        ...

    def expire_lease(self, source: Source, holder: str, lease: float) -> None:
        """Let the lease of one `holder` of `source` run out (whatever happens to the other holders)."""
        ...

    def end_token_window(self, group_key: str) -> None:
        """Let the group's token bucket expire (its window ends: 10 minutes, or longer when overdrawn)."""
        ...

    def expire_payload(self, job: BatchJob, ttl: float) -> None: ...

    def expire_round(self, group_key: str, token: int, ttl: float) -> None:
        """Let the round's state (which lives `ttl` seconds) expire."""
        ...

    def lock_pttl(self, group_key: str) -> int: ...

    def tokens_ttl(self, group_key: str) -> int: ...

    def end_time_ttl(self, group_key: str) -> int:
        """TTL of the group's held window end (-2 when none is held)."""
        ...

    def set_end_time_raw(self, group_key: str, raw: str) -> None:
        """Store `raw` as the group's held window end, as another writer could."""
        ...

    def set_breaker_config(self, raw: str) -> None: ...

    def heartbeat(self, group_key: str) -> int | None: ...

    def pushed(self, strategy_id: int, item_id: int) -> list[str]:
        """Record ids of the detect queue, in delivery order."""
        ...


class MemoryWorld:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.memory_sink = MemoryBatchSink()
        self.memory_guards = MemoryGuards(clock=self.clock, sink=self.memory_sink)
        self.memory_store = MemoryBatchStore(self.memory_guards, self.memory_sink, clock=self.clock)
        self.guards: PullGuards = self.memory_guards
        self.sink: RecordSink = self.memory_sink
        self.store: BatchStore = self.memory_store

    def _elapse(self, seconds: float) -> None:
        self.clock.advance(seconds + 0.001)  # an entry lives through its last millisecond

    def expire_lock(self, group_key: str, ttl: float) -> None:
        self._elapse(ttl)
        assert self.memory_guards.lock_token(group_key) is None

    def expire_slots(self, source: Source, lease: float) -> None:
        self._elapse(lease)
        assert self.memory_guards.slot_holders(source) == []

    def expire_lease(self, source: Source, holder: str, lease: float) -> None:
        self._elapse(lease)
        assert holder not in self.memory_guards.slot_holders(source)

    def end_token_window(self, group_key: str) -> None:
        ttl = self.memory_guards.tokens_ttl(group_key)
        assert ttl >= 0, f"no token bucket for {group_key}"
        self._elapse(ttl + 0.5)  # TTL rounds to the nearest second

    def expire_payload(self, job: BatchJob, ttl: float) -> None:
        self._elapse(ttl)
        assert not self.memory_store.payload_exists(job)

    def expire_round(self, group_key: str, token: int, ttl: float) -> None:
        self._elapse(ttl)

    def lock_pttl(self, group_key: str) -> int:
        return self.memory_guards.lock_pttl(group_key)

    def tokens_ttl(self, group_key: str) -> int:
        return self.memory_guards.tokens_ttl(group_key)

    def end_time_ttl(self, group_key: str) -> int:
        return self.memory_guards.end_time_ttl(group_key)

    def set_end_time_raw(self, group_key: str, raw: str) -> None:
        # The fake stores ints: what Redis' int() of the text gives, or 0 (`take_end_time`: not held)
        self.memory_guards.hold_end_time(group_key, int(raw) if raw.lstrip("-").isdigit() else 0, 300)

    def set_breaker_config(self, raw: str) -> None:
        self.memory_guards.breaker_config = raw

    def heartbeat(self, group_key: str) -> int | None:
        return self.memory_sink.heartbeats.get(group_key)

    def pushed(self, strategy_id: int, item_id: int) -> list[str]:
        return [r.record_id for r in self.memory_sink.records(strategy_id, item_id)]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` every few milliseconds until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.1f} s: {what}")
        time.sleep(0.005)


class RedisWorld:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self.guards: PullGuards = RedisGuards(client, prefix)
        self.sink: RecordSink = RedisSink(client, prefix)
        self.store: BatchStore = RedisBatchStore(client, prefix)

    def _wait_gone(self, key: str, ttl: float) -> None:
        assert self.client.exists(key), f"{key} was never written"
        wait_for(lambda: not self.client.exists(key), ttl + GRACE, f"{key} expired")

    def _server_ms(self) -> int:
        seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def expire_lock(self, group_key: str, ttl: float) -> None:
        self._wait_gone(self.keys.lock(group_key), ttl)

    def expire_slots(self, source: Source, lease: float) -> None:
        self._wait_gone(self.keys.source_slots(*source), lease)

    def expire_lease(self, source: Source, holder: str, lease: float) -> None:
        """Until the server's clock passes the holder's lease (its score), or the holder is gone."""
        key = self.keys.source_slots(*source)

        def ran_out() -> bool:
            score = self.client.zscore(key, holder)
            return score is None or self._server_ms() > float(score)

        wait_for(ran_out, lease + GRACE, f"lease of {holder} in {key} ran out")

    def end_token_window(self, group_key: str) -> None:
        """A window is 10 minutes: the test shortens the bucket's TTL to 10 ms, then waits for it to go."""
        key = self.keys.token(group_key)
        assert self.client.pexpire(key, 10), f"{key} does not exist"
        self._wait_gone(key, 0.01)

    def expire_payload(self, job: BatchJob, ttl: float) -> None:
        self._wait_gone(self.keys.batch(job.group_key, job.token, job.index), ttl)

    def expire_round(self, group_key: str, token: int, ttl: float) -> None:
        self._wait_gone(self.keys.batch_result(group_key, token), ttl)

    def lock_pttl(self, group_key: str) -> int:
        return int(self.client.pttl(self.keys.lock(group_key)))

    def tokens_ttl(self, group_key: str) -> int:
        return int(self.client.ttl(self.keys.token(group_key)))

    def end_time_ttl(self, group_key: str) -> int:
        return int(self.client.ttl(self.keys.last_end_time(group_key)))

    def set_end_time_raw(self, group_key: str, raw: str) -> None:
        self.client.set(self.keys.last_end_time(group_key), raw, ex=300)

    def set_breaker_config(self, raw: str) -> None:
        self.client.set(self.keys.circuit_breaking(), raw)

    def heartbeat(self, group_key: str) -> int | None:
        value = self.client.get(self.keys.run_heartbeat(group_key))
        return None if value is None else int(value)

    def pushed(self, strategy_id: int, item_id: int) -> list[str]:
        lines = self.client.lrange(self.keys.data(strategy_id, item_id), 0, -1)
        return [json.loads(line)["record_id"] for line in reversed(lines)]  # LPUSH: newest at the head


def worlds(request: pytest.FixtureRequest) -> Iterator[World]:
    """The body of a `world` fixture parametrized with "memory" and "redis"."""
    if request.param == "memory":
        yield MemoryWorld()
        return
    client: redis.Redis = request.getfixturevalue("client")
    prefix = f"test.guards.{uuid.uuid4().hex}"
    try:
        yield RedisWorld(client, prefix)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}.*"))
        if keys:
            client.delete(*keys)


WORLD_PARAMS = ["memory", pytest.param("redis", marks=pytest.mark.integration)]
