"""`-H celery` end to end: real Redis broker, real `celery worker` processes, real VictoriaMetrics.

The same strategies and samples go through `-H process` (one key prefix) and `-H celery` with two workers
(another prefix); the detect queues must hold the same records (all but the `access_time` stamp).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from tests.services.access_env import AccessEnv
from tests.services.celery_worker import Worker, start_worker
from tests.services.data_world import INTERVAL, STRATEGIES, assert_exactly, ingest, samples_at, write_world
from tests.services.redis_server import RedisServer
from tests.services.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration


def queue_contents(client: redis.Redis, prefix: str) -> dict[str, Counter[str]]:
    """Queue → multiset of records without their `access_time` (the one field stamped per run)."""
    out: dict[str, Counter[str]] = {}
    for sid, (item_id, _, _) in STRATEGIES.items():
        lines = client.lrange(f"{prefix}.access.data.{sid}.{item_id}", 0, -1)
        records = [json.loads(line) for line in lines]
        for record in records:
            record.pop("access_time")
        out[f"{sid}.{item_id}"] = Counter(json.dumps(record, sort_keys=True) for record in records)
    return out


def wait_for(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            check()  # type: ignore[operator]
            return
        except AssertionError:
            time.sleep(0.3)
    check()  # type: ignore[operator]


def test_process_and_celery_deliver_identical_records(
    env: AccessEnv, vm: VictoriaMetrics, private_redis: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    env.env["TSDB_URL"] = vm.url
    strategies, hosts = write_world(tmp_path)
    env.manage("load_strategies", str(strategies))
    env.manage("load_hosts", str(hosts))
    now = int(time.time())
    t = now - now % INTERVAL
    samples = samples_at([t - k * INTERVAL for k in range(3, 9)])
    ingest(vm, samples)
    client = redis.Redis.from_url(redis_url)

    env.manage("run_access", "--access-type", "data", "--once")
    process_prefix = env.prefix
    assert_exactly(client, process_prefix, samples)

    celery_prefix = f"{env.prefix}.celery"
    env.env["ALARM_ACCESS_KEY_PREFIX"] = celery_prefix
    env.env["CELERY_BROKER_URL"] = private_redis.url
    workers: list[Worker] = []
    try:
        workers = [start_worker(env.env, tmp_path, f"w{n}", private_redis.url) for n in range(2)]
        done = env.manage("run_access", "-H", "celery", "--access-type", "data", "--once")
        assert "Traceback" not in done.stderr
        wait_for(lambda: assert_exactly(client, celery_prefix, samples), timeout=60)
        assert queue_contents(client, celery_prefix) == queue_contents(client, process_prefix)
        # the workers ran every pull (one per group): the jobs really went through the broker
        assert sum(worker.log().count("group pulled") for worker in workers) == len(STRATEGIES)
        for name in ("access.data.signal",):
            assert set(client.lrange(f"{celery_prefix}.{name}", 0, -1)) == set(
                client.lrange(f"{process_prefix}.{name}", 0, -1))
        checkpoints = {key.decode().removeprefix(process_prefix): client.get(key)
                       for key in client.scan_iter(f"{process_prefix}.checkpoint.*")}
        assert checkpoints == {key.decode().removeprefix(celery_prefix): client.get(key)
                               for key in client.scan_iter(f"{celery_prefix}.checkpoint.*")}
    finally:
        for worker in workers:
            worker.stop()
        for key in client.scan_iter(f"{celery_prefix}.*"):
            client.delete(key)
        client.close()
