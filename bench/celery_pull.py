"""Groups per second of `data` pulls: 2 Celery workers (`-H celery`) against `-H process`, same input, same run.

    .venv/bin/python -m bench.celery_pull [--groups 200] [--series 20] [--tsdb-latency-ms 0] [--timeout 180]

One VictoriaMetrics, one private Redis (broker and hand-off keys) and one migrated database, all started
here in a temporary directory. `--groups` strategies, each its own group (its own metric), each pulling
`--series` series x 5 one-minute buckets. `--tsdb-latency-ms` puts a proxy in front of VictoriaMetrics that
holds every query that long (a remote or loaded TSDB). Then, on two key prefixes:

* process: `run_access --access-type data --once` pulls every group inline, one after the other;
* celery: two `celery worker --pool=solo` processes, warmed up (each has loaded its catalog), and
  `run_access -H celery --access-type data --once` publishes one job per group.

The rate is groups over the span of the pulls themselves, read from the logs' millisecond timestamps:
from the groups being synced (process) or the first job received (celery) to the last "group pulled".
Startup (Django, catalog load, worker boot) is outside the span and reported as `*_wall_s`. Both runs
must deliver every group (their checkpoints are counted), or the bench fails. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from datetime import datetime
from pathlib import Path

import redis

from alarm_access.access.data.jobs import PullJob
from alarm_access.adapters.celery.app import RUN_DATA_TASK, make_celery_app
from tests.e2e.test_celery_slow_source import SlowProxy
from tests.services.access_env import AccessEnv, access_env
from tests.services.celery_worker import Worker, start_worker
from tests.services.redis_server import start_redis
from tests.services.victoria import VictoriaMetrics, start_victoria

INTERVAL = 60
BUCKETS = 5
_STAMP = re.compile(r"^ts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z .*")


def strategy(n: int) -> dict[str, object]:
    sid = 1000 + n
    return {
        "id": sid, "bk_biz_id": 2, "name": f"bench {n}", "is_enabled": True, "update_time": 1569044491,
        "items": [{"id": sid, "name": f"m{n}", "target": [[]],
                   "algorithms": [{"id": sid, "type": "Threshold", "level": 1, "config": []}],
                   "query_configs": [{"data_source_label": "bk_monitor", "data_type_label": "time_series",
                                      "result_table_id": "bench.app", "metric_field": f"m{n}", "agg_method": "SUM",
                                      "agg_interval": INTERVAL, "agg_dimension": ["instance"],
                                      "agg_condition": []}]}],
    }


def stamps(text: str, needle: str) -> list[float]:
    """Epoch seconds of the log lines containing `needle`."""
    out = []
    for line in text.splitlines():
        match = _STAMP.match(line)
        if match and needle in line:
            out.append(datetime.fromisoformat(match.group(1) + "+00:00").timestamp())
    return out


def delivered(client: redis.Redis, prefix: str) -> int:
    return sum(1 for _ in client.scan_iter(f"{prefix}.checkpoint.*", count=1000))


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"bench failed: {what} within {timeout}s")
        time.sleep(0.1)


def run_celery(env: AccessEnv, client: redis.Redis, broker: str, groups: int, timeout: float) -> tuple[float, float]:
    workers: list[Worker] = []
    try:
        workers = [start_worker(env.env, env.directory, f"bench{n}", broker, queues=("celery_service",))
                   for n in range(2)]
        app = make_celery_app(broker, 3600)
        for n in range(4):  # each worker loads its catalog on its first job (an unknown group: skipped)
            app.send_task(RUN_DATA_TASK, args=[PullJob(f"warmup{n}", 0, 0, INTERVAL, 0).to_json()])
        wait_until(lambda: all("unknown_group" in w.log() for w in workers), 60, "worker warm-up")
        app.close()
        started = time.monotonic()
        env.manage("run_access", "-H", "celery", "--access-type", "data", "--once", timeout=600)
        wait_until(lambda: delivered(client, env.prefix) >= groups, timeout, "celery delivery of every group")
        wall = time.monotonic() - started
        logs = "\n".join(w.log() for w in workers)
        return wall, _span(logs, "run_access_data[access.data.", groups)
    finally:
        for worker in workers:
            worker.stop()


def _span(log: str, start_needle: str, groups: int) -> float:
    starts, ends = stamps(log, start_needle), stamps(log, "group pulled")
    if not starts or len(ends) < groups:
        raise SystemExit(f"bench failed: {len(ends)} 'group pulled' lines for {groups} groups")
    return max(ends) - min(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--tsdb-latency-ms", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "vm").mkdir()
        (directory / "redis").mkdir()
        with start_victoria(directory / "vm") as vm, start_redis(directory / "redis") as broker:
            proxy = SlowProxy(vm.url, args.tsdb_latency_ms / 1000) if args.tsdb_latency_ms else None
            try:
                result = measure(directory, vm, broker.url, tsdb_url=proxy.url if proxy else vm.url,
                                 groups=args.groups, series=args.series, timeout=args.timeout)
            finally:
                if proxy:
                    proxy.close()
    print(json.dumps({**result, "tsdb_latency_ms": args.tsdb_latency_ms}))


def measure(directory: Path, vm: VictoriaMetrics, redis_url: str, *, tsdb_url: str, groups: int, series: int,
            timeout: float) -> dict[str, object]:
    now = int(time.time())
    buckets = [now - now % INTERVAL - k * INTERVAL for k in range(2, 2 + BUCKETS)]
    vm.import_samples((f"bench_app_m{g}", {"instance": f"i-{s}"}, ts, float(s))
                      for g in range(groups) for s in range(series) for ts in buckets)
    (directory / "s.json").write_text(json.dumps([strategy(g) for g in range(groups)]))
    client = redis.Redis.from_url(redis_url)
    with access_env(directory, redis_url, TSDB_URL=tsdb_url, CELERY_BROKER_URL=redis_url) as env:
        env.manage("load_strategies", str(directory / "s.json"))
        process = env.spawn("run_access", "--access-type", "data", "--once")
        started = time.monotonic()
        process.wait(600)
        process_wall = time.monotonic() - started
        if delivered(client, env.prefix) != groups:
            raise SystemExit(f"bench failed: process mode delivered {delivered(client, env.prefix)} of {groups}")
        process_span = _span(env.log(), "strategy groups synced", groups)
        env.env["ALARM_ACCESS_KEY_PREFIX"] = env.prefix = f"{env.prefix}.celery"
        celery_wall, celery_span = run_celery(env, client, redis_url, groups, timeout)
    client.close()
    return {
        "groups": groups, "points_per_group": series * BUCKETS, "workers": 2,
        "groups_per_s": round(groups / celery_span, 1), "process_groups_per_s": round(groups / process_span, 1),
        "celery_span_s": round(celery_span, 2), "process_span_s": round(process_span, 2),
        "celery_wall_s": round(celery_wall, 2), "process_wall_s": round(process_wall, 2),
    }


if __name__ == "__main__":
    main()
