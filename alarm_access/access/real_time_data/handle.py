"""Delivering a batch of real-time messages in this process: records pushed, bad messages dead-lettered.

`RealTimeHandler` is what `-H process` runs inline in the consumer and what a `-H celery` worker runs per
task, so both modes execute one code path. Its contract (the `streaming.Delivery` one):
- `refresh(now)` re-reads the strategies, their tables' topics and the hosts when `refresh_interval` passed
  (first call: at once); a failed refresh keeps the previous routes and returns False;
- `deliver(messages)` flattens every message (one bad message costs only itself: counted, logged with its
  position, dead-lettered), runs the shared record pipeline per strategy group over the batch's points
  (standardize, dedupe by record id, expire, enrich, host status, target scope, priority) and delivers each
  group's records, signal and dedupe state in one Redis transaction, then flushes the dead letters. It
  returns only when all of that is durable; any failure raises `AccessError` and the caller must not commit —
  delivering the batch again is safe: a group already delivered skips its record ids (dedupe, TTL 10 x the
  item's interval).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from alarm_access import metrics
from alarm_access.access.real_time_data.ports import RealTimePorts
from alarm_access.access.real_time_data.routing import Routes, compile_routes, decode, flatten, table_ids
from alarm_access.kernel.config import AccessConfig
from alarm_access.kernel.errors import AccessError, InvalidRecord, SourceUnavailable
from alarm_access.kernel.model import StrategyGroup, Topology
from alarm_access.kernel.stream import DeadLetterSink, StreamMessage
from alarm_access.logs import ctx
from alarm_access.records import pipeline
from alarm_access.records.enrich import TopologyIndex, index_topology
from alarm_access.records.priority import priority_group_keys

logger = logging.getLogger("alarm_access.access.real_time_data")

ACCESS_TYPE = "real_time_data"


class RealTimeHandler:
    """Routes and batch delivery of one process. Not thread-safe."""

    def __init__(self, config: AccessConfig, ports: RealTimePorts) -> None:
        self._settings = config.real_time
        self._ports = ports
        self._routes: Routes | None = None
        self._topology: TopologyIndex = index_topology(Topology())
        self._pipeline = pipeline.PipelineSettings(
            max_time_points=0, disabled_host_states=frozenset(self._settings.disabled_host_states))
        self._next_refresh = 0.0

    @property
    def ready(self) -> bool:
        return self._routes is not None

    @property
    def routes(self) -> Routes | None:
        return self._routes

    def refresh(self, now: float) -> bool:
        if now < self._next_refresh:
            return True
        self._next_refresh = now + self._settings.refresh_interval
        try:
            strategies = self._ports.strategies.load_strategies()
            tables = self._ports.result_tables(sorted(table_ids(strategies)))
            routes, problems = compile_routes(strategies, tables)
            topology = self._ports.strategies.load_topology({group.bk_biz_id for group in routes.groups})
        except AccessError as exc:
            logger.error("real-time strategy refresh failed, keeping the previous routes: %s", exc)
            return False
        for problem in problems:
            logger.warning("real-time strategy item not consumed: %s", problem)
        self._routes, self._topology = routes, index_topology(topology)
        logger.info("real-time strategies loaded", extra=ctx(
            groups=len(routes.groups), topics=sum(len(t) for t in routes.subscriptions.values())))
        return True

    def deliver(self, messages: Sequence[StreamMessage]) -> None:
        """Flatten, push per group, dead-letter (see the module contract)."""
        if self._routes is None:
            raise SourceUnavailable("real-time strategies are not loaded yet")
        started = time.perf_counter()
        points: dict[str, tuple[StrategyGroup, list[dict[str, Any]]]] = {}
        bad: list[tuple[StreamMessage, InvalidRecord]] = []
        skipped = 0
        for message in messages:
            try:
                flat = flatten(decode(message.value), self._routes.by_topic.get(message.topic, {}))
            except InvalidRecord as exc:
                bad.append((message, exc))
                continue
            if flat is None:
                skipped += 1
                continue
            groups, point = flat
            for group in groups:
                points.setdefault(group.key, (group, []))[1].append(point)
        now = int(time.time())
        sink = self._ports.point_sink()
        pushed, drops = 0, Counter[str]()
        for group, group_points in points.values():
            times = {p["time"] for p in group_points}
            # the pipeline walks points newest-first (the data path's order); reversed, it walks them in message
            # order, so detect reads a batch's records in the order they were produced, as the original's did
            result = pipeline.run(
                group, group_points[::-1], now=now, topology_index=self._topology,
                seen_record_ids=sink.read_seen(group, times),
                priority_state=sink.read_priority(priority_group_keys(group)),
                settings=self._pipeline, access_time=time.time())
            sink.deliver(result, group, checkpoint=0, now=now)
            pushed += sum(len(records) for records in result.data.values())
            drops.update(result.drops)
        self._dead_letter(bad)
        _observe(len(messages), bad=len(bad), skipped=skipped, pushed=pushed, drops=drops,
                 seconds=time.perf_counter() - started)

    def _dead_letter(self, bad: list[tuple[StreamMessage, InvalidRecord]]) -> None:
        if not bad:
            return
        assert self._routes is not None  # deliver checked it
        used: dict[str, DeadLetterSink] = {}
        for message, error in bad:
            logger.warning("invalid real-time message sent to the dead-letter topic: %s", error.detail, extra=ctx(
                reason=error.reason, topic=message.topic, partition=message.partition, offset=message.offset))
            bootstrap = self._routes.bootstrap_of(message.topic)
            if bootstrap not in used:
                used[bootstrap] = self._ports.dead_letters_on(bootstrap)
            used[bootstrap].send(message, error.reason, error.detail)
        for dead_letters in used.values():
            dead_letters.flush()


def _observe(messages: int, *, bad: int, skipped: int, pushed: int, drops: Counter[str], seconds: float) -> None:
    metrics.STREAM_MESSAGES.labels(ACCESS_TYPE, "invalid").inc(bad)
    metrics.STREAM_MESSAGES.labels(ACCESS_TYPE, "unrouted").inc(skipped)
    metrics.STREAM_MESSAGES.labels(ACCESS_TYPE, "routed").inc(messages - bad - skipped)
    for reason, count in drops.items():
        metrics.RECORDS_DROPPED.labels(ACCESS_TYPE, reason).inc(count)
    metrics.PUSH_COUNT.labels(ACCESS_TYPE).inc(pushed)
    metrics.STREAM_BATCH_TIME.labels(ACCESS_TYPE).observe(seconds)
    metrics.STREAM_BATCHES.labels(ACCESS_TYPE, "success", "").inc()
    logger.info("real-time batch pushed", extra=ctx(messages=messages, pushed=pushed, invalid=bad,
                                                    unrouted=skipped, seconds=round(seconds, 3)))
