"""Ports of the `incident` access type: the sync-message source (a broker queue with manual ack) and the store.

Adapters: `adapters.rabbitmq` (source), `adapters.orm.incidents` (store); fakes in `adapters.memory.incidents`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from alarm_access.access.incident.message import SyncMessage
from alarm_access.access.incident.rules import Outcome
from alarm_access.kernel.ports import Ports


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received message. `epoch` names the connection it came on: it can only be acked on that one.
    `origin` names where it came from when the source knows better than `epoch#tag` (Kafka: topic/partition@offset)."""

    body: bytes
    tag: int
    epoch: int
    redelivered: bool = False
    #: the broker's delivery count (`x-delivery-count` of quorum queues), 0 when unknown
    delivery_count: int = 0
    origin: str = ""

    @property
    def position(self) -> str:
        return self.origin or f"{self.epoch}#{self.tag}"


class IncidentSource(Protocol):
    """A queue of sync messages, at least once: a message stays the broker's until `ack` or `dead_letter`.

    Every call is bounded by a timeout; a broker that cannot be reached (or a lost connection) raises
    `SourceUnavailable`, and every delivery not acked then is redelivered by the broker (to a later call)."""

    def receive(self, timeout: float) -> Delivery | None:
        """The next message, waiting at most `timeout` seconds (None: none came). Reconnects when needed."""
        ...

    def ack(self, delivery: Delivery) -> None:
        """Remove the message for good (after its effect was stored)."""
        ...

    def dead_letter(self, delivery: Delivery, reason: str, detail: str) -> None:
        """Move the message to the dead-letter queue, `reason` and `detail` in its headers, then remove it."""
        ...

    def keepalive(self) -> None:
        """Send/check heartbeats while a message is held (call at least every few seconds)."""
        ...

    def close(self) -> None:
        """Close the connection; unacked messages go back to the queue. Safe to call twice."""
        ...


class IncidentStore(Protocol):
    def apply(self, message: SyncMessage) -> Outcome:
        """Apply one message in one transaction (`rules.decide`). `SourceUnavailable`: nothing was written
        and a retry may succeed; `InvalidRecord`: the store refuses the message for good."""
        ...

    def close(self) -> None: ...


class IncidentApi(Protocol):
    """The AIOps incident API (`adapters.aiops`): snapshot fetch and write-back. Every call is bounded by a
    timeout with bounded retries; a transport failure or a 5xx raises `SourceUnavailable`."""

    def snapshot(self, snapshot_id: str) -> Mapping[str, Any] | None:
        """The analysis snapshot content of `snapshot_id`; None when the API answers that it has none."""
        ...

    def write_back(self, incident_id: int, fields: Mapping[str, Any]) -> None:
        """Set `fields` (assignees, handlers, labels, end_time, ...) on the API's incident. Idempotent."""
        ...

    def close(self) -> None: ...


class IncidentCensus(Protocol):
    def count_by_status(self) -> dict[str, int]:
        """How many stored incidents have each status (absent: none). `SourceUnavailable` on a store error."""
        ...


class IncidentPorts(Ports, Protocol):
    """The ports of the incident access type (implemented by `bootstrap.AdapterPorts`)."""

    def incident_source(self) -> IncidentSource: ...

    def incident_store(self) -> IncidentStore: ...

    def incident_census(self) -> IncidentCensus: ...

    def incident_api(self) -> IncidentApi | None:
        """The AIOps API client, None when ALARM_ACCESS_INCIDENT_API_URL is not set (the default)."""
        ...
