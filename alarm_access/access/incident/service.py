"""The `incident` access service: sync messages from the queue → the incident store, at least once, in one
transaction each, acked only after the transaction committed.

One cycle handles up to `batch_size` messages, one at a time (the queue's order; `prefetch` bounds what the
broker sends ahead). Per message:

    parse → (bad: dead-letter with the reason, go on) → store.apply (one transaction) → ack

* a store that is unavailable (`SourceUnavailable`, e.g. the database is down): the message is held, unacked,
  and retried after a back-off that doubles up to `retry_backoff_max`, heartbeats kept meanwhile — it is not
  requeued, so the queue's delivery limit is left for messages that crash consumers;
* a lost broker connection: what was not acked is redelivered by the broker; a message whose transaction
  committed but whose ack was lost comes back as a `duplicate` (same version) and is acked then;
* the store refusing a message (`InvalidRecord`, e.g. a value the column cannot hold): dead-lettered.
"""

from __future__ import annotations

import logging
import time
from typing import cast

from alarm_access import metrics
from alarm_access.access.incident.aiops import store_for
from alarm_access.access.incident.message import STATUS_ORDER, parse_message
from alarm_access.access.incident.ports import (
    Delivery,
    IncidentCensus,
    IncidentPorts,
    IncidentSource,
    IncidentStore,
)
from alarm_access.access.incident.tasks import PublishingStore
from alarm_access.kernel.config import AccessConfig, HandlerType
from alarm_access.kernel.errors import InvalidRecord, SourceUnavailable
from alarm_access.kernel.ports import Ports
from alarm_access.kernel.settings import IncidentSettings
from alarm_access.logs import ctx
from alarm_access.runtime import CycleOutcome, LoopLimits, LoopService, Service
from alarm_access.stream_tasks import PublisherPorts

logger = logging.getLogger("alarm_access.access.incident")

#: seconds between two heartbeats while a message is held
KEEPALIVE_EVERY = 1.0
#: seconds between two counts of the stored incidents by status (the `alarm_access_incidents` gauge)
CENSUS_EVERY = 30.0


class IncidentConsumer:
    """The cycle of the incident service. Not thread-safe: one loop thread calls `cycle` and `close`."""

    def __init__(self, source: IncidentSource, store: IncidentStore, settings: IncidentSettings,
                 census: IncidentCensus | None = None) -> None:
        self._source = source
        self._store = store
        self._settings = settings
        self._census = census
        self._census_at = 0.0
        self._held: Delivery | None = None
        self._attempts = 0
        self._retry_at = 0.0
        self._reconnects = 0

    @property
    def holding(self) -> bool:
        return self._held is not None

    def cycle(self, now: float) -> CycleOutcome:
        self._count_incidents(now)
        try:
            if self._held is not None:
                if now < self._retry_at:
                    self._source.keepalive()
                    return CycleOutcome(ok=False, next_at=min(self._retry_at, now + KEEPALIVE_EVERY))
                if not self._handle(self._held, now):
                    return CycleOutcome(ok=False, next_at=self._retry_at)
            for _ in range(self._settings.batch_size):
                delivery = self._source.receive(self._settings.poll_timeout)
                if delivery is None:
                    break
                if not self._handle(delivery, now):
                    return CycleOutcome(ok=False, next_at=self._retry_at)
        except SourceUnavailable as exc:
            return self._broker_failed(exc, now)
        self._reconnects = 0
        return CycleOutcome(ok=True, next_at=now)

    def _count_incidents(self, now: float) -> None:
        """Refresh the incidents-by-status gauge every `CENSUS_EVERY` seconds; a failed count only logs (the
        messages do not wait for it) and is tried again at the next period."""
        if self._census is None or now < self._census_at:
            return
        self._census_at = now + CENSUS_EVERY
        try:
            counts = self._census.count_by_status()
        except SourceUnavailable as exc:
            logger.warning("counting incidents by status failed: %s", exc, extra=ctx(error=type(exc).__name__))
            return
        for status in {*STATUS_ORDER, *counts}:
            metrics.INCIDENTS.labels(status).set(counts.get(status, 0))

    def _broker_failed(self, exc: SourceUnavailable, now: float) -> CycleOutcome:
        """The broker connection failed: drop the held message (the broker redelivers it), back off."""
        if self._held is not None:
            self._held = None
            self._attempts = 0
        self._reconnects += 1
        backoff = self._backoff(self._reconnects)
        logger.error("incident queue unavailable, reconnecting in %.1fs: %s", backoff, exc,
                     extra=ctx(error=type(exc).__name__))
        return CycleOutcome(ok=False, next_at=now + backoff)

    def _backoff(self, attempts: int) -> float:
        settings = self._settings
        return float(min(settings.retry_backoff * 2 ** min(attempts - 1, 30), settings.retry_backoff_max))

    def _handle(self, delivery: Delivery, now: float) -> bool:
        """True when the message is done with (acked or dead-lettered); False when it is held for a retry."""
        try:
            message = parse_message(delivery.body)
        except InvalidRecord as exc:
            self._dead_letter(delivery, exc)
            return True
        started = time.perf_counter()
        try:
            outcome = self._store.apply(message)
        except InvalidRecord as exc:
            self._dead_letter(delivery, InvalidRecord(f"store_{exc.reason}", exc.detail))
            return True
        except SourceUnavailable as exc:
            self._held, self._attempts = delivery, self._attempts + 1
            backoff = self._backoff(self._attempts)
            self._retry_at = now + backoff
            metrics.INCIDENT_MESSAGES.labels("retried").inc()
            logger.warning("incident store unavailable, message held, retrying in %.1fs: %s", backoff, exc, extra=ctx(
                incident_id=message.incident_id, attempt=self._attempts, error=type(exc).__name__))
            return False
        metrics.INCIDENT_APPLY_TIME.observe(time.perf_counter() - started)
        self._source.ack(delivery)
        self._held, self._attempts = None, 0
        metrics.INCIDENT_MESSAGES.labels(outcome.value).inc()
        logger.debug("incident message stored", extra=ctx(incident_id=message.incident_id, outcome=outcome.value,
                                                         sync_type=message.sync_type, alerts=len(message.alerts)))
        return True

    def _dead_letter(self, delivery: Delivery, exc: InvalidRecord) -> None:
        self._source.dead_letter(delivery, exc.reason, exc.detail[:500])
        if self._held is delivery:
            self._held, self._attempts = None, 0
        metrics.INCIDENT_MESSAGES.labels("dead_lettered").inc()
        metrics.RECORDS_DROPPED.labels("incident", exc.reason).inc()
        logger.warning("incident message dead-lettered: %s", exc, extra=ctx(reason=exc.reason, at=delivery.position))

    def close(self) -> None:
        """Close the source (unacked messages go back to the queue), then the store."""
        try:
            self._source.close()
        finally:
            self._store.close()


def build_incident_service(config: AccessConfig, ports: Ports) -> Service:
    """The supervised `incident` service; `ports` must implement `IncidentPorts` (and `PublisherPorts` for
    `-H celery`: the consumer then publishes each message as a task, `access.incident.tasks`)."""
    incident_ports = cast("IncidentPorts", ports)
    store: IncidentStore
    if config.handler_type == HandlerType.CELERY:
        store = PublishingStore(cast("PublisherPorts", ports).stream_publisher())
    else:
        store = store_for(incident_ports)
    consumer = IncidentConsumer(incident_ports.incident_source(), store, config.incident,
                                census=incident_ports.incident_census())

    def close() -> None:
        try:
            consumer.close()
        finally:
            incident_ports.close()

    limits = LoopLimits(once=config.once, max_cycles=config.max_cycles, max_uptime=config.max_uptime,
                        min_interval=0.0)
    return LoopService(config.access_type.value, consumer.cycle, close, limits)
