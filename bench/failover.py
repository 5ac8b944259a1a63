"""Takeover time of `run_access --access-type data --hash-ring 1`, in lease TTLs, after `kill -9` and SIGTERM.

    .venv/bin/python -m bench.failover [--ttl 3] [--trials 3] [--redis-url redis://127.0.0.1:6379/0]

Three processes share 12 businesses (a private VictoriaMetrics and database, a unique Redis prefix); one is
killed with SIGKILL and the time until the survivors own every business (read from their /metrics) is
measured; then one is stopped with SIGTERM, likewise. Prints one JSON line: `kill_takeover_ttl` (median,
max), `sigterm_handover_s` (median, max), `ttl_s`, `trials`. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import tempfile
from pathlib import Path

from tests.e2e.test_hash_ring_data import Ring
from tests.services.access_env import access_env, stop
from tests.services.victoria import start_victoria


def trial(directory: Path, redis_url: str, ttl: float) -> tuple[float, float]:
    (directory / "vm").mkdir()
    with start_victoria(directory / "vm") as vm, access_env(directory, redis_url, TSDB_URL=vm.url) as env:
        ring = Ring(env, vm, directory, ttl=ttl)
        try:
            for name in ("a", "b", "c"):
                ring.start(name)
            ring.wait(lambda: ring.shared_by({"a", "b", "c"}), 90, "three processes sharing")
            os.kill(ring.processes["c"][0].pid, signal.SIGKILL)
            killed = ring.wait(lambda: ring.shared_by({"a", "b"}), 10 * ttl, "takeover after kill -9")
            stop(ring.processes["b"][0], signal.SIGTERM, timeout=30)
            handover = ring.wait(lambda: ring.shared_by({"a"}), 10 * ttl, "handover after SIGTERM")
        finally:
            for process, _ in ring.processes.values():
                stop(process, signal.SIGTERM, timeout=20)
    return killed / ttl, handover


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    kills, handovers = [], []
    for _ in range(args.trials):
        with tempfile.TemporaryDirectory(prefix="failover-") as directory:
            killed, handover = trial(Path(directory), args.redis_url, args.ttl)
        kills.append(killed)
        handovers.append(handover)
    print(json.dumps({
        "ttl_s": args.ttl, "trials": args.trials,
        "kill_takeover_ttl": {"median": round(statistics.median(kills), 2), "max": round(max(kills), 2)},
        "sigterm_handover_s": {"median": round(statistics.median(handovers), 2), "max": round(max(handovers), 2)},
    }))


if __name__ == "__main__":
    main()
