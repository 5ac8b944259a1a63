"""Redis-side protections of a `data` pull: group lock with fencing token, token bucket, source slots.

Each operation is one Lua script, so it is atomic across every access process and Celery worker:
* group lock `access.lock.{SGK}` (spec §3.8) holds the fencing token it was given by `INCR` of
  `access.lock.fence.{SGK}`; the delivery transaction checks that the fence still holds that token
  (`RedisSink.deliver(fence=...)`), so a pull whose lock expired cannot write after the next holder;
* token bucket `access.data.token.strategy_group_{SGK}` on query seconds (spec §3.7, the original's rules);
* per-source slots `access.data.source_slots.{dsl}.{dtl}`: a sorted set of holders scored by lease expiry,
  a counting semaphore that a killed worker cannot leak (its lease runs out);
* circuit-breaking rules are read from `cache.circuit_breaking.access.data` (spec §3.10).
Every Redis error is `SourceUnavailable`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis

from alarm_access.access.data.jobs import Fence
from alarm_access.adapters.redis.client import redis_op
from alarm_access.adapters.redis.keys import RedisKeys

FENCE_TTL = 86400
TOKEN_WINDOW = 600
TOKEN_MAX_TTL = 1800

_ACQUIRE = """
if ARGV[3] == '0' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_SPEND = """
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3])
local left = redis.call('DECRBY', KEYS[1], ARGV[2])
if left > 0 then return left end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('DEL', KEYS[1]) return left end
local extended = math.floor(ttl + (-left) * tonumber(ARGV[3]) / tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[1], math.min(extended, tonumber(ARGV[4])))
return left
"""
_SLOT = """
redis.replicate_commands()  -- TIME before writes: needed on Redis < 5, a no-op after
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
-- the set lives as long as its longest lease: a short lease taken after a long one must not cut it
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
"""



def token_budget(window_budget: int, interval: int) -> int:
    """Query seconds a group may spend per 10-minute window (spec §3.7: scaled up for intervals < 60 s)."""
    return int(window_budget * 60 / interval) if interval < 60 else window_budget


class RedisGuards:
    """Implements `ports.PullGuards` on one client under `prefix`."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._spend = client.register_script(_SPEND)
        self._slot = client.register_script(_SLOT)

    def lock(self, group_key: str, slot: int, ttl: float, *, take_over: bool = False) -> Fence | None:
        """Take the group lock for `ttl` seconds; None when another pull holds it (unless `take_over`)."""
        with redis_op(f"lock of group {group_key}"):
            token = int(self._acquire(keys=[self.keys.lock(group_key), self.keys.fence(group_key)],
                                      args=[int(ttl * 1000), FENCE_TTL, int(take_over)]))
        return Fence(group_key, token, slot) if token else None

    def unlock(self, fence: Fence) -> None:
        with redis_op(f"unlock of group {fence.group_key}"):
            self._release(keys=[self.keys.lock(fence.group_key)], args=[str(fence.token)])

    def tokens_left(self, group_key: str, budget: int) -> int:
        """Tokens of the group's bucket (a new bucket starts full, for 10 minutes)."""
        key = self.keys.token(group_key)
        with redis_op(f"GET {key}"):
            value = self.client.get(key)
            if value is None:
                self.client.set(key, budget, nx=True, ex=TOKEN_WINDOW)
                return budget
        return int(value)

    def spend_tokens(self, group_key: str, budget: int, seconds: float) -> int:
        """Charge a pull that took `seconds` (0 for <= 0.5 s, else >= 1, spec §3.7); returns what is left.

        An overdrawn bucket's TTL grows in proportion to the debt (capped at 30 minutes): the group pauses.
        """
        cost = 0 if seconds <= 0.5 else max(int(seconds), 1)
        if cost == 0:
            return self.tokens_left(group_key, budget)
        with redis_op(f"token spend of group {group_key}"):
            return int(self._spend(keys=[self.keys.token(group_key)],
                                   args=[budget, cost, TOKEN_WINDOW, TOKEN_MAX_TTL]))

    def take_source_slot(self, source: tuple[str, str], limit: int, lease: float) -> str | None:
        """One of `limit` concurrent pulls of `source`, leased for `lease` seconds; None when all are taken."""
        holder = uuid.uuid4().hex
        with redis_op(f"source slot of {source[0]}:{source[1]}"):
            taken = self._slot(keys=[self.keys.source_slots(*source)], args=[limit, int(lease * 1000), holder])
        return holder if taken else None

    def give_source_slot(self, source: tuple[str, str], holder: str) -> None:
        with redis_op(f"source slot release of {source[0]}:{source[1]}"):
            self.client.zrem(self.keys.source_slots(*source), holder)

    def take_end_time(self, group_key: str) -> int | None:
        """GET and DEL in one MULTI (GETDEL needs Redis 6.2); a value that is not a positive integer is None."""
        key = self.keys.last_end_time(group_key)
        with redis_op(f"GET/DEL {key}"):
            pipe = self.client.pipeline(transaction=True)
            pipe.get(key)
            pipe.delete(key)
            raw, _ = pipe.execute()
        try:
            until = int(raw) if raw else 0
        except ValueError:
            return None
        return until if until > 0 else None

    def hold_end_time(self, group_key: str, until: int, ttl: int) -> None:
        key = self.keys.last_end_time(group_key)
        with redis_op(f"SET {key}"):
            self.client.set(key, str(until), ex=ttl)

    def breaker_rules(self) -> list[Any]:
        """The configured circuit-breaking rules (a JSON list; absent or invalid JSON → no rules)."""
        key = self.keys.circuit_breaking()
        with redis_op(f"GET {key}"):
            raw = self.client.get(key)
        if not raw:
            return []
        try:
            rules = json.loads(raw)
        except ValueError:
            return []
        return rules if isinstance(rules, list) else []
