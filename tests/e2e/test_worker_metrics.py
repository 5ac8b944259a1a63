"""`/metrics` of a real prefork Celery worker shows what its children counted (multiprocess mode, `tasks`).

A `celery -A alarm_access worker --pool=prefork --concurrency=2 --max-tasks-per-child=1` runs two malformed
pull tasks and the three real pulls of `run_access -H celery --once` (real Redis broker, real
VictoriaMetrics); every task runs in a child that exits right after it. The main process's scrape must hold
their counts and durations under the `alarm_access_` names, its own `process_*` series, and no live gauge
of an exited child.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
from celery import Celery

from alarm_access.adapters.celery.worker_metrics import SINGLE_PROCESS_POOLS, fresh_multiprocess_dir, worker_pool
from tests.services.access_env import AccessEnv
from tests.services.celery_worker import Worker, start_worker
from tests.services.data_world import (
    INTERVAL,
    STRATEGIES,
    assert_exactly,
    expected_records,
    ingest,
    samples_at,
    write_world,
)
from tests.services.exposition import assert_conventions, sample
from tests.services.redis_server import RedisServer
from tests.services.victoria import VictoriaMetrics

CELERY = "/venv/bin/celery"
PYTHON_M = "/venv/lib/python3.11/site-packages/celery/__main__.py"


@pytest.mark.parametrize(("argv", "pool"), [
    ([CELERY, "-A", "alarm_access", "worker"], "prefork"),
    ([PYTHON_M, "-A", "alarm_access", "worker", "--pool=prefork", "-c", "2"], "prefork"),
    ([CELERY, "-A", "alarm_access", "worker", "--pool", "solo"], "solo"),
    ([CELERY, "-A", "alarm_access", "worker", "-P", "threads"], "threads"),
    ([CELERY, "-A", "alarm_access", "worker", "-Pgevent"], "gevent"),
    ([CELERY, "-A", "alarm_access", "inspect", "ping"], None),
    (["manage.py", "run_access", "worker"], None),
    (["/venv/bin/pytest", "tests"], None),
])
def test_worker_pool_is_read_from_the_command_line(argv: list[str], pool: str | None) -> None:
    assert worker_pool(argv, {}) == pool


def test_worker_pool_falls_back_to_celery_worker_pool() -> None:
    assert worker_pool([CELERY, "-A", "alarm_access", "worker"], {"CELERY_WORKER_POOL": "solo"}) == "solo"
    assert "solo" in SINGLE_PROCESS_POOLS and "prefork" not in SINGLE_PROCESS_POOLS


def test_multiprocess_dir_is_fresh_and_old_workers_dirs_are_removed(tmp_path: Path) -> None:
    mine = tmp_path / f"worker-{os.getpid()}"
    mine.mkdir()
    (mine / "counter_1.db").write_bytes(b"old")
    dead = tmp_path / "worker-999999999"  # beyond any pid_max: not running
    dead.mkdir()
    alive = tmp_path / f"worker-{os.getppid()}"
    alive.mkdir()
    assert fresh_multiprocess_dir(tmp_path, os.getpid()) == mine
    assert list(mine.iterdir()) == [] and not dead.exists() and alive.exists()


def wait_for(check: Callable[[], None], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except (AssertionError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def scrape(worker: Worker) -> str:
    return httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=5).text


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.integration
def test_prefork_worker_serves_the_metrics_of_its_children(
    env: AccessEnv, vm: VictoriaMetrics, private_redis: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    env.env["TSDB_URL"] = vm.url
    strategies, hosts = write_world(tmp_path)
    env.manage("load_strategies", str(strategies))
    env.manage("load_hosts", str(hosts))
    now = int(time.time())
    t = now - now % INTERVAL
    samples = samples_at([t - k * INTERVAL for k in range(3, 6)])
    ingest(vm, samples)
    env.env["CELERY_BROKER_URL"] = private_redis.url
    client = redis.Redis.from_url(redis_url)
    publisher = Celery(broker=private_redis.url, set_as_current=False)
    worker = start_worker(env.env, tmp_path, "prefork", private_redis.url, pool_args=(
        "--pool=prefork", "--concurrency=2", "--max-tasks-per-child=1"))
    try:
        main_pid = worker.process.pid
        directory = Path(env.env["ALARM_ACCESS_VAR_DIR"]) / "metrics" / f"worker-{main_pid}"
        assert directory.is_dir(), worker.log()[-3000:]
        assert sample(scrape(worker), 'alarm_access_data_pulls_skipped_total{reason="bad_payload"}') is None

        for n in range(2):
            publisher.send_task("alarm_access.run_access_data", args=[{"bad": n}], queue="celery_service")
        done = env.manage("run_access", "-H", "celery", "--access-type", "data", "--once")
        assert "Traceback" not in done.stderr
        wait_for(lambda: assert_exactly(client, env.prefix, samples), timeout=60)

        def counted() -> None:
            text = scrape(worker)
            assert sample(text, 'alarm_access_data_pulls_skipped_total{reason="bad_payload"}') == 2
            assert sample(text, 'alarm_access_data_pulls_total{exception="",status="success"}') == len(STRATEGIES)
        wait_for(counted, timeout=30)

        text = scrape(worker)
        assert sample(text, "alarm_access_data_pull_duration_seconds_count") == len(STRATEGIES)
        assert sample(text, 'alarm_access_data_pull_duration_seconds_bucket{le="+Inf"}') == len(STRATEGIES)
        pushed = sum(len(ids) for ids in expected_records(samples).values())
        assert sample(text, 'alarm_access_records_pushed_total{access_type="data"}') == pushed
        assert sample(text, "alarm_access_data_records_pulled_total") == len(samples)
        assert (sample(text, 'alarm_access_records_dropped_total{access_type="data",reason="host_disabled"}')
                or 0) == len(samples) - pushed
        assert (sample(text, 'alarm_access_source_query_duration_seconds_count{data_source_label="bk_monitor",'
                             'data_type_label="time_series"}') or 0) >= len(STRATEGIES)
        for runtime in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_start_time_seconds",
                        'python_gc_objects_collected_total{generation="0"}'):
            assert (sample(text, runtime) or 0) > 0, runtime
        assert_conventions(text)

        # the counts come from the children: one file set per process, the main's and those of 5+ children
        # (one task each), most of them already gone; an exited child's live gauges were dropped
        children = {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("counter_*.db")} - {main_pid}
        assert len(children) >= 5, sorted(directory.iterdir())
        assert (directory / f"counter_{main_pid}.db").exists()
        exited = {pid for pid in children if not running(pid)}
        assert exited
        assert not [pid for pid in exited if (directory / f"gauge_livesum_{pid}.db").exists()]
    finally:
        worker.stop()
        client.close()
