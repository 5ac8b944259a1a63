"""A realistic `data` workload shared by the benches: one strategy group, its topology and its TSDB points.

* The group: two strategies on the same `system.cpu_load` query (so one group, one query): item 1 keeps
  every record, item 2 targets the host-topology sets `set|1` to `set|5` (half of the hosts).
* The topology: `hosts` hosts, host `i` in `set|{i % 10}` / `module|{i % 50}` of business 2.
* The points: `series` series (one per host, by `bk_target_ip`) x `BUCKETS` one-minute buckets, ordered
  by time and shaped as the TSDB sources return them. Every host of a series is in the topology, so
  every point is enriched and delivered, as in a business whose reporting hosts are all in CMDB.

Everything is deterministic for a given size (values come from a seeded generator).
"""

from __future__ import annotations

import random
from typing import Any

from alarm_access.access.data.grouping import build_groups
from alarm_access.kernel.model import Host, Item, QueryConfig, Strategy, StrategyGroup, TargetCondition, Topology
from alarm_access.records.enrich import TopologyIndex, index_topology

#: first bucket of every generated point set (aligned to the minute)
T0 = 1_700_000_040
INTERVAL = 60
#: buckets per series: the pipeline's default time-point limit, so nothing is discarded by it
BUCKETS = 10
#: the pull happens one interval after the last bucket closed
NOW = T0 + BUCKETS * INTERVAL + INTERVAL
MIN_HOSTS = 1000


def _query() -> QueryConfig:
    return QueryConfig(
        data_source_label="bk_monitor",
        data_type_label="time_series",
        result_table_id="system.cpu_load",
        metric_field="load5",
        agg_method="AVG",
        agg_interval=INTERVAL,
        agg_dimension=("bk_target_ip", "bk_target_cloud_id"),
    )


def build_group() -> StrategyGroup:
    """The two-item group described in the module docstring."""
    sets = tuple({"bk_obj_id": "set", "bk_inst_id": s} for s in range(1, 6))
    target = ((TargetCondition("host_topo_node", "eq", sets),),)
    everything = Item(id=1, name="load5 (all hosts)", query_configs=(_query(),))
    scoped = Item(id=2, name="load5 (sets 1-5)", query_configs=(_query(),), target=target)
    strategies = (
        Strategy(id=1, bk_biz_id=2, name="load all", items=(everything,)),
        Strategy(id=2, bk_biz_id=2, name="load sets 1-5", items=(scoped,)),
    )
    (group,) = build_groups(strategies)
    return group


def host_ip(i: int) -> str:
    """The IPv4 address of host `i` (distinct for every `i` below 2**24)."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def hosts_for(series: int) -> int:
    """Hosts in the topology for `series` series: one per series, at least `MIN_HOSTS`."""
    return max(MIN_HOSTS, series)


def build_topology(hosts: int) -> TopologyIndex:
    """The indexed topology of `hosts` hosts (bk_host_id `i + 1`, ip `host_ip(i)`, cloud 0)."""
    return index_topology(
        Topology(
            hosts=tuple(
                Host(
                    bk_host_id=i + 1,
                    ip=host_ip(i),
                    cloud_id=0,
                    bk_biz_id=2,
                    agent_id=f"agent-{i + 1}",
                    topo_link={f"module|{i % 50}": (f"module|{i % 50}", f"set|{i % 10}", "biz|2")},
                )
                for i in range(hosts)
            )
        )
    )


def raw_points(points: int, seed: int = 7) -> list[dict[str, Any]]:
    """`points` raw points (rounded down to whole series of `BUCKETS` points), as the TSDB sources return them:
    ordered by time (`adapters.tsdb`: both sort their answer by `_time_`), the series in one order per bucket."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(points // BUCKETS):
        ip = host_ip(i)
        for k in range(BUCKETS):
            value = round(rng.uniform(0.0, 8.0), 2)
            out.append(
                {
                    "bk_target_ip": ip,
                    "bk_target_cloud_id": "0",
                    "load5": value,
                    "_time_": T0 + k * INTERVAL,
                    "_result_": value,
                }
            )
    out.sort(key=lambda point: point["_time_"])  # stable: the series keep their order within a bucket
    return out


def bucket_points(series: int, bucket: int, seed: int = 7) -> list[dict[str, Any]]:
    """The points of bucket number `bucket` of `series` series, as a time-sliced TSDB query returns them (one
    bucket's points need not hold the others': `bench.data_pipeline --batch-threshold`)."""
    rng = random.Random(seed * 1_000_003 + bucket)
    out: list[dict[str, Any]] = []
    for i in range(series):
        value = round(rng.uniform(0.0, 8.0), 2)
        out.append({"bk_target_ip": host_ip(i), "bk_target_cloud_id": "0", "load5": value,
                    "_time_": T0 + bucket * INTERVAL, "_result_": value})
    return out
