"""Preview of the `real_time_data` access type: the service's routing and record pipeline on messages from files.

Contract of `preview_real_time(preview)`:
* `preview.inputs` holds the result tables (`TableTopic`: topic and dimension fields of each table) and the
  messages (`StreamMessage`: the raw Kafka value and its topic; `offset` is the message's position in the
  input file), in any order. Without any `TableTopic`, `inferred_tables` stands in: each real-time table the
  strategies read is published on a topic named as the table id, its dimensions being the keys of the
  `dimensions` of that topic's messages (first seen first);
* routing is the service's: `routing.compile_routes` over the strategies (enabled strategies' `time_series`
  items aggregating with `REAL_TIME`, one group each, grouped by its table's dimensions); `PreviewError`
  when no item can be consumed. An item whose table has no topic is reported, not previewed;
* the file is one consumed batch: every message goes through `routing.decode` and `routing.flatten`, and each
  group's points through `pipeline.run` as `RealTimeHandler.deliver` runs it — the clock `now` (also the
  records' `access_time`, so a run is reproducible), the given topology, the real-time settings' defaults (no
  time-point limit, the original's disabled host states), nothing delivered before (empty dedupe sets) and no
  priority entries, so only duplicates inside the file are duplicates.

Lines, in this order:
* `{"not_consumed": "<why>"}` per real-time item that no topic feeds;
* per group, by strategy id then item id: `{"strategy_id", "item_id", "record"}` per record in the order
  detect reads the item's queue (`access.data.{sid}.{iid}`), `record` the JSON object as pushed; then
  `{"dropped": reason, "message": index, "point", "strategy_id", "item_id"}` per point the group dropped, by
  message (`none_value`, `no_time`, `duplicate`, `expired`, `unknown_host`, `empty_host`, `out_of_target`,
  `host_disabled`, `inhibited`; `point` is the flattened raw point);
* `{"dropped": reason, "message": index, "detail"}` per message the service takes no point from, by message:
  `bad_json` and `bad_message` (the service dead-letters those), `unrouted` (business 0 or missing, or no
  real-time strategy of the message's business reads its topic: skipped, as the service does).
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alarm_access.access.real_time_data.routing import (
    TableTopic,
    business,
    compile_routes,
    decode,
    flatten,
    table_ids,
)
from alarm_access.formats.preview import Line, PreviewError, PreviewInput
from alarm_access.kernel.errors import InvalidRecord
from alarm_access.kernel.model import Strategy, StrategyGroup
from alarm_access.kernel.settings import RealTimeSettings
from alarm_access.kernel.stream import StreamMessage
from alarm_access.records import pipeline
from alarm_access.records.enrich import TopologyIndex, index_topology
from alarm_access.records.standardize import to_wire

#: the `bootstrap` of the tables of a preview (it consumes nothing)
PREVIEW_BOOTSTRAP = "preview"

_TABLE_KEYS = frozenset({"topic", "dimensions"})


def parse_tables(doc: Any) -> list[TableTopic]:
    """The tables document `{"<table_id>": {"topic": "...", "dimensions": ["<field>", ...]}, ...}`;
    `ValueError` naming the first bad table and field."""
    if not isinstance(doc, Mapping):
        raise ValueError('expected an object {"<table_id>": {"topic": "...", "dimensions": ["<field>", ...]}}')
    tables: list[TableTopic] = []
    for table_id, entry in doc.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"table {table_id!r}: expected an object with 'topic' and 'dimensions'")
        unknown = sorted(set(entry) - _TABLE_KEYS)
        if unknown:
            raise ValueError(f"table {table_id!r}: unknown field {unknown[0]!r} (expected 'topic', 'dimensions')")
        topic, dimensions = entry.get("topic"), entry.get("dimensions")
        if not isinstance(topic, str) or not topic:
            raise ValueError(f"table {table_id!r}: 'topic' must be a non-empty string, got {topic!r}")
        if not isinstance(dimensions, list) or not all(isinstance(d, str) and d for d in dimensions):
            raise ValueError(f"table {table_id!r}: 'dimensions' must be a list of field names, got {dimensions!r}")
        tables.append(TableTopic(table_id, PREVIEW_BOOTSTRAP, topic, tuple(dimensions)))
    return tables


def inferred_tables(strategies: Sequence[Strategy], messages: Sequence[StreamMessage]) -> list[TableTopic]:
    """Each real-time table of `strategies` on a topic named as its id, with the dimension keys its valid
    messages carry (first seen first)."""
    seen: dict[str, dict[str, None]] = {}
    for message in messages:
        try:
            dimensions = decode(message.value)["dimensions"]
        except InvalidRecord:
            continue
        seen.setdefault(message.topic, {}).update(dict.fromkeys(dimensions))
    return [TableTopic(table_id, PREVIEW_BOOTSTRAP, table_id, tuple(seen.get(table_id, ())))
            for table_id in sorted(table_ids(strategies))]


#: the pipeline settings `RealTimeHandler` runs with, from the real-time defaults
SETTINGS = pipeline.PipelineSettings(
    max_time_points=0, disabled_host_states=frozenset(RealTimeSettings().disabled_host_states))


def _group_order(group: StrategyGroup) -> tuple[int, int]:
    strategy, item = group.items[0]
    return strategy.id, item.id


def _group_lines(group: StrategyGroup, points: Sequence[dict[str, Any]], positions: Mapping[int, int],
                 topology: TopologyIndex, now: int) -> list[Line]:
    # in message order, as `RealTimeHandler.deliver` hands them over (the pipeline walks its input backwards)
    result = pipeline.run(group, points[::-1], now=now, topology_index=topology, seen_record_ids={},
                          priority_state={}, settings=SETTINGS, access_time=float(now), detail=True)
    lines: list[Line] = [{"strategy_id": strategy_id, "item_id": item_id, "record": to_wire(record)}
                         for (strategy_id, item_id), records in sorted(result.data.items())
                         for record in records]
    strategy_id, item_id = _group_order(group)
    drops: list[tuple[int, Line]] = []
    for dropped in result.dropped_points:
        shown = dropped.as_dict()
        index = positions[id(dropped.point)]
        line: Line = {"dropped": shown.pop("dropped"), "message": index, **shown}
        line.setdefault("strategy_id", strategy_id)
        line.setdefault("item_id", item_id)
        drops.append((index, line))
    drops.sort(key=lambda pair: pair[0])  # stable: one message's drops keep the pipeline's order
    return lines + [line for _, line in drops]


def preview_real_time(preview: PreviewInput) -> list[Line]:
    """Records and drops of `preview.inputs` (tables and messages) under `preview.strategies`."""
    tables = [entry for entry in preview.inputs if isinstance(entry, TableTopic)]
    messages = [entry for entry in preview.inputs if isinstance(entry, StreamMessage)]
    if not tables:
        tables = inferred_tables(preview.strategies, messages)
    routes, problems = compile_routes(preview.strategies, tables)
    if not routes.groups:
        raise PreviewError(problems[0] if problems else
                           "no enabled strategy has a real-time item (time_series, agg_method REAL_TIME)")
    points: dict[str, list[dict[str, Any]]] = {group.key: [] for group in routes.groups}
    positions: dict[int, int] = {}  # id(point) -> its message's index, to name the message of a drop
    unused: list[Line] = []
    for message in messages:
        index = message.offset
        try:
            decoded = decode(message.value)
            flat = flatten(decoded, routes.by_topic.get(message.topic, {}))
        except InvalidRecord as exc:
            unused.append({"dropped": exc.reason, "message": index, "detail": exc.detail})
            continue
        if flat is None:
            biz = business(decoded["dimensions"])
            why = "business 0 or none" if not biz else f"no real-time strategy of business {biz} reads it"
            unused.append({"dropped": "unrouted", "message": index, "detail": f"topic {message.topic!r}: {why}"})
            continue
        groups, point = flat
        positions[id(point)] = index
        for group in groups:
            points[group.key].append(point)
    topology = index_topology(preview.topology)
    lines: list[Line] = [{"not_consumed": problem} for problem in problems]
    for group in sorted(routes.groups, key=_group_order):
        if points[group.key]:
            lines.extend(_group_lines(group, points[group.key], positions, topology, preview.now))
    return lines + unused
