"""`run_access --access-type event -H celery` end to end: real tansu, real brokers, real `celery worker`s.

The consumer publishes each consumed batch as one task on `celery_service_access_event`; workers push the
anomalies. Checked: every event kind arrives as with `-H process` (Redis broker); a worker killed with
SIGKILL in the middle of a task loses and doubles nothing (RabbitMQ, private vhost: the unacknowledged task
is redelivered to another worker); offsets are not committed while the broker does not accept the tasks; a
delivery the trigger queue refuses is retried by the worker (Celery `retry`) until it lands, exactly once.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.e2e.test_event_e2e import KINDS, EventWorld, disk_full, every_kind, kafka, world
from tests.services.access_env import stop
from tests.services.celery_worker import Worker, start_worker
from tests.services.kafka import FAST_GROUP, produce
from tests.services.rabbitmq import confirm_mode_channels, rabbitmq_url
from tests.services.redis_server import RedisServer
from tests.services.victoria import free_port

pytestmark = pytest.mark.integration
__all__ = ["kafka", "rabbitmq_url", "world"]  # fixtures, imported for pytest

EVENT_QUEUE = ("celery_service_access_event",)
TASK = "alarm_access.run_access_event"


def task_ids(worker: Worker, state: str) -> list[str]:
    """Ids of the event tasks the worker logged as `received` or `succeeded`."""
    return re.findall(rf"Task {re.escape(TASK)}\[([^\]]+)\] {state}", worker.log())


def in_flight(worker: Worker) -> set[str]:
    return set(task_ids(worker, "received")) - set(task_ids(worker, "succeeded"))


def holding_a_task(worker: Worker) -> bool:
    """Freeze `worker` (SIGSTOP) and say whether it holds a task; resume it when it does not."""
    worker.process.send_signal(signal.SIGSTOP)
    if in_flight(worker):
        return True
    worker.process.send_signal(signal.SIGCONT)
    return False


def test_every_event_kind_goes_through_celery_workers(world: EventWorld, private_redis: RedisServer,
                                                      tmp_path: Path) -> None:
    at = time.time() - 5
    for role, values in every_kind(at).items():
        produce(world.bootstrap, world.topics[role], values)
    world.env.env["CELERY_BROKER_URL"] = private_redis.url
    worker = start_worker(world.env.env, tmp_path, "w1", private_redis.url, queues=EVENT_QUEUE)
    consumer = world.env.spawn("run_access", "-H", "celery", "--access-type", "event")
    try:
        world.wait(lambda: all(world.anomalies(sid) for sid in KINDS), what="one anomaly per kind")
        world.wait_stable(lambda: [world.redis.llen(world.key(f"detect.anomaly.list.{sid}.{sid}")) for sid in KINDS])
    finally:
        assert stop(consumer, signal.SIGTERM) == 0, world.env.log()
        worker.stop()
    assert {sid: len(world.anomalies(sid)) for sid in KINDS} == dict.fromkeys(KINDS, 1)
    agent = world.anomalies(21)[0]
    assert agent["data"]["dimensions"]["bk_target_ip"] == "10.0.0.1"
    assert agent["anomaly"]["2"]["anomaly_id"] == f"{agent['data']['record_id']}.21.21.2"
    # the consumer only published; the worker ran the batches
    assert "event batch pushed" not in world.env.log()
    assert task_ids(worker, "succeeded") and "event batch pushed" in worker.log()
    assert "stopped cleanly" in world.env.log()


def test_worker_killed_mid_task_loses_nothing_and_doubles_nothing(world: EventWorld, rabbitmq_url: str,
                                                                  tmp_path: Path) -> None:
    total = 6000
    at = time.time() - 5  # once: a clock read per event let a slow producer give two events one host and second
    produce(world.bootstrap, world.topics["base"], (disk_full(i, at) for i in range(total)))
    world.env.env.update(CELERY_BROKER_URL=rabbitmq_url, ALARM_ACCESS_EVENT_BATCH_SIZE="50")
    first = start_worker(world.env.env, tmp_path, "first", rabbitmq_url, queues=EVENT_QUEUE)
    consumer = world.env.spawn("run_access", "-H", "celery", "--access-type", "event")
    key = world.key("detect.anomaly.list.23.23")
    second: Worker | None = None
    try:
        # one worker, a backlog of 120 tasks (it may run them all within a second): once it has pushed part of
        # the stream, it is frozen until it is seen holding a task (received, not succeeded), so the kill lands
        # on the task it holds — not on whatever it ran while the test looked
        world.wait(lambda: world.redis.llen(key) >= 1000, what="part of the stream pushed", interval=0.002)
        world.wait(lambda: holding_a_task(first), what="the worker holding a task", interval=0.002)
        killed = in_flight(first)
        assert killed and world.redis.llen(key) < total, "the kill did not land mid-stream; the test proves nothing"
        first.kill_9()
        publishing_confirmed = confirm_mode_channels(rabbitmq_url)
        second = start_worker(world.env.env, tmp_path, "second", rabbitmq_url, queues=EVENT_QUEUE)
        world.wait(lambda: world.redis.llen(key) >= total, timeout=120, what="every anomaly")
        world.wait_stable(lambda: world.redis.llen(key))  # a duplicate would arrive after the last new one
    finally:
        assert stop(consumer, signal.SIGTERM) == 0, world.env.log()
        first.stop()  # a no-op after the kill; the worker when the test failed before it
        if second is not None:
            second.stop()
    ids = Counter(json.loads(line)["anomaly"]["2"]["anomaly_id"] for line in world.redis.lrange(key, 0, -1))
    assert len(ids) == total and max(ids.values()) == 1
    # the consumer published in confirm mode (it waits for the broker's ack before committing offsets)
    assert publishing_confirmed >= 1
    # the task the killed worker held was redelivered to the second worker and delivered there
    assert second is not None and killed <= set(task_ids(second, "succeeded"))


def committed_offsets(world: EventWorld, group: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": world.bootstrap, "group.id": group, **FAST_GROUP})
    try:
        return [tp.offset for tp in consumer.committed([TopicPartition(world.topics["base"], 0)], timeout=10)]
    finally:
        consumer.close()


def test_offsets_are_not_committed_while_the_broker_refuses_tasks(world: EventWorld, private_redis: RedisServer,
                                                                  tmp_path: Path) -> None:
    total = 300
    at = time.time() - 5  # once: a clock read per event let a slow producer give two events one host and second
    produce(world.bootstrap, world.topics["base"], (disk_full(i, at) for i in range(total)))
    env = world.env.env
    env.update(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0", ALARM_ACCESS_NETWORK_TIMEOUT="1",
               ALARM_ACCESS_EVENT_COMMIT_EVERY_SECONDS="0.2")
    consumer = world.env.spawn("run_access", "-H", "celery", "--access-type", "event", log="refused.log")
    try:
        world.env.wait_for_log("event batch not delivered, holding it", name="refused.log")
    finally:
        assert stop(consumer, signal.SIGTERM) == 0, world.env.log("refused.log")
    group = f"{env['KAFKA_GROUP_PREFIX']}.access.event.default"
    assert committed_offsets(world, group) == [-1001]  # OFFSET_INVALID: nothing was committed
    env["CELERY_BROKER_URL"] = private_redis.url
    worker = start_worker(env, tmp_path, "w1", private_redis.url, queues=EVENT_QUEUE)
    consumer = world.env.spawn("run_access", "-H", "celery", "--access-type", "event")
    key = world.key("detect.anomaly.list.23.23")
    try:
        world.wait(lambda: world.redis.llen(key) >= total, what="every anomaly after the broker came back")
        world.wait(lambda: committed_offsets(world, group) == [total], what="the offsets committed")
    finally:
        assert stop(consumer, signal.SIGTERM) == 0, world.env.log()
        worker.stop()
    assert world.redis.llen(key) == total


def test_a_refused_delivery_is_retried_by_the_worker_until_it_lands_once(world: EventWorld,
                                                                         private_redis: RedisServer,
                                                                         tmp_path: Path) -> None:
    total = 50
    key = world.key("detect.anomaly.list.23.23")
    filler = [b"filler"] * 11
    world.redis.rpush(key, *filler)  # the trigger queue is over its limit: every push is refused (Backpressure)
    at = time.time() - 5  # once: a clock read per event let a slow producer give two events one host and second
    produce(world.bootstrap, world.topics["base"], (disk_full(i, at) for i in range(total)))
    env = world.env.env
    env.update(CELERY_BROKER_URL=private_redis.url, ALARM_ACCESS_EVENT_QUEUE_MAX_LEN="10")
    worker = start_worker(env, tmp_path, "w1", private_redis.url, queues=EVENT_QUEUE)
    consumer = world.env.spawn("run_access", "-H", "celery", "--access-type", "event")
    try:
        world.wait(lambda: worker.log().count("event batch not delivered, retrying") >= 2, what="two refusals")
        assert world.redis.llen(key) == len(filler), "a refused delivery wrote to the queue"
        world.redis.delete(key)  # detect drained the queue: the next retry is accepted
        world.wait(lambda: world.redis.llen(key) >= total, what="every anomaly after the retry")
        world.wait_stable(lambda: world.redis.llen(key))
    finally:
        assert stop(consumer, signal.SIGTERM) == 0, world.env.log()
        worker.stop()
    ids = Counter(json.loads(line)["anomaly"]["2"]["anomaly_id"] for line in world.redis.lrange(key, 0, -1))
    assert len(ids) == total and max(ids.values()) == 1
    assert re.search(rf"Task {re.escape(TASK)}\[[^\]]+\] retry: Retry in \d+s", worker.log()), worker.log()[-3000:]
    assert task_ids(worker, "succeeded")
