"""Fakes of the `event` access type's sinks and its port root: `MemoryDeadLetters` (a `DeadLetterSink` with
the copies of `adapters.kafka.dlq.KafkaDeadLetters`, written to a `MemoryLog`), `MemoryAnomalySink` (an
`AnomalySink` with the semantics of `adapters.redis.events.RedisAnomalySink`), `MemoryStrategyRepository` and
`MemoryEventPorts` (the `EventPorts` of an in-process test, wired to these fakes and `MemoryEventStream`).

Held to the real adapters' assertions by `tests/adapters/memory/test_event_stream_contract.py` (dead letters)
and `tests/adapters/memory/test_anomaly_sink_contract.py` (anomaly sink).
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from alarm_access.access.event.delivery import DeliveryPlan, DeliveryState, dedupe_bucket, plan_delivery
from alarm_access.access.event.standardize import Anomaly
from alarm_access.adapters.memory.event import LogRecord, MemoryEventStream, MemoryLog
from alarm_access.formats import parse_strategy_documents
from alarm_access.kernel.errors import AccessError, Backpressure, ConfigError
from alarm_access.kernel.model import Strategy, Topology
from alarm_access.kernel.stream import MessageStream, StreamMessage

logger = logging.getLogger("alarm_access.adapters.memory.event")

StrategyItem = tuple[int, int]
#: the same truncation of the error text as `adapters.kafka.dlq.MAX_ERROR_TEXT`
MAX_ERROR_TEXT = 2000


def dead_letter_headers(message: StreamMessage, reason: str, detail: str) -> dict[str, bytes]:
    """The headers `KafkaDeadLetters` puts on a dead-letter copy."""
    return {
        "x-error-reason": reason.encode(),
        "x-error": detail[:MAX_ERROR_TEXT].encode("utf-8", "replace"),
        "x-original-topic": message.topic.encode(),
        "x-original-partition": str(message.partition).encode(),
        "x-original-offset": str(message.offset).encode(),
        "x-data-id": str(message.data_id).encode(),
    }


class MemoryDeadLetters:
    """A `DeadLetterSink` producing to `topic` of a `MemoryLog` (created with one partition if missing).

    `send` queues a copy (the original value, key `topic/partition/offset`, `dead_letter_headers`); `flush`
    appends the queued copies to the topic. While `fail_flush` is set, `flush` raises it and the queued
    copies are lost (as copies whose delivery failed): the caller must not commit and sends them again.
    `close` appends what is queued unless `fail_flush` is set, never raises, and is idempotent; `send`
    after close raises `RuntimeError`. `flushes` counts successful flushes.
    """

    def __init__(self, log: MemoryLog, topic: str) -> None:
        self.log, self.topic = log, topic
        self.fail_flush: AccessError | None = None
        self.flushes = 0
        self.closed = False
        self._queued: list[LogRecord] = []
        if not log.partitions_of(topic):
            log.create_topic(topic)

    @property
    def queued(self) -> int:
        return len(self._queued)

    def send(self, message: StreamMessage, reason: str, detail: str) -> None:
        if self.closed:
            raise RuntimeError("MemoryDeadLetters used after close()")
        key = f"{message.topic}/{message.partition}/{message.offset}".encode()
        self._queued.append(LogRecord(message.value, key, dead_letter_headers(message, reason, detail)))

    def flush(self) -> None:
        queued, self._queued = self._queued, []
        if self.fail_flush is not None:
            raise self.fail_flush
        for record in queued:
            self.log.produce(self.topic, record.value, key=record.key, headers=record.headers)
        self.flushes += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.flush()
        except AccessError as exc:
            logger.error("dead-letter copies not acknowledged at close: %s", exc)




class MemoryAnomalySink:
    """An `AnomalySink` keeping the trigger hand-off in dictionaries (TTLs are not modelled).

    `push` does what `RedisAnomalySink.push` does, all or nothing: an empty batch returns an empty plan;
    otherwise it raises, writing nothing, the exception in `fail_next_push` (once, then cleared) or in
    `fail_push` (while set), or `Backpressure` when the anomaly list of any `(strategy_id, item_id)` of the
    batch already holds more than `max_queue_length` lines. Then `plan_delivery` decides from the stored
    state (delivered ids of the batch's dedupe buckets, priority hashes, last checkpoints, QoS counts of the
    current window when `qos_enabled`) and every write of the plan is applied.

    Kept: `lists` (anomalies per strategy item, oldest first: the reverse of the Redis list), `signal`,
    `check_results`, `checkpoints`, `priority`, `qos_counts`, `snapshots`, `delivered` (delivery keys per
    bucket) and
    `plans` (every plan returned by a push that wrote).
    """

    def __init__(self, *, max_queue_length: int = 1_000_000, qos_enabled: bool = False, qos_threshold: int = 3,
                 qos_window: int = 300) -> None:
        self.max_queue_length = max_queue_length
        self.qos_enabled, self.qos_threshold, self.qos_window = qos_enabled, qos_threshold, max(qos_window, 1)
        self.fail_next_push: AccessError | None = None
        self.fail_push: AccessError | None = None
        self.lists: dict[StrategyItem, list[Anomaly]] = {}
        self.signal: list[str] = []
        self.check_results: dict[tuple[int, int, str, int], set[int]] = {}
        self.checkpoints: dict[StrategyItem, dict[str, int]] = {}
        self.priority: dict[str, dict[str, str]] = {}
        self.qos_counts: dict[int, Counter[str]] = {}
        self.snapshots: dict[str, str] = {}
        self.delivered: dict[int, set[str]] = {}
        self.plans: list[DeliveryPlan] = []

    def anomaly_ids(self) -> list[str]:
        """Every pushed anomaly id, list by list in delivery order (a duplicate would appear twice)."""
        return [a.anomaly_id for key in sorted(self.lists) for a in self.lists[key]]

    def push(self, anomalies: Sequence[Anomaly], snapshots: Mapping[str, str], now: int) -> DeliveryPlan:
        if not anomalies:
            return DeliveryPlan()
        if self.fail_next_push is not None:
            failure, self.fail_next_push = self.fail_next_push, None
            raise failure
        if self.fail_push is not None:
            raise self.fail_push
        for pair in dict.fromkeys((a.strategy_id, a.item_id) for a in anomalies):
            length = len(self.lists.get(pair, ()))
            if length > self.max_queue_length:
                raise Backpressure(f"detect.anomaly.list.{pair[0]}.{pair[1]} holds {length} anomalies "
                                   f"(limit {self.max_queue_length})")
        window = now - now % self.qos_window
        buckets = {dedupe_bucket(a.time) for a in anomalies}
        groups = {a.priority_group_key for a in anomalies if a.priority is not None and a.priority_group_key}
        state = DeliveryState(
            delivered=frozenset(i for b in buckets for i in self.delivered.get(b, ())),
            priority={g: dict(self.priority.get(g, {})) for g in groups},
            checkpoints={pair: dict(fields) for pair, fields in self.checkpoints.items()},
            qos_counts=dict(self.qos_counts.get(window, {})) if self.qos_enabled else None)
        plan = plan_delivery(anomalies, state, now, self.qos_threshold)
        self._write(plan, snapshots, window)
        self.plans.append(plan)
        return plan

    def _write(self, plan: DeliveryPlan, snapshots: Mapping[str, str], window: int) -> None:
        for pair, pushed in plan.pushes.items():
            self.lists.setdefault(pair, []).extend(pushed)
            for a in pushed:
                self.check_results.setdefault((a.strategy_id, a.item_id, a.md5, a.level), set()).add(a.time)
        for pair, updates in plan.checkpoints.items():
            if updates:
                self.checkpoints.setdefault(pair, {}).update(updates)
        self.signal.extend(f"{sid}.{iid}" for sid, iid in plan.pushes)
        for write in plan.priority_writes:
            fields = self.priority.setdefault(write.group_key, {})
            fields.update(write.updates)
            for name in write.deletions:
                fields.pop(name, None)
        if plan.qos_increments:
            self.qos_counts.setdefault(window, Counter()).update(plan.qos_increments)
        for key in {a.snapshot_key for pushed in plan.pushes.values() for a in pushed}:
            if key in snapshots:
                self.snapshots[key] = snapshots[key]
        for bucket, ids in plan.delivered.items():
            self.delivered.setdefault(bucket, set()).update(ids)


class MemoryStrategyRepository:
    """A `StrategyRepository` over strategy documents (the original JSON) and one `Topology`."""

    def __init__(self, documents: Sequence[Mapping[str, Any]] = (), topology: Topology | None = None) -> None:
        self.documents = [copy.deepcopy(dict(d)) for d in documents]
        self.topology = topology or Topology()

    def load_strategies(self) -> list[Strategy]:
        """The enabled strategies of the documents that parse (the others are skipped)."""
        strategies, _errors = parse_strategy_documents(copy.deepcopy(self.documents))
        return [s for s in strategies if s.is_enabled]

    def load_topology(self, bk_biz_ids: Collection[int]) -> Topology:
        ids = set(bk_biz_ids)
        t = self.topology
        return Topology(hosts=tuple(h for h in t.hosts if h.bk_biz_id in ids),
                        service_instances=tuple(s for s in t.service_instances if s.bk_biz_id in ids),
                        dynamic_groups=tuple(g for g in t.dynamic_groups if g.bk_biz_id in ids))


class MemoryEventPorts:
    """`EventPorts` over the memory fakes. `streams` is what `event_streams()` returns (`ConfigError` when
    empty); `restart()` replaces every stream by its `reopen()` (the process restarted after a crash or a
close) and a closed `MemoryDeadLetters` by a new one on the same topic.
    `close` closes the dead letters (not the streams: their owner, the event service, closes them)."""

    def __init__(self, streams: Sequence[MemoryEventStream], dead_letters: MemoryDeadLetters,
                 sink: MemoryAnomalySink, repository: MemoryStrategyRepository, *, key_prefix: str = "memory") -> None:
        self.streams = list(streams)
        self.dead = dead_letters
        self.sink = sink
        self.repository = repository
        self.key_prefix = key_prefix
        self.closed = False

    @property
    def strategies(self) -> MemoryStrategyRepository:
        return self.repository

    def snapshot_key(self, strategy_id: int, update_time: int) -> str:
        return f"{self.key_prefix}.cache.strategy.snapshot.{strategy_id}.{update_time}"

    def event_streams(self) -> list[MessageStream]:
        if not self.streams:
            raise ConfigError("no event stream configured")
        return list(self.streams)

    def dead_letters(self) -> MemoryDeadLetters:
        return self.dead

    def anomaly_sink(self) -> MemoryAnomalySink:
        return self.sink

    def strategy_documents(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.repository.documents)

    def restart(self) -> list[MemoryEventStream]:
        self.streams = [stream.reopen() for stream in self.streams]
        if self.dead.closed:
            self.dead = MemoryDeadLetters(self.dead.log, self.dead.topic)
        self.closed = False
        return list(self.streams)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.dead.close()
