"""Runs one scenario against one access type's `Pipeline` and fills its `ScenarioResult`.

A trial: the pipeline gets a fresh input batch (`begin_trial`, fed in the background), the service starts,
and once it has delivered part of the batch (`busy`) the fault strikes at a random moment within the
pipeline's `window`: kill -9 and restart; SIGTERM, which must exit 0, and restart; Redis stopped or
SIGSTOPped; the broker's connections cut and refused. A fault that lands after the batch was complete, or that
did not happen (`faults.FaultMissed`), is counted in `missed`. From the fault's end the driver waits until
everything the feed had produced by then is delivered (`recovery_s`). Then the feed finishes, everything must
arrive, the service is stopped with SIGTERM (exit 0: after that nothing more can be written) and the trial's
inputs are counted: missing (`lost`), delivered more than once (`doubled`). With `malformed_1pct` there is no
fault: 1% of the feed is malformed and each of those must be dead-lettered once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

import pytest
import redis

from tests.reliability import harness
from tests.reliability.faults import FaultMissed, Faults
from tests.reliability.harness import ScenarioResult
from tests.services.access_env import stop

#: seconds a trial waits for a delivery before counting what is missing as lost
DELIVERY_TIMEOUT = float(os.environ.get("RELIABILITY_DELIVERY_TIMEOUT", "120"))


class Pipeline(Protocol):
    access_type: str

    @property
    def window(self) -> float:
        """Seconds after `busy` within which the fault strikes (the batch is still being delivered)."""

    def begin_trial(self, trial: int, malformed: bool) -> None: ...
    def start(self, log: str) -> subprocess.Popen[str]: ...
    def busy(self) -> bool: ...
    def expected(self) -> set[str]: ...
    def wanted(self) -> set[str]: ...
    def delivered(self) -> Counter[str]: ...
    def finish_feed(self) -> None: ...
    def bad(self) -> set[str]: ...
    def dead_lettered(self) -> Counter[str]: ...


def wait_for(condition: Callable[[], bool], timeout: float = DELIVERY_TIMEOUT) -> bool:
    """Poll `condition` until it holds (True) or `timeout` passed (False); an output that cannot be read
    right now (Redis just restarted, a broker reconnecting) is a "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return True
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


class Run:
    def __init__(self, pipeline: Pipeline, faults: Faults, result: ScenarioResult) -> None:
        self.pipeline, self.faults, self.result = pipeline, faults, result
        self.rng = random.Random(f"{harness.SEED}-{result.access_type}-{result.scenario}")
        self.logs = 0
        self.produced: set[str] = set()

    def start(self) -> subprocess.Popen[str]:
        self.logs += 1
        return self.pipeline.start(f"{self.result.scenario}-{self.logs}.log")

    def terminate(self, process: subprocess.Popen[str]) -> None:
        """SIGTERM: anything but exit 0 (or no exit within the drain timeout) is a crash."""
        try:
            code = stop(process, signal.SIGTERM, timeout=60)
        except AssertionError:
            code = None
        if code != 0:
            self.result.crashed += 1

    def alive(self, process: subprocess.Popen[str]) -> subprocess.Popen[str]:
        """A process that exited on its own is a crash; it is started again so the trial can go on."""
        if process.poll() is None:
            return process
        self.result.crashed += 1
        return self.start()

    def strike(self, process: subprocess.Popen[str]) -> tuple[subprocess.Popen[str], float]:
        """Inject the scenario's fault; the (possibly new) process and the monotonic time the fault ended."""
        scenario = self.result.scenario
        if scenario in ("kill9", "sigterm"):
            if scenario == "kill9":
                os.kill(process.pid, signal.SIGKILL)
                process.wait(30)
            else:
                self.terminate(process)
            ended = time.monotonic()
            return self.start(), ended
        try:
            {"redis_stopped": self.faults.stop_redis, "redis_paused": self.faults.pause_redis,
             "broker_restarted": self.faults.restart_broker}[scenario]()
        except FaultMissed as missed:
            self.result.missed += 1
            self.result.notes.append(str(missed))
        return self.alive(process), time.monotonic()

    def trial(self, index: int) -> None:
        pipeline, result = self.pipeline, self.result
        malformed = result.scenario == "malformed_1pct"
        pipeline.begin_trial(index, malformed)
        process = self.start()
        if not malformed:
            if not wait_for(pipeline.busy):
                result.notes.append(f"trial {index}: nothing of the batch was delivered before the fault")
            time.sleep(self.rng.uniform(0.0, pipeline.window))  # a random moment while the batch is delivered
            if wait_for(lambda: pipeline.expected() <= set(pipeline.delivered()), timeout=0):  # complete now
                result.missed += 1
                result.notes.append(f"trial {index}: the batch was complete before the fault")
            process, ended = self.strike(process)
            due = pipeline.wanted()  # what had been produced when the fault ended
            if wait_for(lambda: due <= set(pipeline.delivered())):
                result.recovered_after(time.monotonic() - ended)
        pipeline.finish_feed()
        wanted, bad = pipeline.wanted(), pipeline.bad()
        if malformed and not bad:
            result.missed += 1
            result.notes.append(f"trial {index}: no malformed input was sent")
        wait_for(lambda: wanted <= set(pipeline.delivered()))
        wait_for(lambda: bad <= set(pipeline.dead_lettered()))
        self.terminate(self.alive(process))
        lost, doubled = harness.count(wanted, pipeline.delivered())
        lost_letters, doubled_letters = harness.count(bad, pipeline.dead_lettered())
        result.lost += lost + lost_letters
        result.doubled += doubled + doubled_letters
        result.trials += 1
        self.produced |= wanted

    def finish(self) -> None:
        self.result.doubled += harness.unexpected(self.pipeline.delivered(), self.produced)


def run_scenario(pipeline: Pipeline, faults: Faults, scenario: str) -> None:
    """Run `scenario` (kill9 and sigterm: RELIABILITY_TRIALS trials, the outages RELIABILITY_FAULT_TRIALS,
    malformed_1pct one), record its result for the session's table and assert it is clean."""
    result = ScenarioResult(pipeline.access_type, scenario)
    harness.RESULTS.append(result)
    trials = {"kill9": harness.TRIALS, "sigterm": harness.TRIALS, "malformed_1pct": 1}.get(
        scenario, harness.FAULT_TRIALS)
    run = Run(pipeline, faults, result)
    for index in range(trials):
        run.trial(index)
    run.finish()
    assert (result.lost, result.doubled, result.crashed, result.missed) == (0, 0, 0, 0), result.json_line()


def skip_scenario(access_type: str, scenario: str, reason: str) -> None:
    """A scenario that does not apply to the access type: a row with its reason, then the test is skipped."""
    harness.RESULTS.append(ScenarioResult(access_type, scenario, skipped=reason))
    pytest.skip(reason)
