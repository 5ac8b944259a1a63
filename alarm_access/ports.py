"""Ports: the small Protocols through which the core reaches the outside world (ARCHITECTURE.md).

Adapters in `alarm_access.adapters` implement them; `alarm_access.bootstrap` wires them up. Each section
below belongs to one port; keep a port's contract in its docstring.
"""

from __future__ import annotations

from typing import Any, Protocol

from alarm_access.model import QueryConfig

# ---------------------------------------------------------------------------------------------------------
# Time series (adapters: prometheus_source.PrometheusSource, sql_source.SqlSource)
# ---------------------------------------------------------------------------------------------------------


class TimeSeriesSource(Protocol):
    """Pulls aggregated time series for one query config (spec data-access §1.6, §2.4).

    Every implementation follows the rules of `alarm_access.promql` (metric naming, condition semantics,
    buckets), so the same query config gives the same points from any backend.
    """

    def query(self, qc: QueryConfig, start: int, end: int) -> list[dict[str, Any]]:
        """Raw points of the buckets of `[start, end)` (epoch seconds), ordered by `_time_`.

        A bucket is `[T, T + qc.agg_interval)` with `T` aligned to the interval in UTC; the window covers the
        buckets starting in `[floor(start), floor(end))` (`promql.bucket_bounds`). Each point is
        ``{<dim>: value, ..., "_time_": T, "_result_": value, <qc.alias or qc.metric_field>: value}`` with one
        key per `qc.agg_dimension` (None when the series lacks the label); a value that is NaN or infinite
        is None. Only buckets that hold samples produce points.

        Raises `SourceUnavailable` on any transport error, timeout, HTTP/database error or malformed answer:
        a failure NEVER returns `[]`; `[]` means "no data". Raises `InvalidStrategy` when the query config
        cannot be expressed (unknown `agg_method`, condition method, invalid label name).
        """
        ...

    def close(self) -> None:
        """Release connections; the source is not used afterwards. Safe to call twice."""
        ...
