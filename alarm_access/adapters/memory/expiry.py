"""`ExpiringDict`: values that expire the way Redis keys do, on an injected clock (a `ManualClock` in tests).

Used by the fakes of Redis-backed ports (`adapters.memory.guards`, `adapters.memory.batches`) so that TTL
behaviour is testable by advancing a clock instead of sleeping. Times are whole milliseconds, as in Redis:
an entry given a TTL of `ms` at time `t` exists while `now <= t + ms` and is gone from `t + ms + 1` on
(Redis' `now > when` rule); `pttl`/`ttl` answer like PTTL/TTL (-2 absent, -1 no expiry; TTL rounds to the
nearest second).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ExpiringDict(Generic[K, V]):
    """A mapping whose entries may carry an expiry; expired entries are dropped when looked at."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._values: dict[K, tuple[V, int | None]] = {}

    def now_ms(self) -> int:
        """The clock in whole milliseconds (rounded, so that `ManualClock.advance(0.001)` moves it by 1 ms)."""
        return round(self._clock() * 1000)

    def _live(self, key: K) -> tuple[V, int | None] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] is not None and self.now_ms() > entry[1]:
            del self._values[key]
            return None
        return entry

    def get(self, key: K) -> V | None:
        entry = self._live(key)
        return None if entry is None else entry[0]

    def set(self, key: K, value: V, ttl_ms: int | None) -> None:
        """SET (with PX `ttl_ms` when given, else no expiry). A TTL <= 0 is the caller's error (Redis refuses it)."""
        if ttl_ms is not None and ttl_ms <= 0:
            raise ValueError(f"invalid expire time {ttl_ms} ms")
        self._values[key] = (value, None if ttl_ms is None else self.now_ms() + ttl_ms)

    def replace(self, key: K, value: V) -> None:
        """Change the value of `key`, keeping its expiry (INCRBY/DECRBY on an existing key); no expiry if new."""
        entry = self._live(key)
        self._values[key] = (value, None if entry is None else entry[1])

    def expire(self, key: K, ttl_ms: int) -> bool:
        """PEXPIRE: a TTL <= 0 deletes the key. False when the key does not exist."""
        entry = self._live(key)
        if entry is None:
            return False
        if ttl_ms <= 0:
            del self._values[key]
        else:
            self._values[key] = (entry[0], self.now_ms() + ttl_ms)
        return True

    def delete(self, key: K) -> bool:
        return self._live(key) is not None and self._values.pop(key, None) is not None

    def pttl(self, key: K) -> int:
        """Milliseconds left: -2 when absent, -1 when the key has no expiry."""
        entry = self._live(key)
        if entry is None:
            return -2
        return -1 if entry[1] is None else entry[1] - self.now_ms()

    def ttl(self, key: K) -> int:
        """Seconds left, rounded to the nearest second as Redis' TTL does; -2 / -1 as `pttl`."""
        left = self.pttl(key)
        return left if left < 0 else (left + 500) // 1000

    def keys(self) -> list[K]:
        """The live keys."""
        return [key for key in list(self._values) if self._live(key) is not None]
