"""`KafkaIncidentSource` with the incident consumer, on the in-memory log (the same `MessageStream` and
`DeadLetterSink` contracts `KafkaStream` and `KafkaDeadLetters` are held to): stored then committed, bad
messages dead-lettered, a crash replays what was not committed and changes nothing."""

from __future__ import annotations

import pytest

from alarm_access.access.incident.book import IncidentBook
from alarm_access.access.incident.message import parse_message
from alarm_access.access.incident.service import IncidentConsumer
from alarm_access.adapters.kafka.incidents import KafkaIncidentSource
from alarm_access.adapters.memory.event import MemoryEventStream, MemoryLog
from alarm_access.adapters.memory.event_ports import MemoryDeadLetters
from alarm_access.adapters.memory.incidents import MemoryIncidentStore
from alarm_access.kernel.errors import ConfigError
from alarm_access.kernel.settings import IncidentSettings
from tests.access.incident.messages import body, story

TOPIC, DLQ = "aiops_incident", "alarm_access_incident_dlq"
SETTINGS = IncidentSettings(batch_size=1000, retry_backoff=1.0, retry_backoff_max=4.0)


def source(stream: MemoryEventStream, log: MemoryLog) -> KafkaIncidentSource:
    return KafkaIncidentSource(stream, MemoryDeadLetters(log, DLQ), prefetch=5)


def expected(bodies: list[bytes]) -> IncidentBook:
    book = IncidentBook()
    for raw in bodies:
        book.apply(parse_message(raw))
    return book


def test_messages_are_stored_committed_and_bad_ones_dead_lettered_with_their_position() -> None:
    log = MemoryLog()
    log.create_topic(TOPIC)
    messages = [body(m) for m in story()]
    for raw in [messages[0], b"not json", None, *messages[1:]]:
        log.produce(TOPIC, raw)
    stream = MemoryEventStream(log, {TOPIC: 0}, group="g", commit_every_messages=1)
    store = MemoryIncidentStore()
    consumer = IncidentConsumer(source(stream, log), store, SETTINGS)
    assert consumer.cycle(0.0).ok
    assert store.book == expected(messages)
    dead = log.read(DLQ)
    assert [record.value for _, _, record in dead] == [b"not json"]
    assert dead[0][2].headers["x-original-offset"] == b"1"
    assert log.committed_offsets("g") == {(TOPIC, 0): len(messages) + 2}  # the tombstone is done too
    consumer.close()
    assert stream.closed


def test_a_crash_before_the_commit_replays_the_stream_and_changes_nothing() -> None:
    log = MemoryLog()
    log.create_topic(TOPIC)
    messages = [body(m) for m in story()]
    for raw in messages:
        log.produce(TOPIC, raw)
    stream = MemoryEventStream(log, {TOPIC: 0}, group="g", commit_every_messages=1000, commit_every_seconds=1e9)
    store = MemoryIncidentStore()
    IncidentConsumer(source(stream, log), store, SETTINGS).cycle(0.0)
    assert not log.committed_offsets("g")
    after_first = expected(messages)
    assert store.book == after_first
    restarted = stream.reopen()
    replay = IncidentConsumer(source(restarted, log), store, SETTINGS)
    replay.cycle(0.0)
    assert store.book == after_first
    replay.close()  # a clean stop commits what was stored
    assert log.committed_offsets("g") == {(TOPIC, 0): len(messages)}


def test_a_message_held_through_a_store_outage_keeps_fetching_paused_and_is_stored_once_back() -> None:
    log = MemoryLog()
    log.create_topic(TOPIC)
    messages = [body(m) for m in story()[:3]]
    for raw in messages:
        log.produce(TOPIC, raw)
    stream = MemoryEventStream(log, {TOPIC: 0}, group="g", commit_every_messages=1)
    store = MemoryIncidentStore(down=True)
    consumer = IncidentConsumer(source(stream, log), store, SETTINGS)
    assert not consumer.cycle(0.0).ok and consumer.holding
    assert not consumer.cycle(0.5).ok and stream.paused  # keepalive while waiting: fetching paused
    assert not log.committed_offsets("g")
    store.down = False
    assert consumer.cycle(1.0).ok and not stream.paused
    assert store.book == expected(messages)
    assert log.committed_offsets("g") == {(TOPIC, 0): len(messages)}


@pytest.mark.parametrize(("fields", "message"), [
    ({"source": "nats"}, "SOURCE must be rabbitmq or kafka"),
    ({"source": "kafka"}, "KAFKA_TOPIC and KAFKA_DLQ_TOPIC must be set"),
    ({"source": "kafka", "kafka_topic": "t", "kafka_offset_reset": "newest"}, "KAFKA_OFFSET_RESET"),
])
def test_an_incomplete_kafka_source_is_a_config_error_naming_the_setting(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        IncidentSettings(**fields)  # type: ignore[arg-type]
