"""Concurrent snapshots of one fingerprint, serialised by the Redis lease (real Redis, real broker: tansu).

The interleavings are forced, not timed: a gate holds one request inside its produce — after its events went
to the broker, before the produce returns, i.e. before it saves its state — and the other request is started
only then; the gate opens once that one has been refused the lease at least once (so it really was waiting).
Without the lease the second request would diff against the state of before the first one and save out of
order (the resolve hidden behind a firing, or the firing state saved over its resolve).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import redis

from alarm_access.access.alert.diff import AlertState
from alarm_access.access.alert.ingest import AlertIngestor, AlertRequest, AlertResponse
from alarm_access.access.alert.integrations import Integration
from alarm_access.adapters.kafka.alerts import KafkaAlertProducer
from alarm_access.adapters.redis.alert_state import RedisAlertStates
from alarm_access.kernel.errors import SourceUnavailable
from tests.access.alert.fakes import FakeDeadLetters
from tests.services.kafka import create_topics, kafka, read_topic

pytestmark = pytest.mark.integration
__all__ = ["kafka"]  # the session fixture, imported for pytest

FINGERPRINT = "1a2b3c4d5e6f7a8b"
NOW = 1714570000.0
EVENT_STATUS = {"firing": "ABNORMAL", "resolved": "RECOVERED"}


def snapshot(status: str) -> bytes:
    alert = {"status": status, "labels": {"alertname": "HighCPU", "instance": "10.0.0.1:9100"},
             "startsAt": "2024-05-01T10:00:00Z",
             "endsAt": "2024-05-01T10:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
             "fingerprint": FINGERPRINT}
    return json.dumps({"version": "4", "status": status, "alerts": [alert]}).encode()


class GatedProducer:
    """The real Kafka producer; a send of an event of status `hold_status` (ABNORMAL, RECOVERED) waits for
    `gate` after the broker acknowledged it (`entered` is set then): its request stops between produce and save."""

    def __init__(self, real: KafkaAlertProducer, hold_status: str) -> None:
        self.real, self.hold_status = real, hold_status
        self.entered, self.gate = threading.Event(), threading.Event()

    def send(self, events: Sequence[tuple[str, bytes]]) -> None:
        self.real.send(events)
        if any(json.loads(value)["status"] == self.hold_status for _, value in events):
            self.entered.set()
            assert self.gate.wait(30), "the gate was never opened"

    def close(self) -> None:
        self.real.close()


class WatchedStates(RedisAlertStates):
    """The Redis adapter, counting refused lease attempts (the test waits for one, instead of sleeping)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        super().__init__(client, prefix, ttl=600, lease_seconds=30.0, lease_wait=20.0)
        self.refused = threading.Event()
        acquire = self._acquire

        def watched(**kwargs: Any) -> Any:
            taken = acquire(**kwargs)
            if not taken:
                self.refused.set()
            return taken

        self._acquire = watched  # type: ignore[assignment]


def race(client: redis.Redis, prefix: str, bootstrap: str, first: str, second: str
         ) -> tuple[AlertIngestor, WatchedStates, str, dict[str, AlertResponse]]:
    """`first`'s request held after its produce while `second`'s is started and refused the lease."""
    topic = f"alert-race-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, [topic])
    producer = GatedProducer(KafkaAlertProducer(bootstrap, topic, timeout=10), hold_status=EVENT_STATUS[first])
    states = WatchedStates(client, prefix)
    ingestor = AlertIngestor({"am": Integration("am", "alertmanager")}, producer, FakeDeadLetters(), states)
    answers: dict[str, AlertResponse] = {}

    def post(status: str) -> None:
        answers[status] = ingestor.handle(AlertRequest("alertmanager", "am", {}, "", snapshot(status), NOW, status))

    threads = [threading.Thread(target=post, args=(first,))]
    threads[0].start()
    assert producer.entered.wait(30), "the first request never produced"
    threads.append(threading.Thread(target=post, args=(second,)))
    threads[1].start()
    assert states.refused.wait(30), "the second request was never refused the lease"
    producer.gate.set()
    for thread in threads:
        thread.join(30)
    return ingestor, states, topic, answers


def statuses(bootstrap: str, topic: str, expected: int) -> list[str]:
    return [json.loads(m.value or b"")["status"] for m in read_topic(bootstrap, topic, expected, timeout=5)]


def test_a_resolve_waiting_behind_a_firing_is_emitted_after_it(client: redis.Redis, prefix: str, kafka: str) -> None:
    ingestor, states, topic, answers = race(client, prefix, kafka, "firing", "resolved")
    assert (answers["firing"].emitted, answers["resolved"].emitted) == (1, 1)
    assert statuses(kafka, topic, 3) == ["ABNORMAL", "RECOVERED"]  # in that order, on the alert's partition
    assert states.load("am", [FINGERPRINT])[FINGERPRINT].status == "resolved"  # not the firing saved over it
    later = ingestor.handle(AlertRequest("alertmanager", "am", {}, "", snapshot("resolved"), NOW, "later"))
    assert (later.status, later.emitted, later.repeats) == (202, 0, 1)  # the topic already ends resolved


def test_a_late_firing_waiting_behind_a_resolve_is_stale(client: redis.Redis, prefix: str, kafka: str) -> None:
    _, states, topic, answers = race(client, prefix, kafka, "resolved", "firing")
    assert (answers["resolved"].emitted, answers["firing"].emitted, answers["firing"].stale) == (1, 0, 1)
    assert statuses(kafka, topic, 2) == ["RECOVERED"]  # no firing after the resolve: it is not hidden
    assert states.load("am", [FINGERPRINT])[FINGERPRINT].status == "resolved"


def test_a_save_after_the_lease_expired_writes_nothing(client: redis.Redis, prefix: str) -> None:
    states = RedisAlertStates(client, prefix, ttl=600, lease_wait=0.0)
    firing, resolved = AlertState("firing", 1, None, "h"), AlertState("resolved", 1, 2, "h")
    with states.lease("am", [FINGERPRINT]) as stale:
        client.delete(f"{prefix}.access.alert.lease.am.{FINGERPRINT}")  # as if it ran out while paused
        with states.lease("am", [FINGERPRINT]) as current:
            assert states.save("am", {FINGERPRINT: resolved}, current)
            with pytest.raises(SourceUnavailable, match="leased by another request"), \
                    states.lease("am", [FINGERPRINT, "other"]):
                pass  # all or none: "other" is free, the fingerprint is not
        assert not states.save("am", {FINGERPRINT: firing}, stale)
    assert states.load("am", [FINGERPRINT]) == {FINGERPRINT: resolved}
    assert 0 < client.ttl(f"{prefix}.access.alert.state.am.{FINGERPRINT}") <= 600
    assert list(client.scan_iter(f"{prefix}.access.alert.lease.*")) == []  # both released
    with states.lease("am", ["other"]):
        assert client.pttl(f"{prefix}.access.alert.lease.am.other") > 25_000
