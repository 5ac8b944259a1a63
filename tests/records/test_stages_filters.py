from __future__ import annotations

from alarm_access.kernel.model import AggCondition, DynamicGroup, TargetCondition, Topology
from alarm_access.records.conditions import compile_conditions, post_filter_matcher
from alarm_access.records.enrich import index_topology
from alarm_access.records.filters import (
    DEFAULT_DISABLED_HOST_STATES,
    EMPTY_HOST,
    HOST_DISABLED,
    KEEP,
    UNKNOWN_HOST,
    expire_after,
    host_status,
    is_expired,
)
from alarm_access.records.target import compile_target
from tests.factories import NOW, host, index, item, qc

IDX = index(host(12, "10.0.0.1"), host(13, "10.0.0.2", state="故障中"))
IP_TARGET = TargetCondition("bk_target_ip", "eq", ({"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": 0},))


def test_expire_boundary_exactly_thirty_minutes_is_kept() -> None:
    max_age = expire_after(item())
    assert max_age == 1800
    assert not is_expired(NOW - 1800, NOW, max_age)
    assert is_expired(NOW - 1801, NOW, max_age)
    assert expire_after(item(query=qc(agg_interval=600))) == 6000


def test_host_status() -> None:
    states = DEFAULT_DISABLED_HOST_STATES
    assert host_status({"other": 1}, IDX, states) == KEEP
    assert host_status({"bk_host_id": "", "bk_target_ip": ""}, IDX, states) == EMPTY_HOST
    assert host_status({"bk_host_id": "99"}, IDX, states) == UNKNOWN_HOST
    assert host_status({"bk_target_ip": "10.0.0.9", "bk_target_cloud_id": "0"}, IDX, states) == UNKNOWN_HOST
    assert host_status({"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": "0"}, IDX, states) == KEEP
    assert host_status({"bk_target_ip": "10.0.0.1"}, IDX, states) == KEEP  # no cloud: cannot look up
    assert host_status({"bk_host_id": "13"}, IDX, states) == HOST_DISABLED
    assert host_status({"bk_host_id": "13"}, IDX, frozenset()) == KEEP


def test_empty_target_matches_everything_and_unusable_target_nothing() -> None:
    assert compile_target((), IDX) is None
    assert compile_target(((),), IDX) is None
    unusable = compile_target(((TargetCondition("bk_target_ip", "eq", ({"ip": ""},)),),), IDX)
    assert unusable is not None and not unusable.matches_target({"bk_target_ip": "10.0.0.1"})


def test_ip_target_eq_and_neq() -> None:
    eq = compile_target(((IP_TARGET,),), IDX)
    assert eq is not None
    assert eq.matches_target({"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": "0"})
    assert not eq.matches_target({"bk_target_ip": "10.0.0.2", "bk_target_cloud_id": "0"})
    assert eq.matches_target({"other": "x"})  # a record without ip/host id is not judged by an ip condition
    neq = compile_target(((TargetCondition("bk_target_ip", "neq", IP_TARGET.values),),), IDX)
    assert neq is not None and not neq.matches_target({"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": "0"})


def test_host_id_target_matches_enriched_host_id() -> None:
    target = compile_target(((TargetCondition("bk_target_ip", "eq", ({"bk_host_id": 12},)),),), IDX)
    assert target is not None and target.matches_target({"bk_host_id": "12"})


def test_topo_node_target_and_or_groups() -> None:
    topo = TargetCondition("host_topo_node", "eq", ({"bk_obj_id": "set", "bk_inst_id": 5},))
    target = compile_target(((topo,),), IDX)
    assert target is not None
    assert target.matches_target({"bk_topo_node": ("module|6", "set|5")})
    assert not target.matches_target({"bk_topo_node": ()})
    assert not target.matches_target({"bk_target_ip": "10.0.0.1"})  # no topology known → not in scope
    either = compile_target(((topo,), (IP_TARGET,)), IDX)
    assert either is not None and either.matches_target({"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": "0"})


def test_service_instance_and_dynamic_group_targets() -> None:
    instance = compile_target(((TargetCondition("service_instance_id", "eq", ({"service_instance_id": 5},)),),), IDX)
    assert instance is not None and instance.matches_target({"bk_target_service_instance_id": "5"})
    assert not instance.matches_target({"bk_target_service_instance_id": "6"})
    groups = (DynamicGroup("g1", "host", (12,)), DynamicGroup("g2", "host", ()))
    dyn_index = index_topology(Topology(hosts=(host(12, "10.0.0.1"),), dynamic_groups=groups))
    dyn = compile_target(((TargetCondition("dynamic_group", "eq", ({"dynamic_group_id": "g1"},)),),), dyn_index)
    assert dyn is not None and dyn.matches_target({"bk_host_id": "12"})
    empty = compile_target(((TargetCondition("dynamic_group", "eq", ({"dynamic_group_id": "g2"},)),),), dyn_index)
    assert empty is not None and not empty.matches_target({"bk_host_id": "12"})


def test_condition_methods_and_or_groups() -> None:
    matcher = compile_conditions(
        (
            AggCondition("device", "include", ("sd",)),
            AggCondition("mount", "nreg", ("^/boot",)),
            AggCondition("device", "eq", ("nvme0",), connector="or"),
        )
    )
    assert matcher.matches_conditions({"device": "sda", "mount": "/data"})
    assert not matcher.matches_conditions({"device": "sda", "mount": "/boot/efi"})
    assert matcher.matches_conditions({"device": "nvme0", "mount": "/boot"})
    assert matcher.matches_conditions({"unrelated": 1})  # missing fields match
    numeric = compile_conditions((AggCondition("usage", "gte", ("80",)),))
    assert numeric.matches_conditions({"usage": 80}) and not numeric.matches_conditions({"usage": "79.9"})


def test_post_filter_only_where_the_query_could_not_filter() -> None:
    regex = (AggCondition("device", "reg", ("^sd",)),)
    assert post_filter_matcher(qc(agg_condition=regex)) is None  # bk_monitor filters in the query
    assert post_filter_matcher(qc(agg_condition=regex, data_source_label="bk_data")) is not None
    plain = (AggCondition("device", "eq", ("sda",)),)
    assert post_filter_matcher(qc(agg_condition=plain, data_source_label="bk_data")) is None
    assert post_filter_matcher(qc(agg_condition=plain, agg_method="REAL_TIME")) is not None
