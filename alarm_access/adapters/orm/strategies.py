"""Strategy documents ⇄ rows (strategy, items, query configs) ⇄ `Strategy` values.

Strategies are stored as documents split into rows: columns for what is queried or shown, JSON columns for
pass-through sub-documents, and an `extra` column per level holding every input key the columns cannot
reproduce exactly (unmodelled keys, and modelled keys whose input form differs from the column's, such as a
string `update_time`). Contract: for any document `d` that `parse_strategy` accepts, the document dumped
after `save_strategy_document(d)` contains every key of `d` with an equal JSON value; it may add modelled
keys with their defaults. Reading goes back through `parse_strategy`, so there is one validation path; the
rows are read back as documents by `strategy_rows` (the `*_KEYS` there are the columns' document keys).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from typing import Any

from django.db import transaction

from alarm_access import models as db
from alarm_access.adapters.orm.strategy_rows import ITEM_KEYS, QC_KEYS, STRATEGY_KEYS, stored_documents
from alarm_access.formats import parse_strategy
from alarm_access.kernel.errors import InvalidStrategy
from alarm_access.kernel.model import Strategy
from alarm_access.logs import ctx

logger = logging.getLogger(__name__)
#: strategy ids per read of `strategy_documents(strategy_ids)` (SQLite binds at most 999 parameters in old builds)
ID_CHUNK = 500


def save_strategy_document(doc: Mapping[str, Any], index: int | None = None) -> Strategy:
    """Validate `doc`, then insert or replace the strategy with its id, items and query configs atomically.

    Raises `InvalidStrategy` (nothing written) for an invalid document; `index`, the document's position in
    a file, names it in the error when its id is unusable."""
    strategy = parse_strategy(doc, index)
    with transaction.atomic():
        row = _strategy_row(doc, strategy)
        row.save()
        db.StrategyItem.objects.filter(strategy=row).delete()  # cascades to the query configs
        query_configs: list[db.QueryConfig] = []
        for position, item_doc in enumerate(doc["items"]):
            item_row = _item_row(row, position, item_doc, strategy.items[position].update_time)
            item_row.save()
            query_configs.extend(_qc_row(item_row, i, qc) for i, qc in enumerate(item_doc["query_configs"]))
        db.QueryConfig.objects.bulk_create(query_configs)
    return strategy


def strategy_documents(strategy_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
    """Every stored strategy (only those of `strategy_ids` when given) in the original JSON format, ordered by
    id: 3 queries (per 500 ids with `strategy_ids`). The documents are the caller's own to edit."""
    if strategy_ids is None:
        return list(stored_documents({}, shared=False))
    ids = sorted(set(strategy_ids))
    return [doc for first in range(0, len(ids), ID_CHUNK)
            for doc in stored_documents({"id__in": ids[first : first + ID_CHUNK]}, shared=False)]


def load_strategies(enabled_only: bool = True) -> list[Strategy]:
    """Stored strategies as values, ordered by id; one that no longer parses (edited by hand) is logged and
    skipped so that the others keep running. Runs 3 queries whatever the number of strategies; the values
    share their repeated sub-documents and strings (read-only, as every `Strategy`)."""
    strategies = []
    for doc in stored_documents({"is_enabled": True} if enabled_only else {}, shared=True):
        try:
            strategies.append(parse_strategy(doc))
        except InvalidStrategy as error:
            logger.warning("skipping invalid stored strategy", extra=ctx(strategy_id=doc["id"], error=str(error)))
    return strategies


def _strategy_row(doc: Mapping[str, Any], strategy: Strategy) -> db.Strategy:
    row = db.Strategy(
        id=strategy.id,
        bk_biz_id=strategy.bk_biz_id,
        name=strategy.name,
        type=_text(doc, "type"),
        scenario=strategy.scenario,
        is_enabled=strategy.is_enabled,
        priority=strategy.priority,
        priority_group_key=strategy.priority_group_key,
        update_time=strategy.update_time,
        labels=list(strategy.labels),
        detects=_value(doc, "detects", []),
        notice=_value(doc, "notice", {}),
        actions=_value(doc, "actions", []),
    )
    row.extra = _unreproduced(doc, _strategy_fields(row), children="items")
    return row


def _strategy_fields(row: db.Strategy) -> dict[str, Any]:
    return {key: getattr(row, key) for key in STRATEGY_KEYS}


def _item_row(strategy: db.Strategy, position: int, doc: Mapping[str, Any], update_time: int) -> db.StrategyItem:
    row = db.StrategyItem(
        strategy=strategy,
        position=position,
        item_id=doc["id"],
        name=_text(doc, "name"),
        expression=_text(doc, "expression"),
        functions=_value(doc, "functions", []),
        time_delay=_value(doc, "time_delay", 0),
        algorithms=_value(doc, "algorithms", []),
        no_data_config=_value(doc, "no_data_config", {}),
        target=doc.get("target"),
        update_time=update_time,
    )
    row.extra = _unreproduced(doc, _item_fields(row), children="query_configs")
    return row


def _item_fields(row: db.StrategyItem) -> dict[str, Any]:
    fields = {key: getattr(row, column) for key, column in ITEM_KEYS}
    if row.target is not None:  # no own target: the item inherits the strategy-level one (older shape)
        fields["target"] = row.target
    return fields


def _qc_row(item: db.StrategyItem, position: int, doc: Mapping[str, Any]) -> db.QueryConfig:
    row = db.QueryConfig(
        item=item,
        position=position,
        qc_id=_int_or_none(doc.get("id")),
        data_source_label=doc["data_source_label"],
        data_type_label=doc["data_type_label"],
        result_table_id=_text(doc, "result_table_id"),
        metric_field=_text(doc, "metric_field"),
        metric_id=_text(doc, "metric_id"),
        alias=_text(doc, "alias"),
        agg_method=_text(doc, "agg_method", "AVG"),
        agg_interval=_value(doc, "agg_interval", 60),
        agg_dimension=_value(doc, "agg_dimension", []),
        agg_condition=_value(doc, "agg_condition", []),
        functions=_value(doc, "functions", []),
        time_field=_text(doc, "time_field"),
        promql=_text(doc, "promql"),
    )
    row.extra = _unreproduced(doc, _qc_fields(row))
    return row


def _qc_fields(row: db.QueryConfig) -> dict[str, Any]:
    fields: dict[str, Any] = {} if row.qc_id is None else {"id": row.qc_id}
    fields.update((key, getattr(row, key)) for key in QC_KEYS)
    return fields


def _unreproduced(doc: Mapping[str, Any], fields: Mapping[str, Any], children: str = "") -> dict[str, Any]:
    """Keys of `doc` that `fields` (what the columns dump back) lacks or renders differently as JSON."""
    return {
        key: value
        for key, value in doc.items()
        if key != children and (key not in fields or _canonical(fields[key]) != _canonical(value))
    }


def _canonical(value: Any) -> str:
    # JSON text, not `==`: Python says 1 == 1.0 == True, but a round trip must keep 1.0 a float.
    return json.dumps(value, sort_keys=True)


def _value(doc: Mapping[str, Any], key: str, default: Any) -> Any:
    value = doc.get(key)
    return default if value is None else value


def _text(doc: Mapping[str, Any], key: str, default: str = "") -> str:
    value = doc.get(key)
    return value if isinstance(value, str) else default


def _int_or_none(value: Any) -> int | None:
    # QC ids are ints in the original; anything else stays in `extra` instead of the integer column.
    return value if isinstance(value, int) and not isinstance(value, bool) else None
