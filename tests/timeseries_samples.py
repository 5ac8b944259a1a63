"""Shared samples for the time-series source tests, and the points they must produce.

Metric `system.cpu_load` / `load5` (stored as `system_cpu_load_load5`), four series, ten one-minute buckets
`T0 + 60k` (k = 0..9). Series `s` (index 0..3) has three samples per bucket, at offsets 0, 30 and 59 s, valued
`v, v + 1, v + 5` with `v = 10k + s`, so per series and bucket: AVG v+2, SUM 3v+6, MIN v, MAX v+5, COUNT 3,
REAL_TIME (last) v+5 — all exact in binary floating point. Two decoys on series A sit just outside the window
`[T0, T0 + 600)`: at `T0 - 1` (bucket T0 - 60) and at `T0 + 600` (the bucket after the last).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alarm_access.adapters.tsdb.sql import Sample
from alarm_access.kernel.model import AggCondition, QueryConfig

T0 = 1_699_999_800  # a multiple of 60 and 300
INTERVAL = 60
BUCKETS = 10
END = T0 + BUCKETS * INTERVAL
METRIC = "system_cpu_load_load5"
DECOY = 1000.0

SERIES: Sequence[Mapping[str, str]] = (
    {"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": "0", "device": "cpu0"},  # A
    {"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": "0", "device": "cpu1"},  # B
    {"bk_target_ip": "10.0.0.2", "bk_target_cloud_id": "0", "device": "cpu0"},  # C
    {"bk_target_ip": "10.0.0.3", "bk_target_cloud_id": "0"},  # D: no device label
)
IPS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
#: series indexes per bk_target_ip
SERIES_OF_IP = {"10.0.0.1": (0, 1), "10.0.0.2": (2,), "10.0.0.3": (3,)}


def samples() -> list[Sample]:
    out = []
    for s, labels in enumerate(SERIES):
        for k in range(BUCKETS):
            v = 10.0 * k + s
            for offset, value in ((0, v), (30, v + 1), (59, v + 5)):
                out.append(Sample(METRIC, labels, T0 + INTERVAL * k + offset, value))
    out.append(Sample(METRIC, SERIES[0], T0 - 1, DECOY))
    out.append(Sample(METRIC, SERIES[0], END, DECOY))
    return out


def per_series(method: str, s: int, k: int) -> float:
    """The aggregate of series `s` in bucket `k`."""
    v = 10.0 * k + s
    return {"AVG": v + 2, "SUM": 3 * v + 6, "MIN": v, "MAX": v + 5, "COUNT": 3.0, "REAL_TIME": v + 5}[method]


def combined(method: str, series: Sequence[int], k: int) -> float:
    """Cross-series aggregate of a group: avg of averages, sum of sums and counts, min of mins, ..."""
    values = [per_series(method, s, k) for s in series]
    if method in ("AVG", "REAL_TIME"):
        return sum(values) / len(values)
    if method in ("SUM", "COUNT"):
        return sum(values)
    return min(values) if method == "MIN" else max(values)


def qc(
    method: str = "AVG",
    dims: tuple[str, ...] = ("bk_target_ip", "bk_target_cloud_id"),
    conditions: tuple[AggCondition, ...] = (),
    alias: str = "",
) -> QueryConfig:
    return QueryConfig(
        data_source_label="bk_monitor", data_type_label="time_series", result_table_id="system.cpu_load",
        metric_field="load5", alias=alias, agg_method=method, agg_interval=INTERVAL, agg_dimension=dims,
        agg_condition=conditions,
    )


def expected_by_ip(method: str, key: str = "load5", ips: Sequence[str] = IPS) -> list[dict[str, Any]]:
    """The exact points of `qc(method)` over `[T0, END)`, restricted to `ips`, ordered by time then ip."""
    points = []
    for k in range(BUCKETS):
        for ip in ips:
            value = combined(method, SERIES_OF_IP[ip], k)
            points.append({"bk_target_ip": ip, "bk_target_cloud_id": "0", "_time_": T0 + INTERVAL * k,
                           "_result_": value, key: value})
    return points


def ordered(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points in a backend-independent order (time, then dimension values)."""
    return sorted(points, key=lambda p: (p["_time_"], sorted((k, str(v)) for k, v in p.items())))
