"""Ports of the `alert` access type: the event producer, the raw-body dead-letter sink, the diff-state store and
the raw-payload streams.

Adapters: `adapters.kafka.alerts` (producer and dead letters), `adapters.redis.alert_state` (states),
`adapters.kafka.consumer` and `adapters.redis.list_stream` (streams);
fakes for unit tests in `tests/access/alert/fakes.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from alarm_access.access.alert.diff import AlertState
from alarm_access.kernel.model import Host
from alarm_access.kernel.ports import Ports
from alarm_access.kernel.stream import MessageStream


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
    def lease(self, integration: str, fingerprints: Collection[str]) -> AbstractContextManager[str]:
        """Hold `fingerprints` of `integration` exclusively for the `with` block — all of them or none, waiting a
        bounded time for another holder to finish — so that load, diff, produce and save of one fingerprint are
        serialised across requests and receivers. Yields the lease token. `SourceUnavailable` when the lease was
        not obtained in time or the store failed. A lease never released (a crashed holder) expires by itself."""
        ...

    def load(self, integration: str, fingerprints: Collection[str]) -> dict[str, AlertState]:
        """The stored states of those fingerprints (absent: never seen or expired); `SourceUnavailable`."""
        ...

    def save(self, integration: str, states: Mapping[str, AlertState], lease: str) -> bool:
        """Store the states (with the configured TTL) in one atomic step if `lease` still holds every one of
        their fingerprints; False, storing nothing, when it expired (a later holder may have stored newer
        states, which an older one must not overwrite). `SourceUnavailable`."""
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

    def alert_streams(self, kafka_topics: Collection[str], redis_lists: Collection[str]) -> list[MessageStream]:
        """The raw-payload streams: one Kafka consumer for `kafka_topics` (group `.access.alert.{cluster}`),
        one Redis list stream for `redis_lists`; the caller closes them. `ConfigError` without a broker."""
        ...
