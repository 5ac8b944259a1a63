"""Deployment clusters (spec launcher-and-ring §2.10): which businesses this alarm-backend cluster serves.

A large installation runs several clusters; each business (or alert data id) belongs to the cluster of the
first routing rule that matches it. Rules are `{cluster_name, target_type: biz|alert_data_id, matcher_type:
true|false|condition, matcher_config}`; for `biz`, when the last rule is not a `true` matcher an implicit final
rule gives everything else to `default`. A `condition` matcher is a list of `{method, value, condition?}`: an
entry with `condition: "or"` starts a new OR group, entries of a group are ANDed, and each compares the target
with the generic methods (`eq`, `neq` compare string forms as sets; `gt`/`gte`/`lt`/`lte` numbers, with list
values by their min/max; `reg`/`nreg` regex search; `include`/`exclude` substring; `issuperset`).
Unlike the original, the matcher does not mutate its config, and a cluster name is validated once, at start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.errors import ConfigError

DEFAULT_CLUSTER = "default"
_NAME = re.compile(r"^[0-9a-z_-]{1,64}$")
TARGET_TYPES = ("biz", "alert_data_id")


def cluster_name(raw: str) -> str:
    """The validated, lower-cased cluster name (`ConfigError` naming the rule it breaks)."""
    name = (raw or DEFAULT_CLUSTER).strip().lower()
    if not _NAME.match(name):
        raise ConfigError(f"ALARM_BACKEND_CLUSTER_NAME must be 1-64 characters of [0-9A-Za-z_-], got {raw!r}")
    return name


@dataclass(frozen=True, slots=True)
class Rule:
    cluster: str
    target_type: str
    matcher: str
    conditions: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = ()

    def matches(self, target: Any) -> bool:
        if self.matcher == "true":
            return True
        if self.matcher == "false":
            return False
        return any(all(_compare(method, target, values) for method, values in group) for group in self.conditions)


def _values(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else (str(value),)


def _numbers(values: tuple[str, ...]) -> list[float]:
    return [float(v) for v in values]


def _compare(method: str, target: Any, values: tuple[str, ...]) -> bool:
    text = str(target)
    if method == "eq":
        return text in values
    if method == "neq":
        return text not in values
    if method in ("gt", "gte"):
        bound = max(_numbers(values))
        return float(target) > bound if method == "gt" else float(target) >= bound
    if method in ("lt", "lte"):
        bound = min(_numbers(values))
        return float(target) < bound if method == "lt" else float(target) <= bound
    if method in ("reg", "nreg"):
        found = any(re.search(v, text) for v in values)
        return found if method == "reg" else not found
    if method in ("include", "exclude"):
        found = any(v in text for v in values)
        return found if method == "include" else not found
    if method == "issuperset":
        return set(values) <= {text}
    raise ConfigError(f"cluster routing rule: unknown condition method {method!r}")


def parse_rules(raw: Sequence[Mapping[str, Any]]) -> tuple[Rule, ...]:
    """The routing rules, validated; the implicit final `default` rule for `biz` appended when needed."""
    rules: list[Rule] = []
    for index, entry in enumerate(raw):
        where = f"ALARM_BACKEND_CLUSTER_ROUTING_RULES[{index}]"
        target_type, matcher = entry.get("target_type"), entry.get("matcher_type")
        if target_type not in TARGET_TYPES:
            raise ConfigError(f"{where}: target_type must be biz or alert_data_id, got {target_type!r}")
        if matcher not in ("true", "false", "condition"):
            raise ConfigError(f"{where}: matcher_type must be true, false or condition, got {matcher!r}")
        groups: list[list[tuple[str, tuple[str, ...]]]] = [[]]
        for condition in entry.get("matcher_config") or () if matcher == "condition" else ():
            if groups[-1] and str(condition.get("condition", "and")).lower() == "or":
                groups.append([])
            groups[-1].append((str(condition.get("method", "eq")), _values(condition.get("value"))))
        rules.append(Rule(cluster_name(str(entry.get("cluster_name", ""))), target_type, matcher,
                          tuple(tuple(g) for g in groups if g)))
    biz = [rule for rule in rules if rule.target_type == "biz"]
    if not biz or biz[-1].matcher != "true":
        rules.append(Rule(DEFAULT_CLUSTER, "biz", "true"))
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str = DEFAULT_CLUSTER
    rules: tuple[Rule, ...] = (Rule(DEFAULT_CLUSTER, "biz", "true"),)

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_CLUSTER

    @property
    def queue_prefix(self) -> str:
        """Prefix of this cluster's Celery queue names: none for `default`, else `<name>-`."""
        return "" if self.is_default else f"{self.name}-"

    def owner_of(self, target_type: str, target: Any) -> str | None:
        """The cluster of the first rule of `target_type` that matches `target` (None: no rule matches)."""
        return next((rule.cluster for rule in self.rules if rule.target_type == target_type and rule.matches(target)),
                    None)

    def serves(self, target: Any, target_type: str = "biz") -> bool:
        return self.owner_of(target_type, target) == self.name
