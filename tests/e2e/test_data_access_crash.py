"""`kill -9` of a data worker after its pull returned and before its push, or between two batches of a pull
delivered in batches (`access.data.bounded`): nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from alarm_access.kernel.hashing import count_md5
from tests.services.access_env import AccessEnv
from tests.services.tsdb_proxy import AnsweringProxy
from tests.services.victoria import VictoriaMetrics, start_victoria

pytestmark = pytest.mark.integration

INSTANCES = 20_000
BUCKETS = 3
INTERVAL = 60
QUEUE = "access.data.21.21"


def big_strategy() -> dict[str, object]:
    return {
        "id": 21, "bk_biz_id": 2, "name": "requests per instance", "is_enabled": True, "update_time": 1569044491,
        "items": [{"id": 21, "name": "requests", "target": [[]],
                   "algorithms": [{"id": 21, "type": "Threshold", "level": 1, "config": []}],
                   "query_configs": [{"data_source_label": "bk_monitor", "data_type_label": "time_series",
                                      "result_table_id": "app.http", "metric_field": "requests",
                                      "agg_method": "SUM", "agg_interval": INTERVAL, "agg_dimension": ["instance"],
                                      "agg_condition": []}]}],
    }


def load_big_world(env: AccessEnv, tmp_path: Path) -> list[int]:
    """Store `big_strategy` and make the VictoriaMetrics storage directory; the BUCKETS closed buckets."""
    now = int(time.time())
    (tmp_path / "s.json").write_text(json.dumps(big_strategy()))
    env.manage("load_strategies", str(tmp_path / "s.json"))
    (tmp_path / "vm").mkdir()
    return [now - now % INTERVAL - k * INTERVAL for k in range(2, 2 + BUCKETS)]


def import_big_world(vm: VictoriaMetrics, buckets: list[int]) -> None:
    vm.import_samples(
        ("app_http_requests", {"instance": f"i-{n}"}, ts, float(n % 97)) for n in range(INSTANCES) for ts in buckets
    )


def test_kill_9_between_pull_and_push_loses_and_doubles_nothing(
    env: AccessEnv, tmp_path: Path, redis_url: str
) -> None:
    buckets = load_big_world(env, tmp_path)
    client = redis.Redis.from_url(redis_url)
    with start_victoria(tmp_path / "vm") as vm, AnsweringProxy(vm.url) as proxy:
        import_big_world(vm, buckets)
        env.env["TSDB_URL"] = proxy.url
        worker = env.spawn("run_access", "--access-type", "data", "--once")
        assert proxy.answered.wait(120), env.log()
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
        # Killed before its delivery: nothing queued, no checkpoint — the crash really hit the gap.
        assert client.llen(f"{env.prefix}.{QUEUE}") == 0, "the push finished before the kill; make the pull bigger"
        assert not list(client.scan_iter(f"{env.prefix}.checkpoint.*"))

        env.manage("run_access", "--access-type", "data", "--once")
        queued = Counter(json.loads(line)["record_id"] for line in client.lrange(f"{env.prefix}.{QUEUE}", 0, -1))
        expected = {f"{count_md5({'instance': f'i-{n}'})}.{ts}" for n in range(INSTANCES) for ts in buckets}
        assert set(queued) == expected
        assert max(queued.values()) == 1

        env.manage("run_access", "--access-type", "data", "--once")
        assert client.llen(f"{env.prefix}.{QUEUE}") == len(expected)
    client.close()


def test_kill_9_between_two_batches_loses_and_doubles_nothing(env: AccessEnv, tmp_path: Path, redis_url: str) -> None:
    buckets = load_big_world(env, tmp_path)
    client = redis.Redis.from_url(redis_url)
    # Batches of one bucket (INSTANCES points) each, of a pull of BUCKETS buckets.
    env.env.update(ALARM_ACCESS_DATA_BATCH_THRESHOLD=str(INSTANCES), ALARM_ACCESS_DATA_BATCH_SIZE=str(INSTANCES))
    expected = {f"{count_md5({'instance': f'i-{n}'})}.{ts}" for n in range(INSTANCES) for ts in buckets}
    with start_victoria(tmp_path / "vm") as vm:
        import_big_world(vm, buckets)
        env.env["TSDB_URL"] = vm.url
        worker = env.spawn("run_access", "--access-type", "data", "--once")
        env.wait_for_log("batch delivered", timeout=120)
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
        queued = client.llen(f"{env.prefix}.{QUEUE}")
        # Killed between batches: whole buckets queued, not all of them, and no checkpoint.
        assert queued % INSTANCES == 0 and 0 < queued < len(expected), "the pull finished before the kill"
        assert not list(client.scan_iter(f"{env.prefix}.checkpoint.*"))

        env.manage("run_access", "--access-type", "data", "--once")
        queued_ids = Counter(json.loads(line)["record_id"] for line in client.lrange(f"{env.prefix}.{QUEUE}", 0, -1))
        assert set(queued_ids) == expected
        assert max(queued_ids.values()) == 1
        assert list(client.scan_iter(f"{env.prefix}.checkpoint.*"))
    client.close()
