"""Deployment clusters: the original's routing rules (first match wins, implicit default, conditions)."""

from __future__ import annotations

from typing import Any

import pytest

from alarm_access.kernel.clusters import Cluster, cluster_name, parse_rules
from alarm_access.kernel.errors import ConfigError

RULES: list[dict[str, Any]] = [
    {"cluster_name": "big", "target_type": "biz", "matcher_type": "condition",
     "matcher_config": [{"method": "eq", "value": [2, 3]}, {"method": "gte", "value": 1000, "condition": "or"},
                        {"method": "lt", "value": 2000}]},
    {"cluster_name": "off", "target_type": "biz", "matcher_type": "false"},
    {"cluster_name": "alerts", "target_type": "alert_data_id", "matcher_type": "true"},
]


def test_first_matching_rule_wins_and_the_rest_goes_to_default() -> None:
    rules = parse_rules(RULES)
    big, default = Cluster("big", rules), Cluster("default", rules)
    assert [b for b in (2, 3, 4, 999, 1000, 1999, 2000) if big.serves(b)] == [2, 3, 1000, 1999]
    assert [b for b in (2, 4, 2000) if default.serves(b)] == [4, 2000]  # the implicit final default rule
    assert Cluster("off", rules).serves(5) is False  # a false matcher matches nothing
    assert big.owner_of("alert_data_id", 7) == "alerts" and not big.serves(7, "alert_data_id")


def test_no_rules_means_the_default_cluster_serves_everything() -> None:
    assert Cluster("default", parse_rules([])).serves(12345)
    assert not Cluster("other", parse_rules([])).serves(12345)


@pytest.mark.parametrize(("method", "value", "target", "expected"), [
    ("neq", [1], 2, True), ("reg", ["^1"], 12, True), ("nreg", ["^1"], 12, False), ("include", ["3"], 123, True),
    ("exclude", ["3"], 123, False), ("gt", [5, 7], 8, True), ("lte", [5, 7], 5, True), ("issuperset", [4], 4, True),
])
def test_condition_methods(method: str, value: list[int], target: int, expected: bool) -> None:
    rules = parse_rules([{"cluster_name": "c", "target_type": "biz", "matcher_type": "condition",
                          "matcher_config": [{"method": method, "value": value}]}])
    assert Cluster("c", rules).serves(target) is expected


def test_names_and_rules_are_validated() -> None:
    assert cluster_name("Blue-1") == "blue-1" and cluster_name("") == "default"
    with pytest.raises(ConfigError, match="ALARM_BACKEND_CLUSTER_NAME"):
        cluster_name("no spaces")
    with pytest.raises(ConfigError, match=r"RULES\[0\]: target_type"):
        parse_rules([{"cluster_name": "c", "target_type": "host", "matcher_type": "true"}])
