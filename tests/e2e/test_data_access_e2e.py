"""`run_access --access-type data` end to end: real VictoriaMetrics, real Redis, real subprocesses.

Every test compares the detect queues with the records the samples must produce (`data_world`), and
fails on a missing or a doubled record id.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import redis

from tests.services.access_env import AccessEnv, access_env, stop
from tests.services.data_world import (
    INTERVAL,
    Sample,
    assert_exactly,
    ingest,
    samples_at,
    write_world,
)
from tests.services.redis_server import RedisServer
from tests.services.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration


def aligned_now() -> int:
    now = int(time.time())
    return now - now % INTERVAL


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def load_world(env: AccessEnv, tmp_path: Path) -> None:
    strategies, hosts = write_world(tmp_path)
    env.manage("load_strategies", str(strategies))
    env.manage("load_hosts", str(hosts))


def test_once_pushes_exactly_the_samples_then_only_new_ones(
    env: AccessEnv, vm: VictoriaMetrics, client: redis.Redis, tmp_path: Path
) -> None:
    env.env["TSDB_URL"] = vm.url
    load_world(env, tmp_path)
    t = aligned_now()
    first = samples_at([t - k * INTERVAL for k in range(3, 9)])
    ingest(vm, first)

    env.manage("run_access", "--access-type", "data", "--once")
    assert_exactly(client, env.prefix, first)

    env.manage("run_access", "--access-type", "data", "--once")
    assert_exactly(client, env.prefix, first)  # dedupe + checkpoint: a second run adds nothing

    later = samples_at([t - 2 * INTERVAL, t - INTERVAL])
    ingest(vm, later)
    wait_until(t + INTERVAL + 11)  # both new buckets closed, plus the 10 s delay
    env.manage("run_access", "--access-type", "data", "--once")
    assert_exactly(client, env.prefix, first + later)
    signal_list = client.lrange(f"{env.prefix}.access.data.signal", 0, -1)
    assert {s.decode() if isinstance(s, bytes) else s for s in signal_list} == {"11", "12", "13"}


def test_long_running_service_follows_new_samples(
    env: AccessEnv, vm: VictoriaMetrics, client: redis.Redis, tmp_path: Path
) -> None:
    env.env["TSDB_URL"] = vm.url
    load_world(env, tmp_path)
    t = aligned_now()
    first = samples_at([t - k * INTERVAL for k in range(3, 6)])
    ingest(vm, first)
    process = env.spawn("run_access", "--access-type", "data", "--min-interval", "0.2")
    try:
        _wait_for_records(client, env, first, timeout=30)
        later = samples_at([t - 2 * INTERVAL, t - INTERVAL, t])
        ingest(vm, later)
        _wait_for_records(client, env, first + later, timeout=60)
    finally:
        code = stop(process, signal.SIGTERM)
    assert code == 0, env.log()
    assert_exactly(client, env.prefix, first + later)


def _wait_for_records(client: redis.Redis, env: AccessEnv, samples: list[Sample], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            assert_exactly(client, env.prefix, samples)
            return
        except AssertionError:
            time.sleep(0.5)
    assert_exactly(client, env.prefix, samples)  # fails with the precise difference


def test_redis_down_fails_loudly_keeps_checkpoint_and_recovers(
    tmp_path: Path, vm: VictoriaMetrics, private_redis: RedisServer
) -> None:
    with access_env(tmp_path, private_redis.url, TSDB_URL=vm.url, ALARM_ACCESS_NETWORK_TIMEOUT="1") as env:
        load_world(env, tmp_path)
        t = aligned_now()
        first = samples_at([t - k * INTERVAL for k in range(4, 8)])
        ingest(vm, first)
        env.manage("run_access", "--access-type", "data", "--once")
        conn = redis.Redis.from_url(private_redis.url)
        checkpoints = {key: conn.get(key) for key in conn.scan_iter(f"{env.prefix}.checkpoint.*")}
        assert len(checkpoints) == 3
        conn.close()

        later = samples_at([t - 3 * INTERVAL])
        ingest(vm, later)
        private_redis.stop()
        started = time.monotonic()
        failed = env.manage("run_access", "--access-type", "data", "--once", check=False)
        assert failed.returncode == 1, failed.stderr
        assert "group pull failed" in failed.stderr and "Traceback" not in failed.stderr
        assert time.monotonic() - started < 60

        private_redis.start()
        conn = redis.Redis.from_url(private_redis.url)
        assert {key: conn.get(key) for key in conn.scan_iter(f"{env.prefix}.checkpoint.*")} == checkpoints
        env.manage("run_access", "--access-type", "data", "--once")
        assert_exactly(conn, env.prefix, first + later)
        conn.close()


def test_hung_redis_surfaces_within_timeout_and_service_recovers(
    tmp_path: Path, vm: VictoriaMetrics, private_redis: RedisServer
) -> None:
    with access_env(tmp_path, private_redis.url, TSDB_URL=vm.url, ALARM_ACCESS_NETWORK_TIMEOUT="1") as env:
        load_world(env, tmp_path)
        t = aligned_now()
        first = samples_at([t - k * INTERVAL for k in range(3, 6)])
        ingest(vm, first)
        process = env.spawn("run_access", "--access-type", "data", "--min-interval", "0.2")
        conn = redis.Redis.from_url(private_redis.url)
        try:
            _wait_for_records(conn, env, first, timeout=30)
            with private_redis.paused():
                env.wait_for_log("group pull failed", timeout=60)
                assert process.poll() is None  # a failure, not a hung or dead worker
            later = samples_at([t - 2 * INTERVAL, t - INTERVAL])
            ingest(vm, later)
            _wait_for_records(conn, env, first + later, timeout=60)
        finally:
            code = stop(process, signal.SIGTERM)
            conn.close()
        assert code == 0, env.log()
