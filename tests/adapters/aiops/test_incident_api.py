"""`HttpIncidentApi` against a real HTTP server speaking the incident manager's `bkmonitor_api` endpoints
(`tests.services.incident_manager`), and the same contract held by `MemoryIncidentApi`.

`tests.services.incident_manager`'s `faults` make the next requests fail (a status code, or a delay longer
than the client's timeout) so retries and the timeout bound can be checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from alarm_access.access.incident.ports import IncidentApi
from alarm_access.adapters.aiops.client import HttpIncidentApi
from alarm_access.adapters.memory.incidents import MemoryIncidentApi
from alarm_access.kernel.errors import SourceUnavailable
from tests.services.incident_manager import FakeIncidentManager, incident_manager

CONTENT = {"bk_biz_id": 2, "incident_alerts": [{"id": 1}]}
TOKEN = '{"bk_app_code": "alarm-access", "bk_app_secret": "s3cret"}'


@pytest.fixture
def server() -> Iterator[FakeIncidentManager]:
    with incident_manager() as manager:
        manager.snapshots["fpp:1_1"] = CONTENT
        yield manager


@pytest.fixture(params=["memory", "http"])
def api(request: pytest.FixtureRequest, server: FakeIncidentManager) -> Iterator[tuple[IncidentApi, Any]]:
    """(the API, what it wrote back to)"""
    if request.param == "memory":
        fake = MemoryIncidentApi(snapshots={"fpp:1_1": CONTENT})
        yield fake, fake
        return
    client = HttpIncidentApi(server.url, timeout=1.0, retries=2, backoff=0.01, authorization=TOKEN)
    yield client, server
    client.close()


def test_contract_snapshots_are_served_unknown_ones_are_none_and_write_backs_land(
        api: tuple[IncidentApi, Any]) -> None:
    client, store = api
    assert client.snapshot("fpp:1_1") == CONTENT
    assert client.snapshot("fpp:2_2") is None
    client.write_back(7, {"assignees": ["admin"], "end_time": None})
    client.write_back(7, {"assignees": ["admin"], "end_time": None})  # idempotent: the same fields again
    assert store.writes == [(7, {"assignees": ["admin"], "end_time": None})] * 2


def test_http_errors_are_retried_then_the_answer_is_used(server: FakeIncidentManager) -> None:
    server.faults = [502, 503]
    client = HttpIncidentApi(server.url, timeout=1.0, retries=2, backoff=0.01, authorization=TOKEN)
    assert client.snapshot("fpp:1_1") == CONTENT
    assert len(server.requests) == 3
    assert all(headers.get("X-Bkapi-Authorization") == TOKEN for _, headers in server.requests)
    client.close()


def test_a_server_that_keeps_failing_or_hangs_is_unavailable_within_the_retries(server: FakeIncidentManager) -> None:
    client = HttpIncidentApi(server.url, timeout=0.3, retries=1, backoff=0.01)
    server.faults = [500, 500]
    with pytest.raises(SourceUnavailable, match="HTTP 500"):
        client.write_back(7, {"labels": []})
    server.faults = [1.0, 1.0]  # each request waits longer than the timeout
    with pytest.raises(SourceUnavailable, match="Timeout"):
        client.snapshot("fpp:1_1")
    assert not server.writes and len(server.requests) == 4  # 2 attempts each, nothing more
    client.close()


def test_a_refused_write_back_is_unavailable_so_the_message_is_retried(server: FakeIncidentManager) -> None:
    client = HttpIncidentApi(server.url, timeout=1.0, retries=0)
    server.faults = [403]
    with pytest.raises(SourceUnavailable, match="refused: HTTP 403"):
        client.write_back(7, {"labels": []})
    client.close()
