"""Ports of the `event` access type: the event stream with commit, dead letters and the anomaly sink.

Adapters: `adapters.kafka` (stream, dead letters), `adapters.redis` (anomaly sink); fakes in
`adapters.memory`. Keep a port's contract in its docstring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from alarm_access.kernel.ports import Ports

if TYPE_CHECKING:
    from alarm_access.access.event.delivery import DeliveryPlan
    from alarm_access.access.event.kinds import EventMessage
    from alarm_access.access.event.standardize import Anomaly


class EventStream(Protocol):
    """Kafka messages of the event topics, with offsets committed only for messages marked `done`.

    At-least-once contract: a message is committed only after `done(...)` named it (its anomalies were pushed
    and, if bad, it was dead-lettered), so a crash replays every message not yet done. Every call is bounded
    by a timeout; a broker that cannot be reached raises `SourceUnavailable`.
    """

    def poll(self, max_messages: int, timeout: float) -> list[EventMessage]:
        """Up to `max_messages` messages in partition order (waits at most `timeout` seconds)."""
        ...

    def done(self, messages: Iterable[EventMessage]) -> None:
        """Mark messages processed; their offsets are committed by the commit policy or at close."""
        ...

    def maybe_commit(self, now: float) -> None:
        """Commit done offsets when the policy says so (every N messages or T seconds)."""
        ...

    def pause(self) -> None:
        """Stop fetching (backpressure); `poll` keeps the group membership alive and returns what was fetched."""
        ...

    def resume(self) -> None: ...

    def close(self) -> None:
        """Commit done offsets, leave the group, release the client. Safe to call twice."""
        ...


class DeadLetterSink(Protocol):
    def send(self, message: EventMessage, reason: str, detail: str) -> None:
        """Queue a copy of `message` for the dead-letter topic, the error in its headers."""
        ...

    def flush(self) -> None:
        """Wait until every queued copy is acknowledged; `SourceUnavailable` if one was not."""
        ...

    def close(self) -> None: ...


class AnomalySink(Protocol):
    def push(self, anomalies: Sequence[Anomaly], snapshots: Mapping[str, str], now: int) -> DeliveryPlan:
        """Deliver anomalies to the trigger queues in one transaction, idempotently (an anomaly id already
        delivered is skipped); `snapshots` maps strategy snapshot keys to the strategy JSON. Raises
        `SourceUnavailable` or `Backpressure`; then nothing was written."""
        ...


class EventPorts(Ports, Protocol):
    """The ports of the event access type (implemented by `bootstrap.AdapterPorts`)."""

    def event_streams(self) -> list[EventStream]:
        """One stream per Kafka cluster serving the active event data ids; `ConfigError` when none is set."""
        ...

    def dead_letters(self) -> DeadLetterSink: ...

    def anomaly_sink(self) -> AnomalySink: ...

    def strategy_documents(self) -> list[dict[str, Any]]:
        """Every stored strategy in the original cached JSON format (the strategy snapshot content)."""
        ...
