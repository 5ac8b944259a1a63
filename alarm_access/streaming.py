"""The consume loop of the Kafka-based access types (`event`, `real_time_data`), written once.

One cycle consumes one batch per stream (one stream per Kafka cluster) and hands it to the access type's
`Delivery`, in an order that is safe to crash in (ARCHITECTURE principle 6):

    poll → deliver (durable, or raise) → mark the batch done → commit offsets by policy

A crash anywhere before the commit replays the batch; deliveries are idempotent (they skip what they already
wrote), so nothing is lost and nothing is doubled. When delivery fails (`SourceUnavailable`, `Backpressure`,
too many invalid messages) the batch is held in memory, the stream is paused (the consumer stays in its
group, so its partitions do not move) and the batch is retried after a back-off; nothing of it is committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from alarm_access import metrics
from alarm_access.kernel.errors import AccessError, Backpressure
from alarm_access.kernel.stream import MessageStream, StreamMessage
from alarm_access.logs import ctx
from alarm_access.runtime import CycleOutcome

logger = logging.getLogger("alarm_access.streaming")

#: seconds between two attempts to deliver a held batch
RETRY_BACKOFF = 2.0


class Delivery(Protocol):
    """Where a consumed batch goes: handled in this process, or published as one Celery task."""

    @property
    def ready(self) -> bool:
        """False while a batch cannot be delivered at all (e.g. strategies never loaded)."""
        ...

    def refresh(self, now: float) -> bool:
        """Reload what delivery needs when due; False when that failed (the previous state is kept)."""
        ...

    def deliver(self, messages: Sequence[StreamMessage]) -> None:
        """Return once the batch is durably delivered; raise `AccessError` otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class Polling:
    batch_size: int
    poll_timeout: float


@dataclass(slots=True)
class _StreamState:
    stream: MessageStream
    held: list[StreamMessage] = field(default_factory=list)


class StreamAccess:
    """The cycle of a Kafka-based service. Not thread-safe: one loop thread calls `cycle` and `close`.

    `streams` is read at every cycle, so an access type whose subscriptions change (`real_time_data`) can
    add and remove streams between cycles; `close_ports` runs after every stream is closed."""

    def __init__(self, access_type: str, streams: Callable[[], Sequence[MessageStream]], delivery: Delivery,
                 polling: Polling, close_ports: Callable[[], None]) -> None:
        self._access_type = access_type
        self._streams = streams
        self._delivery = delivery
        self._polling = polling
        self._close_ports = close_ports
        self._states: dict[int, _StreamState] = {}

    def cycle(self, now: float) -> CycleOutcome:
        ok = self._delivery.refresh(now)
        if not self._delivery.ready:
            return CycleOutcome(ok=False, next_at=now + RETRY_BACKOFF)
        streams = self._streams()
        if not streams:  # nothing subscribed (yet): wait like an idle poll would, do not spin
            return CycleOutcome(ok=ok, next_at=now + self._polling.poll_timeout)
        live = {id(stream) for stream in streams}
        self._states = {key: state for key, state in self._states.items() if key in live}
        for stream in streams:
            state = self._states.setdefault(id(stream), _StreamState(stream))
            ok = self._consume(state) and ok
        return CycleOutcome(ok=ok, next_at=now if ok else now + RETRY_BACKOFF)

    def _consume(self, state: _StreamState) -> bool:
        stream, polling = state.stream, self._polling
        messages: list[StreamMessage] = state.held
        try:
            if state.held:  # paused: poll only keeps the membership alive and returns what was prefetched
                state.held.extend(stream.poll(polling.batch_size, 0))
            else:
                messages = stream.poll(polling.batch_size, polling.poll_timeout)
            if messages:
                self._delivery.deliver(messages)
                stream.done(messages)
                if state.held:
                    state.held = []
                    stream.resume()
                    logger.info("held batch delivered, stream resumed", extra=ctx(access=self._access_type))
            stream.maybe_commit(time.time())
        except AccessError as exc:
            return self._hold(state, messages, exc)
        return True

    def _hold(self, state: _StreamState, messages: list[StreamMessage], exc: AccessError) -> bool:
        if isinstance(exc, Backpressure):
            metrics.BACKPRESSURE.labels(self._access_type).inc()
        metrics.STREAM_BATCHES.labels(self._access_type, "failed", type(exc).__name__).inc()
        if messages and not state.held:
            state.held = messages
            state.stream.pause()
        if not messages:
            logger.error("%s stream failed: %s", self._access_type, exc, extra=ctx(error=type(exc).__name__))
            return False
        logger.error("%s batch not delivered, holding it and retrying: %s", self._access_type, exc, extra=ctx(
            error=type(exc).__name__, held=len(state.held), at=messages[0].position))
        return False

    def close(self) -> None:
        """Commit what was delivered and close the streams, then every other port."""
        try:
            for stream in self._streams():
                stream.close()
        finally:
            self._close_ports()
