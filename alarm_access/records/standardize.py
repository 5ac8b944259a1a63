"""Raw point → standard record (spec data-access §2.4-§2.5), byte-compatible with the original.

Deviation (spec §9.17): the original coerces a missing or null metric inside `values` to `0`, which makes a
gap indistinguishable from a real zero. Here it stays `None` (JSON `null`). `value` was already `null`
when missing in the original and still is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from alarm_access.kernel.hashing import count_md5
from alarm_access.kernel.model import REAL_TIME_METHOD, Item, Record

POINT_PRECISION = 6
PROC_PORT_METRIC_ID = "bk_monitor.proc_port"
#: Process-port dimensions whose value set changes often; not part of a series' identity.
PROC_PORT_DYNAMIC_DIMENSIONS = frozenset({"listen", "nonlisten", "not_accurate_listen", "protocol", "bind_ip"})


@dataclass(frozen=True, slots=True)
class RecordPlan:
    """What to read from a raw point, compiled once per group from the group's first item."""

    dimension_names: tuple[str, ...]
    value_field: str
    #: `(alias, field)` per metric of the unified query, the synthetic `_result_` last
    metrics: tuple[tuple[str, str], ...]
    time_fields: tuple[str, ...]
    #: proc_port metric: the dynamic dims are excluded from the record id and `dimension_fields`
    proc_port: bool
    #: some dimension name is a dynamic port dim, so dims may differ in keys from point to point
    has_dynamic_dims: bool
    #: `value` is `values["_result_"]` (the value field is `_result_`, which no time field overwrites)
    value_from_result: bool = False


def _time_field(data_source_label: str, time_field: str) -> str:
    if data_source_label == "bk_data":
        return "dtEventTimeStamp"
    if data_source_label == "bk_monitor":
        return "time"
    return time_field or "time"


def plan_records(item: Item) -> RecordPlan:
    """Compile the record plan of `item` (the first item of a group: records are shared by all items)."""
    qcs = item.query_configs
    names = tuple(dict.fromkeys(name for qc in qcs for name in qc.agg_dimension if name))
    metrics: list[tuple[str, str]] = []
    for qc in qcs:
        if qc.metric_field:
            metrics.append((qc.alias, qc.metric_field))
        else:
            metrics.append((qc.alias or "alias", "_index"))
    metrics.append(("", "_result_"))
    first = qcs[0]
    value_field = first.metric_field if first.agg_method.upper() == REAL_TIME_METHOD else "_result_"
    time_fields = tuple(dict.fromkeys(_time_field(qc.data_source_label, qc.time_field) for qc in qcs))
    return RecordPlan(
        dimension_names=names,
        value_field=value_field,
        metrics=tuple(metrics),
        time_fields=time_fields,
        value_from_result=value_field == "_result_" and "_result_" not in time_fields,
        proc_port=any(qc.metric_id == PROC_PORT_METRIC_ID for qc in qcs),
        has_dynamic_dims=any(name in PROC_PORT_DYNAMIC_DIMENSIONS for name in names),
    )


def point_time(point: Mapping[str, Any]) -> Any:
    """`_time_` if truthy, else `time` (the real-time shape); `None` when neither is set."""
    return point.get("_time_") or point.get("time")


def convert(value: Any) -> Any:
    """The original's number normalisation, except that `None` stays `None` (§9.17).

    Strings with a `.` become floats and other strings ints when they parse, otherwise stay strings;
    falsy numbers become `0`; other numbers are rounded to `POINT_PRECISION` decimals.
    """
    kind = type(value)
    if kind is float or kind is int:  # the common case first: one type check, no isinstance chain
        return round(value, POINT_PRECISION) if value else 0
    if value is None:
        return None
    if kind is str or isinstance(value, str):
        try:
            value = float(value) if "." in value else int(value)
        except ValueError:
            return value
    if not value:
        return 0
    try:
        return round(value, POINT_PRECISION)
    except TypeError:
        return value


def _present(value: Any) -> bool:
    # A dynamic port dim is absent when its value is a string of fewer than 3 characters ("", "[]").
    return not isinstance(value, str) or len(value) > 2


#: `(record_id, dimensions, dimension_fields)` of a point: everything dedupe needs, before the values
Identity = tuple[str, dict[str, Any], tuple[str, ...]]


class Series:
    """What every point of one series shares: the digest of its identity dims, its dims and field names.

    `dimensions` is the one dims dict of the series: the pipeline enriches it once and every record of the
    series shares it (records are not mutated once built).
    """

    __slots__ = ("digest", "dimensions", "fields")

    def __init__(self, digest: str, dimensions: dict[str, Any], fields: tuple[str, ...]) -> None:
        self.digest, self.dimensions, self.fields = digest, dimensions, fields


def _series(plan: RecordPlan, point: Mapping[str, Any]) -> Series:
    get = point.get
    dims = {name: get(name) for name in plan.dimension_names}
    if plan.has_dynamic_dims:
        dims = {k: v for k, v in dims.items() if k not in PROC_PORT_DYNAMIC_DIMENSIONS or _present(v)}
    if plan.proc_port:
        identity = {k: v for k, v in dims.items() if k not in PROC_PORT_DYNAMIC_DIMENSIONS}
        fields = tuple(identity)
    else:
        identity = dims
        fields = plan.dimension_names if not plan.has_dynamic_dims else tuple(dims)
    return Series(count_md5(identity), dims, fields)


def _no_key(point: Mapping[str, Any]) -> tuple[()]:
    return ()


class SeriesMemo:
    """The `Series` of each point of one run, computed once per series instead of once per point.

    A series is keyed by the raw values of the plan's dimension names (the value itself for a single name).
    Only keys of strings and `None` (what a TSDB returns) are remembered: `0`, `0.0`, `-0.0` and `False`
    compare equal but hash (`str()`) differently, while nothing else equals a string or `None`, so a hit has
    exactly the first point's values.
    """

    __slots__ = ("_key", "_memo", "_names", "_plan")

    def __init__(self, plan: RecordPlan) -> None:
        self._plan, self._names = plan, plan.dimension_names
        # itemgetter is several times cheaper than a tuple of `get`s; it raises KeyError for a point that
        # lacks a dimension key, which `of` then reads with `get` into the same key shape.
        self._key: Callable[[Mapping[str, Any]], Any] = itemgetter(*self._names) if self._names else _no_key
        self._memo: dict[Any, Series] = {}

    def __len__(self) -> int:
        return len(self._memo)

    def of(self, point: Mapping[str, Any]) -> Series:
        try:
            key = self._key(point)
        except KeyError:
            names = self._names
            key = point.get(names[0]) if len(names) == 1 else tuple(map(point.get, names))
        try:
            series = self._memo.get(key)
        except TypeError:  # an unhashable dimension value (list, dict): not remembered
            return _series(self._plan, point)
        if series is None:
            series = _series(self._plan, point)
            if all(type(value) is str or value is None for value in (key if type(key) is tuple else (key,))):
                self._memo[key] = series
        return series


def identify(plan: RecordPlan, point: Mapping[str, Any], time: int) -> Identity:
    """Record id and dimensions of `point`; the record id hashes the raw point's dims, not enriched ones."""
    series = _series(plan, point)
    return f"{series.digest}.{time}", series.dimensions, series.fields


def build_record(
    plan: RecordPlan,
    point: Mapping[str, Any],
    time: int,
    identity: Identity,
    access_time: float,
    *,
    is_partial: bool = False,
) -> Record:
    """The standard record of `point` from its `identify` result (computed first, for dedupe).

    The hot path of every pipeline run: one conversion per distinct float (the metric, `_result_` and
    `value` usually carry the same number), and `value` is `values["_result_"]` when it is read from there.
    """
    get = point.get
    values: dict[str, Any] = {}
    last: Any = None
    converted: Any = None
    for alias, field in plan.metrics:
        raw = get(alias) if alias else None
        key = alias
        if raw is None:
            raw, key = get(field), field
        if type(raw) is float:
            if raw != last:  # NaN never equals: converted each time, as `convert` does
                last, converted = raw, round(raw, POINT_PRECISION) if raw else 0
            values[key] = converted
        else:
            values[key] = convert(raw)
    for time_field in plan.time_fields:
        values[time_field] = time
    if plan.value_from_result:
        value = values["_result_"]
    else:
        value = get(plan.value_field)
        value = None if value is None else convert(value)
    record_id, dims, fields = identity
    return Record(record_id, time, value, values, dims, fields, access_time, is_partial)


def standardize(
    plan: RecordPlan, point: Mapping[str, Any], time: int, access_time: float, is_partial: bool = False
) -> Record:
    """Build the standard record of `point` (whose time is `time`, see `point_time`) in one step."""
    return build_record(plan, point, time, identify(plan, point, time), access_time, is_partial=is_partial)


def to_wire(record: Record) -> dict[str, Any]:
    """The JSON object pushed to detect/nodata queues, keys in the original's order (§2.5)."""
    wire: dict[str, Any] = {
        "time": record.time,
        "value": record.value,
        "values": record.values,
        "dimensions": record.dimensions,
        "record_id": record.record_id,
        "dimension_fields": list(record.dimension_fields),
    }
    if record.is_partial:
        wire["is_partial"] = True
    wire["access_time"] = record.access_time
    return wire
