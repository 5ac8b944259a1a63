"""The `event` access service: Kafka event messages → anomalies in the trigger queues, at least once.

One cycle consumes one batch per stream (one stream per Kafka cluster) and handles it in an order that is
safe to crash in (ARCHITECTURE principle 6):

    poll → parse/fan out/standardize (per-message isolation) → push anomalies (idempotent, one transaction)
         → dead-letter the bad messages (flushed) → mark the batch done → commit offsets by policy

A crash anywhere before the commit replays the batch; the push skips anomaly ids it already delivered, so
nothing is lost and nothing is doubled. When the push or the dead-letter flush fails (`SourceUnavailable`,
`Backpressure`) or too many messages are invalid, the batch is held in memory, the stream is paused (the
consumer stays in its group) and the batch is retried after a back-off; nothing of it is committed.
Strategies and hosts are re-read every `refresh_interval` seconds.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

from alarm_access import metrics
from alarm_access.config import AccessConfig, EventSettings
from alarm_access.errors import AccessError, Backpressure, InvalidStrategy
from alarm_access.events.fanout import EVENT_SOURCE, Routing, build_routing
from alarm_access.events.kinds import EventKind, EventMessage
from alarm_access.events.parse import ALL_KINDS
from alarm_access.formats import parse_strategy
from alarm_access.handlers.event_batch import BatchResult, InvalidRatio, TooManyInvalid, process_batch
from alarm_access.logs import ctx
from alarm_access.ports import EventPorts, EventStream, Ports
from alarm_access.runtime import CycleOutcome, LoopLimits, LoopService, Service
from alarm_access.stages.enrich import index_topology

logger = logging.getLogger("alarm_access.access.event")

RETRY_BACKOFF = 2.0


def enabled_kinds(settings: EventSettings) -> frozenset[EventKind]:
    disabled = {EventKind.PING} if not settings.enable_ping else set()
    if not settings.enable_agent:
        disabled.add(EventKind.AGENT)
    return ALL_KINDS - disabled


@dataclass(slots=True)
class _StreamState:
    stream: EventStream
    held: list[EventMessage] = field(default_factory=list)


class EventAccess:
    """The cycle of the `event` service. Not thread-safe: one loop thread calls `cycle` and `close`."""

    def __init__(self, config: AccessConfig, ports: EventPorts) -> None:
        self._config = config
        self._settings = config.event
        self._ports = ports
        self._kinds = enabled_kinds(config.event)
        self._streams = [_StreamState(stream) for stream in ports.event_streams()]
        self._ratio = InvalidRatio(config.event.max_invalid_ratio, config.event.invalid_window)
        self._routing: Routing | None = None
        self._snapshots: dict[str, str] = {}
        self._next_refresh = 0.0

    def cycle(self, now: float) -> CycleOutcome:
        ok = True
        if now >= self._next_refresh:
            ok = self._refresh(now)
        if self._routing is None:
            return CycleOutcome(ok=False, next_at=now + RETRY_BACKOFF)
        for state in self._streams:
            ok = self._consume(state, self._routing) and ok
        return CycleOutcome(ok=ok, next_at=now if ok else now + RETRY_BACKOFF)

    def _refresh(self, now: float) -> bool:
        self._next_refresh = now + self._settings.refresh_interval
        try:
            documents = self._ports.strategy_documents()
            strategies, snapshots = [], {}
            for document in documents:
                try:
                    strategy = parse_strategy(document)
                except InvalidStrategy as error:
                    logger.warning("skipping invalid stored strategy: %s", error)
                    continue
                if strategy.items and strategy.items[0].query_configs[0].source == EVENT_SOURCE:
                    strategies.append(strategy)
                    key = f"{self._config.key_prefix}.cache.strategy.snapshot.{strategy.id}.{strategy.update_time}"
                    snapshots[key] = json.dumps(document)
            topology = self._ports.strategies.load_topology({s.bk_biz_id for s in strategies})
        except AccessError as exc:
            logger.error("strategy refresh failed, keeping the previous strategies: %s", exc)
            return False
        self._routing, problems = build_routing(
            strategies, index_topology(topology), snapshot_prefix=self._config.key_prefix,
            disabled_states=self._settings.disabled_host_states, expire_seconds=self._settings.expire_seconds)
        for problem in problems:
            logger.warning("event strategy not used: %s", problem)
        self._snapshots = snapshots
        logger.info("event strategies loaded", extra=ctx(strategies=len(strategies), hosts=len(topology.hosts)))
        return True

    def _consume(self, state: _StreamState, routing: Routing) -> bool:
        stream, settings = state.stream, self._settings
        messages: list[EventMessage] = state.held
        try:
            if state.held:  # paused: poll only keeps the membership alive and returns what was prefetched
                state.held.extend(stream.poll(settings.batch_size, 0))
            else:
                messages = stream.poll(settings.batch_size, settings.poll_timeout)
            if messages:
                self._handle(messages, routing)
                stream.done(messages)
                if state.held:
                    state.held = []
                    stream.resume()
                    logger.info("held batch delivered, stream resumed")
            stream.maybe_commit(time.time())
        except AccessError as exc:
            return self._hold(state, messages, exc)
        return True

    def _hold(self, state: _StreamState, messages: list[EventMessage], exc: AccessError) -> bool:
        if isinstance(exc, Backpressure):
            metrics.BACKPRESSURE.labels("event").inc()
        metrics.EVENT_PROCESS_COUNT.labels("__total__", "failed", type(exc).__name__).inc()
        if messages and not state.held:
            state.held = messages
            state.stream.pause()
        if not messages:
            logger.error("event stream failed: %s", exc, extra=ctx(error=type(exc).__name__))
            return False
        first = messages[0]
        logger.error("event batch not delivered, holding it and retrying: %s", exc, extra=ctx(
            error=type(exc).__name__, held=len(state.held), at=f"{first.topic}/{first.partition}@{first.offset}"))
        return False

    def _handle(self, messages: list[EventMessage], routing: Routing) -> None:
        """Process, push, dead-letter; raises `AccessError` (nothing committed) when any step fails."""
        started = time.perf_counter()
        now = int(time.time())
        result = process_batch(messages, routing, now, self._kinds)
        self._ratio.check(len(messages), len(result.bad))
        plan = self._ports.anomaly_sink().push(result.anomalies, self._snapshots, now)
        if result.bad:
            dead_letters = self._ports.dead_letters()
            for bad in result.bad:
                logger.warning("invalid event message sent to the dead-letter topic: %s", bad.detail, extra=ctx(
                    reason=bad.reason, topic=bad.message.topic, partition=bad.message.partition,
                    offset=bad.message.offset))
                dead_letters.send(bad.message, bad.reason, bad.detail)
            dead_letters.flush()
        self._ratio.accept(len(messages), len(result.bad))
        pushed_at = time.time()
        for anomalies in plan.pushes.values():
            for anomaly in anomalies:
                metrics.EVENT_LATENCY.observe(max(pushed_at - anomaly.time, 0.0))
        self._observe(messages, result, plan.drops, plan.pushed, time.perf_counter() - started)

    @staticmethod
    def _observe(messages: list[EventMessage], batch: BatchResult, push_drops: Counter[str], pushed: int,
                 seconds: float) -> None:
        drops = batch.drops + push_drops
        metrics.EVENT_MESSAGES.labels("invalid").inc(len(batch.bad))
        metrics.EVENT_MESSAGES.labels("ignored").inc(batch.ignored)
        metrics.EVENT_MESSAGES.labels("parsed").inc(len(messages) - len(batch.bad) - batch.ignored)
        for data_id, count in batch.events.items():
            metrics.EVENT_PULL_COUNT.labels(str(data_id)).inc(count)
        for bad in batch.bad:
            metrics.EVENT_DEAD_LETTERS.labels(bad.reason).inc()
        for reason, count in drops.items():
            metrics.RECORDS_DROPPED.labels("event", reason).inc(count)
        metrics.PUSH_COUNT.labels("__total__", "event").inc(pushed)
        metrics.EVENT_PROCESS_TIME.labels("__total__").observe(seconds)
        metrics.EVENT_PROCESS_COUNT.labels("__total__", "success", "").inc()
        logger.info("event batch pushed", extra=ctx(
            messages=len(messages), events=sum(batch.events.values()), anomalies=len(batch.anomalies),
            pushed=pushed, invalid=len(batch.bad),
            drops=",".join(f"{k}:{v}" for k, v in sorted(drops.items())) or "-"))

    def close(self) -> None:
        """Commit what was delivered and close the streams, then every other port."""
        try:
            for state in self._streams:
                state.stream.close()
        finally:
            self._ports.close()


def build_event_service(config: AccessConfig, ports: Ports) -> Service:
    """The supervised `event` service. `ports` must implement `EventPorts` (bootstrap's `AdapterPorts` does).

    Topics are resolved here, so a deployment without any event topic fails at start (`ConfigError`).
    """
    access = EventAccess(config, cast("EventPorts", ports))
    # batches follow each other without a pause; an idle poll waits `poll_timeout` inside the cycle
    limits = LoopLimits(once=config.once, max_cycles=config.max_cycles, max_uptime=config.max_uptime,
                        min_interval=0.0)
    return LoopService(config.access_type.value, access.cycle, access.close, limits)


__all__ = ["TooManyInvalid", "build_event_service"]
