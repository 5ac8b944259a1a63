"""Ports of the `event` access type: the anomaly sink, plus the message stream and dead letters it shares with
`real_time_data` (`kernel.stream`).

Adapters: `adapters.kafka` (stream, dead letters), `adapters.redis` (anomaly sink); fakes in
`adapters.memory`. Keep a port's contract in its docstring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from alarm_access.kernel.ports import Ports
from alarm_access.kernel.stream import DeadLetterSink, MessageStream

if TYPE_CHECKING:
    from alarm_access.access.event.delivery import DeliveryPlan
    from alarm_access.access.event.standardize import Anomaly


class AnomalySink(Protocol):
    def push(self, anomalies: Sequence[Anomaly], snapshots: Mapping[str, str], now: int) -> DeliveryPlan:
        """Deliver anomalies to the trigger queues in one transaction, idempotently (an anomaly id already
        delivered is skipped); `snapshots` maps strategy snapshot keys to the strategy JSON. Raises
        `SourceUnavailable` or `Backpressure`; then nothing was written."""
        ...


class EventPorts(Ports, Protocol):
    """The ports of the event access type (implemented by `bootstrap.AdapterPorts`)."""

    def event_streams(self) -> list[MessageStream]:
        """One stream per Kafka cluster serving the active event data ids; `ConfigError` when none is set."""
        ...

    def dead_letters(self) -> DeadLetterSink: ...

    def anomaly_sink(self) -> AnomalySink: ...

    def strategy_documents(self) -> list[dict[str, Any]]:
        """Every stored strategy in the original cached JSON format (the strategy snapshot content)."""
        ...
