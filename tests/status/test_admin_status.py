"""The admin's "Access status" page: it renders the `/status.json` of running services, and names those that
do not answer. The service side is a real `HealthServer` on a loopback port, serving a board's snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from alarm_access.health import HealthServer
from alarm_access.status.collect import StatusSource
from alarm_access.status.model import FAILED, OK, GroupInfo, StatusBoard
from tests.services.victoria import free_port


@pytest.fixture
def service_url() -> Iterator[str]:
    board = StatusBoard()
    board.set_groups([GroupInfo("k1", (11,), "bk_monitor:time_series", 60), GroupInfo("k2", (21,), "custom:x", 60)])
    board.record("k1", OK, 1_780_000_000.0, pushed=5)
    board.record("k2", FAILED, 1_780_000_001.0, detail="SourceUnavailable", error="SourceUnavailable: refused")
    source = StatusSource("data", "process", lambda: False, board=board)
    server = HealthServer(0, is_alive=lambda: True, is_ready=lambda: False, host="127.0.0.1", status=source.snapshot)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.mark.django_db
def test_the_page_shows_each_configured_service_and_names_the_silent_ones(
    admin_client: Any, settings: Any, service_url: str
) -> None:
    silent = f"http://127.0.0.1:{free_port()}"
    settings.ALARM_ACCESS_STATUS_URLS = [service_url, silent]
    page = admin_client.get("/admin/access-status/").content.decode()
    assert "Access status" in page and f"from {service_url}" in page
    assert "2 groups, 1 failing" in page and "FAILING" in page and "SourceUnavailable: refused" in page
    assert f"<h1>{silent}</h1>" in page and "Not answering: ConnectError" in page
    filtered = admin_client.get("/admin/access-status/", {"q": "21"}).content.decode()
    assert "1 match strategy id 21" in filtered and ">11<" not in filtered


@pytest.mark.django_db
def test_the_page_is_for_staff_and_says_how_to_configure_it(admin_client: Any, settings: Any) -> None:
    settings.ALARM_ACCESS_STATUS_URLS = []
    assert "ALARM_ACCESS_STATUS_URLS" in admin_client.get("/admin/access-status/").content.decode()
    anonymous = Client().get("/admin/access-status/")  # (the `client` fixture of tests/ is a Redis client)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
