"""`ring.membership.Membership` on Redis: leases in a sorted set scored by expiry, on the server's clock.

One Lua script per heartbeat, so renewing, pruning expired members and bumping the epoch are atomic and
every member sees the same epoch for the same membership: a member whose lease expired is removed by the
next heartbeat of anyone (the epoch moves), a new member or a change of state or weight moves it too, and a
plain renewal does not. Times come from Redis `TIME`, so members' clocks need not agree. Keys live one day
after the last heartbeat (an abandoned ring cleans itself up).
"""

from __future__ import annotations

import json
from typing import Any

import redis

from alarm_access.adapters.redis.client import redis_op, text
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.ring.membership import MemberInfo, MemberState, RingView

RING_KEY_TTL = 86400

_HEARTBEAT = """
redis.replicate_commands()  -- TIME before writes: needed on Redis < 5, a no-op after
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local changed = 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, member in ipairs(expired) do
  redis.call('HDEL', KEYS[2], member)
  changed = 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then
  if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then changed = 1 end
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
if changed == 1 then redis.call('INCR', KEYS[3]) end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], tonumber(ARGV[4])) end
local leases = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local infos = {}
for i = 1, #leases, 2 do infos[#infos + 1] = redis.call('HGET', KEYS[2], leases[i]) or '{}' end
return {tonumber(redis.call('GET', KEYS[3]) or '0'), now, leases, infos}
"""

_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('HDEL', KEYS[2], ARGV[1]) == 1 then redis.call('INCR', KEYS[3]) end
return 1
"""


class RedisMembership:
    """The leases of ring `ring` (`{access type}.{cluster}`) under `prefix`."""

    def __init__(self, client: redis.Redis, prefix: str, ring: str) -> None:
        keys = RedisKeys(prefix)
        self._keys = [keys.ring_leases(ring), keys.ring_members(ring), keys.ring_epoch(ring)]
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._leave = client.register_script(_LEAVE)

    def heartbeat(self, member: str, state: MemberState, weight: float, ttl: float) -> RingView:
        ttl_ms = max(int(ttl * 1000), 1)
        info = json.dumps({"state": state.value, "ttl_ms": ttl_ms, "weight": weight}, sort_keys=True)
        with redis_op(f"ring heartbeat {self._keys[0]}"):
            reply = self._heartbeat(keys=self._keys, args=[member, info, ttl_ms, RING_KEY_TTL])
        return _view(reply)

    def view(self) -> RingView:
        with redis_op(f"ring view {self._keys[0]}"):
            reply = self._heartbeat(keys=self._keys, args=["", "", 0, RING_KEY_TTL])
        return _view(reply)

    def leave(self, member: str) -> None:
        with redis_op(f"ring leave {self._keys[0]}"):
            self._leave(keys=self._keys, args=[member])


def _view(reply: list[Any]) -> RingView:
    epoch, now, leases, infos = int(reply[0]), int(reply[1]), list(reply[2]), list(reply[3])
    members = []
    for member, expiry, raw in zip(leases[::2], leases[1::2], infos, strict=True):
        info = json.loads(text(raw))
        ttl_ms = int(info.get("ttl_ms", 0))
        age = max(0.0, (now - (float(expiry) - ttl_ms)) / 1000)
        members.append(MemberInfo(text(member), MemberState(info.get("state", "joining")),
                                  float(info.get("weight", 1.0)), age))
    return RingView(epoch, tuple(sorted(members, key=lambda m: m.id)))
