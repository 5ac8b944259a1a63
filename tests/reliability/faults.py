"""The outages of the reliability suite, each checked to have really happened: a stopped Redis refuses
connections, a paused one accepts and never answers, a "restarted" broker reset the service's open
connections and refused new ones. A fault that did not happen fails the trial (`FaultMissed`)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import redis

from tests.reliability import harness
from tests.services.redis_server import RedisServer
from tests.services.tcp_proxy import OutageProxy


class FaultMissed(AssertionError):
    """The fault was not injected as the scenario says, so the trial would prove nothing."""


def _redis_answers(server: RedisServer, timeout: float) -> bool:
    client = redis.Redis(port=server.port, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


@dataclass
class Faults:
    """What the scenarios can break: a private Redis, a proxy in front of the broker (None: not used)."""

    redis: RedisServer | None = None
    broker: OutageProxy | None = None

    def stop_redis(self, seconds: float = harness.REDIS_DOWN_S) -> None:
        """Stop Redis (SIGTERM: its append-only file is flushed), keep it down `seconds`, start it again."""
        server = self._redis()
        server.stop()
        if not _refused(server.port):
            raise FaultMissed(f"Redis on port {server.port} still accepts connections after its stop")
        time.sleep(seconds)  # the outage itself
        server.start()

    def pause_redis(self, seconds: float = harness.PAUSE_S) -> None:
        """SIGSTOP Redis for `seconds`: connections are accepted and nothing is answered."""
        server = self._redis()
        with server.paused():
            started = time.monotonic()
            if _redis_answers(server, timeout=0.5):
                raise FaultMissed(f"Redis on port {server.port} answered a PING while SIGSTOPped")
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))

    def restart_broker(self, seconds: float = harness.BROKER_DOWN_S) -> None:
        """Reset the broker's connections and refuse new ones for `seconds` (`OutageProxy.down`)."""
        if self.broker is None:
            raise FaultMissed("the scenario needs a broker proxy")
        started = time.monotonic()
        dropped = self.broker.down()
        try:
            if not _refused(self.broker.port):
                raise FaultMissed(f"the broker proxy on port {self.broker.port} accepted a connection when down")
            if dropped == 0:
                raise FaultMissed("the service had no broker connection open when the broker went down")
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))  # the outage itself
        finally:
            self.broker.up()

    def _redis(self) -> RedisServer:
        if self.redis is None:
            raise FaultMissed("the scenario needs a private Redis")
        return self.redis
