"""Shared fixtures: the machine's Redis (TEST_REDIS_URL), private Redis servers, subprocess environments."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.services.access_env import AccessEnv, access_env
from tests.services.redis_server import RedisServer, start_redis
from tests.services.victoria import VictoriaMetrics, start_victoria

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    """The shared test Redis. Missing Redis FAILS (CI must not skip): see scripts/ensure-services.sh."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {TEST_REDIS_URL} is not answering ({exc}); run scripts/ensure-services.sh")
    finally:
        client.close()
    return TEST_REDIS_URL


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the shared test Redis (bytes replies)."""
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    """A key prefix of the shared test Redis no other test uses; its keys are deleted after the test."""
    name = f"test.{uuid.uuid4().hex}"
    yield name
    keys = list(client.scan_iter(match=f"{name}.*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def vm(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A real VictoriaMetrics of the test's own, stopped afterwards."""
    storage = tmp_path / "vm"
    storage.mkdir()
    with start_victoria(storage) as server:
        yield server


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    directory = tmp_path / f"redis-{uuid.uuid4().hex[:6]}"
    directory.mkdir()
    with start_redis(directory) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, redis_url: str) -> Iterator[AccessEnv]:
    """A migrated private database + key prefix on the shared Redis, for `manage.py` subprocesses."""
    with access_env(tmp_path, redis_url, ALARM_ACCESS_DRAIN_TIMEOUT="10") as access:
        yield access
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{access.prefix}.*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
