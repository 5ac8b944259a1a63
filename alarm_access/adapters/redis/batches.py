"""Redis side of batch rounds (a pull split into sub-tasks, `access.data.batch`); implements
`access.data.ports.BatchStore`.

Keys per group `SGK` and round `T` (the parent's fencing token):
* `access.batch.{SGK}.{T}.{k}`: payload of batch k, zlib-compressed JSON points, TTL = the round's TTL;
  consumed (DEL) by the transaction that delivers the batch (`RedisSink.deliver(batch=...)`);
* `access.batch.result.{SGK}.{T}`: the round's state hash (`total`, `checkpoint`, `now`, `slot`, `token`,
  `done`, `done.{k}`, `pushed`, `failed`, `failure`, `finalised`), TTL twice the round's;
* `access.batch.round.{SGK}`: the token of the newest round until it is finalised, so the group's next
  pull can report a round that never completed.
Starting, failing and finalising a round are Lua scripts (atomic across workers). Redis errors are
`SourceUnavailable`; a round whose lock was lost or whose slot is done is `FencedOut`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from alarm_access.access.data.jobs import BatchJob, Fence, FencedOut, RoundState
from alarm_access.adapters.redis.client import redis_op, text
from alarm_access.adapters.redis.keys import CHECKPOINT_TTL, RUN_HEARTBEAT_TTL, RedisKeys

_START = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'lock_lost' end
if tonumber(redis.call('GET', KEYS[2]) or '-1') >= tonumber(ARGV[3]) then return 'slot_done' end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], 'total', ARGV[4], 'checkpoint', ARGV[5], 'now', ARGV[6], 'slot', ARGV[3],
           'token', ARGV[1], 'done', 0, 'pushed', 0, 'failed', 0)
redis.call('EXPIRE', KEYS[4], ARGV[7])
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[7])
return 'ok'
"""
_FAIL = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
  redis.call('HSETNX', KEYS[1], 'failure', ARGV[2])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
"""
_FINALISE = """
local st = redis.call('HMGET', KEYS[1], 'total', 'done', 'failed', 'finalised', 'checkpoint', 'now', 'slot', 'token')
if not st[1] then return {'gone', 0} end
if st[4] then return {'finalised_before', 0} end
if tonumber(st[3]) > 0 then return {'failed', 0} end
if tonumber(st[2]) < tonumber(st[1]) then return {'pending', 0} end
local checkpoint = math.max(tonumber(st[5]), tonumber(redis.call('GET', KEYS[2]) or '0'))
if checkpoint > 0 then redis.call('SET', KEYS[2], checkpoint, 'EX', ARGV[1]) end
redis.call('SET', KEYS[3], st[6], 'EX', ARGV[2])
local slot = math.max(tonumber(st[7]), tonumber(redis.call('GET', KEYS[4]) or '0'))
redis.call('SET', KEYS[4], slot, 'EX', ARGV[1])
redis.call('HSET', KEYS[1], 'finalised', 1)
if redis.call('GET', KEYS[5]) == st[8] then redis.call('DEL', KEYS[5]) end
if redis.call('GET', KEYS[6]) == st[8] then redis.call('DEL', KEYS[6]) end
return {'finalised', checkpoint}
"""
_FORGET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""






class RedisBatchStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self._start = client.register_script(_START)
        self._fail = client.register_script(_FAIL)
        self._finalise = client.register_script(_FINALISE)
        self._forget = client.register_script(_FORGET)

    def start_round(self, fence: Fence, *, ttl: int, checkpoint: int, now: int,
                    batches: Sequence[Sequence[Mapping[str, Any]]]) -> None:
        """Extend the lock of `fence` to `ttl` seconds, record the round `fence.token` and store its payloads."""
        group = fence.group_key
        keys = [self.keys.lock(group), self.keys.slot_done(group), self.keys.batch_round(group),
                self.keys.batch_result(group, fence.token)]
        with redis_op(f"start of batch round {fence.token} of group {group}"):
            answer = text(self._start(keys=keys, args=[fence.token, ttl * 1000, fence.slot, len(batches),
                                                        checkpoint, now, 2 * ttl]))
            if answer != "ok":
                raise FencedOut(f"group {group}: batch round {fence.token} not started ({answer})")
            pipe = self.client.pipeline(transaction=False)
            for index, points in enumerate(batches, 1):
                body = zlib.compress(json.dumps(list(points), separators=(",", ":")).encode(), 1)
                pipe.set(self.keys.batch(group, fence.token, index), body, ex=ttl)
            pipe.execute()

    def load(self, job: BatchJob) -> list[dict[str, Any]] | None:
        """The points of batch `job`, None when its payload is gone (delivered or expired)."""
        key = self.keys.batch(job.group_key, job.token, job.index)
        with redis_op(f"GET {key}"):
            body = self.client.get(key)
        if body is None:
            return None
        assert isinstance(body, bytes)  # the client does not decode replies
        points: list[dict[str, Any]] = json.loads(zlib.decompress(body))
        return points

    def round_state(self, group_key: str, token: int) -> RoundState | None:
        """The round's state, None when it expired (or never existed)."""
        key = self.keys.batch_result(group_key, token)
        with redis_op(f"HGETALL {key}"):
            raw = {text(k): text(v) for k, v in self.client.hgetall(key).items()}
        if "total" not in raw:
            return None
        done = frozenset(int(name[5:]) for name in raw if name.startswith("done."))
        return RoundState(token, int(raw["total"]), done, int(raw.get("failed", 0)), raw.get("failure", ""),
                          "finalised" in raw)

    def previous_round(self, group_key: str) -> RoundState | None:
        """The group's newest round that was not finalised (None when there is none, or it expired)."""
        key = self.keys.batch_round(group_key)
        with redis_op(f"GET {key}"):
            token = self.client.get(key)
        return self.round_state(group_key, int(token)) if token else None

    def forget_round(self, group_key: str, token: int) -> None:
        """Stop reporting round `token` as the group's unfinished round."""
        key = self.keys.batch_round(group_key)
        with redis_op(f"DEL {key}"):
            self._forget(keys=[key], args=[token])

    def fail(self, group_key: str, token: int, reason: str, batches: int) -> None:
        """Mark the round failed (it will never be finalised), drop its `batches` payloads and release the
        group lock if the round holds it."""
        keys = [self.keys.batch_result(group_key, token), self.keys.lock(group_key),
                *(self.keys.batch(group_key, token, index) for index in range(1, batches + 1))]
        with redis_op(f"failing batch round {token} of group {group_key}"):
            self._fail(keys=keys, args=[token, reason])

    def finalise(self, group_key: str, token: int) -> tuple[str, int]:
        """When every batch is done and none failed, once: store the checkpoint (never back), the run
        heartbeat and the slot mark, release the lock. Returns (outcome, checkpoint); outcome is `finalised`,
        `pending`, `failed`, `finalised_before` or `gone` (the round expired)."""
        keys = [self.keys.batch_result(group_key, token), self.keys.checkpoint(group_key),
                self.keys.run_heartbeat(group_key), self.keys.slot_done(group_key), self.keys.lock(group_key),
                self.keys.batch_round(group_key)]
        with redis_op(f"finalising batch round {token} of group {group_key}"):
            outcome, checkpoint = self._finalise(keys=keys, args=[CHECKPOINT_TTL, RUN_HEARTBEAT_TTL])
        return text(outcome), int(checkpoint)
