"""In-memory fakes of the incident ports: a queue with ack/dead-letter and a store that is an `IncidentBook`.

`MemoryIncidentStore.down = True` makes `apply` raise `SourceUnavailable` (a database that is down);
`MemoryIncidentQueue` keeps unacked deliveries and redelivers them after `drop_connection()`, as a broker does.
`MemoryIncidentApi` is the AIOps API (snapshots served, write-backs recorded).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alarm_access.access.incident.book import IncidentBook
from alarm_access.access.incident.message import SyncMessage
from alarm_access.access.incident.ports import Delivery
from alarm_access.access.incident.rules import Outcome
from alarm_access.kernel.errors import SourceUnavailable


@dataclass
class MemoryIncidentStore:
    book: IncidentBook = field(default_factory=IncidentBook)
    down: bool = False
    attempts: int = 0

    def apply(self, message: SyncMessage) -> Outcome:
        self.attempts += 1
        if self.down:
            raise SourceUnavailable("database is down (fake)")
        return self.book.apply(message).outcome

    def count_by_status(self) -> dict[str, int]:
        if self.down:
            raise SourceUnavailable("database is down (fake)")
        return dict(Counter(row.status for row in self.book.incidents.values()))

    def close(self) -> None:
        pass


@dataclass
class MemoryIncidentQueue:
    ready: deque[bytes] = field(default_factory=deque)
    unacked: dict[int, Delivery] = field(default_factory=dict)
    acked: list[bytes] = field(default_factory=list)
    dead: list[tuple[bytes, str, str]] = field(default_factory=list)
    epoch: int = 1
    heartbeats: int = 0
    _tag: int = 0

    def publish(self, *bodies: bytes) -> None:
        self.ready.extend(bodies)

    def receive(self, timeout: float) -> Delivery | None:
        if not self.ready:
            return None
        self._tag += 1
        delivery = Delivery(self.ready.popleft(), self._tag, self.epoch)
        self.unacked[delivery.tag] = delivery
        return delivery

    def _settle(self, delivery: Delivery) -> None:
        if delivery.epoch != self.epoch or delivery.tag not in self.unacked:
            raise SourceUnavailable("delivery of a closed connection")
        del self.unacked[delivery.tag]

    def ack(self, delivery: Delivery) -> None:
        self._settle(delivery)
        self.acked.append(delivery.body)

    def dead_letter(self, delivery: Delivery, reason: str, detail: str) -> None:
        self._settle(delivery)
        self.dead.append((delivery.body, reason, detail))

    def keepalive(self) -> None:
        self.heartbeats += 1

    def drop_connection(self) -> None:
        """The connection is lost: every unacked delivery goes back to the head of the queue."""
        for tag in sorted(self.unacked, reverse=True):
            self.ready.appendleft(self.unacked.pop(tag).body)
        self.epoch += 1

    def close(self) -> None:
        self.drop_connection()


@dataclass
class MemoryIncidentApi:
    """An `IncidentApi` holding `snapshots` and recording `writes` ((incident_id, fields) in call order).
    While `down` is set every call raises `SourceUnavailable` and records nothing."""

    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    down: bool = False
    closed: bool = False

    def snapshot(self, snapshot_id: str) -> Mapping[str, Any] | None:
        if self.down:
            raise SourceUnavailable("AIOps API is down (fake)")
        return self.snapshots.get(snapshot_id)

    def write_back(self, incident_id: int, fields: Mapping[str, Any]) -> None:
        if self.down:
            raise SourceUnavailable("AIOps API is down (fake)")
        self.writes.append((incident_id, dict(fields)))

    def close(self) -> None:
        self.closed = True
