"""Circuit breaking by business, data source (and strategy), from configured rules (spec data-access §3.10).

Rules are the original's JSON list `[{key, method, value, condition?}]`: conditions are AND-ed, a rule with
`condition: "or"` starts a new AND group, a group matches when all its rules do, the rule set when any
group does. Methods: eq, neq, lt, lte, gt, gte, reg, nreg, include, exclude, issuperset. Invalid rules are
skipped; no valid rule means "not broken". Instance values are compared as strings (None → "") and a rule
on a field the instance lacks is false.

Deviation (spec §9.14): the original matched the scheduler stage with business/source fields only and the
processor stage with `strategy_id` only, so a rule combining both could never match. Here every item is
matched once with all fields — `bk_biz_id`, `data_source_label`, `data_type_label`, `strategy_source`
("dsl:dtl"), `strategy_id` — and a group whose every item matched is not pulled at all. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.model import StrategyGroup


def _numeric(op: Callable[[float, float], bool]) -> Callable[[str, list[str]], bool]:
    def check(value: str, values: list[str]) -> bool:
        try:
            return any(op(float(value), float(v)) for v in values)
        except ValueError:
            return False

    return check


_METHODS: dict[str, Callable[[str, list[str]], bool]] = {
    "eq": lambda value, values: value in values,
    "neq": lambda value, values: value not in values,
    "lt": _numeric(lambda a, b: a < b),
    "lte": _numeric(lambda a, b: a <= b),
    "gt": _numeric(lambda a, b: a > b),
    "gte": _numeric(lambda a, b: a >= b),
    "reg": lambda value, values: any(re.search(v, value) for v in values),
    "nreg": lambda value, values: not any(re.search(v, value) for v in values),
    "include": lambda value, values: any(v in value for v in values),
    "exclude": lambda value, values: not any(v in value for v in values),
    "issuperset": lambda value, values: set(values) <= set(value.split(",")),
}


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    method: str
    values: tuple[str, ...]

    def matches(self, instance: Mapping[str, Any]) -> bool:
        if self.key not in instance:
            return False
        value = instance[self.key]
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else "" if value is None else str(value)
        try:
            return _METHODS[self.method](text, list(self.values))
        except re.error:
            return False


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def compile_rules(raw: Sequence[Any]) -> tuple[tuple[Rule, ...], ...]:
    """OR of AND groups of the valid rules in `raw`."""
    groups: list[list[Rule]] = []
    for entry in raw:
        if not isinstance(entry, Mapping) or entry.get("method") not in _METHODS or not entry.get("key"):
            continue
        value = entry.get("value")
        values = tuple(_text(v) for v in value) if isinstance(value, list | tuple) else (_text(value),)
        if not groups or str(entry.get("condition", "")).lower() == "or":
            groups.append([])
        groups[-1].append(Rule(str(entry["key"]), str(entry["method"]), values))
    return tuple(tuple(group) for group in groups if group)


def is_broken(rules: tuple[tuple[Rule, ...], ...], instance: Mapping[str, Any]) -> bool:
    return any(all(rule.matches(instance) for rule in group) for group in rules)


def unbroken_items(group: StrategyGroup, rules: tuple[tuple[Rule, ...], ...]) -> StrategyGroup | None:
    """`group` without its broken items (the same object when none is), None when every item is broken."""
    if not rules:
        return group
    dsl, dtl = group.source
    base = {"bk_biz_id": group.bk_biz_id, "data_source_label": dsl, "data_type_label": dtl,
            "strategy_source": f"{dsl}:{dtl}"}
    kept = tuple(pair for pair in group.items if not is_broken(rules, {**base, "strategy_id": pair[0].id}))
    if not kept:
        return None
    if len(kept) == len(group.items):
        return group
    return StrategyGroup(group.key, group.bk_biz_id, kept, group.interval, group.source, group.query_config)
