"""Delivering a batch of event messages in this process: anomalies pushed, bad messages dead-lettered.

`EventHandler` is what `-H process` runs inline in the consumer and what a `-H celery` worker runs per task
(`stream_tasks`), so both modes execute one code path. Its contract:
- `refresh(now)` re-reads the strategies and hosts when `refresh_interval` passed (first call: at once);
  a failed refresh keeps the previous routing and returns False; the first successful one also opens the
  dead-letter sink, whose Kafka adapter checks (and creates) the dead-letter topic and logs the outcome;
- `deliver(messages)` parses, fans out and standardizes every message (one bad message costs only itself),
  pushes the anomalies (idempotent by anomaly id, one Redis transaction), then dead-letters the bad
  messages and flushes the producer. It returns only when all of that is durable; any failure raises
  `AccessError` (`SourceUnavailable`, `Backpressure`, `TooManyInvalid`) and the caller must not commit the
  batch — delivering it again later is safe.
"""

from __future__ import annotations

import bisect
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence

from prometheus_client import Histogram

from alarm_access import metrics
from alarm_access.access.event.batch import BatchResult, InvalidRatio, process_batch
from alarm_access.access.event.kinds import EventKind
from alarm_access.access.event.parse import ALL_KINDS
from alarm_access.access.event.ports import EventPorts
from alarm_access.access.event.routing import EVENT_SOURCE, Routing, build_routing
from alarm_access.formats import parse_strategy
from alarm_access.kernel.config import AccessConfig
from alarm_access.kernel.errors import AccessError, InvalidStrategy, SourceUnavailable
from alarm_access.kernel.settings import EventSettings
from alarm_access.kernel.stream import StreamMessage
from alarm_access.logs import ctx
from alarm_access.records.collector import refreeze
from alarm_access.records.enrich import index_topology

logger = logging.getLogger("alarm_access.access.event")


def enabled_kinds(settings: EventSettings) -> frozenset[EventKind]:
    disabled = {EventKind.PING} if not settings.enable_ping else set()
    if not settings.enable_agent:
        disabled.add(EventKind.AGENT)
    return ALL_KINDS - disabled


class EventHandler:
    """Routing state and batch delivery of one process. Not thread-safe."""

    def __init__(self, config: AccessConfig, ports: EventPorts) -> None:
        self._config = config
        self._settings = config.event
        self._ports = ports
        self._kinds = enabled_kinds(config.event)
        self._ratio = InvalidRatio(config.event.max_invalid_ratio, config.event.invalid_window)
        self._routing: Routing | None = None
        self._snapshots: dict[str, str] = {}
        self._next_refresh = 0.0
        self._dead_letters_opened = False

    @property
    def ready(self) -> bool:
        """True once strategies were loaded (a batch can be delivered)."""
        return self._routing is not None

    def refresh(self, now: float) -> bool:
        if now < self._next_refresh:
            return True
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
                    key = self._ports.snapshot_key(strategy.id, strategy.update_time)
                    snapshots[key] = json.dumps(document)
            topology = self._ports.strategies.load_topology({s.bk_biz_id for s in strategies})
        except AccessError as exc:
            logger.error("strategy refresh failed, keeping the previous strategies: %s", exc)
            return False
        self._routing, problems = build_routing(
            strategies, index_topology(topology), snapshot_key=self._ports.snapshot_key,
            disabled_states=self._settings.disabled_host_states, expire_seconds=self._settings.expire_seconds)
        for problem in problems:
            logger.warning("event strategy not used: %s", problem)
        self._snapshots = snapshots
        logger.info("event strategies loaded", extra=ctx(strategies=len(strategies), hosts=len(topology.hosts)))
        # the routing lives until the next refresh: out of the collector's way, a full collection stops the loop
        # for a few ms instead of 40-60 ms
        refreeze()
        if not self._dead_letters_opened:
            # at start, not at the first bad message: opening the sink checks (creates) the dead-letter topic
            self._dead_letters_opened = True
            try:
                self._ports.dead_letters()
            except AccessError as exc:
                logger.error("dead-letter sink not available: %s", exc)
        return True

    def deliver(self, messages: Sequence[StreamMessage]) -> None:
        """Process, push, dead-letter (see the module contract)."""
        if self._routing is None:
            raise SourceUnavailable("event strategies are not loaded yet")
        started = time.perf_counter()
        now = int(time.time())
        result = process_batch(messages, self._routing, now, self._kinds)
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
        times: Counter[int] = Counter(anomaly.time for anomalies in plan.pushes.values() for anomaly in anomalies)
        for event_time, count in times.items():
            observe_many(metrics.EVENT_LATENCY, max(pushed_at - event_time, 0.0), count)
        _observe(messages, result, plan.drops, plan.pushed, time.perf_counter() - started)


def observe_many(histogram: Histogram, amount: float, count: int) -> None:
    """`histogram.observe(amount)` `count` times, in one update (a batch's anomalies share a few event times)."""
    bounds, buckets, total = (getattr(histogram, name, None) for name in ("_upper_bounds", "_buckets", "_sum"))
    if bounds is None or buckets is None or total is None or count < 2:  # not the client this was written for
        for _ in range(count):
            histogram.observe(amount)
        return
    total.inc(amount * count)
    buckets[bisect.bisect_left(bounds, amount)].inc(count)  # the first bound >= amount, as `observe` picks


def _observe(messages: Sequence[StreamMessage], batch: BatchResult, push_drops: Counter[str], pushed: int,
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
    metrics.PUSH_COUNT.labels("event").inc(pushed)
    metrics.EVENT_PROCESS_TIME.observe(seconds)
    metrics.STREAM_BATCHES.labels("event", "success", "").inc()
    logger.info("event batch pushed", extra=ctx(
        messages=len(messages), events=sum(batch.events.values()), anomalies=len(batch.anomalies),
        pushed=pushed, invalid=len(batch.bad),
        drops=",".join(f"{k}:{v}" for k, v in sorted(drops.items())) or "-"))
