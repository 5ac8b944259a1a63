"""`run_access --access-type alert` reading raw payloads from a Kafka topic and a Redis list (`access.alert.stream`),
`-H process` and `-H celery` (a real `celery worker`), next to the HTTP receiver, on a real broker (tansu) and
Redis. Each raw payload gives the same standard events as posting it; a malformed one is dead-lettered and the
rest go on; a repeat gives nothing; nothing stays in the Redis list or its processing list once delivered.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.e2e.test_alert_e2e import FIXTURES, Receiver, events_of, receiver
from tests.services.access_env import stop
from tests.services.celery_worker import start_worker
from tests.services.kafka import create_topics, kafka, produce, read_topic
from tests.services.redis_server import RedisServer

pytestmark = pytest.mark.integration
__all__ = ["kafka"]  # the session fixture, imported for pytest


def wait(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def feed(bootstrap: str, raw_topic: str, client: redis.Redis, list_key: str) -> None:
    group = (FIXTURES / "alertmanager_group.json").read_bytes()
    produce(bootstrap, raw_topic, [group, b"{not json", group])  # the repeat emits nothing
    for name in ("pagerduty_trigger.json", "pagerduty_resolve.json"):
        client.lpush(list_key, (FIXTURES / name).read_bytes())


def check(rx: Receiver, bootstrap: str, client: redis.Redis, list_key: str) -> None:
    events = events_of(bootstrap, rx.topic, 4, timeout=60)
    by_plugin = sorted((e["plugin_id"].split(".")[0], e["status"]) for e in events)
    assert by_plugin == [("alertmanager", "ABNORMAL"), ("alertmanager", "RECOVERED"),
                         ("pagerduty", "ABNORMAL"), ("pagerduty", "RECOVERED")]
    assert len({e["id"] for e in events}) == 4
    [dead] = read_topic(bootstrap, rx.dlq, 1, timeout=30)
    assert dead.value is not None and b"not json" in dead.value
    wait(lambda: client.llen(list_key) == 0 and client.llen(f"{list_key}.processing") == 0,
         "the Redis list and its processing list emptied")
    time.sleep(1)  # nothing more may arrive: a read that expects one more event finds none
    assert len(read_topic(bootstrap, rx.topic, 5, timeout=3)) == 4


def sources(stamp: int) -> tuple[str, str, dict[str, str]]:
    raw_topic, list_key = f"raw-prom-{stamp}", f"alerts.pd.{stamp}"
    return raw_topic, list_key, {"ALARM_ACCESS_ALERT_KAFKA_SOURCES": f"prom:{raw_topic}",
                                 "ALARM_ACCESS_ALERT_REDIS_SOURCES": f"pd:{list_key}"}


def test_raw_payloads_from_kafka_and_a_redis_list(tmp_path: Path, redis_url: str, kafka: str,
                                                  client: redis.Redis) -> None:
    raw_topic, list_key, extra = sources(time.monotonic_ns())
    with receiver(tmp_path, redis_url, kafka, **extra) as rx:
        create_topics(kafka, [rx.topic, rx.dlq, raw_topic])
        feed(kafka, raw_topic, client, list_key)
        rx.start()
        check(rx, kafka, client, list_key)
        group = (FIXTURES / "alertmanager_group.json").read_bytes()
        assert rx.post("/v1/alerts/alertmanager/prom", group)[1]["events"] == 0  # same diff states as the stream


def test_raw_payload_batches_go_through_celery_workers(tmp_path: Path, redis_url: str, kafka: str,
                                                       client: redis.Redis, private_redis: RedisServer) -> None:
    raw_topic, list_key, extra = sources(time.monotonic_ns())
    with receiver(tmp_path, redis_url, kafka, CELERY_BROKER_URL=private_redis.url, **extra) as rx:
        create_topics(kafka, [rx.topic, rx.dlq, raw_topic])
        feed(kafka, raw_topic, client, list_key)
        worker = start_worker(rx.env.env, tmp_path, "w1", private_redis.url, queues=("celery_service_access_alert",))
        rx.process = rx.env.spawn("run_access", "-H", "celery", "--access-type", "alert")
        try:
            check(rx, kafka, client, list_key)
        finally:
            code = stop(rx.process, signal.SIGTERM)
            rx.process = None
            worker.stop()
        assert code == 0, rx.env.log()[-3000:]
        assert "alarm_access.run_access_alert" in worker.log() and "succeeded" in worker.log()
