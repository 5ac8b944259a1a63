"""In-memory fakes of the alert ports (`access.alert.ports`)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager

from alarm_access.access.alert.diff import AlertState
from alarm_access.kernel.errors import SourceUnavailable


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.down = False

    def send(self, events: Sequence[tuple[str, bytes]]) -> None:
        if self.down:
            raise SourceUnavailable("broker down")
        self.sent.extend(events)

    def close(self) -> None:
        pass


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, str, str, str]] = []

    def send(self, body: bytes, integration: str, source: str, reason: str, detail: str) -> None:
        self.sent.append((body, integration, source, reason))

    def close(self) -> None:
        pass


class FakeStates:
    """States in a dict; leases are taken and released in order, one request at a time (unit tests are
    single-threaded: the Redis adapter's test covers concurrency)."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], AlertState] = {}
        self.leased: list[tuple[str, tuple[str, ...]]] = []

    @contextmanager
    def lease(self, integration: str, fingerprints: Collection[str]) -> Iterator[str]:
        self.leased.append((integration, tuple(fingerprints)))
        yield f"lease-{len(self.leased)}"

    def load(self, integration: str, fingerprints: Collection[str]) -> dict[str, AlertState]:
        return {fp: self.states[integration, fp] for fp in fingerprints if (integration, fp) in self.states}

    def save(self, integration: str, states: Mapping[str, AlertState], lease: str) -> bool:
        self.states.update({(integration, fp): state for fp, state in states.items()})
        return True
