"""The dead-letter topic is checked when the producer is built (at start), not at the first bad message."""

from __future__ import annotations

import logging
import uuid

import pytest
from confluent_kafka.admin import AdminClient

from alarm_access.adapters.kafka.dlq import KafkaDeadLetters
from tests.services.kafka import create_topics, kafka

pytestmark = pytest.mark.integration
__all__ = ["kafka"]  # the session fixture, imported for pytest


def topics(bootstrap: str) -> set[str]:
    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def outcomes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "alarm_access.access.event.dlq"]


def test_a_missing_topic_is_created_and_reported_once(kafka: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="alarm_access")
    topic = f"dlq-missing-{uuid.uuid4().hex[:8]}"
    assert topic not in topics(kafka)
    sink = KafkaDeadLetters(kafka, topic, timeout=10)
    try:
        assert sink.topic_state == "created"
        assert topic in topics(kafka)
        assert outcomes(caplog) == ["dead-letter topic was missing: created it"]
    finally:
        sink.close()


def test_an_existing_topic_is_found(kafka: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="alarm_access")
    topic = f"dlq-present-{uuid.uuid4().hex[:8]}"
    create_topics(kafka, [topic])
    sink = KafkaDeadLetters(kafka, topic, timeout=10)
    try:
        assert sink.topic_state == "exists"
        assert outcomes(caplog) == ["dead-letter topic found"]
    finally:
        sink.close()


def test_an_unreachable_cluster_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    sink = KafkaDeadLetters("127.0.0.1:1", "dlq", timeout=0.5)
    try:
        assert sink.topic_state == "unchecked"
        (line,) = outcomes(caplog)
        assert line.startswith("dead-letter topic dlq could not be checked")
    finally:
        sink._producer.purge()  # nothing to flush: do not wait for the unreachable cluster at close
