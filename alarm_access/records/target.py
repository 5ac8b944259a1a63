"""Target-scope matching of record dimensions (spec data-access §3.2, RangeFilter step 1).

A target is OR over groups, AND within a group. Conditions are compiled once per run into sets of target
keys; a condition without usable values is skipped. An item whose target has conditions but none usable
matches nothing; an item without any target condition has no matcher at all (everything matches).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.model import Target, TargetCondition
from alarm_access.records.enrich import TopologyIndex

_IP_FIELDS = frozenset({"ip", "bk_target_ip"})
_INSTANCE_FIELDS = frozenset({"service_instance_id", "bk_target_service_instance_id"})


@dataclass(frozen=True, slots=True)
class _Compiled:
    kind: str  # "ip" | "instance" | "topo"
    is_eq: bool
    keys: frozenset[str]


def _value(value: Any, *names: str, default: Any = None) -> Any:
    """`value.get(names[0], value.get(names[1], ...))`: the first present key wins, even if falsy."""
    if not isinstance(value, Mapping):
        return default
    for name in names:
        if name in value:
            return value[name]
    return default


def _compile(cond: TargetCondition, index: TopologyIndex) -> _Compiled | None:
    field, is_eq = cond.field.lower(), cond.method.lower() == "eq"
    keys: set[str] = set()
    if field in _IP_FIELDS:
        kind = "ip"
        for value in cond.values:
            host_id = _value(value, "bk_host_id")
            if host_id:
                keys.add(str(host_id))
            ip = _value(value, "bk_target_ip", "ip")
            if ip:
                keys.add(f"{ip}|{_value(value, 'bk_target_cloud_id', 'bk_cloud_id', default=0)}")
    elif field in _INSTANCE_FIELDS:
        kind = "instance"
        for value in cond.values:
            instance_id = _value(value, "bk_target_service_instance_id", "service_instance_id")
            if instance_id:
                keys.add(str(instance_id))
    elif field.endswith("_topo_node"):
        kind = "topo"
        for value in cond.values:
            obj, inst = _value(value, "bk_obj_id"), _value(value, "bk_inst_id")
            if obj and inst:
                keys.add(f"{obj}|{inst}")
    elif field == "dynamic_group":
        kind = "ip"
        group_ids = [_value(value, "dynamic_group_id") for value in cond.values]
        if not any(group_ids):
            return None
        for group_id in group_ids:
            keys.update(index.dynamic_group_hosts.get(str(group_id), ()))
        # a dynamic group without hosts matches no host (rather than being skipped as "no values")
        keys = keys or {"0"}
    else:
        return None
    return _Compiled(kind, is_eq, frozenset(keys)) if keys else None


def _record_keys(kind: str, dims: Mapping[str, Any]) -> set[str] | None:
    """Keys of the record for a condition kind; `None` means "condition not applicable" (satisfied)."""
    if kind == "ip":
        keys = set()
        host_id = dims.get("bk_host_id")
        if host_id:
            keys.add(str(host_id))
        ip = _value(dims, "bk_target_ip", "ip")
        if ip:
            keys.add(f"{ip}|{_value(dims, 'bk_target_cloud_id', 'bk_cloud_id', default=0)}")
        return keys or None
    if kind == "instance":
        instance_id = _value(dims, "bk_target_service_instance_id", "service_instance_id")
        return {str(instance_id)} if instance_id else None
    if "bk_topo_node" in dims:
        return set(dims["bk_topo_node"] or ())
    if "bk_obj_id" in dims and "bk_inst_id" in dims:
        return {f"{dims['bk_obj_id']}|{dims['bk_inst_id']}"}
    return set()  # no topology known: the record cannot be in a topo target


class TargetMatcher:
    """Compiled target of one item. `matches_target(dims)` is the RangeFilter's target step."""

    __slots__ = ("_groups",)

    def __init__(self, groups: tuple[tuple[_Compiled, ...], ...]) -> None:
        self._groups = groups

    def matches_target(self, dims: Mapping[str, Any]) -> bool:
        for group in self._groups:
            for cond in group:
                keys = _record_keys(cond.kind, dims)
                if keys is None:
                    continue
                if cond.kind == "topo" and not keys:
                    break
                if bool(cond.keys & keys) != cond.is_eq:
                    break
            else:
                return True
        return False


def compile_target(target: Target, index: TopologyIndex) -> TargetMatcher | None:
    """`None` when the item has no target condition at all (`()` or `((),)`): every record is in scope."""
    if not any(target):
        return None
    groups = tuple(
        compiled
        for compiled in (tuple(c for c in (_compile(cond, index) for cond in group) if c) for group in target)
        if compiled
    )
    return TargetMatcher(groups)
