"""Pure query construction for time-series sources: metric naming, bucket windows, label matchers, PromQL.

Every time-series source (Prometheus-compatible HTTP, the SQL table) shares these rules, so the same query
config selects the same series and buckets whatever the backend:

* Metric name: ``qc.extra["prometheus_metric"]`` when set, otherwise ``result_table_id`` with every "."
  replaced by "_", then "_", then ``metric_field`` (``system.cpu_load`` + ``load5`` ->
  ``system_cpu_load_load5``); with no ``result_table_id`` the name is ``metric_field`` alone, with no
  ``metric_field`` (a count of the table's documents, spec §1.6) the table's name alone (``app.log`` ->
  ``app_log``).
* Value key of a raw point: ``qc.alias or qc.metric_field`` (``"alias"`` when both are empty, as the
  original names a field-less count).
* Buckets: ``[T, T + I)`` with ``T`` a multiple of ``I = qc.agg_interval`` in UTC epoch seconds; a point's
  ``_time_`` is its bucket start ``T``. A window ``[start, end)`` covers the buckets whose start lies in
  ``[floor(start / I) * I, floor(end / I) * I)``, i.e. only complete buckets that end by ``end``.
* Conditions: ``agg_condition`` is an OR of AND groups (an "or" connector starts a new group). Each condition
  becomes one Prometheus label matcher; a label the series lacks reads as "" (PromQL semantics), and regular
  expressions match the whole value (PromQL anchors them).

Nothing here does I/O; invalid query configs raise `InvalidStrategy`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import REAL_TIME_METHOD, QueryConfig

#: agg_method -> (cross-series aggregation, per-series `*_over_time` function). COUNT sums the per-series
#: sample counts (`count by` would count series); REAL_TIME takes each series' last raw value in the bucket.
AGGREGATIONS: Mapping[str, tuple[str, str]] = {
    "AVG": ("avg", "avg_over_time"),
    "SUM": ("sum", "sum_over_time"),
    "MIN": ("min", "min_over_time"),
    "MAX": ("max", "max_over_time"),
    "COUNT": ("sum", "count_over_time"),
    REAL_TIME_METHOD: ("avg", "last_over_time"),
}

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Only these characters are special in both RE2 (Prometheus, VictoriaMetrics) and Python's `re`.
_REGEX_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def metric_name(qc: QueryConfig) -> str:
    """The stored metric name a query config reads (see the module docstring for the mapping)."""
    explicit = qc.extra.get("prometheus_metric")
    if explicit:
        return str(explicit)
    if not qc.metric_field and not qc.result_table_id:
        raise InvalidStrategy(_entry(qc), "metric_field",
                              "and result_table_id are empty and no prometheus_metric/promql is set")
    if not qc.metric_field:
        return qc.result_table_id.replace(".", "_")
    if not qc.result_table_id:
        return qc.metric_field
    return f"{qc.result_table_id.replace('.', '_')}_{qc.metric_field}"


def value_key(qc: QueryConfig) -> str:
    """The key under which a raw point carries the metric value besides `_result_`."""
    return qc.alias or qc.metric_field or "alias"


def bucket_bounds(start: int, end: int, interval: int) -> tuple[int, int]:
    """`(first, stop)`: the window's buckets start at `first, first + interval, ...` strictly below `stop`."""
    if interval <= 0:
        raise ValueError(f"agg_interval must be positive, got {interval}")
    return start - start % interval, end - end % interval


def raw_point(qc: QueryConfig, labels: Mapping[str, str], bucket: int, value: float | None) -> dict[str, Any]:
    """One raw point (spec §2.4): dimensions, `_time_` (bucket start), `_result_` and the value key.

    Dimensions are `qc.agg_dimension` (a label the series lacks gives None); with no `agg_dimension` every
    label except `__name__` is a dimension (only a verbatim `promql` can return labels then).
    """
    if qc.agg_dimension:
        point: dict[str, Any] = {dim: labels.get(dim) for dim in qc.agg_dimension}
    else:
        point = {name: label for name, label in labels.items() if name != "__name__"}
    point["_time_"] = bucket
    point["_result_"] = value
    point[value_key(qc)] = value
    return point


@dataclass(frozen=True, slots=True)
class Matcher:
    """A Prometheus label matcher: `op` is one of `=`, `!=`, `=~`, `!~`."""

    label: str
    op: str
    value: str

    def render(self) -> str:
        # json.dumps yields a double-quoted string whose escapes PromQL (Go string syntax) reads back.
        return f"{self.label}{self.op}{json.dumps(self.value, ensure_ascii=False)}"

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op in ("=", "!="):
            return (actual == self.value) == (self.op == "=")
        return (re.fullmatch(self.value, actual) is not None) == (self.op == "=~")


def _escape(value: Any) -> str:
    return _REGEX_SPECIAL.sub(r"\\\1", str(value))


def _alternation(patterns: Sequence[str]) -> str:
    return patterns[0] if len(patterns) == 1 else "|".join(f"(?:{p})" for p in patterns)


def matcher_of(qc: QueryConfig, key: str, method: str, values: Sequence[Any]) -> Matcher:
    """The label matcher of one condition: eq/neq (exact), reg/nreg (regex), include/exclude (substring)."""
    if not _LABEL_NAME.fullmatch(key):
        raise InvalidStrategy(_entry(qc), "agg_condition", f"key {key!r} is not a valid label name")
    if not values:
        raise InvalidStrategy(_entry(qc), "agg_condition", f"condition on {key!r} has no values")
    texts = [str(v) for v in values]
    if method in ("eq", "neq"):
        if len(texts) == 1:
            return Matcher(key, "=" if method == "eq" else "!=", texts[0])
        return Matcher(key, "=~" if method == "eq" else "!~", "|".join(_escape(t) for t in texts))
    if method in ("reg", "nreg"):
        return Matcher(key, "=~" if method == "reg" else "!~", _alternation(texts))
    if method in ("include", "exclude"):
        inner = _alternation([_escape(t) for t in texts])
        if len(texts) > 1:
            inner = f"(?:{inner})"
        return Matcher(key, "=~" if method == "include" else "!~", f".*{inner}.*")
    raise InvalidStrategy(_entry(qc), "agg_condition", f"method {method!r} is not supported")


def condition_groups(qc: QueryConfig) -> tuple[tuple[Matcher, ...], ...]:
    """`qc.agg_condition` as OR-ed groups of AND-ed matchers; `((),)` when there is no condition."""
    groups: list[list[Matcher]] = [[]]
    for index, cond in enumerate(qc.agg_condition):
        if index > 0 and cond.connector.lower() == "or":
            groups.append([])
        groups[-1].append(matcher_of(qc, cond.key, cond.method, cond.values))
    return tuple(tuple(group) for group in groups)


def series_matches(groups: Sequence[Sequence[Matcher]], labels: Mapping[str, str]) -> bool:
    """Whether a series with `labels` passes the condition groups (as Prometheus would select it)."""
    return any(all(m.matches(labels) for m in group) for group in groups)


def aggregation_of(qc: QueryConfig) -> tuple[str, str]:
    """`(cross-series aggregation, *_over_time function)` of a query config, after checking its fields."""
    if qc.agg_method not in AGGREGATIONS:
        raise InvalidStrategy(_entry(qc), "agg_method", f"{qc.agg_method!r} is not supported")
    for dim in qc.agg_dimension:
        if not _LABEL_NAME.fullmatch(dim):
            raise InvalidStrategy(_entry(qc), "agg_dimension", f"{dim!r} is not a valid label name")
    return AGGREGATIONS[qc.agg_method]


def build_query(qc: QueryConfig) -> str:
    """The PromQL evaluated at each bucket END `T + I` whose value is the bucket `[T, T + I)`.

    ``offset 1ms`` moves the range `(t - I, t]` of a Prometheus >= 3 / VictoriaMetrics range selector to
    `(T - 1ms, T + I - 1ms]`, which holds exactly the millisecond samples of `[T, T + I)` (Prometheus 2.x
    ranges are closed on both sides, so a sample at exactly `T - 1ms` counts in two buckets there).
    A non-empty `qc.promql` is returned verbatim: its own ranges decide which samples a bucket holds.
    """
    if qc.promql.strip():
        return qc.promql.strip()
    outer, over_time = aggregation_of(qc)
    name = metric_name(qc)
    ranges = [
        f"{over_time}({_selector(name, group)}[{qc.agg_interval}s] offset 1ms)" for group in condition_groups(qc)
    ]
    grouping = f" by ({', '.join(qc.agg_dimension)})" if qc.agg_dimension else ""
    return f"{outer}{grouping} ({' or '.join(ranges)})"


def _selector(name: str, matchers: Sequence[Matcher]) -> str:
    rendered = [m.render() for m in matchers]
    if _METRIC_NAME.fullmatch(name):
        return f"{name}{{{','.join(rendered)}}}" if rendered else name
    return "{" + ",".join([Matcher("__name__", "=", name).render(), *rendered]) + "}"


def _entry(qc: QueryConfig) -> str:
    return f"query_config {qc.result_table_id or '-'}.{qc.metric_field or '-'}"
