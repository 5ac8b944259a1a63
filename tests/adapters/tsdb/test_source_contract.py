"""The `TimeSeriesSource` contract, run against every source loaded with the same samples.

The Prometheus-compatible source runs on a real VictoriaMetrics, the SQL source on the test database. Both
must return exactly the same points, so the embedded default cannot drift from production backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alarm_access.access.data.ports import TimeSeriesSource
from alarm_access.access.data.query import item_plan, query_item
from alarm_access.adapters.tsdb.prometheus import PrometheusSource
from alarm_access.adapters.tsdb.sql import SqlSource
from alarm_access.kernel.hashing import count_md5
from alarm_access.kernel.model import AggCondition, Item
from alarm_access.records.standardize import plan_records, standardize
from tests.services.victoria import VictoriaMetrics, start_victoria
from tests.timeseries_samples import (
    BUCKETS,
    END,
    INTERVAL,
    IPS,
    SERIES_OF_IP,
    T0,
    combined,
    expected_by_ip,
    ordered,
    per_series,
    qc,
    samples,
)


@pytest.fixture(scope="module")
def loaded_vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    with start_victoria(Path(tmp_path_factory.mktemp("vm"))) as vm:
        vm.import_samples(samples())
        yield vm


@pytest.fixture(
    params=[pytest.param("prometheus", marks=pytest.mark.integration), pytest.param("sql", marks=pytest.mark.django_db)]
)
def source(request: pytest.FixtureRequest) -> Iterator[TimeSeriesSource]:
    if request.param == "prometheus":
        vm: VictoriaMetrics = request.getfixturevalue("loaded_vm")
        prometheus = PrometheusSource(vm.url, read_timeout=5)
        yield prometheus
        prometheus.close()
    else:
        sql = SqlSource()
        sql.write_samples(samples())
        yield sql
        sql.close()


@pytest.mark.parametrize("method", ["AVG", "SUM", "MIN", "MAX", "COUNT", "REAL_TIME"])
def test_every_bucket_of_every_group_with_each_method(source: TimeSeriesSource, method: str) -> None:
    points = source.query(qc(method), T0, END)
    assert ordered(points) == ordered(expected_by_ip(method))
    assert [p["_time_"] for p in points] == sorted(p["_time_"] for p in points)


def test_alias_names_the_value_key(source: TimeSeriesSource) -> None:
    points = source.query(qc(alias="load"), T0, END)
    assert ordered(points) == ordered(expected_by_ip("AVG", key="load"))
    assert all("load5" not in p for p in points)


def test_samples_on_bucket_edges_fall_in_the_bucket_they_start(source: TimeSeriesSource) -> None:
    # One bucket before and one after the window hold a decoy sample of series A each.
    inside = source.query(qc("COUNT", dims=("device",), conditions=(AggCondition("device", "eq", ("cpu0",)),)),
                          T0, T0 + INTERVAL)
    assert inside == [{"device": "cpu0", "_time_": T0, "_result_": 6.0, "load5": 6.0}]
    before = source.query(qc("MAX", dims=()), T0 - INTERVAL, T0)
    assert before == [{"_time_": T0 - INTERVAL, "_result_": 1000.0, "load5": 1000.0}]


def test_an_unaligned_window_covers_the_complete_buckets_from_floor_start_to_floor_end(
    source: TimeSeriesSource,
) -> None:
    points = source.query(qc("SUM", dims=()), T0 + 10, T0 + 2 * INTERVAL + 59)
    assert [p["_time_"] for p in points] == [T0, T0 + INTERVAL]
    assert points[1]["_result_"] == sum(per_series("SUM", s, 1) for s in range(4))


def test_a_window_without_samples_is_empty(source: TimeSeriesSource) -> None:
    assert source.query(qc(), T0 + 100 * INTERVAL, T0 + 110 * INTERVAL) == []
    assert source.query(qc(), T0, T0) == []


def test_a_missing_dimension_label_is_none(source: TimeSeriesSource) -> None:
    points = source.query(qc("MIN", dims=("bk_target_ip", "device")), T0 + 3 * INTERVAL, T0 + 4 * INTERVAL)
    assert ordered(points) == ordered([
        {"bk_target_ip": "10.0.0.1", "device": "cpu0", "_time_": T0 + 180, "_result_": 30.0, "load5": 30.0},
        {"bk_target_ip": "10.0.0.1", "device": "cpu1", "_time_": T0 + 180, "_result_": 31.0, "load5": 31.0},
        {"bk_target_ip": "10.0.0.2", "device": "cpu0", "_time_": T0 + 180, "_result_": 32.0, "load5": 32.0},
        {"bk_target_ip": "10.0.0.3", "device": None, "_time_": T0 + 180, "_result_": 33.0, "load5": 33.0},
    ])


@pytest.mark.parametrize(
    ("conditions", "series_by_ip"),
    [
        ((AggCondition("device", "eq", ("cpu0",)),), {"10.0.0.1": (0,), "10.0.0.2": (2,)}),
        ((AggCondition("device", "neq", ("cpu0",)),), {"10.0.0.1": (1,), "10.0.0.3": (3,)}),
        ((AggCondition("bk_target_ip", "eq", ("10.0.0.2", "10.0.0.3")),), {"10.0.0.2": (2,), "10.0.0.3": (3,)}),
        ((AggCondition("bk_target_ip", "neq", ("10.0.0.1", "10.0.0.2")),), {"10.0.0.3": (3,)}),
        ((AggCondition("device", "reg", ("cpu[1-9]",)),), {"10.0.0.1": (1,)}),
        ((AggCondition("device", "nreg", ("cpu1", "cpu0")),), {"10.0.0.3": (3,)}),
        ((AggCondition("bk_target_ip", "include", ("0.0.2", "0.0.3")),), {"10.0.0.2": (2,), "10.0.0.3": (3,)}),
        ((AggCondition("bk_target_ip", "exclude", (".0.1",)),), {"10.0.0.2": (2,), "10.0.0.3": (3,)}),
        (
            (AggCondition("bk_target_ip", "eq", ("10.0.0.1",)), AggCondition("device", "eq", ("cpu1",)),
             AggCondition("bk_target_ip", "eq", ("10.0.0.3",), connector="or")),
            {"10.0.0.1": (1,), "10.0.0.3": (3,)},
        ),
    ],
)
def test_agg_condition_selects_series(
    source: TimeSeriesSource, conditions: tuple[AggCondition, ...], series_by_ip: dict[str, tuple[int, ...]]
) -> None:
    points = source.query(qc("SUM", conditions=conditions), T0 + 5 * INTERVAL, T0 + 6 * INTERVAL)
    expected = [{"bk_target_ip": ip, "bk_target_cloud_id": "0", "_time_": T0 + 300,
                 "_result_": combined("SUM", series, 5), "load5": combined("SUM", series, 5)}
                for ip, series in series_by_ip.items()]
    assert ordered(points) == ordered(expected)


def expression_item(expression: str) -> Item:
    return Item(id=1, name="expression", expression=expression,
                query_configs=(qc("AVG", alias="a"), qc("MAX", alias="b")))


def test_an_expression_over_two_query_configs_gives_the_same_values_and_ids(source: TimeSeriesSource) -> None:
    points = query_item(item_plan(expression_item("a * 2 + b"), "s"), source, T0, END)
    expected = {(ip, T0 + INTERVAL * k): combined("AVG", SERIES_OF_IP[ip], k) * 2 + combined("MAX", SERIES_OF_IP[ip], k)
                for ip in IPS for k in range(BUCKETS)}
    assert {(p["bk_target_ip"], p["_time_"]): round(p["_result_"], 9) for p in points} == {
        key: round(value, 9) for key, value in expected.items()}
    plan = plan_records(expression_item("a * 2 + b"))
    ids = {standardize(plan, p, p["_time_"], access_time=0).record_id for p in points}
    assert ids == {f"{count_md5({'bk_target_ip': ip, 'bk_target_cloud_id': '0'})}.{t}" for ip, t in expected}


def test_a_zero_divisor_makes_the_bucket_none(source: TimeSeriesSource) -> None:
    points = query_item(item_plan(expression_item("a / (b - b)"), "s"), source, T0, END)
    assert len(points) == len(IPS) * BUCKETS and all(p["_result_"] is None for p in points)
