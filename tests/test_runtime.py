"""The loop service's limits and stop behaviour, driven by a fake clock (no sleeping on real time)."""

from __future__ import annotations

import threading

from alarm_access.runtime import STALL_FACTOR, STALL_FLOOR, CycleOutcome, LoopLimits, LoopService, ServiceGroup


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t


def make(
    limits: LoopLimits, outcomes: list[bool], clock: FakeClock, step: float = 10.0
) -> tuple[LoopService, list[float], threading.Event]:
    """A service whose cycle `n` takes `step` fake seconds and succeeds per `outcomes[n]` (last repeats)."""
    calls: list[float] = []
    closed = threading.Event()

    def cycle(now: float) -> CycleOutcome:
        calls.append(now)
        clock.t += step
        ok = outcomes[min(len(calls), len(outcomes)) - 1]
        return CycleOutcome(ok=ok, next_at=clock.t)  # due again at once: the limits decide

    service = LoopService("test", cycle, closed.set, limits, clock)
    return service, calls, closed


def test_once_runs_one_cycle_closes_and_reports_failure() -> None:
    service, calls, closed = make(LoopLimits(once=True), [False], FakeClock())
    service.start()
    assert service.join(5)
    assert len(calls) == 1 and closed.is_set()
    assert service.exit_code == 1


def test_max_cycles() -> None:
    service, calls, _ = make(LoopLimits(max_cycles=3), [True], FakeClock())
    service.start()
    assert service.join(5)
    assert len(calls) == 3 and service.exit_code == 0


def test_max_uptime() -> None:
    service, calls, _ = make(LoopLimits(max_uptime=35), [True], FakeClock())
    service.start()
    assert service.join(5)
    assert len(calls) == 4  # 10 s per cycle: stops at the first check at or past 35 s


def test_stop_interrupts_the_wait_and_closes() -> None:
    clock = FakeClock()
    closed = threading.Event()
    ran = threading.Event()

    def cycle(now: float) -> CycleOutcome:
        ran.set()
        return CycleOutcome(ok=True, next_at=now + 3600)  # would sleep an hour

    service = LoopService("test", cycle, closed.set, LoopLimits(), clock)
    service.start()
    assert ran.wait(5)
    assert service.is_ready()
    service.stop()
    assert service.join(5) and closed.is_set()
    assert not service.is_ready()


def test_a_crashing_cycle_is_a_failed_cycle_not_a_dead_loop() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def cycle(now: float) -> CycleOutcome:
        calls.append(now)
        clock.t += 1
        raise RuntimeError("boom")

    service = LoopService("test", cycle, lambda: None, LoopLimits(max_cycles=2), clock)
    service.start()
    assert service.join(10)
    assert len(calls) == 2 and service.exit_code == 1


def test_alive_while_cycles_complete_and_not_once_the_next_one_is_past_its_deadline() -> None:
    clock = FakeClock()  # t = 1000
    service = LoopService("test", lambda now: CycleOutcome(ok=True, next_at=now + 60), lambda: None,
                          LoopLimits(), clock)
    assert service.is_alive()  # start-up grace: STALL_FACTOR x STALL_FLOOR
    clock.t += STALL_FACTOR * STALL_FLOOR + 1
    assert not service.is_alive()  # no cycle completed within the grace
    service.start()  # the first cycle runs at once (fake t = 1301) and asks for the next one at 1361
    try:
        deadline = 1361 + STALL_FACTOR * 60
        clock.t = deadline - 1
        for _ in range(500):  # wait for the condition: the first cycle was recorded
            if service.is_alive():
                break
            threading.Event().wait(0.01)
        assert service.is_alive()
        clock.t = deadline + 1  # the loop never completed its next cycle (it waits on real time here)
        assert not service.is_alive()
    finally:
        service.stop()
        assert service.join(5)
    clock.t = 1000
    assert not service.is_alive()  # a finished loop is not alive either


def test_a_service_group_stops_every_member_when_one_finishes_and_closes_once() -> None:
    closed: list[str] = []
    first = LoopService("a", lambda now: CycleOutcome(True, now + 0.01), lambda: None, LoopLimits(max_cycles=1))
    second = LoopService("b", lambda now: CycleOutcome(True, now + 0.01), lambda: None, LoopLimits())
    group = ServiceGroup("both", (first, second), lambda: closed.append("ports"))
    group.start()
    assert group.join(10)  # `a` ended after one cycle: `b` was stopped with it
    assert not second.is_alive() and closed == ["ports"]
    assert group.join(1) and closed == ["ports"]
    assert group.exit_code == max(first.exit_code, second.exit_code)
