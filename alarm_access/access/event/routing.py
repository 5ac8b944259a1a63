"""Event routing: the enabled `bk_monitor`/`event` strategies by business and metric id, and the hosts of
events, compiled once per strategy refresh (`build_routing`) and read by `fanout` for every event.

Host resolution splits an Agent 1.0 id `cloud:ip` at the first colon only (IPv6 addresses kept, spec W8).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alarm_access.access.event.facets import agent_version
from alarm_access.access.event.kinds import FlatEvent, as_int
from alarm_access.kernel.hashing import count_md5
from alarm_access.kernel.model import Host, Item, Strategy
from alarm_access.kernel.ports import SnapshotKey
from alarm_access.records.conditions import ConditionMatcher, compile_conditions
from alarm_access.records.enrich import TopologyIndex
from alarm_access.records.target import TargetMatcher, compile_target

EVENT_SOURCE = ("bk_monitor", "event")
DEFAULT_EXPIRE_SECONDS = 1800


@dataclass(frozen=True, slots=True)
class EventStrategy:
    strategy: Strategy
    item: Item
    level: int
    metric_ids: frozenset[str]
    target: TargetMatcher | None
    conditions: ConditionMatcher | None
    snapshot_key: str
    #: `item.min_interval`, computed once: every anomaly of the route carries it
    interval: int


#: host memo entries (one per host and agent id seen) before the memo is emptied
HOST_MEMO_SIZE = 1 << 16


@dataclass(frozen=True, slots=True)
class HostEntry:
    """What fan-out derives from a resolved host for events without own dimensions: the base dimensions
    (never mutated: every candidate copies them), their md5 and their JSON (`json.dumps`, what the anomaly
    line spells them as: `standardize.candidate_dimensions_json` extends it by a facet's own keys)."""

    host: Host | None
    base: dict[str, Any]
    base_md5: str
    base_json: str


@dataclass(frozen=True, slots=True)
class Routing:
    """The strategies by business, compiled once per refresh; `routes(biz, metric_id)` and the host memo are
    derived from `by_biz` and `topology`, so a Routing built by hand behaves the same."""

    by_biz: Mapping[int, tuple[EventStrategy, ...]]
    topology: TopologyIndex
    disabled_states: frozenset[str]
    expire_seconds: int = DEFAULT_EXPIRE_SECONDS
    _by_metric: dict[tuple[int, str], tuple[EventStrategy, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict)
    _hosts: dict[tuple[str | None, str, int], HostEntry] = field(
        init=False, repr=False, compare=False, default_factory=dict)

    def routes(self, biz_id: int, metric_id: str) -> tuple[EventStrategy, ...]:
        """The strategies of business `biz_id` on `metric_id`, in their stored order (memoised)."""
        key = (biz_id, metric_id)
        routes = self._by_metric.get(key)
        if routes is None:
            routes = self._by_metric[key] = tuple(r for r in self.by_biz.get(biz_id, ()) if metric_id in r.metric_ids)
        return routes

    def host_entry(self, event: FlatEvent) -> HostEntry:
        """Host resolution and base dimensions of an event without own dimensions, memoised per (agent id,
        host, cloud id) for the life of the routing (hosts change only with a refresh, which builds a new one)."""
        key = (event.agent_id, event.host, event.cloud_id)
        entry = self._hosts.get(key)
        if entry is None:
            host = resolve_host(event, self.topology)
            base = host_dimensions(event, host) if host is not None else {}
            entry = HostEntry(host, base, count_md5(base) if host is not None else "", json.dumps(base))
            if len(self._hosts) >= HOST_MEMO_SIZE:
                self._hosts.clear()
            self._hosts[key] = entry
        return entry


def item_metric_ids(item: Item) -> frozenset[str]:
    """Metric ids of an item: `bk_monitor.<metric_field>` of each event query config, and stored ids."""
    ids = {f"bk_monitor.{qc.metric_field}" for qc in item.query_configs if qc.source == EVENT_SOURCE}
    ids.update(qc.metric_id for qc in item.query_configs if qc.metric_id)
    return frozenset(ids)


def build_routing(
    strategies: Iterable[Strategy],
    topology: TopologyIndex,
    *,
    snapshot_key: SnapshotKey,
    disabled_states: Collection[str],
    expire_seconds: int = DEFAULT_EXPIRE_SECONDS,
) -> tuple[Routing, list[str]]:
    """Routing over the enabled event strategies (first item's first query config is `bk_monitor`/`event`),
    and one problem line per event strategy that cannot be used (no algorithm, hence no level)."""
    by_biz: dict[int, list[EventStrategy]] = {}
    problems = []
    for strategy in strategies:
        if not strategy.is_enabled or not strategy.items or strategy.items[0].query_configs[0].source != EVENT_SOURCE:
            continue
        item = strategy.items[0]
        if not item.algorithms:
            problems.append(f"strategy {strategy.id}: item {item.id} has no algorithm, so no level")
            continue
        qc = item.query_configs[0]
        by_biz.setdefault(strategy.bk_biz_id, []).append(EventStrategy(
            strategy=strategy,
            item=item,
            level=item.algorithms[0].level,
            metric_ids=item_metric_ids(item),
            target=compile_target(item.target, topology),
            conditions=compile_conditions(qc.agg_condition) if qc.agg_condition else None,
            snapshot_key=snapshot_key(strategy.id, strategy.update_time),
            interval=item.min_interval,
        ))
    routing = Routing({biz: tuple(routes) for biz, routes in by_biz.items()}, topology,
                      frozenset(disabled_states), expire_seconds)
    return routing, problems


def resolve_host(event: FlatEvent, index: TopologyIndex) -> Host | None:
    """The CMDB host of an event: by Agent 1.0 id `cloud:ip`, by Agent 2.0 id, else by (host ip, cloud id)."""
    agent_id = event.agent_id or ""
    if ":" in agent_id:
        cloud, _, ip = agent_id.partition(":")
        return index.host_by_address(ip, as_int(cloud, "agent id cloud"))
    if agent_id:
        host = index.hosts_by_agent.get(agent_id)
        return host if host is not None and host.agent_id == agent_id else None
    return index.host_by_address(event.host, event.cloud_id)


def host_dimensions(event: FlatEvent, host: Host) -> dict[str, Any]:
    dims = dict(event.dimensions)
    if event.agent_id is not None:
        dims["agent_version"] = agent_version(event.agent_id)
    dims["bk_target_ip"] = host.ip
    dims["bk_target_cloud_id"] = host.cloud_id
    dims["bk_host_id"] = host.bk_host_id
    if host.topo_link:
        dims["bk_topo_node"] = sorted(set(host.topo_nodes))
    return dims
