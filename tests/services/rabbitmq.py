"""A private RabbitMQ virtual host on the machine's broker (127.0.0.1:5672, guest/guest) for one test.

Celery queue names are fixed (`celery_service_access_event`), so tests that share one broker would steal
each other's tasks; a vhost of their own isolates them. Created and deleted with `rabbitmqctl`; a broker
that is down or a missing `rabbitmqctl` FAILS the test (CI must not skip). `RABBITMQ_HOST` overrides the
host:port of the AMQP URL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def _ctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")


@contextmanager
def private_vhost() -> Iterator[str]:
    """Yield `amqp://guest:guest@HOST/<vhost>` of a fresh vhost; delete it afterwards."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl not found: the RabbitMQ broker of the machine is needed (scripts/ensure-services.sh)")
    vhost = f"test-{uuid.uuid4().hex[:10]}"
    _ctl("add_vhost", vhost)
    try:
        _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{os.environ.get('RABBITMQ_HOST', '127.0.0.1:5672')}/{vhost}"
    finally:
        _ctl("delete_vhost", vhost)


@pytest.fixture
def rabbitmq_url() -> Iterator[str]:
    with private_vhost() as url:
        yield url


def confirm_mode_channels(url: str) -> int:
    """How many open channels of the vhost of `url` are in publisher-confirm mode."""
    vhost = url.rsplit("/", 1)[1]
    done = subprocess.run(["rabbitmqctl", "-q", "list_channels", "--no-table-headers", "vhost", "confirm"],
                          capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split("\t") for line in done.stdout.splitlines() if line.strip()]
    return sum(1 for row in rows if len(row) == 2 and row[0] == vhost and row[1].strip() == "true")
