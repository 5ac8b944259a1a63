"""Stored strategies read back as documents: one ordered pass over the strategy, item and query-config tables.

`stored_documents(where)` yields the document of every strategy row matching `where` (field lookups of
`models.Strategy`), ordered by id: the original cached JSON, with its keys in the order `save_strategy_document`
reads them (the `*_KEYS` below), then each level's `extra` keys. It runs 3 queries whatever the number of
strategies and streams their rows as tuples in chunks: no model instances, no prefetch caches, the items
and query configs of a strategy merged in as its row goes by, so memory holds one document at a time.

JSON columns are read as text and decoded here (orjson, `json` for what orjson refuses: NaN, integers beyond
64 bits — the same values either way). With `shared=True`, equal values are one object across documents: a
column whose texts repeat (labels, conditions, dimensions, extras, ...) is decoded once per distinct text; in
targets and algorithms, the parts `Strategy` values keep (lists and dicts of scalars, each algorithm's
config) are shared with their equals; so are equal strings and integers. That is for documents that are only
read (parsed into read-only `Strategy` values, dumped to JSON), never for documents handed to callers that
may edit them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
from django.db.models import Expression, F, QuerySet, TextField
from django.db.models.functions import Cast

from alarm_access import models as db

#: document key → column, in document order, per level (`strategies._*_fields` dump the same keys from a row)
STRATEGY_KEYS = ("id", "type", "bk_biz_id", "scenario", "name", "labels", "is_enabled", "update_time", "priority",
                 "priority_group_key", "detects", "notice", "actions")
ITEM_KEYS = (("id", "item_id"), ("name", "name"), ("expression", "expression"), ("functions", "functions"),
             ("time_delay", "time_delay"), ("algorithms", "algorithms"), ("no_data_config", "no_data_config"),
             ("update_time", "update_time"))
QC_KEYS = ("data_source_label", "data_type_label", "result_table_id", "metric_field", "metric_id", "alias",
           "agg_method", "agg_interval", "agg_dimension", "agg_condition", "functions", "time_field", "promql")
#: JSON columns whose texts repeat across strategies: with `shared`, decoded once per distinct text
_REPEATED = frozenset({"labels", "detects", "actions", "extra", "functions", "no_data_config", "agg_dimension",
                       "agg_condition"})
#: JSON columns of unique texts whose parts `Strategy` values keep: with `shared`, their strings and their
#: lists and dicts of scalars (target nodes and hosts, threshold conditions) that are equal are one object
_KEPT = frozenset({"algorithms", "target"})
_SCALARS = frozenset({str, int, float, bool, type(None)})
#: distinct texts remembered per read at most: bounds the memo when a "repeated" column turns out unique
_MEMO_LIMIT = 50_000
#: rows fetched per round trip
CHUNK = 2000


class _Decoder:
    """JSON texts → values, and column values as read; with `shared`, equal inputs give one object (see the
    module docstring). Only what strategies keep is remembered: remembering what dies with its document would
    leave holes in the heap that the process cannot give back."""

    def __init__(self, shared: bool) -> None:
        self._shared = shared
        self._texts: dict[str, Any] = {}
        self._strings: dict[str, str] = {}
        self._ints: dict[int, int] = {}
        #: (type, items) → the shared list or dict of scalars
        self._leaves: dict[tuple[Any, ...], Any] = {}

    def json(self, column: str, text: str | None) -> Any:
        if text is None:
            return None
        if not self._shared or not (column in _REPEATED or column in _KEPT):
            return _loads(text)
        if column == "algorithms":
            return self._algorithms(_loads(text))
        if column in _KEPT:
            return self._share(_loads(text))
        value = self._texts.get(text, _loads)
        if value is _loads:
            value = self._share(_loads(text))
            if len(self._texts) < _MEMO_LIMIT:
                self._texts[text] = value
        return value

    def plain(self, value: Any) -> Any:
        """A column value that is not JSON."""
        if not self._shared:
            return value
        if type(value) is str:
            return self._strings.setdefault(value, value)
        if type(value) is int:  # not bool: `True == 1` must not share a key
            return self._ints.setdefault(value, value)
        return value

    def _algorithms(self, value: Any) -> Any:
        """Algorithms with each config (kept whole by `Algorithm`, and the same in many strategies) shared."""
        value = self._share(value)
        for algorithm in value if type(value) is list else ():
            if type(algorithm) is dict and "config" in algorithm:
                algorithm["config"] = self._whole(algorithm["config"])
        return value

    def _whole(self, value: Any) -> Any:
        """`value` shared with every equal one, lists and dicts at any depth (items first, then by their ids:
        a shared item stays alive in the memo, so its id names it)."""
        if type(value) is list:
            items = [self._whole(item) for item in value]
            return self._leaves.setdefault((list, *(_key(item) for item in items)), items)
        if type(value) is dict:
            named = {self.plain(name): self._whole(item) for name, item in value.items()}
            return self._leaves.setdefault((dict, *((name, _key(item)) for name, item in named.items())), named)
        return self.plain(value)

    def _share(self, value: Any) -> Any:
        """`value` with its strings, integers and lists and dicts of scalars shared (changed in place)."""
        if type(value) is list:
            if all(type(item) in _SCALARS for item in value):
                key: tuple[Any, ...] = (list, *map(type, value), *map(_exact, value))
                return self._leaves.setdefault(key, [self.plain(item) for item in value])
            value[:] = [self._share(item) for item in value]
        elif type(value) is dict:
            if all(type(item) in _SCALARS for item in value.values()):
                key = (dict, *value, *map(type, value.values()), *map(_exact, value.values()))
                shared = self._leaves.get(key)
                if shared is None:
                    shared = self._leaves[key] = {self.plain(n): self.plain(v) for n, v in value.items()}
                return shared
            for name, item in value.items():
                value[name] = self._share(item)
        return self.plain(value)


def _key(item: Any) -> tuple[Any, ...]:
    """What names a shared item in a memo key: its type and value for a scalar, its identity otherwise. Keys
    hold every item's type: `1 == 1.0 == True` must not share one."""
    return (type(item), _exact(item)) if type(item) in _SCALARS else (object, id(item))


def _exact(item: Any) -> Any:
    # -0.0 == 0.0, but a threshold of -0.0 is described as "-0.0"
    return item.hex() if type(item) is float else item


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class _Rows:
    """Rows sorted by their parent's key (their first `width` values), handed out parent by parent; rows
    whose parent is not asked for (created between the queries) are passed over."""

    def __init__(self, rows: Iterator[tuple[Any, ...]], width: int) -> None:
        self._rows = rows
        self._width = width
        self._head = next(rows, None)

    def of(self, key: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        found = []
        while self._head is not None and (head := self._head[: self._width]) <= key:
            if head == key:
                found.append(self._head)
            self._head = next(self._rows, None)
        return found


def stored_documents(where: Mapping[str, Any], *, shared: bool) -> Iterator[dict[str, Any]]:
    """The documents of the strategies matching `where`, ordered by id (see the module docstring)."""
    decode = _Decoder(shared)
    strategies = _read(db.Strategy.objects.filter(**where).order_by("id"), (), [*STRATEGY_KEYS, "extra"])
    items = _Rows(_read(db.StrategyItem.objects.filter(**_under("strategy", where)).order_by("strategy_id", "position"),
                        ("strategy_id", "position"), [column for _, column in ITEM_KEYS] + ["target", "extra"]), 1)
    qcs = _Rows(_read(db.QueryConfig.objects.filter(**_under("item__strategy", where))
                      .order_by("item__strategy_id", "item__position", "position"),
                      ("item__strategy_id", "item__position"), ["qc_id", *QC_KEYS, "extra"]), 2)
    json_strategy, json_item, json_qc = (_json_columns(model, columns) for model, columns in (
        (db.Strategy, STRATEGY_KEYS), (db.StrategyItem, [c for _, c in ITEM_KEYS]), (db.QueryConfig, QC_KEYS)))
    for row in strategies:
        doc = _fields(STRATEGY_KEYS, row, json_strategy, decode)
        doc["items"] = [_item(item, qcs.of(item[:2]), json_item, json_qc, decode) for item in items.of(row[:1])]
        doc.update(decode.json("extra", row[-1]))
        yield doc


def _item(row: tuple[Any, ...], qcs: list[tuple[Any, ...]], json_item: frozenset[str], json_qc: frozenset[str],
          decode: _Decoder) -> dict[str, Any]:
    values = row[2:]  # after the parent key (strategy id, position)
    doc = _fields([key for key, _ in ITEM_KEYS], values, json_item, decode)
    target = decode.json("target", values[len(ITEM_KEYS)])
    if target is not None:  # no own target: the item inherits the strategy-level one (older shape)
        doc["target"] = target
    query_configs = []
    for qc in qcs:
        qc_doc: dict[str, Any] = {} if qc[2] is None else {"id": qc[2]}
        qc_doc.update(_fields(QC_KEYS, qc[3:], json_qc, decode))
        qc_doc.update(decode.json("extra", qc[-1]))
        query_configs.append(qc_doc)
    doc["query_configs"] = query_configs
    doc.update(decode.json("extra", values[-1]))
    return doc


def _fields(keys: Sequence[str], values: Sequence[Any], json_keys: frozenset[str], decode: _Decoder) -> dict[str, Any]:
    return {key: decode.json(key, value) if key in json_keys else decode.plain(value)
            for key, value in zip(keys, values, strict=False)}


def _read(rows: QuerySet[Any], parent: tuple[str, ...], columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """`rows` as tuples of the `parent` key then `columns`, JSON columns as their text."""
    json_columns = _json_columns(rows.model, columns)
    selected: list[str | Expression] = [*parent]
    selected += [Cast(F(column), TextField()) if column in json_columns else column for column in columns]
    return rows.values_list(*selected).iterator(chunk_size=CHUNK)


def _json_columns(model: type[Any], columns: Sequence[str]) -> frozenset[str]:
    return frozenset(c for c in columns if model._meta.get_field(c).get_internal_type() == "JSONField")


def _under(relation: str, where: Mapping[str, Any]) -> dict[str, Any]:
    """`where` on a strategy, as lookups from a row related to it through `relation`."""
    return {f"{relation}__{lookup}": value for lookup, value in where.items()}
