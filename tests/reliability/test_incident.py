"""Reliability of `run_access --access-type incident`: the e2e stream of sync messages (`test_incident_e2e.stream`)
published to a private vhost of the machine's RabbitMQ while the consumer is broken. Every operation row of
the messages published so far must be stored exactly once, and at the end of a trial every row (incidents,
alert links, operations, snapshots) must equal the pure rules' state (`IncidentBook`) over the stream;
each poison message must be in the dead-letter queue exactly once.

The machine's RabbitMQ is shared by every test and cannot be restarted, so `broker_restarted` cuts the
consumer's connections at an `OutageProxy` in front of it and refuses new ones for the outage (the broker
requeues what the consumer had not acknowledged, as a restart of a broker with durable queues does). The
publisher talks to the broker directly. Incident keeps no state in Redis: the Redis scenarios are skipped.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.access.incident.messages import body
from tests.e2e.test_incident_e2e import clear, db_state, dead_letters, expected_state, publish, start, stream
from tests.reliability.driver import run_scenario, skip_scenario
from tests.reliability.faults import Faults
from tests.reliability.feed import FedPipeline, poison, poison_id
from tests.reliability.harness import SCENARIOS
from tests.services.access_env import AccessEnv, access_env
from tests.services.rabbitmq import private_vhost
from tests.services.tcp_proxy import OutageProxy

pytestmark = pytest.mark.integration

PER_TRIAL = 300
REDIS_SCENARIOS = ("redis_stopped", "redis_paused")
NO_REDIS = "incident keeps its state in the database and reads RabbitMQ; it uses no Redis (--hash-ring 0)"


def rows(state: dict[str, list[Any]], tables: tuple[str, ...] | None = None) -> set[str]:
    return {f"{table}:{row}" for table, table_rows in state.items() if tables is None or table in tables
            for row in table_rows}


class IncidentPipeline(FedPipeline):
    access_type = "incident"

    def __init__(self, env: AccessEnv, url: str) -> None:
        super().__init__()
        self.env, self.url = env, url
        self.messages: list[dict[str, Any]] = []
        self.letters: Counter[str] = Counter()

    def begin_trial(self, trial: int, malformed: bool) -> None:
        clear(self.env)  # the previous trial's stream is stored and its consumer stopped: the queue is empty
        self.messages = stream(PER_TRIAL, seed=trial)
        items = [(f"op:{index}", body(message)) for index, message in enumerate(self.messages)]
        for index in range(99, PER_TRIAL, 100) if malformed else ():
            items.insert(index, poison(trial, index))
        self.feed_trial(items, lambda bodies: publish(self.url, bodies))

    def start(self, log: str) -> subprocess.Popen[str]:
        process: subprocess.Popen[str] = start(self.env, log=log)
        self.start_feed()
        return process

    def wanted(self) -> set[str]:
        """The operation rows of the messages published so far; once all are published, every row of the
        rules' final state (before that, incident rows are intermediate versions a later message replaces)."""
        sent = self.sent()
        published = [m for index, m in enumerate(self.messages) if f"op:{index}" in sent]
        if len(published) == len(self.messages):
            return self.expected()
        return rows(expected_state(published), ("operations",))

    def expected(self) -> set[str]:
        return rows(expected_state(self.messages))

    def delivered(self) -> Counter[str]:
        return Counter(rows(db_state(self.env)))

    def dead_lettered(self) -> Counter[str]:
        """The dead-letter queue's messages so far (reading takes them off the queue: they are kept here)."""
        for raw, _headers in dead_letters(self.url):
            self.letters[poison_id(raw)] += 1
        return self.letters


@pytest.fixture
def world(tmp_path: Path, redis_url: str) -> Iterator[tuple[IncidentPipeline, OutageProxy]]:
    with private_vhost() as url:
        direct = url.split("@", 1)[1].split("/", 1)[0]
        host, port = direct.rsplit(":", 1)
        with OutageProxy(host, int(port)) as proxy, access_env(
                tmp_path, redis_url, BK_DATA_AIOPS_INCIDENT_BROKER_URL=url.replace(direct, proxy.address, 1),
                ALARM_ACCESS_INCIDENT_RETRY_BACKOFF="0.2", ALARM_ACCESS_INCIDENT_RETRY_BACKOFF_MAX="1",
                ALARM_ACCESS_DRAIN_TIMEOUT="10") as env:
            yield IncidentPipeline(env, url), proxy


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in REDIS_SCENARIOS])
def test_incident(scenario: str, world: tuple[IncidentPipeline, OutageProxy]) -> None:
    pipeline, proxy = world
    run_scenario(pipeline, Faults(broker=proxy), scenario)


@pytest.mark.parametrize("scenario", REDIS_SCENARIOS)
def test_incident_redis(scenario: str) -> None:
    skip_scenario("incident", scenario, NO_REDIS)
