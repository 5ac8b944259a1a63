"""`access.alert.stream` over fake ports: routes, a batch through the ingest, a broker outage fails the batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from alarm_access.access.alert.ingest import AlertIngestor
from alarm_access.access.alert.integrations import Integration
from alarm_access.access.alert.stream import AlertStreamDelivery, stream_routes
from alarm_access.kernel.errors import ConfigError, SourceUnavailable
from alarm_access.kernel.settings import AlertSettings
from alarm_access.kernel.stream import StreamMessage
from tests.access.alert.fakes import FakeDeadLetters, FakeProducer, FakeStates

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alert"
INTEGRATIONS = {"am": Integration("am", "alertmanager", token="tok"), "pd": Integration("pd", "pagerduty")}
ROUTES = {"raw.am": INTEGRATIONS["am"], "list.pd": INTEGRATIONS["pd"]}


def message(topic: str, value: bytes, offset: int = 0) -> StreamMessage:
    return StreamMessage(topic, 0, offset, value, 0)


def test_routes_come_from_the_settings_and_name_what_is_wrong() -> None:
    settings = AlertSettings(kafka_sources=(("am", "raw.am"),), redis_sources=(("pd", "list.pd"),))
    assert stream_routes(settings, INTEGRATIONS) == ROUTES
    with pytest.raises(ConfigError, match="no integration 'nope'"):
        stream_routes(AlertSettings(kafka_sources=(("nope", "t"),)), INTEGRATIONS)
    with pytest.raises(ConfigError, match="routed twice"):
        stream_routes(AlertSettings(kafka_sources=(("am", "t"),), redis_sources=(("pd", "t"),)), INTEGRATIONS)


def test_a_batch_is_ingested_in_order_with_the_bad_payload_dead_lettered() -> None:
    producer, dlq = FakeProducer(), FakeDeadLetters()
    delivery = AlertStreamDelivery(AlertIngestor(INTEGRATIONS, producer, dlq, FakeStates()), ROUTES)
    group = (FIXTURES / "alertmanager_group.json").read_bytes()
    delivery.deliver([message("raw.am", group), message("raw.am", b"{not json", 1), message("raw.am", group, 2),
                      message("list.pd", (FIXTURES / "pagerduty_trigger.json").read_bytes())])
    assert len(producer.sent) == 3  # the group's two alerts once (the repeat emits nothing), the trigger
    assert [(body, name) for body, name, _, _ in dlq.sent] == [(b"{not json", "am")]


def test_a_broker_outage_fails_the_batch_so_it_is_held_and_retried() -> None:
    producer = FakeProducer()
    producer.down = True
    delivery = AlertStreamDelivery(AlertIngestor(INTEGRATIONS, producer, FakeDeadLetters(), FakeStates()), ROUTES)
    with pytest.raises(SourceUnavailable, match=r"raw\.am/0@0"):
        delivery.deliver([message("raw.am", (FIXTURES / "alertmanager_group.json").read_bytes())])
    producer.down = False
    delivery.deliver([message("raw.am", (FIXTURES / "alertmanager_group.json").read_bytes())])
    assert len(producer.sent) == 2


def test_a_topic_no_integration_is_routed_to_is_never_dropped() -> None:
    delivery = AlertStreamDelivery(AlertIngestor(INTEGRATIONS, FakeProducer(), FakeDeadLetters(), FakeStates()), {})
    with pytest.raises(SourceUnavailable, match="no integration"):
        delivery.deliver([message("raw.other", b"{}")])
