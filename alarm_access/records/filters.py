"""Record filters (spec data-access §3.2): expiry, host status, and per-item scope.

Expiry and host status are record-level: a hard drop removes the record from every item, nodata included.
Item scope (target + post-filter conditions) only decides which items' detect queues get the record.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.model import Item
from alarm_access.records.conditions import ConditionMatcher, post_filter_matcher
from alarm_access.records.enrich import TopologyIndex
from alarm_access.records.target import TargetMatcher, compile_target

#: CMDB host states whose data is kept (for nodata) but not detected.
DEFAULT_DISABLED_HOST_STATES = frozenset({"备用机", "测试中", "故障中"})
EXPIRE_FLOOR = 1800

KEEP = "keep"
UNKNOWN_HOST = "unknown_host"
EMPTY_HOST = "empty_host"
HOST_DISABLED = "host_disabled"


def expire_after(item: Item) -> int:
    """Age in seconds past which a point of `item` is dropped: max(10 x first QC interval, 30 min)."""
    return max(10 * item.query_configs[0].agg_interval, EXPIRE_FLOOR)


def is_expired(time: int, now: int, max_age: int) -> bool:
    """Strictly older than `max_age`: a point exactly `max_age` old is kept."""
    return now - time > max_age


def host_status(dims: Mapping[str, Any], index: TopologyIndex, disabled_states: Collection[str]) -> str:
    """`KEEP`, `EMPTY_HOST`, `UNKNOWN_HOST` (both hard drops) or `HOST_DISABLED` (kept for nodata only).

    Records without host dimensions are kept; records naming a host that the topology does not know are
    dropped, as are records whose host id and ip are both empty.
    """
    if "bk_host_id" not in dims and "bk_target_ip" not in dims:
        return KEEP
    host_id, ip = dims.get("bk_host_id"), dims.get("bk_target_ip")
    if not host_id and not ip:
        return EMPTY_HOST
    if host_id:
        host = index.hosts_by_id.get(str(host_id))
    elif "bk_target_ip" in dims and "bk_target_cloud_id" in dims:
        try:
            cloud = int(dims["bk_target_cloud_id"])
        except (TypeError, ValueError):
            return UNKNOWN_HOST
        host = index.host_by_address(ip, cloud)
    else:
        return KEEP
    if host is None:
        return UNKNOWN_HOST
    return HOST_DISABLED if host.state in disabled_states else KEEP


@dataclass(frozen=True, slots=True)
class ItemScope:
    """Which records an item keeps (RangeFilter). Both parts `None`: the item keeps everything."""

    target: TargetMatcher | None
    conditions: ConditionMatcher | None

    @property
    def keeps_everything(self) -> bool:
        return self.target is None and self.conditions is None

    def is_in_scope(self, dims: Mapping[str, Any]) -> bool:
        if self.target is not None and not self.target.matches_target(dims):
            return False
        return self.conditions is None or self.conditions.matches_conditions(dims)


def compile_scope(item: Item, index: TopologyIndex) -> ItemScope:
    return ItemScope(compile_target(item.target, index), post_filter_matcher(item.query_configs[0]))
