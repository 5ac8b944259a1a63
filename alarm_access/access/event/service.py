"""The `event` access service: Kafka event messages → anomalies in the trigger queues, at least once.

One cycle consumes one batch per stream (one stream per Kafka cluster) and hands it to the delivery, in an
order that is safe to crash in (ARCHITECTURE principle 6):

    poll → deliver (durable, or raise) → mark the batch done → commit offsets by policy

The delivery is the one choice between `-H process` and `-H celery`: `EventHandler` (parse/fan out/push
anomalies idempotently/dead-letter bad messages, in this process) or `CeleryDelivery` (publish the batch as
one task; workers run the same `EventHandler`). A crash anywhere before the commit replays the batch; the
push skips anomaly ids it already delivered, so nothing is lost and nothing is doubled. When delivery fails
(`SourceUnavailable`, `Backpressure`, too many invalid messages) the batch is held in memory, the stream is
paused (the consumer stays in its group) and the batch is retried after a back-off; nothing of it is
committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from alarm_access import metrics
from alarm_access.access.event.batch import TooManyInvalid
from alarm_access.access.event.handle import EventHandler
from alarm_access.access.event.kinds import EventMessage
from alarm_access.access.event.ports import EventPorts, EventStream
from alarm_access.access.event.tasks import CeleryDelivery, EventCeleryPorts
from alarm_access.kernel.config import AccessConfig, HandlerType
from alarm_access.kernel.errors import AccessError, Backpressure
from alarm_access.kernel.ports import Ports
from alarm_access.logs import ctx
from alarm_access.runtime import CycleOutcome, LoopLimits, LoopService, Service

logger = logging.getLogger("alarm_access.access.event")

RETRY_BACKOFF = 2.0


class Delivery(Protocol):
    """Where a consumed batch goes (see the module docstring)."""

    @property
    def ready(self) -> bool:
        """False while a batch cannot be delivered at all (e.g. strategies never loaded)."""
        ...

    def refresh(self, now: float) -> bool:
        """Reload what delivery needs when due; False when that failed (the previous state is kept)."""
        ...

    def deliver(self, messages: Sequence[EventMessage]) -> None:
        """Return once the batch is durably delivered; raise `AccessError` otherwise."""
        ...


@dataclass(slots=True)
class _StreamState:
    stream: EventStream
    held: list[EventMessage] = field(default_factory=list)


class EventAccess:
    """The cycle of the `event` service. Not thread-safe: one loop thread calls `cycle` and `close`."""

    def __init__(self, config: AccessConfig, ports: EventPorts, delivery: Delivery) -> None:
        self._settings = config.event
        self._ports = ports
        self._delivery = delivery
        self._streams = [_StreamState(stream) for stream in ports.event_streams()]

    def cycle(self, now: float) -> CycleOutcome:
        ok = self._delivery.refresh(now)
        if not self._delivery.ready:
            return CycleOutcome(ok=False, next_at=now + RETRY_BACKOFF)
        for state in self._streams:
            ok = self._consume(state) and ok
        return CycleOutcome(ok=ok, next_at=now if ok else now + RETRY_BACKOFF)

    def _consume(self, state: _StreamState) -> bool:
        stream, settings = state.stream, self._settings
        messages: list[EventMessage] = state.held
        try:
            if state.held:  # paused: poll only keeps the membership alive and returns what was prefetched
                state.held.extend(stream.poll(settings.batch_size, 0))
            else:
                messages = stream.poll(settings.batch_size, settings.poll_timeout)
            if messages:
                self._delivery.deliver(messages)
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
        metrics.EVENT_BATCHES.labels("failed", type(exc).__name__).inc()
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

    def close(self) -> None:
        """Commit what was delivered and close the streams, then every other port."""
        try:
            for state in self._streams:
                state.stream.close()
        finally:
            self._ports.close()


def build_event_service(config: AccessConfig, ports: Ports) -> Service:
    """The supervised `event` service. `ports` must implement `EventPorts` (and `EventCeleryPorts` for
    `-H celery`); bootstrap's `AdapterPorts` does.

    Topics are resolved here, so a deployment without any event topic fails at start (`ConfigError`).
    """
    delivery: Delivery
    if config.handler_type == HandlerType.CELERY:
        delivery = CeleryDelivery(cast("EventCeleryPorts", ports).event_publisher())
    else:
        delivery = EventHandler(config, cast("EventPorts", ports))
    access = EventAccess(config, cast("EventPorts", ports), delivery)
    # batches follow each other without a pause; an idle poll waits `poll_timeout` inside the cycle
    limits = LoopLimits(once=config.once, max_cycles=config.max_cycles, max_uptime=config.max_uptime,
                        min_interval=0.0)
    return LoopService(config.access_type.value, access.cycle, access.close, limits)


__all__ = ["TooManyInvalid", "build_event_service"]
