"""Strategy group keys and strategy groups (spec data-access §2.2-§2.3).

Strategies of one business whose items run the same query share one strategy group (SG) and are pulled
once. The SG key (SGK) is `count_md5` of the item's query parameters, byte-compatible with the original so
that existing dedupe sets, checkpoints and locks keep their names.

Deviation (spec §9.19): the original only ever grouped the *first* item of a strategy, silently ignoring
the others. `build_groups` groups every item.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alarm_access.kernel.hashing import count_md5
from alarm_access.kernel.model import REAL_TIME_METHOD, AggCondition, Item, QueryConfig, Strategy, StrategyGroup
from alarm_access.records.conditions import NATIVE_ADVANCED_SOURCES, has_advanced_condition

#: Data types the `data` access type pulls (events and alerts have their own access types).
GROUPED_DATA_TYPES = frozenset({"time_series", "log"})


def condition_to_json(conditions: tuple[AggCondition, ...]) -> list[dict[str, Any]]:
    """`agg_condition` in its stored JSON form: the first entry carries no `condition` connector.

    The connector of the first condition is meaningless and the strategy editor does not store it; the
    SGK depends on this shape.
    """
    rendered: list[dict[str, Any]] = []
    for index, cond in enumerate(conditions):
        entry: dict[str, Any] = {"key": cond.key, "method": cond.method, "value": list(cond.values)}
        if index:
            entry["condition"] = cond.connector
        rendered.append(entry)
    return rendered


def query_params(bk_biz_id: int, qc: QueryConfig) -> dict[str, Any]:
    """The per-query-config parameters that identify a query (the input of the SGK)."""
    dsl, dtl = qc.data_source_label, qc.data_type_label
    params: dict[str, Any] = {
        "bk_biz_id": int(bk_biz_id),
        "data_source_label": dsl,
        "data_type_label": dtl,
        "agg_method": qc.agg_method,
        "agg_interval": qc.agg_interval,
        "agg_dimension": list(qc.agg_dimension),
        "agg_condition": condition_to_json(qc.agg_condition),
        "result_table_id": qc.result_table_id,
        "metric_field": qc.metric_field,
        # `None` when absent: the original hashes the missing value as the string "None".
        "keywords_query_string": qc.extra.get("query_string"),
    }
    if qc.functions:
        params["functions"] = [dict(function) for function in qc.functions]
    if qc.promql:
        params["promql"] = qc.promql
    if dsl == "bk_log_search":
        params["index_set_id"] = qc.extra.get("index_set_id")
    elif (dsl, dtl) == ("custom", "event"):
        if qc.extra.get("custom_event_name"):
            params["custom_event_name"] = qc.extra["custom_event_name"]
    elif dsl == "bk_fta":
        params["alert_name"] = qc.extra.get("alert_name")
    elif (dsl, dtl) == ("bk_monitor", "alert"):
        params["bkmonitor_strategy_id"] = qc.extra.get("bkmonitor_strategy_id")
    # Sources that cannot evaluate advanced conditions are queried without any condition; each item then
    # filters itself (records.filters), so such items share one group whatever their conditions.
    if (dsl, dtl) not in NATIVE_ADVANCED_SOURCES and dtl == "time_series" and has_advanced_condition(qc):
        params["agg_condition"] = []
    return params


def group_key(strategy: Strategy, item: Item) -> str:
    """The SGK of `item` of `strategy`, byte-identical to the original's `query_md5`."""
    configs = [query_params(strategy.bk_biz_id, qc) for qc in item.query_configs]
    if len(configs) == 1 and len(item.expression.strip(" ")) <= 1:
        return count_md5(configs[0])
    return count_md5({"expression": item.expression, "query_configs": configs})


def is_grouped(item: Item) -> bool:
    """Items pulled by the `data` access type: first QC time_series/log and not a real-time item."""
    if not item.query_configs:
        return False
    qc = item.query_configs[0]
    return qc.data_type_label in GROUPED_DATA_TYPES and qc.agg_method != REAL_TIME_METHOD


def build_groups(strategies: Iterable[Strategy]) -> list[StrategyGroup]:
    """One `StrategyGroup` per SGK over every grouped item of every enabled strategy, sorted by key."""
    members: dict[str, list[tuple[Strategy, Item]]] = {}
    for strategy in strategies:
        if not strategy.is_enabled:
            continue
        for item in strategy.items:
            if is_grouped(item):
                members.setdefault(group_key(strategy, item), []).append((strategy, item))
    groups = []
    for key in sorted(members):
        pairs = tuple(sorted(members[key], key=lambda pair: (pair[0].id, pair[1].id)))
        strategy, first = pairs[0]
        qc = first.query_configs[0]
        groups.append(
            StrategyGroup(
                key=key,
                bk_biz_id=strategy.bk_biz_id,
                items=pairs,
                interval=min(item.min_interval for _, item in pairs),
                source=qc.source,
                query_config=qc,
            )
        )
    return groups
