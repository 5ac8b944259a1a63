"""Batch sub-tasks end to end: real Redis broker, real `celery worker` processes, real VictoriaMetrics.

One group pulls `BATCH_TEST_POINTS` points (default 200 000: `size / 10` instances x 10 one-minute buckets);
with a batch threshold of 50 000 and a batch size of 40 000 the pull is split into 5 sub-tasks of two
buckets each. Every record must reach the detect queue exactly once, the checkpoint must move to the
newest bucket only when every batch is done, also when a worker is killed (`kill -9`) in a sub-task:
the broker redelivers it after its (short) visibility timeout and the redelivered sub-task delivers
nothing twice. The expected record ids are computed independently (`count_md5`).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from alarm_access.kernel.hashing import count_md5
from tests.services.access_env import AccessEnv
from tests.services.celery_worker import Worker, start_worker
from tests.services.redis_server import RedisServer
from tests.services.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration

POINTS = int(os.environ.get("BATCH_TEST_POINTS", "200000"))
BUCKETS = 10
INSTANCES = POINTS // BUCKETS
INTERVAL = 60
QUEUE = "access.data.31.31"
BATCH_SIZE = 2 * INSTANCES  # two buckets per batch at any size
BATCHES = BUCKETS // 2


def strategy() -> dict[str, object]:
    return {
        "id": 31, "bk_biz_id": 2, "name": "requests per instance", "is_enabled": True, "update_time": 1569044491,
        "items": [{"id": 31, "name": "requests", "target": [[]],
                   "algorithms": [{"id": 31, "type": "Threshold", "level": 1, "config": []}],
                   "query_configs": [{"data_source_label": "bk_monitor", "data_type_label": "time_series",
                                      "result_table_id": "app.http", "metric_field": "requests",
                                      "agg_method": "SUM", "agg_interval": INTERVAL, "agg_dimension": ["instance"],
                                      "agg_condition": []}]}],
    }


def prepare(env: AccessEnv, vm: VictoriaMetrics, broker: RedisServer, tmp_path: Path) -> list[int]:
    """Load the strategy, ingest the points, point the env at VM and the broker; the buckets, oldest first."""
    now = int(time.time())
    buckets = [now - now % INTERVAL - k * INTERVAL for k in range(BUCKETS + 1, 1, -1)]
    (tmp_path / "s.json").write_text(json.dumps(strategy()))
    env.manage("load_strategies", str(tmp_path / "s.json"))
    vm.import_samples(("app_http_requests", {"instance": f"i-{n}"}, ts, float(n % 97))
                      for n in range(INSTANCES) for ts in buckets)
    env.env.update({
        "TSDB_URL": vm.url, "CELERY_BROKER_URL": broker.url, "ALARM_ACCESS_NETWORK_TIMEOUT": "60",
        "ALARM_ACCESS_DATA_BATCH_THRESHOLD": "50000", "ALARM_ACCESS_DATA_BATCH_SIZE": str(BATCH_SIZE),
        "ALARM_ACCESS_DATA_CELERY_VISIBILITY_TIMEOUT": "8",
    })
    return buckets


def wait_for(condition: Callable[[], bool], timeout: float, what: str, workers: list[Worker]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout}s:\n" + "\n".join(w.log()[-3000:] for w in workers))


def assert_exactly_once(client: redis.Redis, env: AccessEnv, buckets: list[int]) -> None:
    """The detect queue holds every expected record once; the round is finished and cleaned up."""
    queued = Counter(json.loads(line)["record_id"] for line in client.lrange(f"{env.prefix}.{QUEUE}", 0, -1))
    expected = {f"{count_md5({'instance': f'i-{n}'})}.{ts}" for n in range(INSTANCES) for ts in buckets}
    assert len(queued) == len(expected) and set(queued) == expected, (len(queued), len(expected))
    assert max(queued.values()) == 1, [rid for rid, n in queued.items() if n > 1][:5]
    sgk = group_key(client, env)
    assert int(client.get(f"{env.prefix}.checkpoint.strategy_group_{sgk}") or 0) == buckets[-1]
    assert not client.exists(f"{env.prefix}.access.lock.{sgk}"), "the last sub-task released the group lock"
    assert not [k for k in client.scan_iter(f"{env.prefix}.access.batch.*", count=1000)
                if b".result." not in k], "payloads and the round pointer are gone once the round is finalised"


def group_key(client: redis.Redis, env: AccessEnv) -> str:
    keys: list[bytes] = list(client.scan_iter(f"{env.prefix}.access.run.strategy_group_*", count=1000))
    assert len(keys) == 1, keys
    return keys[0].decode().rsplit("strategy_group_", 1)[1]


def finalised(client: redis.Redis, env: AccessEnv) -> Callable[[], bool]:
    return lambda: bool(list(client.scan_iter(f"{env.prefix}.checkpoint.*", count=1000)))


def test_a_large_pull_is_split_into_sub_tasks_and_delivered_exactly_once(
    env: AccessEnv, vm: VictoriaMetrics, private_redis: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    buckets = prepare(env, vm, private_redis, tmp_path)
    client = redis.Redis.from_url(redis_url)
    workers: list[Worker] = []
    try:
        workers = [start_worker(env.env, tmp_path, f"w{n}", private_redis.url) for n in range(2)]
        env.manage("run_access", "-H", "celery", "--access-type", "data", "--once")
        wait_for(finalised(client, env), 150, "the round was not finalised", workers)
        logs = "".join(worker.log() for worker in workers)
        assert logs.count("group split into batches") == 1 and f"batches={BATCHES}" in logs
        assert logs.count("batch delivered") == BATCHES
        assert logs.count("batch round finalised") == 1
        assert "ERROR" not in logs, logs[-4000:]
        assert_exactly_once(client, env, buckets)
        # the next pull finds nothing new: every record stays delivered once
        env.manage("run_access", "-H", "celery", "--access-type", "data", "--once")
        wait_for(lambda: "".join(w.log() for w in workers).count("group pulled") >= 1, 60, "no second pull", workers)
        assert client.llen(f"{env.prefix}.{QUEUE}") == POINTS
    finally:
        for worker in workers:
            worker.stop()
        client.close()


def start_split_round(env: AccessEnv, tmp_path: Path, broker: RedisServer, workers: list[Worker]) -> Worker:
    """Start a worker for `celery_service` only, run one pull and wait until it split into batches."""
    parent = start_worker(env.env, tmp_path, "parent", broker.url, queues=("celery_service",))
    workers.append(parent)
    env.manage("run_access", "-H", "celery", "--access-type", "data", "--once")
    wait_for(lambda: "group split into batches" in parent.log(), 120, "the pull was not split", workers)
    return parent


def test_kill_9_in_a_sub_task_still_delivers_every_record_exactly_once(
    env: AccessEnv, vm: VictoriaMetrics, private_redis: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    buckets = prepare(env, vm, private_redis, tmp_path)
    client = redis.Redis.from_url(redis_url)
    workers: list[Worker] = []
    try:
        start_split_round(env, tmp_path, private_redis, workers)
        doomed = start_worker(env.env, tmp_path, "doomed", private_redis.url, queues=("celery_service_batch",))
        workers.append(doomed)
        wait_for(lambda: "run_access_batch_data[" in doomed.log(), 30, "no sub-task received", workers)
        task_id = doomed.log().split("run_access_batch_data[", 1)[1].split("]", 1)[0]
        time.sleep(0.3)
        doomed.kill_9()
        assert "batch delivered" not in doomed.log(), "the sub-task finished before the kill"
        survivor = start_worker(env.env, tmp_path, "survivor", private_redis.url, queues=("celery_service_batch",))
        workers.append(survivor)
        wait_for(finalised(client, env), 150, "the round was not finalised", workers)
        # the killed sub-task was redelivered to the survivor, which completed the round
        assert survivor.log().count(f"run_access_batch_data[{task_id}] received") == 1
        assert survivor.log().count("batch delivered") == BATCHES
        assert_exactly_once(client, env, buckets)
    finally:
        for worker in workers:
            worker.stop()
        client.close()
