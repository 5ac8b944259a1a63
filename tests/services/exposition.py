"""Reading a Prometheus text exposition in tests: one sample's value, and the naming conventions of docs/metrics.md."""

from __future__ import annotations

import re

RUNTIME_PREFIXES = ("process_", "python_")


def sample(exposition: str, series: str) -> float | None:
    """The value of the sample `series` (name and labels exactly as exposed), None when absent."""
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def assert_conventions(exposition: str) -> None:
    """Every family of ours is `alarm_access_*`, counters end in `_total`, histograms in `_seconds`, and no
    label holds the original's constant "__total__"."""
    families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE))
    ours = {name: kind for name, kind in families.items() if not name.startswith(RUNTIME_PREFIXES)}
    assert ours and all(name.startswith("alarm_access_") for name in ours), sorted(ours)
    assert all(name.endswith("_total") for name, kind in ours.items() if kind == "counter"), ours
    assert all(name.endswith("_seconds") for name, kind in ours.items() if kind == "histogram"), ours
    assert "bkmonitor_" not in exposition
    assert "__total__" not in exposition
