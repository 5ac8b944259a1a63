"""Service lifecycle: a loop service, the supervisor that owns signals, and the clock.

Contract of a `Service`: `start()` returns at once (work runs in a thread); `stop()` asks it to stop intake
and drain, returns at once, and is safe to call from a signal handler; `join(timeout)` waits up to `timeout`
seconds and returns True once the service has fully stopped (flushed, committed, closed what it opened).
`exit_code` is meaningful after the service stopped: 0 when every cycle succeeded (or the service was asked to
stop), 1 when the last cycle failed.

Signals are installed in exactly one place: `Supervisor.run`.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Protocol

from alarm_access import metrics
from alarm_access.logs import ctx

logger = logging.getLogger("alarm_access.runtime")


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class Service(Protocol):
    name: str

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self, timeout: float | None) -> bool: ...
    @property
    def exit_code(self) -> int: ...
    def is_ready(self) -> bool: ...
    def is_alive(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class CycleOutcome:
    """What one cycle did: `ok` False when any unit of work failed; `next_at` the epoch of the next wake-up."""

    ok: bool
    next_at: float


@dataclass(frozen=True, slots=True)
class LoopLimits:
    once: bool = False
    max_cycles: int | None = None
    max_uptime: float | None = None
    min_interval: float = 0.0


#: a loop is stuck (`/healthz` 503) when its next cycle has not finished STALL_FACTOR x its cadence after it was
#: due; the cadence is at least STALL_FLOOR seconds, so a pull that waits out its network timeouts is not "stuck"
STALL_FACTOR = 10
STALL_FLOOR = 30.0


class LoopService:
    """Runs `cycle(now)` in a thread until stopped or a limit is reached, then calls `close()`.

    Alive (`is_alive`) while the loop keeps completing cycles: the deadline of the next one is its wake-up
    time plus `STALL_FACTOR` x the cadence the cycle asked for (at least `STALL_FLOOR`). A cycle hung on a
    dependency past that deadline makes the service not alive, so an orchestrator can restart it.

    The cycle decides when it wants to run next (`CycleOutcome.next_at`); the loop sleeps on an Event so that
    `stop()` interrupts the wait at once. A cycle in progress is never interrupted: `stop()` lets it finish
    (its push and commit included), which is what "drain" means here.
    """

    def __init__(
        self,
        name: str,
        cycle: Callable[[float], CycleOutcome],
        close: Callable[[], None],
        limits: LoopLimits,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self._cycle = cycle
        self._close = close
        self._limits = limits
        self._clock = clock or SystemClock()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-loop", daemon=True)
        self._last_ok = True
        self._exit_code = 0
        self._alive_until = self._clock.now() + STALL_FACTOR * STALL_FLOOR

    def start(self) -> None:
        metrics.UP.labels(self.name).set(1)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float | None) -> bool:
        return self._done.wait(timeout)

    @property
    def exit_code(self) -> int:
        return self._exit_code

    def is_ready(self) -> bool:
        return self._last_ok and not self._done.is_set()

    def is_alive(self) -> bool:
        return not self._done.is_set() and self._clock.now() <= self._alive_until

    def _run(self) -> None:
        started = self._clock.now()
        cycles = 0
        try:
            while not self._stopping.is_set():
                now = self._clock.now()
                try:
                    outcome = self._cycle(now)
                except Exception:
                    logger.exception("cycle failed", extra=ctx(service=self.name))
                    outcome = CycleOutcome(ok=False, next_at=now + max(self._limits.min_interval, 1.0))
                self._record(outcome)
                cadence = max(outcome.next_at - now, self._limits.min_interval, STALL_FLOOR)
                self._alive_until = max(outcome.next_at, self._clock.now()) + STALL_FACTOR * cadence
                cycles += 1
                if self._limit_reached(cycles, started):
                    break
                wait = max(outcome.next_at - self._clock.now(), self._limits.min_interval, 0.0)
                self._stopping.wait(wait)
        finally:
            try:
                self._close()
            except Exception:
                logger.exception("close failed", extra=ctx(service=self.name))
                self._exit_code = 1
            metrics.UP.labels(self.name).set(0)
            self._done.set()

    def _record(self, outcome: CycleOutcome) -> None:
        self._last_ok = outcome.ok
        self._exit_code = 0 if outcome.ok else 1
        metrics.READY.labels(self.name).set(1 if outcome.ok else 0)
        metrics.CYCLES.labels(self.name, "success" if outcome.ok else "failed").inc()

    def _limit_reached(self, cycles: int, started: float) -> bool:
        limits = self._limits
        if limits.once:
            return True
        if limits.max_cycles is not None and cycles >= limits.max_cycles:
            logger.info("max cycles reached", extra=ctx(service=self.name, cycles=cycles))
            return True
        if limits.max_uptime is not None and self._clock.now() - started >= limits.max_uptime:
            logger.info("max uptime reached", extra=ctx(service=self.name, cycles=cycles))
            return True
        return False


class ServiceGroup:
    """Several services run as one (the `alert` receiver and its stream consumer): started together; when one
    finishes, on a stop or on its own, the others are stopped too; `close` runs once, after all finished (the
    ports they share). Ready while every member is; the exit code is the worst member's."""

    def __init__(self, name: str, services: Sequence[Service], close: Callable[[], None]) -> None:
        self.name = name
        self._services = tuple(services)
        self._close = close
        self._closed = False

    def start(self) -> None:
        for service in self._services:
            service.start()

    def stop(self) -> None:
        for service in self._services:
            service.stop()

    def join(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not any(service.join(0) for service in self._services):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            time.sleep(0.05 if left is None else min(0.05, left))
        self.stop()  # one finished: the group does not run half of itself
        for service in self._services:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not service.join(left):
                return False
        if not self._closed:
            self._closed = True
            self._close()
        return True

    @property
    def exit_code(self) -> int:
        return max(service.exit_code for service in self._services)

    def is_ready(self) -> bool:
        return all(service.is_ready() for service in self._services)

    def is_alive(self) -> bool:
        return all(service.is_alive() for service in self._services)


class Supervisor:
    """Owns SIGTERM/SIGINT for one service: stop intake, wait up to `drain_timeout`, report the exit code."""

    #: exit code when the service did not finish draining within its deadline
    DRAIN_TIMEOUT_EXIT = 3

    def __init__(self, service: Service, drain_timeout: float) -> None:
        self._service = service
        self._drain_timeout = drain_timeout
        self._signalled = threading.Event()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signalled.set()
        self._service.stop()

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._service.start()
            while not self._signalled.is_set() and not self._service.join(0.2):
                pass
            # A signal may land while the service is already finishing: it is still a requested stop.
            return self._drain() if self._signalled.is_set() else self._service.exit_code
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _drain(self) -> int:
        logger.info("stop requested, draining", extra=ctx(service=self._service.name,
                                                          deadline_s=self._drain_timeout))
        if self._service.join(self._drain_timeout):
            logger.info("stopped cleanly", extra=ctx(service=self._service.name))
            return 0
        logger.error("drain deadline passed, exiting with work in flight",
                     extra=ctx(service=self._service.name, deadline_s=self._drain_timeout))
        return self.DRAIN_TIMEOUT_EXIT
