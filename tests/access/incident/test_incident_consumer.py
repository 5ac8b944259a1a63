"""`IncidentConsumer` on the in-memory queue and store: ack after store, dead letters, a store that is down."""

from __future__ import annotations

from alarm_access.access.incident.book import IncidentBook
from alarm_access.access.incident.message import parse_message
from alarm_access.access.incident.service import IncidentConsumer
from alarm_access.adapters.memory.incidents import MemoryIncidentQueue, MemoryIncidentStore
from alarm_access.kernel.settings import IncidentSettings
from tests.access.incident.messages import body, story

SETTINGS = IncidentSettings(batch_size=10, retry_backoff=1.0, retry_backoff_max=4.0)


def consumer(queue: MemoryIncidentQueue, store: MemoryIncidentStore) -> IncidentConsumer:
    return IncidentConsumer(queue, store, SETTINGS)


def test_every_message_is_stored_then_acked_and_bad_ones_dead_lettered() -> None:
    queue, store = MemoryIncidentQueue(), MemoryIncidentStore()
    messages = [body(m) for m in story()]
    queue.publish(messages[0], b"not json", b'{"sync_type": "delete"}', *messages[1:])
    outcome = consumer(queue, store).cycle(0.0)
    assert outcome.ok
    assert queue.acked == messages and not queue.unacked
    assert [reason for _, reason, _ in queue.dead] == ["not_json", "unknown_sync_type"]
    expected = IncidentBook()
    for message in messages:
        expected.apply(parse_message(message))
    assert store.book == expected


def test_a_store_that_is_down_holds_the_message_unacked_and_retries_with_backoff() -> None:
    queue, store = MemoryIncidentQueue(), MemoryIncidentStore(down=True)
    queue.publish(*(body(m) for m in story()[:2]))
    loop = consumer(queue, store)
    first = loop.cycle(0.0)
    assert not first.ok and first.next_at == 1.0 and not queue.acked and len(queue.unacked) == 1
    assert not loop.cycle(0.5).ok and queue.heartbeats == 1 and store.attempts == 1  # waiting, heartbeats kept
    assert loop.cycle(1.0).next_at == 3.0  # second failure: back-off doubled
    store.down = False
    assert loop.cycle(3.0).ok
    assert len(queue.acked) == 2 and not queue.unacked and store.attempts == 4


def test_a_lost_connection_redelivers_and_an_applied_message_comes_back_a_duplicate() -> None:
    queue, store = MemoryIncidentQueue(), MemoryIncidentStore()
    first = body(story()[0])
    queue.publish(first)
    delivery = queue.receive(0)
    assert delivery is not None
    store.apply(parse_message(delivery.body))  # committed, then the connection died before the ack
    queue.drop_connection()
    assert consumer(queue, store).cycle(0.0).ok
    assert queue.acked == [first] and len(store.book.operations) == 3


def test_the_incidents_gauge_counts_by_status_every_period_and_a_failed_count_does_not_stop_messages() -> None:
    from alarm_access import metrics
    from alarm_access.access.incident.service import CENSUS_EVERY

    queue, store = MemoryIncidentQueue(), MemoryIncidentStore()
    queue.publish(*(body(m) for m in story()))
    loop = IncidentConsumer(queue, store, SETTINGS, census=store)
    loop.cycle(0.0)  # counted before the messages: the store was empty
    assert metrics.INCIDENTS.labels("abnormal")._value.get() == 0
    loop.cycle(1.0)  # within the period: not counted again
    assert metrics.INCIDENTS.labels("abnormal")._value.get() == 0
    loop.cycle(CENSUS_EVERY)
    statuses = {row.status for row in store.book.incidents.values()}
    for status in statuses:
        expected = sum(row.status == status for row in store.book.incidents.values())
        assert metrics.INCIDENTS.labels(status)._value.get() == expected > 0
    store.down = True
    queue.publish(body(story()[0]))
    assert not loop.cycle(2 * CENSUS_EVERY).ok  # the message waits for the store, the count failure only logs
    assert metrics.INCIDENTS.labels(next(iter(statuses)))._value.get() > 0  # last good count kept
