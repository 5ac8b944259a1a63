"""`OrmIncidentStore` on the test database: the same rows as the pure `IncidentBook`, replays, any order."""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest

from alarm_access.access.incident.book import IncidentBook
from alarm_access.access.incident.message import parse_message
from alarm_access.access.incident.rules import Outcome
from alarm_access.adapters.orm.incidents import OrmIncidentStore, to_row
from alarm_access.models import Incident, IncidentAlert, IncidentOperation, IncidentSnapshot
from tests.access.incident.messages import body, story

pytestmark = pytest.mark.django_db(transaction=True)


def canonical(row: Any) -> str:
    """A row as sorted JSON (PostgreSQL's jsonb keeps no key order)."""
    return json.dumps(dataclasses.asdict(row), sort_keys=True)


def stored_state() -> dict[str, Any]:
    return {
        "incidents": sorted(canonical(to_row(m)) for m in Incident.objects.all()),
        "snapshots": sorted(IncidentSnapshot.objects.values_list("snapshot_id", "incident_id", "alerts")),
        "operations": sorted(IncidentOperation.objects.values_list("operation_id", "incident_id", "operation_type",
                                                                   "operate_time", "sync_time")),
        "links": sorted(IncidentAlert.objects.values_list("incident_id", "alert_id", "version_id")),
    }


def book_state(book: IncidentBook) -> dict[str, Any]:
    return {
        "incidents": sorted(canonical(row) for row in book.incidents.values()),
        "snapshots": sorted((s.snapshot_id, s.incident_id, list(s.alerts)) for s in book.snapshots.values()),
        "operations": sorted((o.operation_id, o.incident_id, o.operation_type, o.operate_time, o.sync_time)
                             for o in book.operations.values()),
        "links": sorted((i, a, v) for i, links in book.links.items() for a, v in links.items()),
    }


def apply_all(messages: list[dict[str, Any]]) -> list[Outcome]:
    store = OrmIncidentStore()
    return [store.apply(parse_message(body(m))) for m in messages]


def clear() -> None:
    for model in (IncidentAlert, IncidentOperation, IncidentSnapshot, Incident):
        model.objects.all().delete()


def test_store_writes_the_rows_of_the_rules_and_replays_change_nothing() -> None:
    messages = story()
    book = IncidentBook()
    for message in messages:
        book.apply(parse_message(body(message)))
    assert Outcome.APPLIED in apply_all(messages)
    first = stored_state()
    assert first == book_state(book)
    assert set(apply_all(messages)) <= {Outcome.DUPLICATE, Outcome.STALE}
    assert stored_state() == first
    shuffled = messages[:]
    random.Random(3).shuffle(shuffled)
    clear()
    apply_all(shuffled)
    assert stored_state() == first


def test_a_database_that_is_down_is_source_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import OperationalError

    from alarm_access.adapters.orm import incidents
    from alarm_access.kernel.errors import SourceUnavailable

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(incidents.OrmIncidentStore, "_apply", fail)
    with pytest.raises(SourceUnavailable):
        OrmIncidentStore().apply(parse_message(body(story()[0])))
