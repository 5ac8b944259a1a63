"""Pure fan-out, filters, standardization (byte-compatible ids) and the delivery plan of event access."""

from __future__ import annotations

import json
from typing import Any

from alarm_access.access.event.delivery import DeliveryState, plan_delivery
from alarm_access.access.event.fanout import fan_out
from alarm_access.access.event.kinds import EventKind, FlatEvent
from alarm_access.access.event.routing import Routing, build_routing
from alarm_access.access.event.standardize import Anomaly, standardize
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.kernel.model import (
    AggCondition,
    Algorithm,
    Host,
    Item,
    QueryConfig,
    Strategy,
    TargetCondition,
    Topology,
)
from alarm_access.records.enrich import index_topology

T = 1700000000
NOW = T + 60
TOPO = {"module|9": ("biz|2", "module|9", "set|5", "test|2")}
HOSTS = (
    Host(2, "127.0.0.1", 0, 2, agent_id="0100aa", topo_link=TOPO),
    Host(3, "127.0.0.2", 0, 2, topo_link=TOPO),
    Host(4, "127.0.0.3", 0, 2, state="故障中"),
    Host(5, "127.0.0.4", 0, 7),
)


def event_strategy(sid: int, metric: str, *, priority: int | None = None, target: Any = (),
                   conditions: tuple[AggCondition, ...] = ()) -> Strategy:
    qc = QueryConfig("bk_monitor", "event", metric_field=metric, agg_condition=conditions)
    item = Item(sid, "i", (qc,), algorithms=(Algorithm("", 2, []),), target=target)
    return Strategy(sid, 2, f"s{sid}", (item,), priority=priority, priority_group_key="pg" if priority else "",
                    update_time=1)


def routing(*strategies: Strategy) -> Routing:
    built, problems = build_routing(strategies, index_topology(Topology(hosts=HOSTS)),
                                    snapshot_key=RedisKeys("kp").strategy_snapshot, disabled_states={"故障中"})
    assert problems == []
    return built


def agent(agent_id: str = "", host: str = "127.0.0.1", time: int = T) -> FlatEvent:
    return FlatEvent(EventKind.AGENT, time, 0, 0, "", host, "", agent_id=agent_id)


def test_agent_record_ids_match_the_original_count_md5_vectors() -> None:
    route = routing(event_strategy(1, "agent-gse"))
    (v1,), _ = fan_out(agent(), route, NOW)
    (v2,), _ = fan_out(agent("0100aa", host=""), route, NOW)
    line = json.loads(standardize(v1, NOW).line)
    assert line["data"]["record_id"] == f"b3a0d98506ed48e358e9176dbe4d23c4.{T}"
    assert json.loads(standardize(v2, NOW).line)["data"]["record_id"] == f"8043faacbbd950898164a946faabe72c.{T}"
    assert line["anomaly"]["2"]["anomaly_id"] == f"b3a0d98506ed48e358e9176dbe4d23c4.{T}.1.1.2"
    assert line["anomaly"]["2"]["anomaly_time"] == "2023-11-14 22:14:20"
    assert line["strategy_snapshot_key"] == "kp.cache.strategy.snapshot.1.1"
    assert list(line) == ["data", "anomaly", "strategy_snapshot_key"]
    assert list(line["data"]) == ["time", "value", "values", "dimensions", "record_id", "dimension_fields"]


def test_agent_1_ids_resolve_by_cloud_and_ip() -> None:
    (candidate,), _ = fan_out(agent("0:127.0.0.2", host=""), routing(event_strategy(1, "agent-gse")), NOW)
    assert candidate.dimensions["bk_host_id"] == 3 and candidate.dimensions["agent_version"] == "v1"


def drops_of(flat: FlatEvent, route: Routing) -> dict[str, int]:
    candidates, drops = fan_out(flat, route, NOW)
    assert candidates == []
    return dict(drops)


def test_filters_name_the_reason_of_every_drop() -> None:
    route = routing(event_strategy(1, "agent-gse"))
    assert drops_of(agent(time=NOW - 1801), route) == {"expired": 1}
    assert drops_of(agent(host="10.9.9.9"), route) == {"unknown_host": 1}
    assert drops_of(agent(host="127.0.0.3"), route) == {"host_disabled": 1}
    assert drops_of(agent(host="127.0.0.4"), route) == {"no_strategy": 1}
    corefile = FlatEvent(EventKind.COREFILE, T, 0, 0, "", "127.0.0.1", "", extra={"corefile": "/c"})
    assert drops_of(corefile, route) == {"no_strategy": 1}
    ping = FlatEvent(EventKind.PING, T, 0, 0, "10.9.9.9", "127.0.0.1", "")
    assert drops_of(ping, routing(event_strategy(2, "ping-gse"))) == {"ping_filtered": 1}


def test_fan_out_to_every_matching_strategy_with_its_own_scope_and_conditions() -> None:
    in_scope = event_strategy(1, "agent-gse", target=((TargetCondition("bk_target_ip", "eq", (
        {"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": 0},)),),))
    out_of_scope = event_strategy(2, "agent-gse", target=((TargetCondition("host_topo_node", "eq", (
        {"bk_obj_id": "set", "bk_inst_id": 99},)),),))
    v2_only = event_strategy(3, "agent-gse", conditions=(AggCondition("agent_version", "eq", ("v2",)),))
    everything = event_strategy(4, "agent-gse")
    candidates, drops = fan_out(agent(), routing(in_scope, out_of_scope, v2_only, everything), NOW)
    assert [c.route.strategy.id for c in candidates] == [1, 4]
    assert dict(drops) == {"out_of_scope": 1, "condition_mismatch": 1}


def anomalies(*flats: FlatEvent, route: Routing) -> list[Anomaly]:
    return [standardize(c, NOW) for flat in flats for c in fan_out(flat, route, NOW)[0]]


def test_delivery_skips_delivered_ids_and_batch_duplicates() -> None:
    found = anomalies(agent(), agent(), agent(time=T + 1), route=routing(event_strategy(1, "agent-gse")))
    plan = plan_delivery(found, DeliveryState(delivered=frozenset({found[2].delivery_key})), NOW, 3)
    assert plan.pushed == 1 and dict(plan.drops) == {"duplicate": 2}
    assert plan.delivered == {T - T % 600: [found[0].delivery_key]}


def test_priority_inhibits_the_lower_strategy_on_the_same_series() -> None:
    route = routing(event_strategy(1, "agent-gse", priority=1), event_strategy(2, "agent-gse", priority=5))
    plan = plan_delivery(anomalies(agent(), route=route), DeliveryState(), NOW, 3)
    assert list(plan.pushes) == [(2, 2)] and dict(plan.drops) == {"inhibited": 1}


def test_qos_drops_above_the_threshold_within_a_window() -> None:
    found = anomalies(*(agent(time=T + i) for i in range(5)), route=routing(event_strategy(1, "agent-gse")))
    off = plan_delivery(found, DeliveryState(qos_counts=None), NOW, 3)
    on = plan_delivery(found, DeliveryState(qos_counts={}), NOW, 3)  # an empty window: QoS on, no counts yet
    assert off.pushed == 5 and (on.pushed, on.drops["qos"]) == (3, 2)


def test_last_checkpoint_never_moves_back() -> None:
    found = anomalies(agent(time=T), route=routing(event_strategy(1, "agent-gse")))
    field = f"detect.result.{found[0].md5}.2"
    older = plan_delivery(found, DeliveryState(checkpoints={(1, 1): {field: T + 10}}), NOW, 3)
    newer = plan_delivery(found, DeliveryState(checkpoints={(1, 1): {field: T - 10}}), NOW, 3)
    assert older.checkpoints == {(1, 1): {}} and newer.checkpoints == {(1, 1): {field: T}}
