"""`run_access` as a user meets it: help, one-line errors with exit code 2, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.services.access_env import ROOT, AccessEnv, stop


def run_access(*args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"} | overrides
    return subprocess.run([sys.executable, "manage.py", "run_access", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=60, check=False, env=environment)


def test_help_documents_every_argument() -> None:
    done = run_access("--help")
    assert done.returncode == 0
    for flag in ("--service-type", "--handler-type", "--access-type", "--hash-ring", "--once", "--max-cycles",
                 "--max-uptime", "--min-interval", "--metrics-port", "real_time_data", "incident"):
        assert flag in done.stdout, flag


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("--access-type", "nope"), "--access-type"),
        (("--access-type", "data", "--hash-ring", "2"), "--hash-ring"),
        (("--access-type", "data", "-H", "thread"), "--handler-type"),
        (("--access-type", "data", "-s", "detect"), "--service-type"),
        (("--access-type", "data", "--max-cycles", "x"), "--max-cycles"),
        (("--access-type", "data", "--max-cycles", "0"), "--max-cycles"),
        ((), "--access-type is required"),
        (("--access-type", "event", "-H", "celery"), "-H celery needs CELERY_BROKER_URL"),
        (("--access-type", "data", "-H", "celery"), "-H celery needs CELERY_BROKER_URL"),
        (("--access-type", "data", "--surprise"), "unrecognized arguments"),
        (("--access-type", "data", "--session-ttl", "0.5"), "--session-ttl must be a finite number >= 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: tuple[str, ...], mentions: str) -> None:
    done = run_access(*args)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert mentions in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("overrides", "mentions"),
    [
        ({"ALARM_ACCESS_METRICS_PORT": "70000"}, "--metrics-port"),
        ({"DATABASE_URL": "nosuchdb://host/db"}, "DATABASE_URL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL"),
        ({"ALARM_ACCESS_DATA_SOURCE_URLS": "bk_monitor=http://x"}, "ALARM_ACCESS_DATA_SOURCE_URLS"),
        ({"ALARM_ACCESS_DATA_SOURCE_URLS": "bk_monitor:time_series=ftp://x"}, "ALARM_ACCESS_DATA_SOURCE_URLS"),
        ({"ALARM_ACCESS_DATA_QOS_SOURCES": "bk_monitor"}, "ALARM_ACCESS_DATA_QOS_SOURCES"),
        ({"ALARM_ACCESS_DATA_TIME_DELAY": "soon"}, "ALARM_ACCESS_DATA_TIME_DELAY: invalid value"),
        ({"ALARM_ACCESS_EVENT_BATCH_SIZ": "5"}, "unknown setting(s) ALARM_ACCESS_EVENT_BATCH_SIZ"),
        ({"KAFKA_GROUP_PREFIX": ""}, "KAFKA_GROUP_PREFIX must not be empty"),
    ],
)
def test_bad_environment_exits_2_with_one_line(overrides: dict[str, str], mentions: str) -> None:
    done = run_access("--access-type", "data", "--once", **overrides)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert mentions in lines[0]
    assert "Traceback" not in done.stderr


def test_unreachable_database_at_start_exits_1_with_one_line() -> None:
    done = run_access("--access-type", "event", "--once", DATABASE_URL="postgres://postgres@127.0.0.1:1/postgres",
                      KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", ALARM_ACCESS_EVENT_TOPICS="1000:events")
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "event topic lookup failed" in lines[0], done.stderr


def test_metrics_port_in_use_exits_2_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        done = run_access("--access-type", "data", "--once", "--metrics-port", str(taken.getsockname()[1]))
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--metrics-port" in lines[0], done.stderr


def test_help_loads_no_client_library() -> None:
    """`--help` answers without importing the adapters (Kafka, Celery, Redis clients): they load on use."""
    probe = ("import sys; sys.argv = ['manage.py', 'run_access', '--help']; import runpy\n"
             "try: runpy.run_path('manage.py', run_name='__main__')\n"
             "except SystemExit: pass\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('confluent_kafka', 'celery', 'redis')"
             " or m.startswith('alarm_access.adapters')), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, text=True, capture_output=True, timeout=60,
                          check=False)
    assert "--access-type" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


@pytest.mark.parametrize("delay", [0.4, 0.8])
def test_sigterm_during_start_up_exits_zero(env: AccessEnv, delay: float) -> None:
    """Whether the signal lands while Django imports, while the service is built or once it runs: exit 0.
    (Not earlier than 0.4 s: before the interpreter reaches manage.py's first line no handler can exist, and on
    a loaded machine that took longer than 0.1 s.)"""
    process = env.spawn("run_access", "--access-type", "data", "--min-interval", "0.5")
    time.sleep(delay)
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)  # its threads' stacks, into the log (manage.py's faulthandler)
        time.sleep(1)
        process.kill()
        process.wait()
        raise AssertionError(f"no exit within 15 s of SIGTERM at {delay} s:\n{env.log()[-6000:]}") from None
    assert code == 0, env.log()
    assert "Traceback" not in env.log()


@pytest.mark.integration
def test_sigterm_drains_and_exits_zero(env: AccessEnv) -> None:
    env.manage("demo", "prepare")
    process = env.spawn("run_access", "--access-type", "data", "--min-interval", "0.5")
    try:
        env.wait_for_log("group pulled")
    finally:
        started = time.monotonic()
        code = stop(process, signal.SIGTERM, timeout=15)
    assert code == 0, env.log()
    assert time.monotonic() - started < 12  # the drain deadline (10 s) plus start-up slack
    assert "stopped cleanly" in env.log()


def test_celery_worker_without_broker_exits_2_with_one_line() -> None:
    """Workers need CELERY_BROKER_URL exactly as the `-H celery` scheduler does (no silent local default)."""
    environment = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"}
    done = subprocess.run([sys.executable, "-m", "celery", "-A", "alarm_access", "worker", "--pool=solo"],
                          cwd=ROOT, text=True, capture_output=True, timeout=60, check=False, env=environment)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["alarm_access worker: error: celery workers need CELERY_BROKER_URL (a redis:// or amqp:// "
                     "broker)"], done.stderr
