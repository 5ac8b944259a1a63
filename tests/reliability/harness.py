"""The reliability suite's results: one `ScenarioResult` per (access type, scenario), collected over the session
and printed as one JSON line each by `conftest.pytest_terminal_summary` (and written to `report_path()`).

Knobs (environment, read once here; the defaults are the short version `make test` runs, `make reliability`
sets the release check's): `RELIABILITY_TRIALS` (kill -9 and SIGTERM trials per access type, default 1;
20), `RELIABILITY_FAULT_TRIALS` (trials of each Redis and broker outage, default 1; 3),
`RELIABILITY_REDIS_DOWN_S` (how long Redis is stopped, default 2; 30), `RELIABILITY_PAUSE_S` (SIGSTOP of Redis,
default 2; 30), `RELIABILITY_BROKER_DOWN_S` (broker outage, default 2; 15), `RELIABILITY_SEED` (the random
fault points; default: a fresh seed, printed in every line to replay a run), `RELIABILITY_REPORT` (the
JSON-lines file; default var/reliability.jsonl).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRIALS = int(os.environ.get("RELIABILITY_TRIALS", "1"))
FAULT_TRIALS = int(os.environ.get("RELIABILITY_FAULT_TRIALS", "1"))
REDIS_DOWN_S = float(os.environ.get("RELIABILITY_REDIS_DOWN_S", "2"))
PAUSE_S = float(os.environ.get("RELIABILITY_PAUSE_S", "2"))
BROKER_DOWN_S = float(os.environ.get("RELIABILITY_BROKER_DOWN_S", "2"))
SEED = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(1 << 31))

SCENARIOS = ("kill9", "redis_stopped", "redis_paused", "broker_restarted", "malformed_1pct", "sigterm")


@dataclass
class ScenarioResult:
    """`lost`: inputs that had to be delivered (or dead-lettered, when malformed) and were not; `doubled`:
    deliveries beyond the first of an input, plus deliveries nothing produced; `crashed`: processes that died
    on their own or did not exit 0 on SIGTERM; `recovery_s`: the worst trial's seconds from the end of the
    fault until everything produced before that moment was delivered (None: no fault, or skipped);
    `missed`: faults that did not hit (it landed after the batch was complete, Redis still answered, the
    service had no broker connection to lose), so that trial proved nothing; `notes` say which."""

    access_type: str
    scenario: str
    trials: int = 0
    lost: int = 0
    doubled: int = 0
    crashed: int = 0
    recovery_s: float | None = None
    missed: int = 0
    seed: int = SEED
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    def recovered_after(self, seconds: float) -> None:
        self.recovery_s = round(max(self.recovery_s or 0.0, seconds), 2)

    def json_line(self) -> str:
        row = asdict(self)
        for key in ("skipped", "notes"):
            if not row[key]:
                del row[key]
        return json.dumps(row)


def count(wanted: Iterable[str], delivered: Counter[str]) -> tuple[int, int]:
    """(lost, doubled) of the inputs `wanted` in `delivered` (id → times delivered)."""
    want = set(wanted)
    lost = sum(1 for key in want if delivered[key] == 0)
    doubled = sum(delivered[key] - 1 for key in want if delivered[key] > 1)
    return lost, doubled


def unexpected(delivered: Counter[str], produced: set[str]) -> int:
    """Deliveries of ids that no input produced."""
    return sum(n for key, n in delivered.items() if key not in produced)


RESULTS: list[ScenarioResult] = []


def report_path() -> Path:
    return Path(os.environ.get("RELIABILITY_REPORT") or ROOT / "var" / "reliability.jsonl")


def write_report(results: list[ScenarioResult]) -> Path:
    path = report_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(result.json_line() + "\n" for result in results))
    return path
