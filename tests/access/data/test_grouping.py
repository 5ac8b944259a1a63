from __future__ import annotations

from alarm_access.access.data.grouping import build_groups, group_key
from alarm_access.kernel.model import AggCondition
from tests.factories import item, qc, strategy

V3_SGK = "a4249748985a1abf5f29edd32a32f7f1"


def test_sgk_of_strategy_config_v3() -> None:
    s = strategy(1, item(1))
    assert group_key(s, s.items[0]) == V3_SGK


def test_sgk_depends_on_business_query_string_and_functions() -> None:
    base = strategy(1, item(1))
    assert group_key(strategy(1, item(1), bk_biz_id=3), base.items[0]) != V3_SGK
    with_query = item(1, query=qc(extra={"query_string": "error"}))
    assert group_key(base, with_query) != V3_SGK
    with_function = item(1, query=qc(functions=({"id": "abs", "params": []},)))
    assert group_key(base, with_function) != V3_SGK


def test_advanced_condition_is_dropped_only_for_sources_that_post_filter() -> None:
    base = strategy(1)
    regex = (AggCondition("bk_target_ip", "reg", ("^127",)),)
    bk_data = dict(data_source_label="bk_data", result_table_id="2_cpu")
    plain_bk_data = item(1, query=qc(**bk_data))
    regex_bk_data = item(1, query=qc(agg_condition=regex, **bk_data))
    assert group_key(base, regex_bk_data) == group_key(base, plain_bk_data)
    regex_monitor = item(1, query=qc(agg_condition=regex))
    assert group_key(base, regex_monitor) != V3_SGK


def test_expression_with_one_query_config_hashes_like_a_single_query() -> None:
    base = strategy(1)
    assert group_key(base, item(1, expression="a")) == V3_SGK
    assert group_key(base, item(1, expression="a + 1")) != V3_SGK


def test_every_item_is_grouped_not_only_the_first() -> None:
    s = strategy(1, item(1), item(2, query=qc(metric_field="load15")))
    groups = build_groups([s])
    assert sorted(len(g.items) for g in groups) == [1, 1]
    assert {g.items[0][1].id for g in groups} == {1, 2}


def test_identical_queries_share_a_group_sorted_by_strategy_with_min_interval() -> None:
    groups = build_groups([strategy(7, item(70)), strategy(3, item(30)), strategy(5, item(50, query=qc()))])
    assert len(groups) == 1
    g = groups[0]
    assert [s.id for s, _ in g.items] == [3, 5, 7]
    assert (g.key, g.bk_biz_id, g.interval, g.source) == (V3_SGK, 2, 60, ("bk_monitor", "time_series"))
    assert g.query_config.metric_field == "load5"


def test_interval_is_not_capped_at_58_seconds() -> None:
    (g,) = build_groups([strategy(1, item(1, query=qc(agg_interval=300)))])
    assert g.interval == 300


def test_disabled_real_time_and_event_items_are_not_grouped() -> None:
    strategies = [
        strategy(1, is_enabled=False),
        strategy(2, item(2, query=qc(agg_method="REAL_TIME"))),
        strategy(3, item(3, query=qc(data_type_label="event"))),
    ]
    assert build_groups(strategies) == []


def test_log_items_are_grouped() -> None:
    log = qc(data_source_label="bk_log_search", data_type_label="log", extra={"index_set_id": 4})
    (g,) = build_groups([strategy(1, item(1, query=log))])
    assert g.source == ("bk_log_search", "log")
