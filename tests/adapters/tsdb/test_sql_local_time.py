"""`SqlSource`'s ingestion times: the nullable `local_time` column and the answer's `local_times`
(`SeriesPoints.local_times`, read by bk_data freshness gating), on the test database."""

from __future__ import annotations

import pytest
from django.db import connection

from alarm_access.access.data.ports import SeriesPoints
from alarm_access.adapters.tsdb.sql import Sample, SqlSource
from alarm_access.kernel.model import AggCondition
from tests.timeseries_samples import INTERVAL, METRIC, SERIES, T0, qc

pytestmark = pytest.mark.django_db

A, B, C = SERIES[0], SERIES[1], SERIES[2]  # A and B on 10.0.0.1, C on 10.0.0.2


def answer(source: SqlSource, method: str = "AVG", dims: tuple[str, ...] = ("bk_target_ip", "bk_target_cloud_id"),
           conditions: tuple[AggCondition, ...] = ()) -> SeriesPoints:
    points = source.query(qc(method, dims, conditions), T0, T0 + 3 * INTERVAL)
    assert isinstance(points, SeriesPoints)
    return points


def test_each_bucket_carries_the_newest_ingestion_time_of_its_samples() -> None:
    source = SqlSource()
    source.write_samples([
        Sample(METRIC, A, T0, 1.0, local_time=T0 + 70), Sample(METRIC, A, T0 + 30, 2.0, local_time=T0 + 65),
        Sample(METRIC, C, T0 + 5, 3.0, local_time=T0 + 90),  # another series, the same bucket
        Sample(METRIC, A, T0 + 60, 4.0, local_time=T0 + 130),
        Sample(METRIC, B, T0 + 120, 5.0),  # a bucket whose samples have no ingestion time
    ])
    for method in ("AVG", "SUM", "REAL_TIME"):  # REAL_TIME reads the last sample: a query of its own
        points = answer(source, method)
        assert sorted({p["_time_"] for p in points}) == [T0, T0 + 60, T0 + 120], method
        assert points.local_times == {T0: T0 + 90, T0 + 60: T0 + 130}, method


def test_the_last_sample_gives_the_value_but_every_sample_gives_the_ingestion_time() -> None:
    source = SqlSource()
    source.write_samples([Sample(METRIC, A, T0, 1.0, local_time=T0 + 200), Sample(METRIC, A, T0 + 59, 9.0,
                                                                                  local_time=T0 + 61)])
    points = answer(source, "REAL_TIME", dims=("bk_target_ip",))
    assert [p["_result_"] for p in points] == [9.0]
    assert points.local_times == {T0: T0 + 200}


def test_series_left_out_by_the_conditions_do_not_count() -> None:
    source = SqlSource()
    source.write_samples([Sample(METRIC, A, T0, 1.0, local_time=T0 + 61),
                          Sample(METRIC, C, T0, 2.0, local_time=T0 + 99)])
    points = answer(source, conditions=(AggCondition("bk_target_ip", "eq", ("10.0.0.1",)),))
    assert [p["bk_target_ip"] for p in points] == ["10.0.0.1"]
    assert points.local_times == {T0: T0 + 61}


def test_writing_a_sample_again_overwrites_its_ingestion_time() -> None:
    source = SqlSource()
    source.write_samples([Sample(METRIC, A, T0, 1.0, local_time=T0 + 500)])
    source.write_samples([Sample(METRIC, A, T0, 1.0, local_time=T0 + 61)])
    assert answer(source).local_times == {T0: T0 + 61}
    source.write_samples([Sample(METRIC, A, T0, 1.0)])
    assert answer(source).local_times == {}


def test_an_empty_window_knows_it_has_no_ingestion_times() -> None:
    assert SqlSource().query(qc("AVG"), T0, T0).local_times == {}


def test_a_table_made_before_the_column_existed_gets_it() -> None:
    table = "alarm_access_ts_old_layout"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (metric TEXT NOT NULL, series TEXT NOT NULL, ts BIGINT NOT NULL, "
                       "value DOUBLE PRECISION NOT NULL, PRIMARY KEY (metric, series, ts))"
                       if connection.vendor == "postgresql" else
                       f"CREATE TABLE {table} (metric TEXT NOT NULL, series TEXT NOT NULL, ts INTEGER NOT NULL, "
                       "value REAL NOT NULL, PRIMARY KEY (metric, series, ts))")
        cursor.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", [METRIC, '{"bk_target_ip":"10.0.0.1"}', T0,
                                                                         7.0])
    source = SqlSource(table=table)
    source.ensure_table()
    source.ensure_table()  # idempotent: the column is not added twice
    source.write_samples([Sample(METRIC, {"bk_target_ip": "10.0.0.2"}, T0, 8.0, local_time=T0 + 62)])
    points = answer(source, dims=("bk_target_ip",))
    assert sorted((p["bk_target_ip"], p["_result_"]) for p in points) == [("10.0.0.1", 7.0), ("10.0.0.2", 8.0)]
    assert points.local_times == {T0: T0 + 62}
