from __future__ import annotations

import json

from alarm_access.records.standardize import convert, plan_records, point_time, standardize, to_wire
from tests.factories import T0, item, point, qc


def test_standard_record_fixture_and_wire_shape() -> None:
    raw = {"bk_target_ip": "127.0.0.1", "load5": 1.38, "bk_target_cloud_id": "0", "_time_": T0, "_result_": 1.38}
    record = standardize(plan_records(item()), raw, point_time(raw), access_time=1.5)
    assert record.record_id == "ac6847eefd664275c7b3693829f68bab.1569246480"
    assert record.value == 1.38
    assert record.values == {"load5": 1.38, "_result_": 1.38, "time": T0}
    assert record.dimensions == {"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": "0"}
    wire = json.dumps(to_wire(record))
    assert wire == (
        '{"time": 1569246480, "value": 1.38, "values": {"load5": 1.38, "_result_": 1.38, "time": 1569246480}, '
        '"dimensions": {"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": "0"}, '
        '"record_id": "ac6847eefd664275c7b3693829f68bab.1569246480", '
        '"dimension_fields": ["bk_target_ip", "bk_target_cloud_id"], "access_time": 1.5}'
    )


def test_is_partial_is_only_present_when_set() -> None:
    record = standardize(plan_records(item()), point(), T0, access_time=2.0, is_partial=True)
    assert list(to_wire(record))[-2:] == ["is_partial", "access_time"]


def test_missing_metric_in_values_is_null_not_zero() -> None:
    raw = {"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": "0", "_time_": T0, "_result_": 2}
    record = standardize(plan_records(item()), raw, T0, access_time=0.0)
    assert record.values == {"load5": None, "_result_": 2, "time": T0}


def test_alias_is_preferred_when_present() -> None:
    plan = plan_records(item(query=qc(alias="a")))
    with_alias = standardize(plan, {**point(), "a": 3.0}, T0, access_time=0.0)
    without = standardize(plan, point(), T0, access_time=0.0)
    assert "a" in with_alias.values and "load5" not in with_alias.values
    assert without.values["load5"] == 1.38


def test_real_time_value_reads_the_metric_field() -> None:
    plan = plan_records(item(query=qc(agg_method="REAL_TIME")))
    record = standardize(plan, {**point(), "load5": 4, "_result_": None}, T0, access_time=0.0)
    assert record.value == 4


def test_conversion_rules() -> None:
    assert convert("1.2345678") == 1.234568
    assert convert("12") == 12
    assert convert("abc") == "abc"
    assert convert(0.0) == 0 and isinstance(convert(0.0), int)
    assert convert(1 / 3) == 0.333333
    assert convert(None) is None


def test_proc_port_dynamic_dims() -> None:
    dims = ("bk_target_ip", "listen", "protocol")
    plain = plan_records(item(query=qc(agg_dimension=dims)))
    raw = {"bk_target_ip": "1.1.1.1", "listen": "[]", "protocol": "[tcp]", "_time_": T0, "_result_": 1}
    record = standardize(plain, raw, T0, access_time=0.0)
    assert record.dimensions == {"bk_target_ip": "1.1.1.1", "protocol": "[tcp]"}
    assert record.dimension_fields == ("bk_target_ip", "protocol")
    port = plan_records(item(query=qc(agg_dimension=dims, metric_id="bk_monitor.proc_port")))
    port_record = standardize(port, raw, T0, access_time=0.0)
    assert port_record.dimension_fields == ("bk_target_ip",)
    other = {**raw, "protocol": "[udp]"}
    # the dynamic dims are not part of the series identity for proc_port
    assert standardize(port, other, T0, access_time=0.0).record_id == port_record.record_id
    assert standardize(plain, other, T0, access_time=0.0).record_id != record.record_id
