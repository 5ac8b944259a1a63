"""Ports of the `alert` access type: the event producer, the raw-body dead-letter sink and the diff-state store.

Adapters: `adapters.kafka.alerts` (producer and dead letters), `adapters.redis.alert_state` (states);
fakes for unit tests in `tests/access/alert/fakes.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from alarm_access.access.alert.diff import AlertState
from alarm_access.kernel.model import Host
from alarm_access.kernel.ports import Ports


class EventProducer(Protocol):
    def send(self, events: Sequence[tuple[str, bytes]]) -> None:
        """Produce `(key, value)` pairs and return only once the broker acknowledged every one;
        `SourceUnavailable` when it did not within the timeout (some may still have been written)."""
        ...

    def close(self) -> None: ...


class RawDeadLetters(Protocol):
    def send(self, body: bytes, integration: str, source: str, reason: str, detail: str) -> None:
        """Write the raw body with its reason, acknowledged by the broker; `SourceUnavailable` otherwise."""
        ...

    def close(self) -> None: ...


class AlertStates(Protocol):
    def load(self, integration: str, fingerprints: Collection[str]) -> dict[str, AlertState]:
        """The stored states of those fingerprints (absent: never seen or expired); `SourceUnavailable`."""
        ...

    def save(self, integration: str, states: Mapping[str, AlertState]) -> None:
        """Store the states (with the configured TTL); `SourceUnavailable`."""
        ...


class AlertPorts(Ports, Protocol):
    def alert_integrations(self) -> list[Any]:
        """The stored integrations (the model's enabled rows), as objects with the setting's fields."""
        ...

    def alert_hosts(self) -> Sequence[Host]:
        """Every CMDB host (`SourceUnavailable` when the database cannot answer)."""
        ...

    def alert_producer(self) -> EventProducer: ...

    def alert_dead_letters(self) -> RawDeadLetters: ...

    def alert_states(self) -> AlertStates: ...
