"""The HTTP layer of the receiver (`access.alert.service.AlertReceiver`) over fake ports, on a loopback port."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from alarm_access.access.alert.ingest import AlertIngestor
from alarm_access.access.alert.integrations import Integration
from alarm_access.access.alert.preview import preview_alert
from alarm_access.access.alert.service import AlertReceiver
from alarm_access.formats.preview import PreviewInput
from alarm_access.kernel.stream import StreamMessage
from tests.access.alert.fakes import FakeDeadLetters, FakeProducer, FakeStates

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alert"


@pytest.fixture
def receiver() -> Iterator[tuple[AlertReceiver, FakeProducer]]:
    producer = FakeProducer()
    integrations = {"am": Integration("am", "alertmanager", token="tok")}
    ingestor = AlertIngestor(integrations, producer, FakeDeadLetters(), FakeStates())
    closed: list[bool] = []
    rx = AlertReceiver(ingestor, frozenset(integrations), addr="127.0.0.1", port=0, max_body=1024,
                       close=lambda: closed.append(True))
    rx.start()
    try:
        yield rx, producer
    finally:
        rx.stop()
        assert rx.join(5) and closed == [True] and rx.exit_code == 0


def call(rx: AlertReceiver, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers={"Authorization": "Bearer tok"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_statuses(receiver: tuple[AlertReceiver, FakeProducer]) -> None:
    rx, producer = receiver
    small = json.dumps({"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "A"},
                                                    "startsAt": "2024-05-01T10:00:00Z"}]}).encode()
    assert call(rx, "POST", "/v1/alerts/alertmanager/am", small)[0] == 202
    assert len(producer.sent) == 1
    assert call(rx, "POST", "/v1/alerts/alertmanager/am", b"x" * 2000)[0] == 413
    assert call(rx, "GET", "/v1/alerts/alertmanager/am")[0] == 405
    assert call(rx, "POST", "/v2/other", small)[0] == 404
    assert call(rx, "GET", "/healthz")[0] == 200
    producer.down = True
    assert call(rx, "POST", "/v1/alerts/alertmanager/am", small.replace(b'"A"', b'"B"'))[0] == 503


def test_preview_shows_events_then_the_suppressed_repeat() -> None:
    body = (FIXTURES / "alertmanager_group.json").read_bytes()
    inputs = [StreamMessage("alertmanager", 0, i, value, 0) for i, value in enumerate((body, body, b"{"))]
    lines = preview_alert(PreviewInput(strategies=[], inputs=inputs, now=1714570000,
                                       snapshot_key=lambda s, u: ""))
    assert [line["event"]["status"] for line in lines if "event" in line] == ["ABNORMAL", "RECOVERED"]
    assert {"message": 1, "suppressed": {"repeats": 2, "stale": 0}} in lines
    assert lines[-1]["rejected"] == "invalid_json"


class BlockingProducer(FakeProducer):
    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, events: Sequence[tuple[str, bytes]]) -> None:
        self.entered.set()
        self.release.wait(5)
        super().send(events)


def test_over_max_in_flight_sheds_with_503() -> None:
    producer = BlockingProducer()
    integrations = {"am": Integration("am", "alertmanager", token="tok")}
    rx = AlertReceiver(AlertIngestor(integrations, producer, FakeDeadLetters(), FakeStates()),
                       frozenset(integrations), addr="127.0.0.1", port=0, max_body=1 << 20,
                       close=lambda: None, max_in_flight=1)
    rx.start()
    body = (FIXTURES / "alertmanager_group.json").read_bytes()
    first: list[int] = []
    worker = threading.Thread(target=lambda: first.append(call(rx, "POST", "/v1/alerts/alertmanager/am", body)[0]))
    try:
        worker.start()
        assert producer.entered.wait(5)
        status, answer = call(rx, "POST", "/v1/alerts/alertmanager/am", body)
        assert (status, answer["error"]) == (503, "overloaded")
        producer.release.set()
        worker.join(5)
        assert first == [202]
    finally:
        producer.release.set()
        rx.stop()
        assert rx.join(5)


def test_stop_waits_for_the_request_in_flight() -> None:
    producer = BlockingProducer()
    integrations = {"am": Integration("am", "alertmanager", token="tok")}
    closed: list[int] = []
    rx = AlertReceiver(AlertIngestor(integrations, producer, FakeDeadLetters(), FakeStates()),
                       frozenset(integrations), addr="127.0.0.1", port=0, max_body=1 << 20,
                       close=lambda: closed.append(len(producer.sent)), max_in_flight=4)
    rx.start()
    body = (FIXTURES / "alertmanager_group.json").read_bytes()
    answers: list[int] = []
    worker = threading.Thread(target=lambda: answers.append(call(rx, "POST", "/v1/alerts/alertmanager/am", body)[0]))
    worker.start()
    assert producer.entered.wait(5)
    rx.stop()
    assert not rx.join(0.3)  # held by the request in flight
    producer.release.set()
    assert rx.join(5)
    worker.join(5)
    assert answers == [202] and closed == [2]  # the ports closed after the request's events were produced


def test_an_unread_body_closes_the_kept_alive_connection(receiver: tuple[AlertReceiver, FakeProducer]) -> None:
    rx, _ = receiver
    connection = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
    try:
        connection.request("POST", "/elsewhere", body=b'{"x": 1}')
        response = connection.getresponse()
        assert response.status == 404 and response.getheader("Connection") == "close"
        response.read()
    finally:
        connection.close()
