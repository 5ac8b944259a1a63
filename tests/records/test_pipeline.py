"""`pipeline.run` against each row of the per-record outcome table (spec data-access §3.5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alarm_access.kernel.model import NoiseReduceConfig, StrategyGroup, TargetCondition
from alarm_access.records.enrich import TopologyIndex
from alarm_access.records.pipeline import PullResult, run
from tests.factories import NOW, T0, group, host, index, item, point, strategy

HOSTS = index(host(1, "127.0.0.1"), host(2, "127.0.0.2"), host(3, "127.0.0.3", state="测试中"))
RID1 = "ac6847eefd664275c7b3693829f68bab"
KEY = (1, 1)


def pull(
    g: StrategyGroup,
    points: Sequence[dict[str, Any]],
    *,
    seen: Mapping[int, set[str]] | None = None,
    priority: Mapping[str, Mapping[str, str]] | None = None,
    topology: TopologyIndex = HOSTS,
) -> PullResult:
    return run(
        g,
        points,
        now=NOW,
        topology_index=topology,
        seen_record_ids=seen or {},
        priority_state=priority or {},
        detail=True,
    )


def nodata_group() -> StrategyGroup:
    return group(strategy(1, item(1, nodata=True)))


def test_retained_record_goes_to_detect_nodata_signal_and_dedupe() -> None:
    result = pull(nodata_group(), [point()])
    (record,) = result.data[KEY]
    assert record.record_id == f"{RID1}.{T0}" and record.access_time == float(NOW)
    assert record.dimensions["bk_host_id"] == "1" and record.dimensions["bk_topo_node"]
    assert result.nodata[KEY] == (record,)
    assert result.signal == (1,)
    assert result.dedupe_additions == {T0: {f"{RID1}.{T0}"}}
    assert result.checkpoint == T0 and result.drops == {} and result.created == 1


def test_null_value_is_dropped_and_not_remembered() -> None:
    result = pull(nodata_group(), [point(value=None)])
    assert (result.data, result.nodata, result.signal) == ({}, {}, ())
    assert result.dedupe_additions == {} and result.checkpoint is None
    assert result.drops == {"none_value": 1}


def test_stored_duplicate_is_dropped_but_moves_the_checkpoint() -> None:
    result = pull(nodata_group(), [point()], seen={T0: {f"{RID1}.{T0}"}})
    assert (result.data, result.nodata, result.dedupe_additions) == ({}, {}, {})
    assert result.drops == {"duplicate": 1} and result.checkpoint == T0


def test_duplicate_is_dropped_even_when_the_group_uses_priority() -> None:
    g = group(strategy(1, priority=5, priority_group_key="pg"))
    result = pull(g, [point()], seen={T0: {f"{RID1}.{T0}"}})
    assert result.data == {} and result.priority_writes == () and result.drops == {"duplicate": 1}


def test_in_pull_duplicates_are_removed_keeping_the_later_point() -> None:
    result = pull(nodata_group(), [point(value=1.0), point(value=2.0)])
    (record,) = result.data[KEY]
    assert record.value == 2.0 and result.drops == {"duplicate": 1}


def test_hard_drops_are_remembered_but_not_pushed() -> None:
    points = [
        point(t=NOW - 1801),  # expired
        point(ip="10.9.9.9"),  # unknown host
        {**point(ip=""), "bk_target_ip": ""},  # empty host
    ]
    result = pull(nodata_group(), points)
    assert (result.data, result.nodata, result.signal) == ({}, {}, ())
    assert result.drops == {"expired": 1, "unknown_host": 1, "empty_host": 1}
    assert sum(len(ids) for ids in result.dedupe_additions.values()) == 3
    assert result.checkpoint == T0  # via the newest queried time


def test_expire_boundary_keeps_exactly_thirty_minutes() -> None:
    result = pull(nodata_group(), [point(t=NOW - 1800)])
    assert KEY in result.data


def test_out_of_target_item_gets_nothing_but_nodata_does() -> None:
    target = ((TargetCondition("bk_target_ip", "eq", ({"bk_target_ip": "127.0.0.2", "bk_target_cloud_id": 0},)),),)
    g = group(strategy(1, item(1, nodata=True, target=target)), strategy(2, item(2)))
    result = pull(g, [point()])
    assert KEY not in result.data and (2, 2) in result.data
    assert len(result.nodata[KEY]) == 1
    assert result.drops == {"out_of_target": 1}
    assert result.dropped_points[0].as_dict() == {
        "dropped": "out_of_target",
        "point": point(),
        "strategy_id": 1,
        "item_id": 1,
    }
    assert result.dedupe_additions == {T0: {f"{RID1}.{T0}"}} and result.checkpoint == T0


def test_disabled_host_goes_to_nodata_only() -> None:
    result = pull(nodata_group(), [point(ip="127.0.0.3")])
    assert result.data == {} and len(result.nodata[KEY]) == 1 and result.signal == ()
    assert result.drops == {"host_disabled": 1} and result.checkpoint == T0
    assert len(result.dedupe_additions[T0]) == 1


def test_lower_priority_is_inhibited_higher_gets_the_record() -> None:
    high = strategy(1, item(1), priority=10, priority_group_key="pg")
    low = strategy(2, item(2, nodata=True), priority=5, priority_group_key="pg")
    result = pull(group(high, low), [point()])
    assert KEY in result.data and (2, 2) not in result.data and (2, 2) in result.nodata
    assert result.drops == {"inhibited": 1}
    (write,) = result.priority_writes
    assert write.updates == {RID1: f"10:{NOW}"}


def test_stored_priority_entry_inhibits() -> None:
    g = group(strategy(2, item(2), priority=5, priority_group_key="pg"))
    result = pull(g, [point()], priority={"pg": {RID1: f"10:{NOW - 10}"}})
    assert result.data == {} and result.drops == {"inhibited": 1}


def test_time_point_limit_keeps_ten_buckets_and_forgets_the_rest() -> None:
    points = [point(t=T0 - 60 * k) for k in range(12)]  # 12 buckets, newest first
    result = pull(nodata_group(), points)
    kept_times = {record.time for record in result.data[KEY]}
    assert len(kept_times) == 10 and max(kept_times) == T0 - 120
    assert result.last_time_point == result.checkpoint == T0 - 120
    assert result.discarded_times == {T0, T0 - 60}
    assert set(result.dedupe_additions) == kept_times
    assert result.drops == {"time_limit": 2}


def test_noise_reduce_counts_use_pushed_records() -> None:
    config = NoiseReduceConfig(is_enabled=True, dimensions=("bk_target_ip",))
    result = pull(group(strategy(1, noise_reduce=config)), [point(), point(ip="127.0.0.2")])
    (write,) = result.noise_writes
    assert write.strategy_id == 1 and len(write.members) == 2 and set(write.members.values()) == {T0}
