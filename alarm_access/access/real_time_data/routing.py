"""Which topics `real_time_data` consumes, and which strategies a consumed message is a point of (spec §4.4).

A real-time strategy item is a `time_series` item whose first query config aggregates with `REAL_TIME`. Its
points are not pulled from the TSDB but consumed from the Kafka topic of its result table (`TableTopic`).
`compile_routes` indexes, once per strategy refresh, topic → business → the strategy groups to feed; every
real-time item is a group of its own (`group_key`) whose group-by is the table's dimensions, as the original
sets the item's `group_by`/`agg_dimension` to the topic's dimension fields.

`flatten` turns one message `{"time": s, "dimensions": {...}, "metrics": {...}}` into one raw point
`{"time": s, **metrics, **dimensions}` per group of the message's business, exactly the original's shape, so
the shared record pipeline gives the original's record id (md5 of the table's dimension values + `.time`),
`value = metrics[metric_field]` and `values["_result_"] = 0` (as the original, unlike `data`'s null). A
trailing `\\0`/`\\n` is stripped from any payload (the original managed it for text values only). A message of
business 0 or none is dropped, not invalid.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from alarm_access.kernel.errors import InvalidRecord
from alarm_access.kernel.model import REAL_TIME_METHOD, Item, Strategy, StrategyGroup

#: dimension fields of a result table that never identify a series (the original drops them too)
IGNORED_DIMENSIONS = frozenset({"bk_cmdb_level", "bk_supplier_id"})


@dataclass(frozen=True, slots=True)
class TableTopic:
    """Where the points of one result table are published, and its dimension fields."""

    table_id: str
    bootstrap: str
    topic: str
    dimensions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Routes:
    """`by_topic[topic][bk_biz_id]`: the groups a point of that topic and business feeds."""

    by_topic: Mapping[str, Mapping[int, tuple[StrategyGroup, ...]]]
    #: bootstrap → the topics to subscribe there (only topics some strategy reads)
    subscriptions: Mapping[str, frozenset[str]]
    groups: tuple[StrategyGroup, ...]

    def bootstrap_of(self, topic: str) -> str:
        """The cluster a subscribed topic is consumed from ("" when not subscribed)."""
        return next((b for b, topics in self.subscriptions.items() if topic in topics), "")


def is_real_time(item: Item) -> bool:
    first = item.query_configs[0] if item.query_configs else None
    return first is not None and first.data_type_label == "time_series" and first.agg_method.upper() == REAL_TIME_METHOD


def real_time_items(strategies: Iterable[Strategy]) -> list[tuple[Strategy, Item]]:
    return [(strategy, item) for strategy in strategies if strategy.is_enabled
            for item in strategy.items if is_real_time(item)]


def table_ids(strategies: Iterable[Strategy]) -> set[str]:
    """The result tables the real-time items read (what discovery looks up)."""
    return {item.query_configs[0].result_table_id for _, item in real_time_items(strategies)}


def group_key(strategy_id: int, item_id: int) -> str:
    """The group key of one real-time item; it names its dedupe sets (`...strategy_group_real_time_{s}_{i}`)."""
    return f"real_time_{strategy_id}_{item_id}"


def _group(strategy: Strategy, item: Item, table: TableTopic) -> StrategyGroup:
    dims = tuple(d for d in table.dimensions if d not in IGNORED_DIMENSIONS)
    first = dataclasses.replace(item.query_configs[0], agg_dimension=dims)
    grouped = dataclasses.replace(item, query_configs=(first, *item.query_configs[1:]))
    return StrategyGroup(key=group_key(strategy.id, item.id), bk_biz_id=strategy.bk_biz_id,
                         items=((strategy, grouped),), interval=grouped.min_interval, source=first.source,
                         query_config=first)


def compile_routes(strategies: Iterable[Strategy], tables: Sequence[TableTopic]) -> tuple[Routes, list[str]]:
    """The routes of every real-time item whose table has a topic; the problems (items skipped) named."""
    by_table = {table.table_id: table for table in tables}
    by_topic: dict[str, dict[int, list[StrategyGroup]]] = {}
    subscriptions: dict[str, set[str]] = {}
    groups: list[StrategyGroup] = []
    problems: list[str] = []
    for strategy, item in real_time_items(strategies):
        table_id = item.query_configs[0].result_table_id
        table = by_table.get(table_id)
        if table is None:
            problems.append(f"strategy {strategy.id} item {item.id}: result table {table_id!r} has no Kafka topic")
            continue
        group = _group(strategy, item, table)
        groups.append(group)
        by_topic.setdefault(table.topic, {}).setdefault(strategy.bk_biz_id, []).append(group)
        subscriptions.setdefault(table.bootstrap, set()).add(table.topic)
    return Routes(
        by_topic={topic: {biz: tuple(g) for biz, g in by_biz.items()} for topic, by_biz in by_topic.items()},
        subscriptions={bootstrap: frozenset(topics) for bootstrap, topics in subscriptions.items()},
        groups=tuple(groups),
    ), problems


def decode(value: bytes | None) -> Mapping[str, Any]:
    """The message object, or `InvalidRecord` naming what is wrong (`bad_json`, `bad_message`)."""
    if not value:
        raise InvalidRecord("bad_message", "empty message")
    text = value.rstrip(b"\x00\n")
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:  # what orjson refuses (NaN, huge integers) json may read: same acceptance
        try:
            message = json.loads(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRecord("bad_json", f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise InvalidRecord("bad_message", f"expected an object, got {type(message).__name__}")
    if not isinstance(message.get("dimensions"), dict) or not isinstance(message.get("metrics"), dict):
        raise InvalidRecord("bad_message", "'dimensions' and 'metrics' must be objects")
    if isinstance(message.get("time"), bool) or not isinstance(message.get("time"), int | float):
        raise InvalidRecord("bad_message", f"'time' must be epoch seconds, got {message.get('time')!r}")
    return message


def business(dimensions: Mapping[str, Any]) -> int:
    """`int(bk_biz_id or 0)`; `InvalidRecord` when it is not a number."""
    try:
        return int(dimensions.get("bk_biz_id") or 0)
    except (TypeError, ValueError):
        raise InvalidRecord("bad_message", f"bk_biz_id {dimensions.get('bk_biz_id')!r} is not a number") from None


def flatten(message: Mapping[str, Any], groups: Mapping[int, tuple[StrategyGroup, ...]]
            ) -> tuple[tuple[StrategyGroup, ...], dict[str, Any]] | None:
    """The groups of the message's business and the raw point they share; None when no group wants it
    (business 0/missing, or no real-time strategy of that business reads the topic)."""
    dimensions = message["dimensions"]
    targets = groups.get(business(dimensions), ())
    if not targets:
        return None
    # `_result_` 0 unless a metric is named so: the original's records always carry it (our `data` records
    # keep a missing metric as null, spec §9.17; real-time keeps the original's value, which detect may read)
    return targets, {"time": int(message["time"]), "_result_": 0, **message["metrics"], **dimensions}
