"""A token bucket per integration: `rate` requests per second, bursts of `burst`. Time is a parameter."""

from __future__ import annotations

import math
import threading


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = max(burst, 1.0)
        self._tokens = self._burst
        self._at: float | None = None
        self._lock = threading.Lock()

    def take(self, now: float) -> float:
        """0 when a request may go now (a token is taken); else the seconds until one may."""
        with self._lock:
            if self._at is not None:
                self._tokens = min(self._burst, self._tokens + max(now - self._at, 0.0) * self._rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self._rate


def retry_after(seconds: float) -> str:
    """The `Retry-After` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
