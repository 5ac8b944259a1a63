"""Real-time behaviour of `alarm_access.access.data.schedule.Schedule` with many groups and nothing else to do.

    .venv/bin/python -m bench.scheduler [--groups 100000] [--seconds 30]

Syncs `--groups` groups with mixed intervals (10 s, 60 s, 300 s, 600 s), pops the first tick's slots (every
new group's current slot is due at once, by design: reported as `initial_due` and `initial_pop_s`), then
runs a wall-clock loop for `--seconds`: sleep until `next_due()`, pop the due slots at the current second
and do nothing with them. Prints one JSON line:

* `lateness_*_s`: wall time at the pop minus the slot start, over every slot popped in the loop;
* `missed`: skipped slots plus late slots (`Schedule.is_late`) over the loop;
* `cpu_share`: process CPU time / wall time of the loop (1.0 = one core busy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from alarm_access.access.data.schedule import Schedule

#: (interval, share of the groups): most strategies run every minute
MIX = ((10, 0.05), (60, 0.75), (300, 0.15), (600, 0.05))


def make_groups(count: int) -> dict[str, int]:
    """`count` group keys (hex strings like the SGKs) with intervals in the proportions of `MIX`."""
    groups: dict[str, int] = {}
    start = 0
    for interval, share in MIX:
        stop = count if interval == MIX[-1][0] else start + round(count * share)
        groups.update({f"{i:032x}": interval for i in range(start, stop)})
        start = stop
    return groups


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def measure(count: int, seconds: float) -> dict[str, Any]:
    """Run the loop described in the module docstring and return its figures."""
    groups = make_groups(count)
    schedule = Schedule()
    started = time.perf_counter()
    schedule.sync(groups, int(time.time()))
    synced = time.perf_counter()
    initial = schedule.pop_due(int(time.time()))
    popped = time.perf_counter()

    lateness: list[float] = []
    missed = pops = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    end = time.time() + seconds
    while (now := time.time()) < end:
        next_at = schedule.next_due()
        if next_at is not None and next_at > now:
            time.sleep(min(next_at, end) - now)
            now = time.time()
        pops += 1
        for slot in schedule.pop_due(int(now)):
            lateness.append(now - slot.slot)
            missed += slot.skipped + schedule.is_late(slot)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "groups": count,
        "seconds": seconds,
        "sync_s": round(synced - started, 3),
        "initial_due": len(initial),
        "initial_pop_s": round(popped - synced, 3),
        "slots": len(lateness),
        "pops": pops,
        "lateness_p50_s": round(statistics.median(lateness), 4) if lateness else 0.0,
        "lateness_p99_s": round(_percentile(lateness, 0.99), 4),
        "lateness_max_s": round(max(lateness, default=0.0), 4),
        "missed": missed,
        "cpu_share": round(cpu / wall, 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.groups, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
