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

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from alarm_access.access.event.facets import Facet, agent_version, facets, kind_filter
from alarm_access.access.event.kinds import EventKind, FlatEvent, as_int
from alarm_access.kernel.hashing import count_md5, md5
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
class _HostEntry:
    """What fan-out derives from a resolved host for events without own dimensions: the base dimensions
    (never mutated: every candidate copies them) and their md5."""

    host: Host | None
    base: dict[str, Any]
    base_md5: str


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
    _hosts: dict[tuple[str | None, str, int], _HostEntry] = field(
        init=False, repr=False, compare=False, default_factory=dict)

    def routes(self, biz_id: int, metric_id: str) -> tuple[EventStrategy, ...]:
        """The strategies of business `biz_id` on `metric_id`, in their stored order (memoised)."""
        key = (biz_id, metric_id)
        routes = self._by_metric.get(key)
        if routes is None:
            routes = self._by_metric[key] = tuple(r for r in self.by_biz.get(biz_id, ()) if metric_id in r.metric_ids)
        return routes

    def host_entry(self, event: FlatEvent) -> _HostEntry:
        """Host resolution and base dimensions of an event without own dimensions, memoised per (agent id,
        host, cloud id) for the life of the routing (hosts change only with a refresh, which builds a new one)."""
        key = (event.agent_id, event.host, event.cloud_id)
        entry = self._hosts.get(key)
        if entry is None:
            host = resolve_host(event, self.topology)
            base = host_dimensions(event, host) if host is not None else {}
            entry = _HostEntry(host, base, count_md5(base) if host is not None else "")
            if len(self._hosts) >= HOST_MEMO_SIZE:
                self._hosts.clear()
            self._hosts[key] = entry
        return entry


#: not frozen: a frozen dataclass's `__init__` costs 6x (`object.__setattr__` per field) and one is built per event;
#: treat it as immutable all the same
@dataclass(slots=True)
class Candidate:
    """One event facet for one strategy; `dimensions` are shared by the strategies of a facet (read-only)."""

    event: FlatEvent
    facet: Facet
    route: EventStrategy
    dimensions: Mapping[str, Any]
    md5: str
    content_md5: str
    #: the host's memoised base dimensions when `dimensions` is `{**base, **facet.dimensions}`, else None: lets
    #: the line reuse the base's JSON
    base: Mapping[str, Any] | None = None


def content_md5(dimensions: Mapping[str, Any], value: str, message: str) -> str:
    """MD5 of what an anomaly line says besides its ids and clock: output dimensions, value and message
    (key order does not matter); equal for a replayed event, different for two distinct anomalies.

    The text hashed is orjson's of `[dimensions, value, message]` with sorted keys (`str()` of anything else);
    what orjson cannot write (an integer beyond 64 bits) falls back to `json.dumps(..., sort_keys=True,
    ensure_ascii=False, default=str)`, so one input always hashes one way."""
    try:
        text = orjson.dumps([dimensions, value, message], default=str, option=_CONTENT_OPTIONS)
    except orjson.JSONEncodeError:
        text = json.dumps([dimensions, value, message], sort_keys=True, ensure_ascii=False, default=str).encode()
    return md5(text).hexdigest()  # type: ignore[no-any-return]


_CONTENT_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


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


def _ping_kept(event: FlatEvent, target: Host, index: TopologyIndex) -> bool:
    """PingFilter: both the pinging server and the target are known, in a direct cloud or one business."""
    server = index.host_by_address(event.server, event.cloud_id)
    return server is not None and (event.cloud_id <= 1 or server.bk_biz_id == target.bk_biz_id)


def fan_out(event: FlatEvent, routing: Routing, now: int) -> tuple[list[Candidate], Counter[str]]:
    """Candidates of `event` and drop counts (event-level reasons once, strategy-level ones per strategy)."""
    candidates: list[Candidate] = []
    drops: Counter[str] = Counter()
    fan_out_into(event, routing, now, candidates, drops)
    return candidates, drops


def fan_out_into(event: FlatEvent, routing: Routing, now: int, candidates: list[Candidate],
                 drops: dict[str, int]) -> None:
    """`fan_out`, appending to `candidates` and adding to `drops` (a plain dict: the batch loop's hot path)."""
    if now - event.time > routing.expire_seconds:
        drops["expired"] = drops.get("expired", 0) + 1
        return
    reason = kind_filter(event)
    entry: _HostEntry | None = None
    host: Host | None = None
    if reason is None:
        if event.dimensions:  # process events: their own dimensions are part of the base ones
            host = resolve_host(event, routing.topology)
        else:
            entry = routing.host_entry(event)
            host = entry.host
    if reason is None and host is None:
        reason = "unknown_host"
    elif host is not None and event.kind is EventKind.PING and not _ping_kept(event, host, routing.topology):
        reason = "ping_filtered"
    if reason is not None or host is None:
        reason = reason or "unknown_host"
        drops[reason] = drops.get(reason, 0) + 1
        return
    routes = routing.routes(host.bk_biz_id, event.kind.metric_id)
    if not routes:
        drops["no_strategy"] = drops.get("no_strategy", 0) + 1
        return
    if host.state in routing.disabled_states:
        drops["host_disabled"] = drops.get("host_disabled", 0) + len(routes)
        return
    if entry is not None:
        base, base_md5 = entry.base, entry.base_md5
    else:
        base, base_md5 = host_dimensions(event, host), ""
    for facet in facets(event):
        dims = {**base, **facet.dimensions}
        if not facet.filter_dimensions or facet.filter_dimensions is facet.dimensions:
            condition_dims = dims  # nothing to overlay (disk full: the output dimensions are the condition ones)
        else:
            condition_dims = {**dims, **facet.filter_dimensions}
        hashes: tuple[str, str] | None = None
        for route in routes:
            if route.target is not None and not route.target.matches_target(dims):
                drops["out_of_scope"] = drops.get("out_of_scope", 0) + 1
            elif route.conditions is not None and not route.conditions.matches_conditions(condition_dims):
                drops["condition_mismatch"] = drops.get("condition_mismatch", 0) + 1
            else:
                if hashes is None:
                    if facet.identity:
                        md5 = count_md5({**base, **facet.identity})
                    else:
                        base_md5 = base_md5 or count_md5(base)
                        md5 = base_md5
                    hashes = md5, content_md5(dims, event.title, facet.message)
                candidates.append(Candidate(event, facet, route, dims, *hashes, base if entry is not None else None))
