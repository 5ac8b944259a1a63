"""Fixtures of the reliability suite and its table.

Every scenario gets services of its own, so that stopping or cutting them harms no other test: `redis_url`
is a private `redis-server` (append-only file, so a stop and start keeps its data) and `kafka` a private
tansu behind an `OutageProxy` (`kafka_broker`), which is how `broker_restarted` "restarts" it. The fixtures
of the e2e tests that ask for `redis_url` and `kafka` get these.

At the end of the session, one JSON line per scenario run (or skipped, with its reason) is printed under a
"reliability" header, and the same lines are written to `harness.report_path()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability import harness
from tests.services.kafka import start_tansu
from tests.services.redis_server import RedisServer
from tests.services.tcp_proxy import OutageProxy
from tests.services.victoria import free_port


@pytest.fixture
def redis_url(private_redis: RedisServer) -> str:
    return private_redis.url


@pytest.fixture
def kafka_broker(tmp_path: Path) -> Iterator[OutageProxy]:
    """A private tansu that advertises the proxy in front of it: every client goes through the proxy."""
    proxy_port = free_port()
    with start_tansu(tmp_path, advertise=f"127.0.0.1:{proxy_port}") as address:
        host, port = address.rsplit(":", 1)
        with OutageProxy(host, int(port), port=proxy_port) as proxy:
            yield proxy


@pytest.fixture
def kafka(kafka_broker: OutageProxy) -> str:
    return kafka_broker.address


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not harness.RESULTS:
        return
    terminalreporter.section("reliability")
    for result in harness.RESULTS:
        terminalreporter.write_line(result.json_line())
    path = harness.write_report(harness.RESULTS)
    terminalreporter.write_line(f"(written to {path})")
