"""Metrics, health and readiness of a running `run_access`, and the `healthz` command."""

from __future__ import annotations

import json
import signal

import httpx
import pytest

from tests.services.access_env import AccessEnv, stop
from tests.services.exposition import assert_conventions
from tests.services.victoria import free_port

pytestmark = pytest.mark.integration


def test_metrics_health_and_readiness_endpoints(env: AccessEnv) -> None:
    env.manage("demo", "prepare")
    port = free_port()
    process = env.spawn("run_access", "--access-type", "data", "--metrics-port", str(port), "--min-interval", "0.5")
    base = f"http://127.0.0.1:{port}"
    try:
        env.wait_for_log("group pulled")
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'alarm_access_data_pulls_total{exception="",status="success"}' in metrics
        assert "alarm_access_data_strategy_groups 3.0" in metrics
        assert 'alarm_access_records_dropped_total{access_type="data",reason="host_disabled"}' in metrics
        assert 'alarm_access_cycles_total{access_type="data",status="success"}' in metrics
        assert "alarm_access_data_pull_duration_seconds_count " in metrics
        assert 'alarm_access_source_query_duration_seconds_bucket{data_source_label="bk_monitor",' in metrics
        assert "process_resident_memory_bytes " in metrics and "process_cpu_seconds_total " in metrics
        assert "python_info{" in metrics and "python_gc_objects_collected_total{" in metrics
        assert_conventions(metrics)
        assert httpx.get(f"{base}/nope", timeout=5).status_code == 404
        checked = env.manage("healthz", "--url", base)
        assert json.loads(checked.stdout)["healthy"] is True
    finally:
        assert stop(process, signal.SIGTERM) == 0


def test_metrics_bind_the_address_of_alarm_access_metrics_addr(env: AccessEnv) -> None:
    env.manage("demo", "prepare")
    port = free_port()
    env.env["ALARM_ACCESS_METRICS_ADDR"] = "127.0.0.2"  # the whole 127/8 is loopback: bound there, not on .1
    process = env.spawn("run_access", "--access-type", "data", "--metrics-port", str(port), "--min-interval", "0.5")
    try:
        env.wait_for_log("group pulled")
        assert "alarm_access_cycles_total" in httpx.get(f"http://127.0.0.2:{port}/metrics", timeout=5).text
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        assert stop(process, signal.SIGTERM) == 0


def test_healthz_checks_database_and_redis(env: AccessEnv) -> None:
    report = json.loads(env.manage("healthz").stdout)
    assert report["healthy"] is True
    assert set(report["checks"]) == {"database", "redis"}

    env.env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    failed = env.manage("healthz", "--timeout", "1", check=False)
    assert failed.returncode == 1
    broken = json.loads(failed.stdout)
    assert broken["healthy"] is False and broken["checks"]["redis"]["ok"] is False
    assert broken["checks"]["database"]["ok"] is True
