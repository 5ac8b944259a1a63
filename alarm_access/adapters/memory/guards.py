"""`MemoryGuards`: a `PullGuards` in memory with the semantics of `adapters.redis.locks.RedisGuards`, on a clock.

Held by `tests/adapters/memory/test_guards_contract.py` to the same assertions as `RedisGuards` on a real
Redis. Every expiry follows the injected clock (`ExpiringDict`): advance a `ManualClock` instead of sleeping.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

from alarm_access.access.data.jobs import Fence
from alarm_access.adapters.memory.data import MemoryRecordSink
from alarm_access.adapters.memory.expiry import ExpiringDict
from alarm_access.adapters.redis.locks import FENCE_TTL, TOKEN_MAX_TTL, TOKEN_WINDOW
from alarm_access.kernel.errors import AccessError, SourceUnavailable

Source = tuple[str, str]


class MemoryGuards:
    """A `PullGuards` whose state is per-group dictionaries with Redis-like expiry.

    Contracts, each the one of the matching `RedisGuards` Lua script:
    * `lock`: refused (None) while a live lock exists, unless `take_over`; otherwise the group's fencing
      counter is incremented (it lives `FENCE_TTL` seconds after the last acquisition, then restarts at 1)
      and the lock holds the new token for `ttl` seconds. A refused attempt hands out no token. A `ttl`
      under 1 ms raises `SourceUnavailable` after the counter moved (Redis fails the script at its SET).
      With `sink`, every token handed out becomes the sink's current fence (`MemoryRecordSink.set_fence`):
      in Redis the sink's delivery reads the very counter this lock increments. The counter's own expiry
      is not propagated to the sink (in Redis a delivery more than a day after its lock is fenced out).
    * `unlock`: releases the lock only while it still holds `fence.token` (never a newer holder's lock).
    * token bucket (spec §3.7): a missing bucket starts at `budget` for `TOKEN_WINDOW` seconds;
      `spend_tokens` charges 0 for `seconds <= 0.5`, else `max(int(seconds), 1)`, and returns what is left;
      when nothing is left its TTL is set to `floor(ttl + debt * TOKEN_WINDOW / budget)` capped at
      `TOKEN_MAX_TTL` (`ttl` in Redis' rounded seconds; an expiry of 0 deletes the bucket). `budget` must
      be > 0 (`DataSettings` guarantees it).
    * source slots: at most `limit` live holders per source; each holder's lease runs `lease` seconds from
      its own acquisition (expired at `taken + lease`, the score rule of the Redis sorted set); giving back
      an unknown or expired holder is a no-op.
    * end-time holds (bk_data freshness gating): `hold_end_time` stores the value for `ttl` seconds,
      `take_end_time` returns it (None unless > 0) and deletes it.
    * `breaker_rules`: `breaker_config` holds the raw stored text (None = no key); it is parsed as JSON
      and anything but a list (or empty, or invalid) is `[]`.

    Test knobs: while `fail_with` is set every port method raises it (a store failure). Inspection helpers
    (`lock_token`, `lock_pttl`, `tokens_ttl`, `slot_holders`) read the state as the matching Redis
    commands would (GET, PTTL, TTL, ZRANGE of the live members).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, sink: MemoryRecordSink | None = None) -> None:
        self.sink = sink
        self.fail_with: AccessError | None = None
        self.breaker_config: str | bytes | None = None
        self._locks: ExpiringDict[str, int] = ExpiringDict(clock)
        self._fences: ExpiringDict[str, int] = ExpiringDict(clock)
        self._tokens: ExpiringDict[str, int] = ExpiringDict(clock)
        self._slots: dict[Source, dict[str, int]] = {}
        self._end_times: ExpiringDict[str, int] = ExpiringDict(clock)

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    # --- PullGuards ------------------------------------------------------------------------------------

    def lock(self, group_key: str, slot: int, ttl: float, *, take_over: bool = False) -> Fence | None:
        self._check()
        if not take_over and self._locks.get(group_key) is not None:
            return None
        token = (self._fences.get(group_key) or 0) + 1
        self._fences.set(group_key, token, FENCE_TTL * 1000)
        if self.sink is not None:
            self.sink.set_fence(group_key, token)
        ttl_ms = int(ttl * 1000)
        if ttl_ms <= 0:
            raise SourceUnavailable(f"memory lock of group {group_key} failed: invalid expire time {ttl_ms} ms")
        self._locks.set(group_key, token, ttl_ms)
        return Fence(group_key, token, slot)

    def unlock(self, fence: Fence) -> None:
        self._check()
        self.release_lock(fence.group_key, fence.token)

    def tokens_left(self, group_key: str, budget: int) -> int:
        self._check()
        value = self._tokens.get(group_key)
        if value is None:
            self._tokens.set(group_key, budget, TOKEN_WINDOW * 1000)
            return budget
        return value

    def spend_tokens(self, group_key: str, budget: int, seconds: float) -> int:
        cost = 0 if seconds <= 0.5 else max(int(seconds), 1)
        if cost == 0:
            return self.tokens_left(group_key, budget)
        self._check()
        value = self._tokens.get(group_key)
        if value is None:  # SET NX EX: a missing bucket starts full
            value = budget
            self._tokens.set(group_key, value, TOKEN_WINDOW * 1000)
        left = value - cost  # DECRBY keeps the bucket's expiry
        self._tokens.replace(group_key, left)
        if left > 0:
            return left
        ttl = self._tokens.ttl(group_key)
        if ttl < 0:  # a bucket without expiry (never made here): dropped, as the script does
            self._tokens.delete(group_key)
            return left
        extended = math.floor(ttl + (-left) * TOKEN_WINDOW / budget)
        self._tokens.expire(group_key, min(extended, TOKEN_MAX_TTL) * 1000)
        return left

    def take_source_slot(self, source: Source, limit: int, lease: float) -> str | None:
        self._check()
        now = self._locks.now_ms()
        holders = self._slots.setdefault(source, {})
        for holder, expires in list(holders.items()):
            if expires <= now:
                del holders[holder]
        if len(holders) >= limit:
            return None
        holder = uuid.uuid4().hex
        holders[holder] = now + int(lease * 1000)
        return holder

    def give_source_slot(self, source: Source, holder: str) -> None:
        self._check()
        self._slots.get(source, {}).pop(holder, None)

    def take_end_time(self, group_key: str) -> int | None:
        self._check()
        until = self._end_times.get(group_key)
        self._end_times.delete(group_key)
        return until if until is not None and until > 0 else None

    def hold_end_time(self, group_key: str, until: int, ttl: int) -> None:
        self._check()
        self._end_times.set(group_key, until, ttl * 1000)

    def breaker_rules(self) -> list[Any]:
        self._check()
        raw = self.breaker_config
        if not raw:
            return []
        try:
            rules = json.loads(raw)
        except ValueError:
            return []
        return rules if isinstance(rules, list) else []

    # --- shared with MemoryBatchStore (the same keys in Redis) -------------------------------------------

    def release_lock(self, group_key: str, token: int) -> bool:
        """Delete the group lock if it holds `token` (the compare-and-delete of the Redis scripts)."""
        if self._locks.get(group_key) == token:
            return self._locks.delete(group_key)
        return False

    def extend_lock(self, group_key: str, ttl_ms: int) -> bool:
        """PEXPIRE of the group lock (a TTL <= 0 deletes it); False when no lock is held."""
        return self._locks.expire(group_key, ttl_ms)

    # --- inspection (what GET / PTTL / TTL / ZRANGE would show) -----------------------------------------

    def lock_token(self, group_key: str) -> int | None:
        """The token the group lock holds, None when it is free."""
        return self._locks.get(group_key)

    def lock_pttl(self, group_key: str) -> int:
        return self._locks.pttl(group_key)

    def tokens_ttl(self, group_key: str) -> int:
        return self._tokens.ttl(group_key)

    def end_time_ttl(self, group_key: str) -> int:
        """TTL of the group's held window end (-2 when none is held)."""
        return self._end_times.ttl(group_key)

    def slot_holders(self, source: Source) -> list[str]:
        """The holders whose lease has not run out."""
        now = self._locks.now_ms()
        return sorted(holder for holder, expires in self._slots.get(source, {}).items() if expires > now)
