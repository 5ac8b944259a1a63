"""What one pull of a strategy group reads: every query config of its item, joined, through the expression.

A group's items share their queries (the SGK hashes them), so the first item's are run (spec data-access
§1.6), for the window `[start, end)`:

1. each query config is sent as the original's data path sends it (`storage_config`): `REAL_TIME` as `AVG`,
   no `metric_field` as a `COUNT` of the table, and the built-in exclusions of the system tables
   (`system.disk`: `fstype` not iso9660/tmpfs/udf; `system.net`: `device_name` not `lo`) AND-ed into every
   OR group of its conditions;
2. its `time_shift` (query config's plus item's) moves the window by the offset and each bucket time back;
   its point-wise functions apply to its values;
3. with one query config and no expression beyond its alias, its points are the answer. Otherwise the
   points of all query configs are joined on the group-by dimensions and the bucket; each joined point
   carries every alias's value and `_result_` = the expression (`records.expression`) — None when an
   operand is missing or a divisor is 0, which the pipeline drops as `none_value`;
4. the item's point-wise functions apply to `_result_`.

A plain answer (step 3) keeps its source's ingestion times (`SeriesPoints.local_times`), moved back by the
time shift as its points are. The answer is partial when any query's was (`SeriesPoints.is_partial`; what a
pull does with it: spec §3.13, `pull.pull_group`). `item_plan` raises `InvalidStrategy` for what cannot be
run exactly; the strategy loader calls it so that such a strategy is named and skipped at load.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alarm_access.access.data.ports import SeriesPoints, TimeSeriesSource
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import REAL_TIME_METHOD, AggCondition, Item, QueryConfig
from alarm_access.records.expression import Expression, ExpressionError, parse_expression
from alarm_access.records.functions import Functions, UnsupportedFunction, compile_functions

#: (data_source_label, data_type_label, result_table_id) -> the exclusion AND-ed into every condition group
BUILTIN_EXCLUSIONS: Mapping[tuple[str, str, str], AggCondition] = {
    ("bk_monitor", "time_series", "system.disk"): AggCondition("fstype", "neq", ("iso9660", "tmpfs", "udf")),
    ("bk_monitor", "time_series", "system.net"): AggCondition("device_name", "neq", ("lo",)),
}


def value_key(qc: QueryConfig) -> str:
    """The key of a query config's value in its points (the sources' rule, `TimeSeriesSource.query`)."""
    return qc.alias or qc.metric_field or "alias"


def storage_config(qc: QueryConfig) -> QueryConfig:
    """`qc` as the original's data path sends it to storage (module docstring, step 1)."""
    changes: dict[str, Any] = {}
    if qc.agg_method.upper() == REAL_TIME_METHOD:
        changes["agg_method"] = "AVG"
    if not qc.metric_field and not qc.promql and not qc.extra.get("prometheus_metric"):
        changes["agg_method"] = "COUNT"
    exclusion = BUILTIN_EXCLUSIONS.get((qc.data_source_label, qc.data_type_label, qc.result_table_id))
    if exclusion is not None and not qc.promql:
        conditions: list[AggCondition] = []
        for index, cond in enumerate(qc.agg_condition):
            if index and cond.connector.lower() == "or":
                conditions.append(exclusion)
            conditions.append(cond)
        changes["agg_condition"] = (*conditions, exclusion)
    return dataclasses.replace(qc, **changes) if changes else qc


@dataclass(frozen=True, slots=True)
class ItemPlan:
    """How to query an item: its storage configs with their functions, and the expression (None: plain)."""

    configs: tuple[tuple[QueryConfig, Functions], ...]
    expression: Expression | None
    item_functions: Functions
    dimensions: tuple[str, ...]


def item_plan(item: Item, entry: str, *, now: float | None = None) -> ItemPlan:
    """Compile `item`'s queries (`now` dates calendar time shifts); `InvalidStrategy` names what is wrong."""
    qcs = item.query_configs
    try:
        shared = compile_functions(item.functions, now=now)
        configs = tuple((storage_config(qc), compile_functions(qc.functions, now=now)) for qc in qcs)
    except (UnsupportedFunction, ValueError, OverflowError, TypeError) as error:
        raise InvalidStrategy(entry, "functions", str(error) or type(error).__name__) from error
    aliases = [value_key(qc).lower() for qc in qcs]
    text = item.expression.strip()
    expression = None
    if len(qcs) > 1 or (text and text.lower() != aliases[0]):
        if len(set(aliases)) != len(aliases):
            raise InvalidStrategy(entry, "query_configs", f"aliases {', '.join(aliases)} are not distinct")
        if len({frozenset(qc.agg_dimension) for qc in qcs}) > 1:
            raise InvalidStrategy(entry, "query_configs", "an expression joins query configs that group by "
                                  "the same dimensions; these group by different ones")
        try:
            expression = parse_expression(text or aliases[0], frozenset(aliases))
        except ExpressionError as error:
            raise InvalidStrategy(entry, "expression", f"{text!r}: {error}") from error
    return ItemPlan(configs, expression, shared, qcs[0].agg_dimension)


def query_item(plan: ItemPlan, source: TimeSeriesSource, start: int, end: int) -> SeriesPoints:
    """The points of `plan` for `[start, end)` (module docstring); raises as `TimeSeriesSource.query`."""
    answers: list[list[dict[str, Any]]] = []
    partial = False
    local_times: dict[int, int] | None = None
    for qc, functions in plan.configs:
        offset = functions.offset + plan.item_functions.offset
        points = source.query(qc, start + offset, end + offset)
        partial = partial or (isinstance(points, SeriesPoints) and points.is_partial)
        if isinstance(points, SeriesPoints) and points.local_times is not None:
            local_times = {t - offset: local for t, local in points.local_times.items()}
        if offset or functions.steps:
            key = value_key(qc)
            for point in points:
                point["_time_"] -= offset
                point["_result_"] = point[key] = functions.apply(point["_result_"])
        answers.append(points)
    joined = answers[0] if plan.expression is None else _join(plan, answers)
    if plan.item_functions.steps:
        for point in joined:
            point["_result_"] = plan.item_functions.apply(point["_result_"])
    # Ingestion times are per point time of one query: a joined answer has none (nothing gates it).
    return SeriesPoints(joined, is_partial=partial, local_times=local_times if plan.expression is None else None)


def _join(plan: ItemPlan, answers: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One point per (dimensions, bucket) of any answer, with every alias's value and the expression."""
    assert plan.expression is not None
    dims = plan.dimensions
    joined: dict[tuple[Any, ...], dict[str, Any]] = {}
    values: dict[tuple[Any, ...], dict[str, float | None]] = {}
    for (qc, _), points in zip(plan.configs, answers, strict=True):
        key_name, alias = value_key(qc), value_key(qc).lower()
        for point in points:
            key = (point["_time_"], *(point.get(d) for d in dims))
            merged = joined.get(key)
            if merged is None:
                merged = joined[key] = {d: point.get(d) for d in dims} | {"_time_": point["_time_"]}
                values[key] = {}
            merged[key_name] = point["_result_"]
            values[key][alias] = point["_result_"]
    evaluate = plan.expression.evaluate
    for key, merged in joined.items():
        merged["_result_"] = evaluate(values[key])
    return sorted(joined.values(), key=lambda point: point["_time_"])
