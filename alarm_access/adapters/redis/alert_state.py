"""`ports.AlertStates` on Redis: one JSON string per integration and fingerprint, with a TTL
(`RedisKeys.alert_state`), and one lease string per integration and fingerprint (`RedisKeys.alert_lease`).

* `lease`: one Lua script sets every lease key to a random token (PX `lease_seconds`) only when none of them
  exists — all or none, so two requests sharing fingerprints in any order cannot deadlock; else it retries
  with a short jittered back-off for up to `lease_wait` seconds. Released (only where it still holds the token)
  when the block ends; a crashed holder's lease runs out after `lease_seconds`, which must outlive a produce
  (`ALARM_ACCESS_ALERT_PRODUCE_TIMEOUT`, 5 s by default).
* `load`: one MGET.
* `save`: one Lua script, a compare-and-set on the leases: it writes every state (SET EX `ttl`) only when
  every lease key still holds this request's token, else nothing — so a holder whose lease expired (paused
  longer than `lease_seconds`) never overwrites the newer state of the request that leased after it.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager

import redis

from alarm_access.access.alert.diff import AlertState
from alarm_access.adapters.redis.client import redis_op
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.kernel.errors import SourceUnavailable

logger = logging.getLogger("alarm_access.adapters.redis.alert_state")

_ACQUIRE = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for _, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
return 1
"""
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1
"""
#: KEYS: n lease keys then the n state keys; ARGV: token, ttl, then the n values
_SAVE = """
local n = #KEYS / 2
for i = 1, n do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end
end
for i = 1, n do redis.call('SET', KEYS[n + i], ARGV[2 + i], 'EX', ARGV[2]) end
return 1
"""
#: first and longest pause between attempts to take a lease
_BACKOFF = (0.005, 0.05)


class RedisAlertStates:
    def __init__(self, client: redis.Redis, prefix: str, ttl: int, *, lease_seconds: float = 30.0,
                 lease_wait: float = 5.0) -> None:
        self._client = client
        self._keys = RedisKeys(prefix)
        self._ttl = ttl
        self._lease_ms = int(lease_seconds * 1000)
        self._wait = lease_wait
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._save = client.register_script(_SAVE)

    @contextmanager
    def lease(self, integration: str, fingerprints: Collection[str]) -> Iterator[str]:
        keys = [self._keys.alert_lease(integration, fp) for fp in sorted(set(fingerprints))]
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self._wait
        pause = _BACKOFF[0]
        while True:
            with redis_op(f"alert state lease of {integration}"):
                taken = int(self._acquire(keys=keys, args=[token, self._lease_ms]))
            if taken:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise SourceUnavailable(f"alert states of {len(keys)} fingerprint(s) of {integration} stayed "
                                        f"leased by another request for {self._wait:g} s")
            time.sleep(min(left, pause * random.uniform(0.5, 1.5)))  # jitter: waiters do not retry in step
            pause = min(pause * 2, _BACKOFF[1])
        try:
            yield token
        finally:
            try:
                with redis_op(f"alert state lease release of {integration}"):
                    self._release(keys=keys, args=[token])
            except SourceUnavailable as exc:  # the lease runs out by itself; the request's outcome stands
                logger.warning("alert state lease not released (it expires in %d ms): %s", self._lease_ms, exc)

    def load(self, integration: str, fingerprints: Collection[str]) -> dict[str, AlertState]:
        names = list(fingerprints)
        with redis_op(f"alert state load of {integration}"):
            values = self._client.mget([self._keys.alert_state(integration, fp) for fp in names])
        states: dict[str, AlertState] = {}
        for fingerprint, value in zip(names, values, strict=True):
            if value:
                try:
                    states[fingerprint] = AlertState.from_json(json.loads(value))
                except (ValueError, KeyError, TypeError):
                    continue  # a corrupt state is a state never seen: the alert is emitted again
        return states

    def save(self, integration: str, states: Mapping[str, AlertState], lease: str) -> bool:
        names = list(states)
        keys = [self._keys.alert_lease(integration, fp) for fp in names]
        keys += [self._keys.alert_state(integration, fp) for fp in names]
        values = [json.dumps(states[fp].to_json()) for fp in names]
        with redis_op(f"alert state save of {integration}"):
            return bool(self._save(keys=keys, args=[lease, self._ttl, *values]))
