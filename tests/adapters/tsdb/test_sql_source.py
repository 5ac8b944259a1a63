"""`SqlSource`: the embedded SQL time-series table on the test database (SQLite, or DATABASE_URL)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.db import connection

from alarm_access.adapters.tsdb.sql import Sample, SqlSource, series_key
from alarm_access.kernel.errors import InvalidStrategy, SourceUnavailable
from tests.timeseries_samples import END, INTERVAL, METRIC, T0, expected_by_ip, ordered, qc, samples

pytestmark = pytest.mark.django_db


@pytest.fixture
def source() -> SqlSource:
    sql = SqlSource()
    sql.write_samples(samples())
    return sql


def test_points_per_bucket(source: SqlSource) -> None:
    points = source.query(qc("AVG", alias="load"), T0, END)
    assert ordered(points) == ordered(expected_by_ip("AVG", key="load"))
    assert [p["_time_"] for p in points] == sorted(p["_time_"] for p in points)


def test_writing_a_sample_again_overwrites_its_value(source: SqlSource) -> None:
    labels = {"bk_target_ip": "10.0.0.9", "bk_target_cloud_id": "0"}
    assert source.write_samples([Sample(METRIC, labels, T0, 1.0), Sample(METRIC, labels, T0 + 1, 2.0)]) == 2
    assert source.write_samples([Sample(METRIC, labels, T0, 7.0)], batch_size=1) == 1
    window = source.query(qc("SUM", conditions=()), T0, T0 + INTERVAL)
    assert [p["_result_"] for p in window if p["bk_target_ip"] == "10.0.0.9"] == [9.0]


def test_series_are_stored_as_canonical_json(source: SqlSource) -> None:
    assert series_key({"b": "2", "a": "1"}) == '{"a":"1","b":"2"}'
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(DISTINCT series) FROM alarm_access_ts_sample WHERE metric = %s", [METRIC])
        assert cursor.fetchone() == (4,)


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        SqlSource().write_samples([Sample(METRIC, {}, T0, float("nan"))])


def test_promql_cannot_run_on_sql(source: SqlSource) -> None:
    with pytest.raises(InvalidStrategy, match="promql"):
        source.query(replace(qc(), promql="up"), T0, END)


def test_a_database_error_is_unavailable_and_leaves_the_connection_usable(source: SqlSource) -> None:
    broken = SqlSource(table="alarm_access_ts_missing")
    broken._ready = True  # skip creating it: the query must hit a missing table
    with pytest.raises(SourceUnavailable, match="alarm_access_ts_missing"):
        broken.query(qc(), T0, END)
    assert source.query(qc(), T0, END), "a failed statement must not poison the surrounding transaction"


def test_table_names_must_be_identifiers() -> None:
    with pytest.raises(ValueError, match="identifier"):
        SqlSource(table="x; DROP TABLE y")
