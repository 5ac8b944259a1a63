"""The pure query rules shared by every time-series source: naming, buckets, matchers, PromQL text."""

from __future__ import annotations

import pytest

from alarm_access.adapters.tsdb.promql import (
    Matcher,
    bucket_bounds,
    build_query,
    condition_groups,
    metric_name,
    raw_point,
    series_matches,
    value_key,
)
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import AggCondition, QueryConfig


def _qc(**fields: object) -> QueryConfig:
    base: dict[str, object] = {"data_source_label": "bk_monitor", "data_type_label": "time_series",
                               "result_table_id": "system.cpu_load", "metric_field": "load5"}
    base.update(fields)
    return QueryConfig(**base)  # type: ignore[arg-type]


def test_metric_name_joins_table_and_field_with_underscores() -> None:
    assert metric_name(_qc()) == "system_cpu_load_load5"
    assert metric_name(_qc(result_table_id="2_bkmonitor_time_series_1.__default__")) == (
        "2_bkmonitor_time_series_1___default___load5"
    )
    assert metric_name(_qc(result_table_id="")) == "load5"
    assert metric_name(_qc(extra={"prometheus_metric": "node_load5"})) == "node_load5"
    assert metric_name(_qc(metric_field="")) == "system_cpu_load"  # a count of the table's documents
    with pytest.raises(InvalidStrategy, match="metric_field"):
        metric_name(_qc(metric_field="", result_table_id=""))


def test_value_key_prefers_alias() -> None:
    assert value_key(_qc(alias="a")) == "a"
    assert value_key(_qc()) == "load5"
    assert value_key(_qc(metric_field="")) == "alias"


@pytest.mark.parametrize(
    ("start", "end", "interval", "bounds"),
    [(120, 300, 60, (120, 300)), (130, 359, 60, (120, 300)), (0, 59, 60, (0, 0)), (600, 1200, 300, (600, 1200))],
)
def test_bucket_bounds_floor_both_ends(start: int, end: int, interval: int, bounds: tuple[int, int]) -> None:
    assert bucket_bounds(start, end, interval) == bounds


def test_bucket_bounds_reject_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        bucket_bounds(0, 60, 0)


def test_raw_point_shape() -> None:
    qc = _qc(agg_dimension=("ip", "device"), alias="a")
    assert raw_point(qc, {"ip": "1", "other": "x"}, 60, 1.5) == {
        "ip": "1", "device": None, "_time_": 60, "_result_": 1.5, "a": 1.5,
    }
    assert raw_point(_qc(), {"__name__": "m", "ip": "1"}, 0, None) == {
        "ip": "1", "_time_": 0, "_result_": None, "load5": None,
    }


@pytest.mark.parametrize(
    ("method", "values", "rendered"),
    [
        ("eq", ("a",), 'k="a"'),
        ("eq", ("a.b", "c|d", 3), 'k=~"a\\\\.b|c\\\\|d|3"'),
        ("neq", ("a",), 'k!="a"'),
        ("neq", ("a", "b"), 'k!~"a|b"'),
        ("reg", ("^x.*",), 'k=~"^x.*"'),
        ("reg", ("x", "y+"), 'k=~"(?:x)|(?:y+)"'),
        ("nreg", ("x",), 'k!~"x"'),
        ("include", ("a.b",), 'k=~".*a\\\\.b.*"'),
        ("include", ("a", "b"), 'k=~".*(?:(?:a)|(?:b)).*"'),
        ("exclude", ("x",), 'k!~".*x.*"'),
        ("eq", ('say "hi"',), 'k="say \\"hi\\""'),
    ],
)
def test_conditions_render_as_label_matchers(method: str, values: tuple[object, ...], rendered: str) -> None:
    (group,) = condition_groups(_qc(agg_condition=(AggCondition("k", method, values),)))
    assert [m.render() for m in group] == [rendered]


def test_matchers_evaluate_like_prometheus() -> None:
    def ok(method: str, values: tuple[object, ...], labels: dict[str, str]) -> bool:
        return series_matches(condition_groups(_qc(agg_condition=(AggCondition("k", method, values),))), labels)

    assert ok("eq", ("a.b", "c"), {"k": "a.b"}) and not ok("eq", ("a.b", "c"), {"k": "axb"})
    assert ok("neq", ("a",), {}) and not ok("eq", ("a",), {})  # a missing label reads as ""
    assert ok("reg", ("cpu[0-9]",), {"k": "cpu1"}) and not ok("reg", ("cpu",), {"k": "cpu1"})  # anchored
    assert ok("include", ("0.0",), {"k": "10.0.0.1"}) and not ok("include", ("0.0",), {"k": "10x0"})
    assert ok("exclude", ("x",), {"k": "abc"}) and not ok("exclude", ("b",), {"k": "abc"})


def test_or_connector_starts_a_new_and_group() -> None:
    qc = _qc(agg_condition=(AggCondition("a", "eq", ("1",), "or"), AggCondition("b", "eq", ("2",), "and"),
                            AggCondition("c", "eq", ("3",), "OR")))
    groups = condition_groups(qc)
    assert groups == ((Matcher("a", "=", "1"), Matcher("b", "=", "2")), (Matcher("c", "=", "3"),))
    assert series_matches(groups, {"c": "3"}) and series_matches(groups, {"a": "1", "b": "2"})
    assert not series_matches(groups, {"a": "1"})
    assert condition_groups(_qc()) == ((),)
    assert series_matches(((),), {"anything": "x"})


def test_build_query_aggregates_each_bucket_by_dimensions() -> None:
    qc = _qc(agg_dimension=("ip", "cloud"), agg_condition=(AggCondition("ip", "eq", ("1", "2")),))
    assert build_query(qc) == 'avg by (ip, cloud) (avg_over_time(system_cpu_load_load5{ip=~"1|2"}[60s] offset 1ms))'
    assert build_query(_qc(agg_method="COUNT", agg_interval=300)) == (
        "sum (count_over_time(system_cpu_load_load5[300s] offset 1ms))"
    )
    assert build_query(_qc(agg_method="REAL_TIME")) == "avg (last_over_time(system_cpu_load_load5[60s] offset 1ms))"


def test_build_query_unions_or_groups() -> None:
    qc = _qc(agg_method="MAX", agg_dimension=("ip",),
             agg_condition=(AggCondition("ip", "eq", ("1",)), AggCondition("ip", "eq", ("2",), "or")))
    assert build_query(qc) == (
        'max by (ip) (max_over_time(system_cpu_load_load5{ip="1"}[60s] offset 1ms)'
        ' or max_over_time(system_cpu_load_load5{ip="2"}[60s] offset 1ms))'
    )


def test_build_query_quotes_a_metric_name_that_is_not_an_identifier() -> None:
    qc = _qc(result_table_id="2_bklog.x", agg_method="SUM", agg_condition=(AggCondition("k", "eq", ("v",)),))
    assert build_query(qc) == 'sum (sum_over_time({__name__="2_bklog_x_load5",k="v"}[60s] offset 1ms))'


def test_build_query_returns_promql_verbatim() -> None:
    assert build_query(_qc(promql=" rate(x[1m]) ", agg_method="WHATEVER")) == "rate(x[1m])"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"agg_method": "CP90"}, "agg_method"),
        ({"agg_dimension": ("bad-label",)}, "agg_dimension"),
        ({"agg_condition": (AggCondition("k", "gt", ("1",)),)}, "agg_condition"),
        ({"agg_condition": (AggCondition("k", "eq", ()),)}, "agg_condition"),
        ({"agg_condition": (AggCondition("a.b", "eq", ("1",)),)}, "agg_condition"),
    ],
)
def test_build_query_rejects_what_it_cannot_express(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidStrategy) as caught:
        build_query(_qc(**fields))
    assert caught.value.field == field
