"""`TimeSeriesSource` over a plain SQL time-series table in the project's database (the embedded default).

The table ``(metric, series, ts, value, local_time)`` has the primary key ``(metric, series, ts)``: `series`
is the canonical JSON of the labels (sorted keys, no spaces), `ts` epoch seconds, `value` a double,
`local_time` (nullable) the sample's ingestion time in epoch seconds, UTC — unlike bk_data's `localTime`, which
is its servers' local wall time. This adapter owns the table (no Django model, no migration): `ensure_table()`
creates it, or adds `local_time` to a table made before it had one, and runs by itself before the first
write or query. Raw SQL through `django.db.connections` works on SQLite, PostgreSQL and MySQL/MariaDB.

A query follows the same rules as the Prometheus source (`adapters.tsdb.promql`): SQL computes the per-series,
per-bucket aggregate (`bucket = ts - ts % I`; REAL_TIME takes the series' last sample of the bucket); Python
then keeps the series that pass `agg_condition` and combines the series of one `agg_dimension` group with the
cross-series aggregation (avg of per-series averages, sum of counts, ...), as PromQL's `avg by (...)` does.
The answer's `local_times` (`SeriesPoints`) hold, per bucket, the newest `local_time` of the samples of the
series that made its points (a bucket whose samples have none is absent).
Every database error raises `SourceUnavailable`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from django.db import Error as DatabaseError
from django.db import connections, transaction

from alarm_access.access.data.ports import SeriesPoints
from alarm_access.adapters.tsdb.promql import (
    aggregation_of,
    bucket_bounds,
    condition_groups,
    metric_name,
    raw_point,
    series_matches,
)
from alarm_access.kernel.errors import InvalidStrategy, SourceUnavailable
from alarm_access.kernel.model import QueryConfig

DEFAULT_TABLE = "alarm_access_ts_sample"

# Per-vendor column types: PostgreSQL's REAL is 4 bytes, INTEGER overflows in 2038; MySQL cannot index TEXT
# and caps a key at 3072 bytes (4 bytes per utf8mb4 character).
_DDL = {
    "mysql": "metric VARCHAR(200) NOT NULL, series VARCHAR(512) NOT NULL, ts BIGINT NOT NULL, value DOUBLE NOT NULL",
    "postgresql": "metric TEXT NOT NULL, series TEXT NOT NULL, ts BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL",
}
_DDL_DEFAULT = "metric TEXT NOT NULL, series TEXT NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL"
_LOCAL_TIME = {"mysql": "BIGINT NULL", "postgresql": "BIGINT NULL"}
_LOCAL_TIME_DEFAULT = "INTEGER NULL"
_SQL_FUNCTIONS = {"avg_over_time": "AVG", "sum_over_time": "SUM", "min_over_time": "MIN",
                  "max_over_time": "MAX", "count_over_time": "COUNT"}
_COMBINE: Mapping[str, Callable[[list[float]], float]] = {
    "avg": lambda values: math.fsum(values) / len(values),
    "sum": math.fsum,
    "min": min,
    "max": max,
}
_IDENTIFIER = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class Sample(NamedTuple):
    """One raw sample to store: `labels` exclude the metric name; `ts` and `local_time` (when it was
    ingested, None: unknown) are in epoch seconds."""

    metric: str
    labels: Mapping[str, str]
    ts: int
    value: float
    local_time: int | None = None


def series_key(labels: Mapping[str, str]) -> str:
    """The canonical JSON of a label set, as stored in the `series` column."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class SqlSource:
    """The SQL table `table` on the Django database alias `using`."""

    def __init__(self, table: str = DEFAULT_TABLE, using: str = "default") -> None:
        if not _IDENTIFIER.fullmatch(table):
            raise ValueError(f"table name {table!r} is not a plain SQL identifier")
        self._table = table
        self._using = using
        self._ready = False

    def ensure_table(self) -> None:
        """Create the table and its `(metric, ts)` index if they do not exist, and add `local_time` to a table
        that lacks it (idempotent).

        The primary key serves one series; a window query reads every series of a metric, so without the
        second index it would scan the metric's whole history.
        """
        vendor = connections[self._using].vendor
        index = f"{self._table}_metric_ts"
        local_time = _LOCAL_TIME.get(vendor, _LOCAL_TIME_DEFAULT)
        columns = f"{_DDL.get(vendor, _DDL_DEFAULT)}, local_time {local_time}, PRIMARY KEY (metric, series, ts)"
        if vendor == "mysql":  # MySQL has no CREATE INDEX IF NOT EXISTS; declare the index with the table
            self._execute(f"CREATE TABLE IF NOT EXISTS {self._table} ({columns}, INDEX {index} (metric, ts))",
                          savepoint=False)
        else:
            self._execute(f"CREATE TABLE IF NOT EXISTS {self._table} ({columns})", savepoint=False)
            self._execute(f"CREATE INDEX IF NOT EXISTS {index} ON {self._table} (metric, ts)", savepoint=False)
        # Looked up first on every vendor: an ALTER TABLE, even one that adds nothing (PostgreSQL's IF NOT
        # EXISTS), takes an exclusive lock that every query of the table would queue behind at each start.
        if "local_time" not in self._columns():
            self._execute(f"ALTER TABLE {self._table} ADD COLUMN local_time {local_time}", savepoint=False)
        self._ready = True

    def _columns(self) -> set[str]:
        try:
            with connections[self._using].cursor() as cursor:
                description = connections[self._using].introspection.get_table_description(cursor, self._table)
        except DatabaseError as exc:
            raise SourceUnavailable(f"sql time series {self._table}: {type(exc).__name__}: {exc}") from exc
        return {column.name.lower() for column in description}

    def write_samples(self, samples: Iterable[Sample], batch_size: int = 1000) -> int:
        """Insert or overwrite samples (same metric, labels and ts: last value and local time win); returns
        the count.

        Raises ValueError on a non-finite value (SQLite and MySQL cannot store NaN).
        """
        rows = []
        for sample in samples:
            if not math.isfinite(sample.value):
                raise ValueError(f"sample value must be finite: {sample!r}")
            local_time = None if sample.local_time is None else int(sample.local_time)
            rows.append((sample.metric, series_key(sample.labels), int(sample.ts), float(sample.value), local_time))
        vendor = connections[self._using].vendor
        if vendor == "mysql":
            upsert = "ON DUPLICATE KEY UPDATE value = VALUES(value), local_time = VALUES(local_time)"
        else:
            upsert = ("ON CONFLICT (metric, series, ts) DO UPDATE SET value = excluded.value, "
                      "local_time = excluded.local_time")
        sql = (f"INSERT INTO {self._table} (metric, series, ts, value, local_time) "
               f"VALUES (%s, %s, %s, %s, %s) {upsert}")
        self._prepare()
        for offset in range(0, len(rows), batch_size):
            self._execute(sql, rows[offset : offset + batch_size], many=True)
        return len(rows)

    def query(self, qc: QueryConfig, start: int, end: int) -> SeriesPoints:
        interval = int(qc.agg_interval)
        first, stop = bucket_bounds(start, end, interval)
        if stop <= first:
            return SeriesPoints(local_times={})
        if qc.promql.strip():
            raise InvalidStrategy(_entry(qc), "promql", "needs a Prometheus-compatible source, not the SQL one")
        outer, over_time = aggregation_of(qc)
        groups = condition_groups(qc)
        self._prepare()
        rows = self._execute(self._aggregate_sql(over_time, interval), (metric_name(qc), first, stop), fetch=True)
        combined: dict[tuple[int, tuple[str | None, ...]], list[float]] = {}
        passes: dict[str, dict[str, str] | None] = {}  # series JSON -> its labels, None when filtered out
        local_times: dict[int, int] = {}
        for series, bucket, value, local_time in rows:
            if series not in passes:
                labels = json.loads(series)
                passes[series] = labels if series_matches(groups, labels) else None
            labels = passes[series]
            if labels is None or value is None:
                continue
            key = tuple(labels.get(dim) for dim in qc.agg_dimension)
            combined.setdefault((int(bucket), key), []).append(float(value))
            if local_time is not None:
                local_times[int(bucket)] = max(int(local_time), local_times.get(int(bucket), int(local_time)))
        points = SeriesPoints(local_times=local_times)
        for (bucket, key), values in combined.items():
            dims = {dim: label for dim, label in zip(qc.agg_dimension, key, strict=True) if label is not None}
            points.append(raw_point(qc, dims, bucket, _finite(_COMBINE[outer](values))))
        points.sort(key=lambda point: point["_time_"])
        return points

    def close(self) -> None:
        """Nothing to release: Django owns the database connection."""

    def _aggregate_sql(self, over_time: str, interval: int) -> str:
        # The interval is an int, written as a literal so SELECT and GROUP BY hold the same expression text
        # (with server-side parameters PostgreSQL would see two different placeholders). %% is a literal %.
        bucket = f"ts - (ts %% {interval})"
        window = f"FROM {self._table} WHERE metric = %s AND ts >= %s AND ts < %s"
        if over_time != "last_over_time":
            return (f"SELECT series, {bucket}, {_SQL_FUNCTIONS[over_time]}(value), MAX(local_time) {window} "
                    f"GROUP BY series, {bucket}")
        # The bucket's last sample gives the value; its newest ingestion time is over all of its samples.
        return (f"SELECT s.series, s.ts - (s.ts %% {interval}), s.value, m.local_time FROM {self._table} s "
                f"JOIN (SELECT metric, series, MAX(ts) AS last_ts, MAX(local_time) AS local_time {window} "
                f"GROUP BY metric, series, {bucket}) m "
                "ON s.metric = m.metric AND s.series = m.series AND s.ts = m.last_ts")

    def _prepare(self) -> None:
        if not self._ready:
            self.ensure_table()

    def _execute(
        self, sql: str, params: Any = None, *, many: bool = False, fetch: bool = False, savepoint: bool = True
    ) -> list[Any]:
        try:
            # A savepoint keeps a failed statement from poisoning a surrounding PostgreSQL transaction. DDL
            # runs without one: MySQL commits implicitly on DDL, which destroys the savepoint.
            with transaction.atomic(using=self._using, savepoint=savepoint), \
                    connections[self._using].cursor() as cursor:
                if many:
                    cursor.executemany(sql, params)
                else:
                    cursor.execute(sql, params)
                return list(cursor.fetchall()) if fetch else []
        except DatabaseError as exc:
            raise SourceUnavailable(f"sql time series {self._table}: {type(exc).__name__}: {exc}") from exc


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _entry(qc: QueryConfig) -> str:
    return f"query_config {qc.result_table_id or '-'}.{qc.metric_field or '-'}"
