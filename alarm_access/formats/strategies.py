"""Parse the original system's cached strategy JSON (spec data-access §2.1) into `Strategy` values.

Contract: `parse_strategy` either returns a fully validated `Strategy` or raises `InvalidStrategy` naming the
entry ("strategy 12", or "strategy at index 3" when the id itself is unusable) and the field path
("items[0].query_configs[0].agg_interval"). It never does I/O and never mutates its input.

Accepted variations of the document:
- the older shape with `target` at strategy level: it applies to every item without a `target` of its own;
- `update_time` as an epoch int or a "YYYY-MM-DD HH:MM:SS" string read as UTC;
- legacy IP target spellings (normalised, see `conditions`).
QC fields that `QueryConfig` does not model (id, unit, index_set_id, query_string, ...) go to `extra`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from alarm_access.formats._fields import Fields, is_int, shared
from alarm_access.formats.conditions import parse_agg_conditions, parse_target
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import (
    Algorithm,
    Item,
    NoDataConfig,
    NoiseReduceConfig,
    QueryConfig,
    Strategy,
    Target,
)

#: QC keys that map onto `QueryConfig` attributes; every other key is kept in `QueryConfig.extra`.
QC_MODELLED_KEYS = frozenset(f.name for f in dataclasses.fields(QueryConfig)) - {"extra"}
#: Priorities outside this range are rejected (spec data-access §2.1: "int 0..10000 or null").
PRIORITY_RANGE = range(0, 10001)
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_strategy(doc: Any, index: int | None = None) -> Strategy:
    """One strategy document → `Strategy`. `index` (position in a file) names entries without a usable id."""
    top = Fields(doc, _entry_name(doc, index))
    strategy_id = top.integer("id", minimum=1)
    bk_biz_id = top.integer("bk_biz_id")
    priority = top.optional_integer("priority")
    if priority is not None and priority not in PRIORITY_RANGE:
        top.fail("priority", "must be an integer 0..10000 or null")
    shared_target = parse_target(top)
    top.mappings("detects")  # validated, not kept: access never reads it (detect and trigger do)
    return Strategy(
        id=strategy_id,
        bk_biz_id=bk_biz_id,
        name=top.text("name"),
        items=tuple(_parse_item(item, shared_target) for item in top.objects("items", required=True)),
        scenario=top.text("scenario"),
        is_enabled=top.flag("is_enabled", True),
        priority=priority,
        priority_group_key=top.text("priority_group_key"),
        update_time=_epoch(top, "update_time"),
        labels=top.strings("labels"),
        noise_reduce=_noise_reduce(top.child("notice").child("options").child("noise_reduce_config")),
    )


def parse_strategy_documents(doc: Any) -> tuple[list[Strategy], list[InvalidStrategy]]:
    """One strategy object or a list of them → (valid strategies in input order, one error per invalid one)."""
    if isinstance(doc, Mapping):
        docs: list[Any] = [doc]
    elif isinstance(doc, list):
        docs = doc
    else:
        return [], [InvalidStrategy("strategies", "(document)", "must be a strategy object or a list of them")]
    strategies: list[Strategy] = []
    errors: list[InvalidStrategy] = []
    for index, entry in enumerate(docs):
        try:
            strategies.append(parse_strategy(entry, index))
        except InvalidStrategy as error:
            errors.append(error)
    return strategies, errors


def _entry_name(doc: Any, index: int | None) -> str:
    strategy_id = doc.get("id") if isinstance(doc, Mapping) else None
    if is_int(strategy_id):
        return f"strategy {strategy_id}"
    return "strategy" if index is None else f"strategy at index {index}"


def _parse_item(item: Fields, shared_target: Target) -> Item:
    # An item's own `target` key, even `[]`, overrides the strategy-level one of the older shape.
    target = parse_target(item) if item.get("target") is not None else shared_target
    return Item(
        id=item.integer("id"),
        name=item.text("name"),
        query_configs=tuple(_parse_qc(qc) for qc in _non_empty(item, "query_configs")),
        expression=item.text("expression"),
        functions=item.mappings("functions"),
        time_delay=item.integer("time_delay", 0, minimum=0),
        algorithms=tuple(_parse_algorithm(a) for a in item.objects("algorithms")),
        no_data=_no_data(item.child("no_data_config")),
        target=target,
        update_time=_epoch(item, "update_time"),
    )


def _non_empty(owner: Fields, key: str) -> list[Fields]:
    objects = owner.objects(key, required=True)
    if not objects:
        owner.fail(key, "must not be empty")
    return objects


def _parse_qc(qc: Fields) -> QueryConfig:
    return QueryConfig(
        data_source_label=qc.text("data_source_label", required=True),
        data_type_label=qc.text("data_type_label", required=True),
        result_table_id=qc.text("result_table_id"),
        metric_field=qc.text("metric_field"),
        metric_id=qc.text("metric_id"),
        alias=qc.text("alias"),
        agg_method=qc.text("agg_method", "AVG"),
        agg_interval=qc.integer("agg_interval", 60, minimum=1),
        agg_dimension=qc.strings("agg_dimension"),
        agg_condition=parse_agg_conditions(qc),
        functions=qc.mappings("functions"),
        time_field=qc.text("time_field"),
        promql=qc.text("promql"),
        extra={k: v for k, v in qc.doc.items() if k not in QC_MODELLED_KEYS},
    )


def _parse_algorithm(algorithm: Fields) -> Algorithm:
    return Algorithm(
        type=algorithm.text("type", required=True),
        level=algorithm.integer("level"),
        config=algorithm.get("config"),
        id=algorithm.optional_integer("id"),
    )


def _no_data(config: Fields) -> NoDataConfig:
    # An empty `no_data_config` means "disabled" (the original raises on it, spec data-access §9.19).
    return shared(NoDataConfig(
        is_enabled=config.flag("is_enabled", False),
        continuous=config.integer("continuous", 5, minimum=1),
        level=config.optional_integer("level"),
    ))


def _noise_reduce(config: Fields) -> NoiseReduceConfig | None:
    if not config.doc:
        return None
    return shared(NoiseReduceConfig(
        is_enabled=config.flag("is_enabled", False),
        dimensions=config.strings("dimensions"),
        count=config.integer("count", 1, minimum=0),
    ))


def _epoch(owner: Fields, key: str) -> int:
    """An epoch-seconds int, or a "YYYY-MM-DD HH:MM:SS" UTC string converted to one; absent → 0."""
    value = owner.get(key)
    if value is None:
        return 0
    if is_int(value) and value >= 0:
        return int(value)
    if isinstance(value, str):
        try:
            return int(datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC).timestamp())
        except ValueError:
            pass
    owner.fail(key, "must be an epoch integer or a 'YYYY-MM-DD HH:MM:SS' string")
