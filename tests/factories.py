"""Small builders of strategy, topology and point values for pure tests."""

from __future__ import annotations

from typing import Any

from alarm_access.access.data.grouping import build_groups
from alarm_access.kernel.model import Host, Item, NoDataConfig, QueryConfig, Strategy, StrategyGroup, Topology
from alarm_access.records.enrich import TopologyIndex, index_topology

T0 = 1569246480
NOW = T0 + 120


def qc(**fields: Any) -> QueryConfig:
    defaults: dict[str, Any] = {
        "data_source_label": "bk_monitor",
        "data_type_label": "time_series",
        "result_table_id": "system.cpu_load",
        "metric_field": "load5",
        "agg_method": "AVG",
        "agg_interval": 60,
        "agg_dimension": ("bk_target_ip", "bk_target_cloud_id"),
    }
    defaults.update(fields)
    return QueryConfig(**defaults)


def item(item_id: int = 1, *, query: QueryConfig | None = None, nodata: bool = False, **fields: Any) -> Item:
    return Item(
        id=item_id,
        name=f"item {item_id}",
        query_configs=(query or qc(),),
        no_data=NoDataConfig(is_enabled=nodata),
        **fields,
    )


def strategy(strategy_id: int = 1, *items: Item, bk_biz_id: int = 2, **fields: Any) -> Strategy:
    return Strategy(id=strategy_id, bk_biz_id=bk_biz_id, name=f"s{strategy_id}", items=items or (item(),), **fields)


def group(*strategies: Strategy) -> StrategyGroup:
    """The single group the strategies form (asserts they share one)."""
    groups = build_groups(strategies or (strategy(),))
    assert len(groups) == 1, groups
    return groups[0]


def point(ip: str = "127.0.0.1", cloud: str = "0", t: int = T0, value: Any = 1.38) -> dict[str, Any]:
    return {"bk_target_ip": ip, "load5": value, "bk_target_cloud_id": cloud, "_time_": t, "_result_": value}


def host(host_id: int, ip: str, cloud: int = 0, state: str = "", module: int = 6) -> Host:
    return Host(
        bk_host_id=host_id,
        ip=ip,
        cloud_id=cloud,
        bk_biz_id=2,
        agent_id=f"agent-{host_id}",
        state=state,
        topo_link={f"module|{module}": (f"module|{module}", "set|5", "biz|2")},
    )


def index(*hosts: Host, **fields: Any) -> TopologyIndex:
    return index_topology(Topology(hosts=hosts, **fields))
