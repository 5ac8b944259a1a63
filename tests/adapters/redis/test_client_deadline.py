"""`connect()`'s clients against a real, hung (`SIGSTOP`) redis-server: one deadline per operation.

redis-py retries a command, the reconnect inside it and the health-check PING inside that, each with the
client's `Retry`; nested, 2 retries cost up to 10 timeouts on a fresh connection. With `OperationRetry`
every operation — fresh or pooled connection, health check due or not, command, script or MULTI/EXEC
pipeline — fails within `(retries + 1) * T` plus the 0.3 s backoff, and the client works again once Redis does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from alarm_access.adapters.redis.client import connect, redis_op
from alarm_access.kernel.errors import StoreUnavailable
from tests.services.redis_server import RedisServer

pytestmark = pytest.mark.integration

T = 0.5
BOUND = 3 * T + 0.5
MARGIN = 1.0


def transaction(client: redis.Redis) -> None:
    pipe: Any = client.pipeline()  # redis-py leaves watch() untyped
    pipe.watch("k")
    pipe.mget("k", "j")
    pipe.multi()
    pipe.set("k", 1)
    pipe.execute()


OPERATIONS: dict[str, Callable[[redis.Redis], object]] = {
    "command": lambda c: c.get("k"),
    "script": lambda c: c.eval("return 1", 0),
    "transaction": transaction,
}


@pytest.mark.parametrize("connection", ["fresh", "pooled", "health-checked"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_hung_redis_fails_one_operation_within_the_bound(
    private_redis: RedisServer, connection: str, operation: str
) -> None:
    client = connect(private_redis.url, timeout=T)
    if connection != "fresh":
        client.ping()
    if connection == "health-checked":  # idle past health_check_interval: a PING goes before the command
        for pooled in client.connection_pool._available_connections:
            pooled.next_health_check = 0
    try:
        with private_redis.paused():
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="Timeout"), redis_op(operation):
                OPERATIONS[operation](client)
            took = time.monotonic() - started
        assert took <= BOUND + MARGIN, f"{operation} on a {connection} connection took {took:.2f} s"
        assert client.set("k", 2) and client.get("k") == b"2"  # Redis answers again: so does the client
    finally:
        client.close()
