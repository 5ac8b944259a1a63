"""Host resolution, strategy fan-out and filters of flat events (spec §1.5-§1.6).

`build_routing` indexes the enabled `bk_monitor`/`event` strategies by business once per refresh;
`fan_out(event, routing, now)` returns one `Candidate` per (facet, matching strategy) that survives every
filter, plus drop counts by reason. Filter order follows the original: expiry, the kind's own filter, host
resolution, ping filter, strategy match, host status, target scope, agg conditions.

Deviations: host resolution splits an Agent 1.0 id `cloud:ip` at the first colon only (IPv6 addresses kept,
spec W8); each strategy is matched on its own item (W17: the original used only the first query config of
the *first* item for conditions, swallowing its errors); conditions see the output dimensions overlaid with
the kind's condition dimensions (W17: the original saw only the latter, so ping and custom-string events
could never be filtered by `bk_target_ip` conditions); one dimension dict per event, never mutated (W22).

Each candidate carries the two hashes of its facet, computed once per facet (not per strategy): `md5`, the
original's identity (`count_md5` of the host dimensions plus `Facet.identity`, spec §1.5/§1.7, see `facets`),
and `content_md5`, which tells apart two anomalies that share an anomaly id (two disks full on one host in
one second; two strings of one custom message) for the push's replay dedupe (`delivery`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alarm_access.access.event.facets import Facet, agent_version, facets, kind_filter
from alarm_access.access.event.kinds import EventKind, FlatEvent, as_int
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


@dataclass(frozen=True, slots=True)
class Routing:
    by_biz: Mapping[int, tuple[EventStrategy, ...]]
    topology: TopologyIndex
    disabled_states: frozenset[str]
    expire_seconds: int = DEFAULT_EXPIRE_SECONDS


@dataclass(frozen=True, slots=True)
class Candidate:
    """One event facet for one strategy; `dimensions` are shared by the strategies of a facet (read-only)."""

    event: FlatEvent
    facet: Facet
    route: EventStrategy
    dimensions: Mapping[str, Any]
    md5: str
    content_md5: str


def content_md5(dimensions: Mapping[str, Any], value: str, message: str) -> str:
    """MD5 of what an anomaly line says besides its ids and clock: output dimensions, value and message
    (key order does not matter); equal for a replayed event, different for two distinct anomalies."""
    text = json.dumps([dimensions, value, message], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


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


def _ping_kept(event: FlatEvent, target: Host, index: TopologyIndex) -> bool:
    """PingFilter: both the pinging server and the target are known, in a direct cloud or one business."""
    server = index.host_by_address(event.server, event.cloud_id)
    return server is not None and (event.cloud_id <= 1 or server.bk_biz_id == target.bk_biz_id)


def fan_out(event: FlatEvent, routing: Routing, now: int) -> tuple[list[Candidate], Counter[str]]:
    """Candidates of `event` and drop counts (event-level reasons once, strategy-level ones per strategy)."""
    drops: Counter[str] = Counter()
    if now - event.time > routing.expire_seconds:
        drops["expired"] += 1
        return [], drops
    reason = kind_filter(event)
    host = resolve_host(event, routing.topology) if reason is None else None
    if reason is None and host is None:
        reason = "unknown_host"
    elif host is not None and event.kind is EventKind.PING and not _ping_kept(event, host, routing.topology):
        reason = "ping_filtered"
    if reason is not None or host is None:
        drops[reason or "unknown_host"] += 1
        return [], drops
    routes = [r for r in routing.by_biz.get(host.bk_biz_id, ()) if event.kind.metric_id in r.metric_ids]
    if not routes:
        drops["no_strategy"] += 1
        return [], drops
    if host.state in routing.disabled_states:
        drops["host_disabled"] += len(routes)
        return [], drops
    base = host_dimensions(event, host)
    base_md5 = ""
    candidates = []
    for facet in facets(event):
        dims = {**base, **facet.dimensions}
        condition_dims = {**dims, **facet.filter_dimensions}
        hashes: tuple[str, str] | None = None
        for route in routes:
            if route.target is not None and not route.target.matches_target(dims):
                drops["out_of_scope"] += 1
            elif route.conditions is not None and not route.conditions.matches_conditions(condition_dims):
                drops["condition_mismatch"] += 1
            else:
                if hashes is None:
                    if facet.identity:
                        md5 = count_md5({**base, **facet.identity})
                    else:
                        base_md5 = base_md5 or count_md5(base)
                        md5 = base_md5
                    hashes = md5, content_md5(dims, event.title, facet.message)
                candidates.append(Candidate(event, facet, route, dims, *hashes))
    return candidates, drops
