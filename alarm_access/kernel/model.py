"""Value types of the access core: strategies, items, query configs, hosts and topology.

Everything here is a frozen dataclass built from plain values. Nothing in this module does I/O or
reads settings. The shapes follow the original system's cached strategy JSON (spec data-access §2.1)
and CMDB host cache; `alarm_access.formats` converts between that JSON and these types.

JSON-ish sub-documents that access passes through without interpreting (algorithm configs, functions, ...)
are kept as ``Mapping``s; treat them as read-only: loaded values may share them (`adapters.orm`). What access
never reads (`detects`, `notice` but its noise-reduce options, `actions`) is validated or not, never kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Aggregation method whose items read the raw metric instead of `_result_` (spec §2.5).
REAL_TIME_METHOD = "REAL_TIME"


@dataclass(frozen=True, slots=True)
class AggCondition:
    """One `agg_condition` entry. `connector` is "and" or "or"; "or" starts a new AND group."""

    key: str
    method: str
    values: tuple[Any, ...]
    connector: str = "and"


@dataclass(frozen=True, slots=True)
class TargetCondition:
    """One target-scope condition, e.g. field `bk_target_ip`, method `eq`, values of ip/cloud dicts."""

    field: str
    method: str
    values: tuple[Any, ...]


#: Target scope: OR over groups, AND within a group. `()` or `((),)` means "no target".
Target = tuple[tuple[TargetCondition, ...], ...]


@dataclass(frozen=True, slots=True)
class QueryConfig:
    """What one item pulls from one data source (spec §1.6, §2.1 "QC fields")."""

    data_source_label: str
    data_type_label: str
    result_table_id: str = ""
    metric_field: str = ""
    metric_id: str = ""
    alias: str = ""
    agg_method: str = "AVG"
    agg_interval: int = 60
    agg_dimension: tuple[str, ...] = ()
    agg_condition: tuple[AggCondition, ...] = ()
    functions: tuple[Mapping[str, Any], ...] = ()
    time_field: str = ""
    promql: str = ""
    #: every other field of the original QC (index_set_id, query_string, custom_event_name, unit, ...)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> tuple[str, str]:
        return (self.data_source_label, self.data_type_label)


@dataclass(frozen=True, slots=True)
class Algorithm:
    type: str
    level: int
    config: Any
    id: int | None = None


@dataclass(frozen=True, slots=True)
class NoDataConfig:
    is_enabled: bool = False
    continuous: int = 5
    level: int | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """One monitored metric of a strategy."""

    id: int
    name: str
    query_configs: tuple[QueryConfig, ...]
    expression: str = ""
    functions: tuple[Mapping[str, Any], ...] = ()
    time_delay: int = 0
    algorithms: tuple[Algorithm, ...] = ()
    no_data: NoDataConfig = NoDataConfig()
    target: Target = ()
    update_time: int = 0

    @property
    def min_interval(self) -> int:
        """Smallest positive `agg_interval` of the item's query configs (60 when none is set)."""
        intervals = [qc.agg_interval for qc in self.query_configs if qc.agg_interval > 0]
        return min(intervals) if intervals else 60


@dataclass(frozen=True, slots=True)
class NoiseReduceConfig:
    is_enabled: bool
    dimensions: tuple[str, ...]
    count: int = 1


@dataclass(frozen=True, slots=True)
class Strategy:
    """A strategy as access sees it. `raw` keeps the original JSON document for round trips."""

    id: int
    bk_biz_id: int
    name: str
    items: tuple[Item, ...]
    scenario: str = ""
    is_enabled: bool = True
    priority: int | None = None
    priority_group_key: str = ""
    update_time: int = 0
    labels: tuple[str, ...] = ()
    noise_reduce: NoiseReduceConfig | None = None


def topo_nodes_of(topo_link: Mapping[str, Any]) -> tuple[str, ...]:
    """De-duplicated `"obj|id"` nodes over every module→root chain of a `topo_link`, in first-seen order.

    The original's order is random (spec §9.16); ours is deterministic so records are reproducible.
    """
    seen: dict[str, None] = {}
    for chain in topo_link.values():
        for node in chain:
            seen.setdefault(str(node), None)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class Host:
    """A CMDB host with its topology (`topo_link`: module node → chain of `"obj|id"` nodes)."""

    bk_host_id: int
    ip: str
    cloud_id: int
    bk_biz_id: int
    agent_id: str = ""
    state: str = ""
    topo_link: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def topo_nodes(self) -> tuple[str, ...]:
        return topo_nodes_of(self.topo_link)


@dataclass(frozen=True, slots=True)
class ServiceInstance:
    service_instance_id: int
    bk_host_id: int
    bk_biz_id: int
    topo_link: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def topo_nodes(self) -> tuple[str, ...]:
        return topo_nodes_of(self.topo_link)


@dataclass(frozen=True, slots=True)
class DynamicGroup:
    """A CMDB dynamic group; only host-type groups (`bk_obj_id == "host"`) resolve to host ids."""

    dynamic_group_id: str
    bk_obj_id: str
    bk_inst_ids: tuple[int, ...]
    bk_biz_id: int = 0


@dataclass(frozen=True, slots=True)
class Topology:
    """Everything enrichment and target filtering need to know about hosts, indexed for lookups."""

    hosts: tuple[Host, ...] = ()
    service_instances: tuple[ServiceInstance, ...] = ()
    dynamic_groups: tuple[DynamicGroup, ...] = ()


@dataclass(frozen=True, slots=True)
class StrategyGroup:
    """Items of one business whose queries are identical: pulled once, fanned out to every item (§2.3).

    `items` are `(strategy, item)` pairs sorted by strategy id then item id; the first pair's first query
    config (`query_config`) is the one that is executed. `interval` is the smallest `agg_interval` over all
    grouped items (the scheduling period; no 58 s cap, spec §9.15).
    """

    key: str
    bk_biz_id: int
    items: tuple[tuple[Strategy, Item], ...]
    interval: int
    source: tuple[str, str]
    query_config: QueryConfig

    @property
    def first_item(self) -> Item:
        return self.items[0][1]

    @property
    def strategy_ids(self) -> tuple[int, ...]:
        """Distinct strategy ids in item order."""
        return tuple(dict.fromkeys(strategy.id for strategy, _ in self.items))

    @property
    def dedupe_interval(self) -> int:
        """Largest positive `agg_interval` of the first item's query configs (dedupe TTL = 10 x this)."""
        intervals = [qc.agg_interval for qc in self.first_item.query_configs if qc.agg_interval > 0]
        return max(intervals) if intervals else 60


@dataclass(slots=True, eq=False)
class Record:
    """One standardized data point (spec §2.5), shared by every item of its strategy group.

    Not frozen on purpose: `pipeline.run` enriches `dimensions` in place (one dict per series, shared by
    the records of that series' buckets, never copied) before it returns. Once a record is part of a
    result, nothing mutates it — which is what makes the sharing safe. The wire form is
    `alarm_access.records.standardize.to_wire`. `dimension_fields` is a JSON list on the wire.
    """

    record_id: str
    time: int
    value: Any
    values: dict[str, Any]
    dimensions: dict[str, Any]
    dimension_fields: tuple[str, ...]
    access_time: float
    is_partial: bool = False
