"""Static thresholds, evaluated as the detect service's `Threshold` algorithm does (spec data-access §3.15).

A `Threshold` algorithm's config is a list of AND groups of conditions, OR-ed:
``[[{"method": "gte", "threshold": 80}, {"method": "lt", "threshold": 95}], [{"method": "eq", ...}]]``.
Per level, every algorithm of that level must fire ("同时", combined detectors); the first AND group of an
algorithm that matches gives its description. Levels are checked in ascending order and a point may be
anomalous at several levels.

Inline detection is used only where its result is certain to equal detect's: every algorithm of every item
is a `Threshold` with a valid, non-empty config and no unit conversion (no `unit` on the query config, no
`unit` on the algorithm) — otherwise the group goes to the detect queues as usual. Pure: no I/O.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.model import Item, StrategyGroup

_OPS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "gt": (operator.gt, ">"),
    "gte": (operator.ge, ">="),
    "lt": (operator.lt, "<"),
    "lte": (operator.le, "<="),
    "eq": (operator.eq, "="),
    "neq": (operator.ne, "!="),
}


@dataclass(frozen=True, slots=True)
class Condition:
    method: str
    threshold: float
    #: the threshold as the strategy wrote it (the description shows it verbatim: `10`, not `10.0`)
    text: str

    def matches(self, value: float) -> bool:
        return _OPS[self.method][0](value, self.threshold)

    @property
    def description(self) -> str:
        return f" {_OPS[self.method][1]} {self.text}"


#: OR of AND groups
Detector = tuple[tuple[Condition, ...], ...]


@dataclass(frozen=True, slots=True)
class ItemThresholds:
    """The detectors of one item by level, levels ascending."""

    levels: tuple[tuple[int, tuple[Detector, ...]], ...]


def _condition(raw: Any) -> Condition | None:
    if not isinstance(raw, Mapping) or raw.get("method") not in _OPS:
        return None
    threshold = raw.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        return None
    return Condition(str(raw["method"]), float(threshold), str(threshold))


def parse_detector(config: Any) -> Detector | None:
    """A `Threshold` config as OR of AND groups, or None when it is not a valid non-empty one."""
    if not isinstance(config, list | tuple) or not config:
        return None
    groups = []
    for group in config:
        if not isinstance(group, list | tuple) or not group:
            return None
        conditions = tuple(_condition(raw) for raw in group)
        if any(condition is None for condition in conditions):
            return None
        groups.append(tuple(c for c in conditions if c is not None))
    return tuple(groups)


def item_thresholds(item: Item) -> ItemThresholds | None:
    """The item's detectors, or None when detect's result could differ (see the module docstring)."""
    if not item.algorithms or any(qc.extra.get("unit") for qc in item.query_configs):
        return None
    by_level: dict[int, list[Detector]] = {}
    for algorithm in item.algorithms:
        if algorithm.type != "Threshold":
            return None
        config = algorithm.config
        if isinstance(config, Mapping):  # {"threshold": [[...]], "unit": ...} shape of newer strategies
            if config.get("unit"):
                return None
            config = config.get("threshold")
        detector = parse_detector(config)
        if detector is None:
            return None
        by_level.setdefault(int(algorithm.level), []).append(detector)
    return ItemThresholds(tuple((level, tuple(by_level[level])) for level in sorted(by_level)))


def group_thresholds(group: StrategyGroup, allowed_strategy_ids: frozenset[int] = frozenset()) -> (
        dict[tuple[int, int], ItemThresholds] | None):
    """Detectors per item when EVERY item of the group can be detected inline, else None (spec §3.15);
    `allowed_strategy_ids`, when non-empty, is the original's `ACCESS_DETECT_MERGE_STRATEGY_IDS` grey list."""
    out: dict[tuple[int, int], ItemThresholds] = {}
    for strategy, item in group.items:
        if allowed_strategy_ids and strategy.id not in allowed_strategy_ids:
            return None
        thresholds = item_thresholds(item)
        if thresholds is None:
            return None
        out[(strategy.id, item.id)] = thresholds
    return out or None


def _fire(detector: Detector, value: float) -> str | None:
    """The description of the first AND group that matches (joined by 且), or None."""
    for group in detector:
        if all(condition.matches(value) for condition in group):
            return "且".join(condition.description for condition in group)
    return None


def detect_value(thresholds: ItemThresholds, value: Any) -> list[tuple[int, str]]:
    """`(level, description)` for every level at which `value` is anomalous. A missing or non-numeric value
    is never anomalous (detect's expression raises on it and skips the point)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    fired = []
    for level, detectors in thresholds.levels:
        descriptions = [_fire(detector, float(value)) for detector in detectors]
        if all(description is not None for description in descriptions):
            fired.append((level, " 同时 ".join(d for d in descriptions if d is not None)))
    return fired
