"""`Supervisor.run` with a fake service: SIGTERM drains within the deadline (exit 0) or reports the timeout
(`DRAIN_TIMEOUT_EXIT`); without a signal the service's own exit code; signal handlers are restored.

The signal is sent to this process from a helper thread once the service started; Python runs the handler in
the main thread, which sits in `Supervisor.run`. Every wait is on an Event, bounded.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from alarm_access.runtime import Supervisor

WAIT = 5.0


class FakeService:
    """A `Service` whose stop is observable; it finishes on `stop()` only when `drains`."""

    name = "fake"

    def __init__(self, *, drains: bool, exit_code: int = 0) -> None:
        self.drains = drains
        self._exit_code = exit_code
        self.started = threading.Event()
        self.stop_called = threading.Event()
        self.finished = threading.Event()

    def start(self) -> None:
        self.started.set()

    def stop(self) -> None:
        self.stop_called.set()
        if self.drains:
            self.finished.set()

    def join(self, timeout: float | None) -> bool:
        return self.finished.wait(timeout)

    @property
    def exit_code(self) -> int:
        return self._exit_code

    def is_ready(self) -> bool:
        return not self.finished.is_set()

    def is_alive(self) -> bool:
        return not self.finished.is_set()


@pytest.fixture
def handlers() -> Iterator[None]:
    """Whatever a test does, the process keeps its own SIGTERM/SIGINT handlers."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


def send_once_started(service: FakeService, sig: signal.Signals) -> threading.Thread:
    def send() -> None:
        if service.started.wait(WAIT):
            os.kill(os.getpid(), sig)

    thread = threading.Thread(target=send, name="signal-sender", daemon=True)
    thread.start()
    return thread


@pytest.mark.usefixtures("handlers")
def test_sigterm_stops_the_service_and_a_drain_within_the_deadline_exits_0() -> None:
    before = signal.getsignal(signal.SIGTERM)
    service = FakeService(drains=True, exit_code=1)  # a stop on request is a clean exit, whatever the cycles did
    sender = send_once_started(service, signal.SIGTERM)
    assert Supervisor(service, drain_timeout=WAIT).run() == 0
    sender.join(WAIT)
    assert service.stop_called.is_set() and service.finished.is_set()
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.usefixtures("handlers")
def test_sigint_is_a_stop_request_too() -> None:
    service = FakeService(drains=True)
    sender = send_once_started(service, signal.SIGINT)
    assert Supervisor(service, drain_timeout=WAIT).run() == 0
    sender.join(WAIT)
    assert service.stop_called.is_set()


@pytest.mark.usefixtures("handlers")
def test_a_service_that_does_not_stop_by_the_deadline_exits_with_drain_timeout() -> None:
    service = FakeService(drains=False)
    sender = send_once_started(service, signal.SIGTERM)
    started = time.monotonic()
    assert Supervisor(service, drain_timeout=0.3).run() == Supervisor.DRAIN_TIMEOUT_EXIT == 3
    waited = time.monotonic() - started
    sender.join(WAIT)
    assert service.stop_called.is_set() and not service.finished.is_set()
    assert 0.3 <= waited < WAIT  # it waited the deadline out, and no longer


@pytest.mark.usefixtures("handlers")
def test_without_a_signal_run_returns_the_service_exit_code_and_restores_the_handlers() -> None:
    def mine(_signum: int, _frame: object) -> None:
        pass  # only its identity matters

    signal.signal(signal.SIGTERM, mine)
    service = FakeService(drains=True, exit_code=1)
    service.finished.set()  # the service ends by itself (e.g. --once)
    assert Supervisor(service, drain_timeout=WAIT).run() == 1
    assert not service.stop_called.is_set()
    assert signal.getsignal(signal.SIGTERM) is mine
