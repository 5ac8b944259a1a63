"""A batch whose payload is gone when its sub-task runs fails its round loudly; the checkpoint does not move,
and the next pull delivers what the round missed — every record exactly once in the end.

The original's late sub-task found its payload gone and reported success (spec data-access §9.6). Here the
payload of batch 2 is deleted between the split and the sub-tasks (what its TTL does to a sub-task that
starts too late); real Redis broker, real workers, real VictoriaMetrics.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from tests.e2e.test_celery_batch import (
    BATCH_SIZE,
    BATCHES,
    QUEUE,
    assert_exactly_once,
    prepare,
    start_split_round,
    wait_for,
)
from tests.services.access_env import AccessEnv
from tests.services.celery_worker import Worker, start_worker
from tests.services.redis_server import RedisServer
from tests.services.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration


def test_an_expired_payload_fails_the_round_and_the_next_pull_delivers_the_rest_once(
    env: AccessEnv, vm: VictoriaMetrics, private_redis: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    buckets = prepare(env, vm, private_redis, tmp_path)
    client = redis.Redis.from_url(redis_url)
    workers: list[Worker] = []
    try:
        parent = start_split_round(env, tmp_path, private_redis, workers)
        payloads = [k for k in client.scan_iter(f"{env.prefix}.access.batch.*", count=1000)
                    if b".result." not in k and b".round." not in k]
        (second,) = [k for k in payloads if k.endswith(b".2")]
        client.delete(second)

        batcher = start_worker(env.env, tmp_path, "batcher", private_redis.url, queues=("celery_service_batch",))
        workers.append(batcher)
        wait_for(lambda: "reason=payload_expired" in batcher.log(), 60, "the expired payload was not reported",
                 workers)
        wait_for(lambda: batcher.log().count("succeeded in") >= 5, 60, "not every sub-task ran", workers)
        assert 'level=ERROR logger=alarm_access.access.data msg="batch sub-task failed, round failed' in batcher.log()
        assert "batch round finalised" not in batcher.log()
        assert not list(client.scan_iter(f"{env.prefix}.checkpoint.*")), "a failed round must not move it"
        assert not list(client.scan_iter(f"{env.prefix}.access.run.*")), "nor write the run heartbeat"
        # one worker takes the sub-tasks in order: batch 1 delivered, 2 failed the round, 3-5 abandoned
        assert client.llen(f"{env.prefix}.{QUEUE}") == BATCH_SIZE
        assert batcher.log().count("batch round already failed, batch abandoned") == BATCHES - 2

        # the next pull reports the unfinished round and pulls its window again: dedupe drops batch 1
        env.manage("run_access", "-H", "celery", "--access-type", "data", "--once")
        wait_for(lambda: "batch round finalised" in batcher.log(), 120, "the second round did not finish", workers)
        assert 'level=ERROR logger=alarm_access.access.data msg="batch round did not finish' in parent.log()
        time.sleep(0.5)
        assert_exactly_once(client, env, buckets)
    finally:
        for worker in workers:
            worker.stop()
        client.close()
