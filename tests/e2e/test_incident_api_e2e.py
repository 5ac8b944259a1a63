"""`run_access --access-type incident` with `ALARM_ACCESS_INCIDENT_API_URL`: the analysis snapshot comes from
the incident manager's API and the stored incident is written back to it (RabbitMQ private vhost, the
project database, the API stand-in of `tests.services.incident_manager`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.access.incident.messages import T0, sync
from tests.e2e.test_incident_e2e import has_incident, publish, start, wait_for
from tests.services.access_env import AccessEnv, access_env, stop
from tests.services.incident_manager import FakeIncidentManager, incident_manager
from tests.services.rabbitmq import private_vhost

pytestmark = pytest.mark.integration

CONTENT = {"bk_biz_id": 2, "incident_alerts": [{"id": 1, "alert_status": "ABNORMAL"}],
           "rca_summary": {"bk_biz_ids": [2], "root": "db-1"}}


@pytest.fixture
def world(tmp_path: Path, redis_url: str) -> Iterator[tuple[AccessEnv, str, FakeIncidentManager]]:
    with incident_manager() as api, private_vhost() as url, access_env(
            tmp_path, redis_url, BK_DATA_AIOPS_INCIDENT_BROKER_URL=url, ALARM_ACCESS_INCIDENT_API_URL=api.url,
            ALARM_ACCESS_INCIDENT_API_AUTHORIZATION="app-secret", ALARM_ACCESS_INCIDENT_RETRY_BACKOFF="0.2",
            ALARM_ACCESS_INCIDENT_RETRY_BACKOFF_MAX="1", ALARM_ACCESS_NETWORK_TIMEOUT="1") as env:
        yield env, url, api


def snapshot_contents(env: AccessEnv, incident_id: int) -> list[dict[str, object]]:
    with psycopg.connect(env.env["DATABASE_URL"], connect_timeout=5) as conn:
        rows = conn.execute("SELECT content FROM alarm_access_incidentsnapshot WHERE incident_id = %s",
                            (incident_id,)).fetchall()
    return [row[0] for row in rows]


def test_the_api_snapshot_is_stored_and_an_outage_of_the_api_delays_the_message_without_losing_it(
        world: tuple[AccessEnv, str, FakeIncidentManager]) -> None:
    env, url, api = world
    api.snapshots["fpp:42_1"] = CONTENT
    process = start(env)
    try:
        publish(url, [json.dumps({**sync("create", 100, T0), "fpp_snapshot_id": "fpp:42_1"}).encode()])
        wait_for(lambda: has_incident(env, 100), "the first incident", log=env.log)
        assert snapshot_contents(env, 100) == [CONTENT]
        wait_for(lambda: len(api.writes) == 1, "its write-back", log=env.log)
        assert api.writes[0] == (100, {"assignees": ["admin"], "handlers": ["admin"], "labels": ["db"]})
        assert all(headers.get("X-Bkapi-Authorization") == "app-secret" for _, headers in api.requests)
        api.faults = [503] * 6  # two messages' worth of failed attempts (3 each): the message is held, retried
        publish(url, [json.dumps({**sync("create", 200, T0), "fpp_snapshot_id": "fpp:42_1"}).encode()])
        wait_for(lambda: has_incident(env, 200), "the incident after the API outage", log=env.log)
        assert not api.faults and snapshot_contents(env, 200) == [CONTENT]
    finally:
        assert stop(process) == 0
