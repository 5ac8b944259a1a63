"""Pure parsing of strategy and topology documents: values, normalisation, and precise error naming."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from alarm_access.formats import (
    parse_dynamic_group,
    parse_host,
    parse_service_instance,
    parse_strategy,
    parse_strategy_documents,
    parse_topology_document,
)
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import AggCondition, NoiseReduceConfig, TargetCondition
from tests.fixtures import load_json


def v3() -> dict[str, Any]:
    doc: dict[str, Any] = load_json("strategies_v3.json")[0]
    return doc


def test_parses_the_original_v3_fixture() -> None:
    strategy = parse_strategy(v3())

    assert (strategy.id, strategy.bk_biz_id, strategy.scenario, strategy.update_time) == (1, 2, "os", 1569044491)
    assert strategy.priority is None and strategy.priority_group_key == ""
    assert strategy.noise_reduce == NoiseReduceConfig(is_enabled=True, dimensions=("bk_target_ip",), count=1)
    (item,) = strategy.items
    assert item.target == (
        (TargetCondition("bk_target_ip", "eq", ({"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": 0},)),),
    )
    assert item.algorithms[0].type == "Threshold"
    assert item.algorithms[0].config == [{"threshold": 12.0, "method": "gte"}]
    (qc,) = item.query_configs
    assert qc.source == ("bk_monitor", "time_series")
    assert (qc.agg_interval, qc.agg_dimension) == (60, ("bk_target_ip", "bk_target_cloud_id"))
    assert qc.extra == {"id": 2, "unit_conversion": 1.0, "unit": "%"}


def test_parses_priority_multiple_items_conditions_and_string_update_time() -> None:
    strategy = parse_strategy(load_json("strategies_v3.json")[1])

    assert (strategy.priority, strategy.priority_group_key, strategy.is_enabled) == (120, "a1b2c3", False)
    assert strategy.update_time == 1720063028  # "2024-07-04 03:17:08" read as UTC
    assert strategy.labels == ("/disk/", "/team-a/")
    assert strategy.noise_reduce == NoiseReduceConfig(True, ("bk_target_ip", "device_name"), 10)
    io, events = strategy.items
    assert [qc.agg_interval for qc in io.query_configs] == [60, 120] and io.min_interval == 60
    assert io.query_configs[0].agg_condition == (
        AggCondition("device_name", "eq", ("sda",), "and"),
        AggCondition("device_name", "include", ("nvme",), "or"),
    )
    assert io.functions[0]["id"] == "rate" and io.query_configs[0].functions == ({"id": "abs", "params": []},)
    assert (io.no_data.is_enabled, io.no_data.continuous, io.no_data.level) == (True, 10, 2)
    # the legacy `ip` target in the second OR-group is normalised
    assert io.target[1] == (
        TargetCondition("bk_target_ip", "eq", ({"bk_target_ip": "10.0.0.9", "bk_target_cloud_id": 3},)),
    )
    assert events.target == ((),) and events.query_configs[0].extra["custom_event_name"] == "deploy"


def test_strategy_level_target_applies_to_items_without_their_own() -> None:
    doc = load_json("strategies_mixed.json")[0]

    inherited, own_empty = parse_strategy(doc).items

    expected = ((TargetCondition("bk_target_ip", "eq", ({"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": 0},)),),)
    assert inherited.target == expected
    assert own_empty.target == ()


def test_parsing_does_not_mutate_the_document() -> None:
    doc = load_json("strategies_mixed.json")[0]
    before = copy.deepcopy(doc)

    parse_strategy(doc)

    assert doc == before


def test_normalised_key_wins_over_legacy_spelling_in_target_values() -> None:
    doc = v3()
    doc["items"][0]["target"] = [
        [{"field": "ip", "method": "eq", "value": [{"ip": "1.1.1.1", "bk_target_ip": "2.2.2.2", "bk_cloud_id": 4}]}]
    ]

    (condition,) = parse_strategy(doc).items[0].target[0]

    assert condition.values == ({"bk_target_ip": "2.2.2.2", "bk_target_cloud_id": 4},)


def test_agg_condition_defaults_and_scalar_value() -> None:
    doc = v3()
    doc["items"][0]["query_configs"][0]["agg_condition"] = [
        {"key": "device_name", "method": "eq", "value": "sda"},
        {"key": "mount", "method": "neq", "value": ["/"], "condition": "AND"},
    ]

    conditions = parse_strategy(doc).items[0].query_configs[0].agg_condition

    assert conditions == (AggCondition("device_name", "eq", ("sda",), "and"), AggCondition("mount", "neq", ("/",)))


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


QC0 = ("items", 0, "query_configs", 0)
Q = "items[0].query_configs[0]"


@pytest.mark.parametrize(
    ("mutate", "entry", "field", "problem"),
    [
        (_delete(("id",)), "strategy", "id", "is required"),
        (_set(("id",), True), "strategy", "id", "must be a positive integer"),
        (_set(("bk_biz_id",), "2"), "strategy 1", "bk_biz_id", "must be an integer"),
        (_set(("items",), {"id": 1}), "strategy 1", "items", "must be a list"),
        (_delete(("items",)), "strategy 1", "items", "is required"),
        (_set(("items", 0), "load5"), "strategy 1", "items[0]", "must be an object"),
        (_delete(("items", 0, "id")), "strategy 1", "items[0].id", "is required"),
        (_delete(("items", 0, "query_configs")), "strategy 1", "items[0].query_configs", "is required"),
        (_set(("items", 0, "query_configs"), []), "strategy 1", "items[0].query_configs", "must not be empty"),
        (_set((*QC0, "agg_interval"), 0), "strategy 1", f"{Q}.agg_interval", "positive integer"),
        (_set((*QC0, "agg_interval"), "60"), "strategy 1", f"{Q}.agg_interval", "positive"),
        (_delete((*QC0, "data_source_label")), "strategy 1", f"{Q}.data_source_label", "required"),
        (_set((*QC0, "agg_dimension"), "bk_target_ip"), "strategy 1", f"{Q}.agg_dimension", "list"),
        (
            _set((*QC0, "agg_condition"), [{"key": "a", "method": "eq", "value": [], "condition": "xor"}]),
            "strategy 1",
            f"{Q}.agg_condition[0].condition",
            "must be 'and' or 'or'",
        ),
        (_set(("items", 0, "target"), [{"field": "ip"}]), "strategy 1", "items[0].target[0]", "list of lists"),
        (_set(("items", 0, "target"), [[{"method": "eq"}]]), "strategy 1", "items[0].target[0][0].field", "required"),
        (_set(("items", 0, "algorithms", 0, "level"), "1"), "strategy 1", "items[0].algorithms[0].level", "integer"),
        (_set(("items", 0, "time_delay"), -1), "strategy 1", "items[0].time_delay", "non-negative"),
        (_set(("priority",), 10001), "strategy 1", "priority", "0..10000 or null"),
        (_set(("update_time",), "yesterday"), "strategy 1", "update_time", "'YYYY-MM-DD HH:MM:SS'"),
        (_set(("labels",), [1]), "strategy 1", "labels", "list of strings"),
        (
            _set(("notice", "options", "noise_reduce_config", "dimensions"), "ip"),
            "strategy 1",
            "notice.options.noise_reduce_config.dimensions",
            "list",
        ),
    ],
)
def test_invalid_documents_name_entry_and_field(
    mutate: Callable[[dict[str, Any]], None], entry: str, field: str, problem: str
) -> None:
    doc = v3()
    mutate(doc)

    with pytest.raises(InvalidStrategy) as caught:
        parse_strategy(doc)

    assert (caught.value.entry, caught.value.field) == (entry, field)
    assert problem in caught.value.problem
    assert entry in str(caught.value) and field in str(caught.value)


def test_entry_without_usable_id_is_named_by_index() -> None:
    with pytest.raises(InvalidStrategy) as caught:
        parse_strategy({"id": "x", "bk_biz_id": 2, "items": []}, index=3)

    assert caught.value.entry == "strategy at index 3"


def test_parse_strategy_documents_keeps_valid_and_names_invalid() -> None:
    strategies, errors = parse_strategy_documents(load_json("strategies_mixed.json"))

    assert [s.id for s in strategies] == [7, 9, 11]
    assert [(e.entry, e.field) for e in errors] == [
        ("strategy 8", f"{Q}.agg_interval"),
        ("strategy at index 3", "id"),
    ]


def test_parse_strategy_documents_accepts_one_object_and_rejects_other_shapes() -> None:
    strategies, errors = parse_strategy_documents(v3())
    assert [s.id for s in strategies] == [1] and errors == []

    strategies, errors = parse_strategy_documents("not a strategy")
    assert strategies == [] and [e.field for e in errors] == ["(document)"]


def test_parse_host_reads_cmdb_fields() -> None:
    host = parse_host(load_json("hosts.json")["hosts"][0])

    assert (host.bk_host_id, host.ip, host.cloud_id, host.bk_biz_id) == (1, "127.0.0.1", 0, 2)
    assert host.agent_id == "0100005254008ed86116666614661851" and host.state == "运营中[需告警]"
    assert host.topo_link["module|3"] == ("biz|2", "set|2", "module|3")
    assert host.topo_nodes == ("biz|2", "set|1", "module|1", "set|2", "module|3")


def test_parse_service_instance_and_dynamic_group() -> None:
    doc = load_json("hosts.json")

    instance = parse_service_instance(doc["service_instances"][0])
    group = parse_dynamic_group(doc["dynamic_groups"][1])

    assert (instance.service_instance_id, instance.bk_host_id, instance.topo_nodes[-1]) == (11, 1, "module|1")
    assert (group.dynamic_group_id, group.bk_obj_id, group.bk_inst_ids, group.bk_biz_id) == ("dg-sets", "set", (1,), 0)


def test_topology_document_object_shape_collects_invalid_entries() -> None:
    topology, errors = parse_topology_document(load_json("hosts.json"))

    assert [h.bk_host_id for h in topology.hosts] == [1, 2, 3]
    assert topology.hosts[2].state == ""  # null state reads as unset
    assert [s.service_instance_id for s in topology.service_instances] == [11, 12]
    assert [g.dynamic_group_id for g in topology.dynamic_groups] == ["dg-hosts", "dg-sets"]
    assert [(e.entry, e.field) for e in errors] == [("host 4", "bk_host_id"), ("host 5", "topo_link.module|9")]


def test_topology_document_list_shape() -> None:
    topology, errors = parse_topology_document(load_json("hosts_list.json"))

    assert errors == [] and [(h.bk_host_id, h.cloud_id) for h in topology.hosts] == [(21, 0), (22, 2)]
    assert topology.service_instances == () and topology.dynamic_groups == ()


@pytest.mark.parametrize(
    ("doc", "entry", "field"),
    [
        ({"hosts": {"bk_host_id": 1}}, "topology", "hosts"),
        ({"hosts": [], "switches": []}, "topology", "switches"),
        ("hosts", "topology", "(document)"),
        ([{"bk_host_innerip": "1.1.1.1", "bk_biz_id": 2}], "host at index 0", "bk_host_id"),
        ([{"bk_host_id": 1, "bk_biz_id": 2, "bk_cloud_id": -1}], "host 1", "bk_cloud_id"),
        ({"service_instances": [{"service_instance_id": 3, "bk_biz_id": 2}]}, "service instance 3", "bk_host_id"),
        (
            {"dynamic_groups": [{"dynamic_group_id": "g", "bk_obj_id": "host", "bk_inst_ids": ["1"]}]},
            "dynamic group g",
            "bk_inst_ids",
        ),
        (
            {"dynamic_groups": [{"dynamic_group_id": "", "bk_obj_id": "host"}]},
            "dynamic group at index 0",
            "dynamic_group_id",
        ),
    ],
)
def test_invalid_topology_entries_are_named(doc: Any, entry: str, field: str) -> None:
    _, errors = parse_topology_document(doc)

    assert [(e.entry, e.field) for e in errors] == [(entry, field)]
