"""Strategy fan-out and filters of flat events (spec §1.5-§1.6), over the `routing.Routing` of the refresh.

`fan_out(event, routing, now)` returns one `Candidate` per (facet, matching strategy) that survives every
filter, plus drop counts by reason. Filter order follows the original: expiry, the kind's own filter, host
resolution, ping filter, strategy match, host status, target scope, agg conditions.

Deviations (host resolution's are in `routing`): each strategy is matched on its own item (W17: the original
used only the first query config of the *first* item for conditions, swallowing its errors); conditions see the
output dimensions overlaid with the kind's condition dimensions (W17: the original saw only the latter, so ping
and custom-string events could never be filtered by `bk_target_ip` conditions); one dimension dict per event,
never mutated (W22).

Each candidate carries the two hashes of its facet, computed once per facet (not per strategy): `md5`, the
original's identity (`count_md5` of the host dimensions plus `Facet.identity`, spec §1.5/§1.7, see `facets`),
and `content_md5`, which tells apart two anomalies that share an anomaly id (two disks full on one host in
one second; two strings of one custom message) for the push's replay dedupe (`delivery`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from alarm_access.access.event.facets import Facet, facets, kind_filter
from alarm_access.access.event.kinds import EventKind, FlatEvent
from alarm_access.access.event.routing import EventStrategy, HostEntry, Routing, host_dimensions, resolve_host
from alarm_access.kernel.hashing import count_md5, md5
from alarm_access.kernel.model import Host
from alarm_access.records.enrich import TopologyIndex


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
    #: the host's memoised entry when `dimensions` is `{**entry.base, **facet.dimensions}`, else None: lets the
    #: line reuse the base's JSON
    host_entry: HostEntry | None = None


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
    entry: HostEntry | None = None
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
                candidates.append(Candidate(event, facet, route, dims, *hashes, entry))
