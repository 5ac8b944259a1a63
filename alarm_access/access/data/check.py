"""What `manage.py access_check` finds in a strategy without asking any service: its queries can be run exactly
(`query.item_plan`: expression, functions, query configs), its target scope names hosts, topology nodes,
service instances and dynamic groups that exist, and where `data` would place its items (group, interval,
slot offset). The command adds what needs the services: the built query and whether the source answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alarm_access.access.data.grouping import build_groups, is_grouped
from alarm_access.access.data.query import item_plan
from alarm_access.access.data.schedule import stable_offset
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import Item, Strategy, StrategyGroup, TargetCondition
from alarm_access.records.enrich import TopologyIndex


@dataclass(slots=True)
class Problem:
    """One thing wrong with a strategy: `field` is its path in the document (`items[0].functions`)."""

    field: str
    message: str


@dataclass(slots=True)
class Placement:
    """Where `data` runs one item: its group, the group's interval and the slot offset within it."""

    item_id: int
    group_key: str
    interval: int
    offset: int
    strategies_in_group: int


@dataclass(slots=True)
class StrategyCheck:
    strategy_id: int | None
    name: str
    problems: list[Problem] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: per grouped item id: facts the command adds (the query text, series found)
    details: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def format_problem(error: InvalidStrategy) -> Problem:
    return Problem(error.field, error.problem)


def check_strategies(strategies: Iterable[Strategy], index: TopologyIndex) -> list[StrategyCheck]:
    """The offline checks of `strategies` (placements are computed over them all, as `data` groups them)."""
    strategies = list(strategies)
    groups = {group.key: group for group in build_groups(strategies)}
    where = {(s.id, i.id): g for g in groups.values() for s, i in g.items}
    checks = []
    for strategy in strategies:
        check = StrategyCheck(strategy.id, strategy.name)
        for position, item in enumerate(strategy.items):
            check.problems += _item_problems(strategy, position, item)
            check.problems += _target_problems(position, item, index)
            group = where.get((strategy.id, item.id))
            if group is not None:
                check.placements.append(_placement(item, group))
        if not any(is_grouped(item) for item in strategy.items):
            check.notes.append("no item is pulled by `data` (not time series/log, or real-time)")
        checks.append(check)
    return checks


def _placement(item: Item, group: StrategyGroup) -> Placement:
    return Placement(item.id, group.key, group.interval, stable_offset(group.key, group.interval),
                     len(group.strategy_ids))


def _item_problems(strategy: Strategy, position: int, item: Item) -> list[Problem]:
    if not is_grouped(item):
        return []
    try:
        item_plan(item, f"strategy {strategy.id}")
    except InvalidStrategy as error:
        return [Problem(f"items[{position}].{error.field}", error.problem)]
    return []


def _target_problems(position: int, item: Item, index: TopologyIndex) -> list[Problem]:
    problems = []
    nodes = {node for host in index.hosts_by_id.values() for node in host.topo_nodes}
    for g, group in enumerate(item.target):
        for c, condition in enumerate(group):
            for missing in _missing(condition, index, nodes):
                problems.append(Problem(f"items[{position}].target[{g}][{c}]", f"{missing} does not exist"))
    return problems


def _missing(condition: TargetCondition, index: TopologyIndex, nodes: set[str]) -> list[str]:
    kind = condition.field.lower()
    missing = []
    for value in condition.values:
        if not isinstance(value, Mapping):
            continue
        if kind in ("ip", "bk_target_ip"):
            host_id, ip = value.get("bk_host_id"), value.get("bk_target_ip") or value.get("ip")
            cloud = value.get("bk_target_cloud_id", value.get("bk_cloud_id", 0))
            if host_id and str(host_id) not in index.hosts_by_id:
                missing.append(f"host {host_id}")
            elif not host_id and ip and index.host_by_address(ip, cloud) is None:
                missing.append(f"host {ip} (cloud {cloud})")
        elif kind.endswith("_topo_node") and value.get("bk_obj_id"):
            node = f"{value.get('bk_obj_id')}|{value.get('bk_inst_id')}"
            if node not in nodes:
                missing.append(f"topology node {node}")
        elif kind in ("service_instance_id", "bk_target_service_instance_id"):
            instance = value.get("bk_target_service_instance_id") or value.get("service_instance_id")
            if instance and str(instance) not in index.instance_patch:
                missing.append(f"service instance {instance}")
        elif kind == "dynamic_group":
            group_id = value.get("dynamic_group_id")
            if group_id and str(group_id) not in index.dynamic_group_hosts:
                missing.append(f"dynamic group {group_id}")
    return missing
