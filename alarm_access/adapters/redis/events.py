"""The Redis side of event access: anomalies to the trigger queues, idempotently (spec §1.8, §8.1).

`RedisAnomalySink.push` reads the advisory state (priority hashes, last checkpoints, QoS counters) with one
pipeline, then WATCHes the dedupe sets of the batch's time buckets, reads which delivery keys they hold,
decides with `access.event.delivery.plan_delivery`, and writes everything in ONE MULTI/EXEC: anomaly lists,
signal, check results, last checkpoints, priority and QoS updates, strategy snapshots and the dedupe marks.
A concurrent writer of the same dedupe set aborts the EXEC (WatchError) and the batch is re-decided; so an
anomaly (its `delivery_key`: anomaly id + md5 of the line's dimensions, value and message; two distinct
anomalies may share an anomaly id) is pushed at most once even when a batch is replayed after a crash (Kafka
commit after push). Detect-facing keys (check results, last checkpoint, priority, QoS) use the original's md5.
Key names are the original's under the configurable prefix; every Redis error becomes `SourceUnavailable`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from alarm_access.access.event.delivery import (
    DeliveryPlan,
    DeliveryState,
    checkpoint_field,
    dedupe_bucket,
    plan_delivery,
    qos_field,
)
from alarm_access.access.event.standardize import Anomaly
from alarm_access.adapters.redis.client import text
from alarm_access.adapters.redis.keys import PRIORITY_TTL, PUSH_CHUNK
from alarm_access.kernel.errors import Backpressure, SourceUnavailable

ANOMALY_TTL = 1800
SIGNAL_TTL = 1800
CHECK_RESULT_TTL = 3600
LAST_CHECKPOINT_TTL = 7 * 86400
SNAPSHOT_TTL = 3600
#: an event is accepted up to 30 min after its time; remember its id past any replay of that window
DELIVERED_TTL = 2 * 1800 + 600
WATCH_ATTEMPTS = 5
#: KEYS: check-result keys; ARGV: the TTL, then per key the number of members and (score, member) pairs.
#: Writes what `ZADD key score member` + `EXPIRE key ttl` per key would, as one command of the transaction:
#: queueing two commands per anomaly was most of the push's client-side cost.
CHECK_RESULTS_SCRIPT = """
local ttl = ARGV[1]
local at = 2
for _, key in ipairs(KEYS) do
  local count = tonumber(ARGV[at])
  for i = 1, count do
    redis.call('ZADD', key, ARGV[at + 2 * i - 1], ARGV[at + 2 * i])
  end
  redis.call('EXPIRE', key, ttl)
  at = at + 2 * count + 1
end
return #KEYS
"""


@dataclass(frozen=True, slots=True)
class EventKeys:
    prefix: str

    def anomaly_list(self, strategy_id: int, item_id: int) -> str:
        return f"{self.prefix}.detect.anomaly.list.{strategy_id}.{item_id}"

    def anomaly_signal(self) -> str:
        return f"{self.prefix}.detect.anomaly.signal"

    def check_result(self, strategy_id: int, item_id: int, md5: str, level: int) -> str:
        return f"{self.prefix}.detect.result.{strategy_id}.{item_id}.{md5}.{level}"

    def last_checkpoint(self, strategy_id: int, item_id: int) -> str:
        return f"{self.prefix}.detect.last.checkpoint.{strategy_id}.{item_id}"

    def priority(self, group_key: str) -> str:
        return f"{self.prefix}.access.data.priority.{group_key}"

    def qos_control(self) -> str:
        return f"{self.prefix}.access.event.qos.control"

    def qos_counts(self, window_start: int) -> str:
        return f"{self.prefix}.access.event.qos.count.{window_start}"

    def delivered(self, bucket: int) -> str:
        return f"{self.prefix}.access.event.delivered.{bucket}"




class RedisAnomalySink:
    """Implements `ports.AnomalySink`. QoS is on when `qos_enabled` or the original's control hash exists."""

    def __init__(self, client: redis.Redis, prefix: str, *, max_queue_length: int, qos_enabled: bool = False,
                 qos_threshold: int = 3, qos_window: int = 300) -> None:
        self.client = client
        self.keys = EventKeys(prefix)
        self.max_queue_length = max_queue_length
        self.qos_enabled = qos_enabled
        self.qos_threshold = qos_threshold
        self.qos_window = max(qos_window, 1)

    def push(self, anomalies: Sequence[Anomaly], snapshots: Mapping[str, str], now: int) -> DeliveryPlan:
        if not anomalies:
            return DeliveryPlan()
        try:
            state = self._read_state(anomalies, now)
            for _ in range(WATCH_ATTEMPTS):
                plan = self._deliver(anomalies, state, snapshots, now)
                if plan is not None:
                    return plan
        except redis.RedisError as exc:
            raise SourceUnavailable(f"redis anomaly push failed: {exc}") from exc
        raise SourceUnavailable(f"anomaly push gave up after {WATCH_ATTEMPTS} concurrent-delivery conflicts")

    def _read_state(self, anomalies: Sequence[Anomaly], now: int) -> DeliveryState:
        by_pair: dict[tuple[int, int], set[str]] = {}
        group_keys: dict[str, None] = {}
        qos_identities: set[str] = set()
        for a in anomalies:  # one pass: a batch is thousands of anomalies over a few strategies
            by_pair.setdefault((a.strategy_id, a.item_id), set()).add(checkpoint_field(a))
            qos_identities.add(qos_field(a))
            if a.priority is not None and a.priority_group_key:
                group_keys[a.priority_group_key] = None
        pairs, groups = list(by_pair), list(group_keys)
        fields = {pair: sorted(names) for pair, names in by_pair.items()}
        identities = sorted(qos_identities)
        pipe = self.client.pipeline(transaction=False)
        for pair in pairs:
            pipe.llen(self.keys.anomaly_list(*pair))
        for group in groups:
            pipe.hgetall(self.keys.priority(group))
        for pair in pairs:
            pipe.hmget(self.keys.last_checkpoint(*pair), fields[pair])
        pipe.exists(self.keys.qos_control())
        pipe.hmget(self.keys.qos_counts(now - now % self.qos_window), identities)
        replies = iter(pipe.execute())
        for pair in pairs:
            length = next(replies)
            if length > self.max_queue_length:
                raise Backpressure(f"{self.keys.anomaly_list(*pair)} holds {length} anomalies "
                                   f"(limit {self.max_queue_length})")
        priority = {g: {text(k): text(v) for k, v in next(replies).items()} for g in groups}
        checkpoints = {
            pair: {f: int(v) for f, v in zip(fields[pair], next(replies), strict=True) if v is not None}
            for pair in pairs
        }
        qos_controlled = bool(next(replies))  # read even when QoS is on by setting: the replies are in order
        qos_on = self.qos_enabled or qos_controlled
        counts = {i: int(v) for i, v in zip(identities, next(replies), strict=True) if v is not None}
        return DeliveryState(priority=priority, checkpoints=checkpoints, qos_counts=counts if qos_on else None)

    def _deliver(self, anomalies: Sequence[Anomaly], state: DeliveryState, snapshots: Mapping[str, str],
                 now: int) -> DeliveryPlan | None:
        """One WATCH/MULTI/EXEC attempt; None when a concurrent delivery touched a dedupe set."""
        by_bucket: dict[int, list[str]] = {}
        for a in anomalies:
            by_bucket.setdefault(dedupe_bucket(a.time), []).append(a.delivery_key)
        buckets = sorted(by_bucket)
        pipe: Any = self.client.pipeline(transaction=True)  # redis' stubs leave watch() untyped
        with pipe:
            try:
                pipe.watch(*(self.keys.delivered(b) for b in buckets))
                delivered: set[str] = set()
                for bucket in buckets:
                    ids = by_bucket[bucket]
                    flags = pipe.smismember(self.keys.delivered(bucket), ids)
                    delivered.update(i for i, flag in zip(ids, flags, strict=True) if flag)
                plan = plan_delivery(anomalies, DeliveryState(frozenset(delivered), state.priority, state.checkpoints,
                                                              state.qos_counts), now, self.qos_threshold)
                pipe.multi()
                self._queue_writes(pipe, plan, snapshots, now)
                pipe.execute()
            except redis.WatchError:
                return None
        return plan

    def _queue_writes(self, pipe: Any, plan: DeliveryPlan, snapshots: Mapping[str, str], now: int) -> None:
        keys = self.keys
        results: dict[str, dict[str, int]] = {}
        for (sid, iid), pushed in plan.pushes.items():
            key = keys.anomaly_list(sid, iid)
            lines = [a.line for a in pushed]
            for start in range(0, len(lines), PUSH_CHUNK):
                pipe.lpush(key, *lines[start:start + PUSH_CHUNK])
            pipe.expire(key, ANOMALY_TTL)
            for anomaly in pushed:
                result = keys.check_result(sid, iid, anomaly.md5, anomaly.level)
                results.setdefault(result, {})[f"{anomaly.time}|ANOMALY"] = anomaly.time
        if results:  # one command for every check result of the batch (ZADD + EXPIRE each, in the script)
            arguments: list[str | int] = [CHECK_RESULT_TTL]
            for members in results.values():
                arguments.append(len(members))
                for member, score in members.items():
                    arguments += (score, member)
            pipe.eval(CHECK_RESULTS_SCRIPT, len(results), *results, *arguments)
        for (sid, iid), updates in plan.checkpoints.items():
            if updates:
                pipe.hset(keys.last_checkpoint(sid, iid), mapping=dict(updates))
                pipe.expire(keys.last_checkpoint(sid, iid), LAST_CHECKPOINT_TTL)
        if plan.pushes:
            pipe.lpush(keys.anomaly_signal(), *(f"{sid}.{iid}" for sid, iid in plan.pushes))
            pipe.expire(keys.anomaly_signal(), SIGNAL_TTL)
        for write in plan.priority_writes:
            if write.updates:
                pipe.hset(keys.priority(write.group_key), mapping=dict(write.updates))
            if write.deletions:
                pipe.hdel(keys.priority(write.group_key), *write.deletions)
            pipe.expire(keys.priority(write.group_key), PRIORITY_TTL)  # after HSET: a new hash gets a TTL too
        if plan.qos_increments:
            qos_key = keys.qos_counts(now - now % self.qos_window)
            for identity, count in plan.qos_increments.items():
                pipe.hincrby(qos_key, identity, count)
            pipe.expire(qos_key, 2 * self.qos_window)
        # once per strategy and batch, not once per record (spec W21)
        for snapshot_key in sorted({a.snapshot_key for pushed in plan.pushes.values() for a in pushed}):
            if snapshot_key in snapshots:
                pipe.set(snapshot_key, snapshots[snapshot_key], ex=SNAPSHOT_TTL)
        for bucket, ids in plan.delivered.items():
            pipe.sadd(keys.delivered(bucket), *ids)
            pipe.expire(keys.delivered(bucket), DELIVERED_TTL)
