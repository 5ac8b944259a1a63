"""`ApiLinkedStore`: the AIOps snapshot fetched before the store, the incident written back after it — with
the consumer, on the in-memory queue, store and API."""

from __future__ import annotations

import json

from alarm_access.access.incident.aiops import ApiLinkedStore, write_back_fields
from alarm_access.access.incident.message import parse_message
from alarm_access.access.incident.service import IncidentConsumer
from alarm_access.adapters.memory.incidents import MemoryIncidentApi, MemoryIncidentQueue, MemoryIncidentStore
from alarm_access.kernel.settings import IncidentSettings
from tests.access.incident.messages import T0, sync

SETTINGS = IncidentSettings(batch_size=10, retry_backoff=1.0, retry_backoff_max=4.0)
CONTENT = {"bk_biz_id": 2, "incident_alerts": [{"id": 1, "alert_status": "ABNORMAL"}], "rca_summary": {"x": 1}}


def with_snapshot(message: dict[str, object], snapshot_id: str) -> bytes:
    return json.dumps({**message, "fpp_snapshot_id": snapshot_id}).encode()


def world(api: MemoryIncidentApi) -> tuple[MemoryIncidentQueue, MemoryIncidentStore, IncidentConsumer]:
    queue, store = MemoryIncidentQueue(), MemoryIncidentStore()
    return queue, store, IncidentConsumer(queue, ApiLinkedStore(store, api), SETTINGS)


def test_the_fetched_snapshot_is_stored_and_the_incident_written_back() -> None:
    api = MemoryIncidentApi(snapshots={"fpp:1_1": CONTENT})
    queue, store, consumer = world(api)
    raw = with_snapshot(sync("create", 100, T0), "fpp:1_1")
    queue.publish(raw)
    assert consumer.cycle(0.0).ok
    (snapshot,) = store.book.snapshots.values()
    assert snapshot.content == CONTENT and snapshot.fpp_snapshot_id == "fpp:1_1"
    assert api.writes == [(100, {"assignees": ["admin"], "handlers": ["admin"], "labels": ["db"]})]
    assert queue.acked == [raw]


def test_a_snapshot_the_api_does_not_have_stores_the_minimal_one() -> None:
    api = MemoryIncidentApi()
    queue, store, consumer = world(api)
    queue.publish(with_snapshot(sync("create", 100, T0, alerts=(4,)), "fpp:9_9"))
    assert consumer.cycle(0.0).ok
    (snapshot,) = store.book.snapshots.values()
    assert snapshot.content["incident_alerts"] == [{"id": 4}]


def test_an_api_that_is_down_holds_the_message_until_it_answers_and_nothing_is_stored_meanwhile() -> None:
    api = MemoryIncidentApi(snapshots={"fpp:1_1": CONTENT}, down=True)
    queue, store, consumer = world(api)
    queue.publish(with_snapshot(sync("create", 100, T0), "fpp:1_1"))
    assert not consumer.cycle(0.0).ok and consumer.holding
    assert not store.book.incidents and not queue.acked
    api.down = False
    assert consumer.cycle(1.0).ok
    assert store.book.snapshots and len(api.writes) == 1


def test_a_failed_write_back_is_retried_with_its_message_which_then_is_a_duplicate() -> None:
    api = MemoryIncidentApi()
    queue, store, consumer = world(api)
    raw = json.dumps(sync("create", 100, T0)).encode()
    queue.publish(raw)
    api.down = True  # the store commits, the write-back fails
    assert not consumer.cycle(0.0).ok and store.book.incidents and not queue.acked
    api.down = False
    assert consumer.cycle(1.0).ok  # the retry: a duplicate, written back now
    assert queue.acked == [raw] and [incident for incident, _ in api.writes] == [100]


def test_stale_messages_write_nothing_back_and_a_status_change_writes_the_end_time() -> None:
    api = MemoryIncidentApi()
    queue, store, consumer = world(api)
    recovering = sync("update", 100, T0 + 20, status="recovering",
                      attributes={"status": {"from": "abnormal", "to": "recovering"}})
    queue.publish(*(json.dumps(m).encode() for m in (sync("create", 100, T0), recovering,
                                                     sync("update", 100, T0 + 10))))
    assert consumer.cycle(0.0).ok
    assert store.book.incidents[100].status == "recovering"
    assert len(api.writes) == 2  # the create and the recovering update; the older update is stale
    assert api.writes[1] == (100, write_back_fields(parse_message(json.dumps(recovering).encode())))
    assert api.writes[1][1]["end_time"] == T0 + 20
