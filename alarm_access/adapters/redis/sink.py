"""The Redis side of a `data` pull: dedupe/priority state in, records and signals out (spec §4.2-§4.3).

Order of effects per pull (ARCHITECTURE principle 6): `read_checkpoint`, `read_seen`, `read_priority` →
`pipeline.run` → `deliver`, which writes records, signal, dedupe state, checkpoint and run heartbeat in ONE
transaction. The original committed dedupe before the push (spec §9.2) and wrote some items but not others
on overflow (§9.11); here a pull is delivered entirely or not at all, and nothing when any destination list
is over `max_queue_length`. Every Redis error surfaces as `SourceUnavailable` naming the operation and key;
only noise-reduce counts, which are advisory, are logged instead (spec §3.16).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from alarm_access.access.data.jobs import BatchJob, Fence, FencedOut, refuse_final_replay
from alarm_access.adapters.redis.client import redis_op, text
from alarm_access.adapters.redis.keys import (
    CHECKPOINT_TTL,
    NOISE_TTL,
    PRIORITY_TTL,
    PUSH_CHUNK,
    RUN_HEARTBEAT_TTL,
    SIGNAL_TTL,
    RedisKeys,
    data_ttl,
    dedupe_ttl,
    nodata_ttl,
)
from alarm_access.adapters.redis.wire_json import WireEncoder
from alarm_access.kernel.config import DEFAULT_KEY_PREFIX
from alarm_access.kernel.errors import Backpressure
from alarm_access.kernel.model import Record, StrategyGroup
from alarm_access.logs import ctx
from alarm_access.records.anomaly import AnomalyWrites
from alarm_access.records.collector import gc_paused
from alarm_access.records.pipeline import PullResult

logger = logging.getLogger("alarm_access.access.data")

#: 10 x SQL_MAX_LIMIT, the original's overflow threshold for a detect/nodata list
DEFAULT_MAX_QUEUE_LENGTH = 5_000_000
#: TTLs of the detect service's output keys (spec event-alert-incident §8)
ANOMALY_TTL = 1800
CHECK_RESULT_TTL = 3600
LAST_CHECKPOINT_TTL = 7 * 86400
SNAPSHOT_TTL = 3600




class RedisSink:
    """Reads and writes the `data` hand-off keys under `prefix` with one `redis.Redis` client."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = DEFAULT_KEY_PREFIX,
        *,
        max_queue_length: int = DEFAULT_MAX_QUEUE_LENGTH,
    ) -> None:
        self.client = client
        self.keys = RedisKeys(prefix)
        self.max_queue_length = max_queue_length

    def read_seen(self, group: StrategyGroup, times: Iterable[int]) -> dict[int, set[str]]:
        """Stored record ids per time bucket of `group` (one pipelined SMEMBERS per bucket)."""
        buckets = sorted(set(times))
        if not buckets:
            return {}
        keys = [self.keys.duplicate(group.key, t) for t in buckets]
        with redis_op(f"SMEMBERS {keys[0]} (+{len(keys) - 1} more)"):
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.smembers(key)
            replies = pipe.execute()
        return {t: {text(member) for member in members} for t, members in zip(buckets, replies, strict=True)}

    def last_runs(self, group_keys: Iterable[str]) -> dict[str, int]:
        """The run heartbeat (epoch of the last delivered pull) of each group that has one (one MGET)."""
        keys = list(group_keys)
        if not keys:
            return {}
        with redis_op(f"MGET {self.keys.run_heartbeat(keys[0])} (+{len(keys) - 1} more)"):
            values = self.client.mget([self.keys.run_heartbeat(key) for key in keys])
        return {key: int(value) for key, value in zip(keys, values, strict=True) if value}

    def read_priority(self, priority_group_keys: Iterable[str]) -> dict[str, dict[str, str]]:
        """Content of each priority hash (HGETALL), by priority group key."""
        names = list(dict.fromkeys(priority_group_keys))
        if not names:
            return {}
        with redis_op(f"HGETALL {self.keys.priority(names[0])} (+{len(names) - 1} more)"):
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.hgetall(self.keys.priority(name))
            replies = pipe.execute()
        return {
            name: {text(k): text(v) for k, v in reply.items()} for name, reply in zip(names, replies, strict=True)
        }

    def check_capacity(self, keys: list[str]) -> None:
        """Raise `Backpressure` naming the first list in `keys` longer than `max_queue_length`."""
        if not keys:
            return
        with redis_op(f"LLEN {keys[0]} (+{len(keys) - 1} more)"):
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
            lengths = pipe.execute()
        for key, length in zip(keys, lengths, strict=True):
            if length > self.max_queue_length:
                raise Backpressure(f"{key} holds {length} records (limit {self.max_queue_length})")

    def read_checkpoint(self, group: StrategyGroup) -> int:
        """The group's stored checkpoint, 0 when none is stored (or it expired)."""
        key = self.keys.checkpoint(group.key)
        with redis_op(f"GET {key}"):
            value = self.client.get(key)
        return int(value) if value else 0

    def deliver(
        self,
        result: PullResult,
        group: StrategyGroup,
        *,
        checkpoint: int,
        now: int,
        fence: Fence | None = None,
        anomalies: AnomalyWrites | None = None,
        batch: BatchJob | None = None,
        final: bool = True,
    ) -> None:
        """Write the whole outcome of one pull in one MULTI/EXEC transaction.

        Records (detect and nodata lists), priority updates, the signal, the dedupe sets, the checkpoint and
        the run heartbeat are applied together or not at all, so a worker killed at any point cannot leave
        records delivered but not marked seen (which would duplicate them) or marked seen but not delivered
        (which would lose them). Every destination list is checked first: on `Backpressure` nothing is
        written. Noise-reduce counts are advisory and written afterwards, outside the transaction.

        With `fence` the fence, slot and checkpoint keys are WATCHed: the transaction runs only if the fence
        still holds `fence.token` and no slot >= `fence.slot` was delivered, else `FencedOut` and nothing is
        written; the checkpoint stored is the max of the stored and the new one. `anomalies` (inline
        thresholds) go to the detect service's output keys in the same transaction.

        With `batch` (a sub-task of a split pull, `fence` required) the batch's payload key is WATCHed too
        and must still exist (else `FencedOut`: a twin delivered it, or it expired); the transaction consumes
        the payload and counts the batch done in its round (`RedisBatchStore`) instead of writing the
        checkpoint, heartbeat and slot mark, which the round's last batch writes once every batch is done.
        With `final=False` (one batch of a pull this process delivers in batches) the checkpoint, heartbeat
        and slot mark are not written either: the pull's final delivery writes them.
        """
        refuse_final_replay(fence, final=final and batch is None)
        intervals = {(strategy.id, item.id): item.min_interval for strategy, item in group.items}
        data_keys = {item: self.keys.data(*item) for item in result.data}
        nodata_keys = {item: self.keys.nodata(*item) for item in result.nodata}
        self.check_capacity([*data_keys.values(), *nodata_keys.values()])
        encoder = WireEncoder()
        encoded: dict[int, bytes] = {}

        @gc_paused
        def lines(records: Iterable[Record]) -> list[bytes]:
            # Records are shared by items (and nodata): encode each once.
            out = []
            for record in records:
                text = encoded.get(id(record))
                if text is None:
                    text = encoded[id(record)] = encoder.encode(record)
                out.append(text)
            return out

        pipe = self.client.pipeline(transaction=True)
        if fence is not None:
            payload = self.keys.batch(batch.group_key, batch.token, batch.index) if batch else None
            checkpoint = self._check_fence(pipe, fence, checkpoint, payload)
        for item, records in result.data.items():
            self._lpush(pipe, data_keys[item], lines(records), data_ttl(intervals[item]))
        for item, records in result.nodata.items():
            self._lpush(pipe, nodata_keys[item], lines(records), nodata_ttl(intervals[item]))
        for write in result.priority_writes:
            key = self.keys.priority(write.group_key)
            if write.updates:
                updates: dict[Any, Any] = dict(write.updates)  # redis' stub wants a wider key type
                pipe.hset(key, mapping=updates)
            if write.deletions:
                pipe.hdel(key, *write.deletions)
            pipe.expire(key, PRIORITY_TTL)  # after HSET, so a new hash gets its TTL too
        if result.signal:
            pipe.lpush(self.keys.signal(), *result.signal)
            pipe.expire(self.keys.signal(), SIGNAL_TTL)
        self._add_dedupe(pipe, group, result.dedupe_additions)
        if anomalies is not None:
            self._queue_anomalies(pipe, anomalies)
        if batch is not None:
            self._count_batch(pipe, batch, sum(len(records) for records in result.data.values()))
        elif final:
            if checkpoint > 0:
                pipe.set(self.keys.checkpoint(group.key), checkpoint, ex=CHECKPOINT_TTL)
            # Written only by a pull that succeeded: nodata tells "access is down" from "no data" by its age.
            pipe.set(self.keys.run_heartbeat(group.key), now, ex=RUN_HEARTBEAT_TTL)
            if fence is not None:
                pipe.set(self.keys.slot_done(group.key), fence.slot, ex=CHECKPOINT_TTL)
        with redis_op(f"delivery of group {group.key}"):
            try:
                pipe.execute()
            except redis.WatchError:
                raise FencedOut(f"group {group.key}: fence, slot or checkpoint changed during delivery") from None
        self._push_noise(result, group)

    def _check_fence(self, pipe: Any, fence: Fence, checkpoint: int, payload: str | None = None) -> int:
        """WATCH the fence, slot and checkpoint keys (and a batch `payload`), refuse a stale pull, start
        MULTI; the checkpoint to store."""
        keys = (self.keys.fence(fence.group_key), self.keys.slot_done(fence.group_key),
                self.keys.checkpoint(fence.group_key))
        with redis_op(f"fence check of group {fence.group_key}"):
            pipe.watch(*keys, *([payload] if payload else []))
            token, done, stored = pipe.mget(*keys)
            if payload is not None and not pipe.exists(payload):
                pipe.reset()
                raise FencedOut(f"group {fence.group_key}: batch payload {payload} already consumed or expired")
        if token is None or int(token) != fence.token:
            pipe.reset()
            raise FencedOut(f"group {fence.group_key}: lock token {fence.token} superseded by {text(token or b'-')}")
        if done is not None and int(done) >= fence.slot:
            pipe.reset()
            raise FencedOut(f"group {fence.group_key}: slot {fence.slot} already done (newest {int(done)})")
        pipe.multi()
        return max(checkpoint, int(stored or 0))

    def _count_batch(self, pipe: Any, batch: BatchJob, pushed: int) -> None:
        """Consume the batch's payload and count it done in its round's state hash (`RedisBatchStore`)."""
        state = self.keys.batch_result(batch.group_key, batch.token)
        pipe.delete(self.keys.batch(batch.group_key, batch.token, batch.index))
        pipe.hset(state, f"done.{batch.index}", pushed)
        pipe.hincrby(state, "done", 1)
        pipe.hincrby(state, "pushed", pushed)

    def _queue_anomalies(self, pipe: Any, anomalies: AnomalyWrites) -> None:
        for (strategy_id, item_id), lines in anomalies.lines.items():
            key = self.keys.anomaly_list(strategy_id, item_id)
            for start in range(0, len(lines), PUSH_CHUNK):
                pipe.lpush(key, *lines[start : start + PUSH_CHUNK])
            pipe.expire(key, ANOMALY_TTL)
        if anomalies.lines:
            pipe.lpush(self.keys.anomaly_signal(), *(f"{s}.{i}" for s, i in anomalies.lines))
            pipe.expire(self.keys.anomaly_signal(), ANOMALY_TTL)
        for (strategy_id, item_id, md5, level), members in anomalies.check_results.items():
            key = self.keys.check_result(strategy_id, item_id, md5, level)
            pipe.zadd(key, mapping=dict(members))
            pipe.expire(key, CHECK_RESULT_TTL)
        for (strategy_id, item_id), fields in anomalies.last_checkpoints.items():
            key = self.keys.last_checkpoint(strategy_id, item_id)
            pipe.hset(key, mapping=dict(fields))
            pipe.expire(key, LAST_CHECKPOINT_TTL)
        for (strategy_id, update_time), document in anomalies.snapshots.items():
            pipe.set(self.keys.strategy_snapshot(strategy_id, update_time), document, ex=SNAPSHOT_TTL)

    @staticmethod
    def _lpush(pipe: Any, key: str, lines: list[bytes], ttl: int) -> None:
        for start in range(0, len(lines), PUSH_CHUNK):
            pipe.lpush(key, *lines[start : start + PUSH_CHUNK])
        pipe.expire(key, ttl)

    def _push_noise(self, result: PullResult, group: StrategyGroup) -> None:
        if not result.noise_writes:
            return
        pipe = self.client.pipeline(transaction=False)
        for write in result.noise_writes:
            key = self.keys.noise_reduce(write.strategy_id, write.dimensions_md5)
            pipe.zadd(key, mapping=dict(write.members))
            pipe.expire(key, NOISE_TTL)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            logger.warning("noise-reduce counts not written: %s", exc, extra=ctx(sgk=group.key))

    def _add_dedupe(self, pipe: Any, group: StrategyGroup, additions: Mapping[int, Iterable[str]]) -> None:
        """Remember delivered record ids per bucket, TTL 10 x the group's dedupe interval."""
        ttl = dedupe_ttl(group.dedupe_interval)
        for time, record_ids in sorted(additions.items()):
            members = list(record_ids)
            if members:
                key = self.keys.duplicate(group.key, time)
                pipe.sadd(key, *members)
                pipe.expire(key, ttl)
