"""`clean()`: a candidate → the anomaly JSON line trigger reads (spec §1.7), byte-compatible in shape.

Contract: `standardize(candidate, now)` is pure. The line is
`{"data": {"time", "value", "values", "dimensions", "record_id", "dimension_fields"}, "anomaly": {"<level>":
{"anomaly_id", "anomaly_time", "anomaly_message"}}, "strategy_snapshot_key"}` with
`record_id = "<md5>.<T>"`, `anomaly_id = "<md5>.<T>.<strategy_id>.<item_id>.<level>"`, md5 = the
candidate's `md5`: the original's, over the host dimensions only for every kind but corefile and OOM (spec
§1.5/§1.7, W12; see `facets`), and `anomaly_time` the UTC wall clock of `now`.

`Anomaly.delivery_key` (`<anomaly_id>.<content md5>`) is what the push's replay dedupe remembers: with the
original's ids two distinct anomalies can share an anomaly id (two disks full on one host in one second),
never a delivery key. Detect-facing keys (check results, last checkpoint, priority, QoS) use `md5`.
"""

from __future__ import annotations

import functools
import json
from _json import make_encoder
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from alarm_access.access.event.fanout import Candidate

BASE_DIMENSION_FIELDS = ("bk_target_ip", "bk_target_cloud_id")


#: not frozen: a frozen dataclass's `__init__` costs 6x (`object.__setattr__` per field) and one is built per event;
#: treat it as immutable all the same
@dataclass(slots=True)
class Anomaly:
    """One anomaly ready to push, with what the push needs to know besides the JSON `line`."""

    anomaly_id: str
    #: the replay dedupe's key: `anomaly_id` and the md5 of the line's dimensions, value and message
    delivery_key: str
    md5: str
    time: int
    strategy_id: int
    item_id: int
    level: int
    bk_biz_id: int
    target_ip: str
    priority: int | None
    priority_group_key: str
    interval: int
    snapshot_key: str
    line: str


@functools.lru_cache(maxsize=16)
def utc_text(epoch: float) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC; cached: every anomaly of a batch shares the batch's clock."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


#: `json.dumps`' own C encoder with its defaults (ASCII only, `", "` / `": "`, circular check, NaN allowed),
#: built once instead of once per `json.dumps` call
_encode = make_encoder({}, json.JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ", False, False, True)


def _json(value: Any) -> str:
    return "".join(_encode(value, 0))


@functools.lru_cache(maxsize=1024)
def _text_json(value: str) -> str:
    """JSON of a string that repeats (titles, messages of one kind, snapshot keys)."""
    return encode_basestring_ascii(value)


@functools.lru_cache(maxsize=1024)
def _fields_json(fields: tuple[str, ...]) -> str:
    return _json(list(fields))


@functools.lru_cache(maxsize=1024)
def _dimension_fields(facet_fields: tuple[str, ...], agent_version: bool) -> tuple[str, ...]:
    """The line's `dimension_fields`: the base ones, `agent_version` when the dimensions hold it, the facet's."""
    return (*BASE_DIMENSION_FIELDS, *(("agent_version",) if agent_version else ()), *facet_fields)


#: the last dimensions encoded and their JSON, as one tuple (replaced whole: a reader never pairs one call's
#: dimensions with another's text): the candidates of one facet (one per strategy) share the object
_last_dimensions: tuple[Any, str] = (None, "")


def _dimensions_json(dims: Mapping[str, Any]) -> str:
    global _last_dimensions  # noqa: PLW0603 - a one-entry cache of the hot path, replaced whole
    last, text = _last_dimensions
    if last is dims:
        return text
    text = _json(dims)
    _last_dimensions = (dims, text)
    return text


def candidate_dimensions_json(candidate: Candidate) -> str:
    """`_json(candidate.dimensions)`; when they are a host entry's base extended by the facet's own keys, the
    base's JSON (made once per host and routing, `routing.HostEntry`) joined with the facet's: the same text,
    since `{**base, **own}` lists the base's keys first and, when no key is in both, keeps every value."""
    global _last_dimensions  # noqa: PLW0603 - see `_dimensions_json`
    dims, entry, own = candidate.dimensions, candidate.host_entry, candidate.facet.dimensions
    if entry is None or not entry.base or not own or len(dims) != len(entry.base) + len(own) \
            or _last_dimensions[0] is dims:
        return _dimensions_json(dims)
    text = f"{entry.base_json[:-1]}, {_json(own)[1:]}"
    _last_dimensions = (dims, text)
    return text


def line_json(*, time: int, value: str, dimensions: Mapping[str, Any], record_id: str,
              fields: tuple[str, ...], level: int, anomaly_id: str, anomaly_time: str, message: str,
              snapshot_key: str, dimensions_json: str | None = None) -> str:
    """`json.dumps` of the anomaly document (see the module doc), byte for byte, written field by field;
    `dimensions_json`, when given, is the JSON of `dimensions` already written."""
    time_json = int.__repr__(time) if type(time) is int else _json(time)
    value_json = _text_json(value) if type(value) is str else _json(value)
    return (
        f'{{"data": {{"time": {time_json}, "value": {value_json}, '
        f'"values": {{"time": {time_json}, "value": {value_json}}}, '
        f'"dimensions": {dimensions_json or _dimensions_json(dimensions)}, '
        f'"record_id": {encode_basestring_ascii(record_id)}, '
        f'"dimension_fields": {_fields_json(fields)}}}, '
        f'"anomaly": {{"{level}": {{"anomaly_id": {encode_basestring_ascii(anomaly_id)}, '
        f'"anomaly_time": {_text_json(anomaly_time)}, "anomaly_message": {_text_json(message)}}}}}, '
        f'"strategy_snapshot_key": {_text_json(snapshot_key)}}}'
    )


def standardize(candidate: Candidate, now: float) -> Anomaly:
    event, facet, route, dims = candidate.event, candidate.facet, candidate.route, candidate.dimensions
    md5 = candidate.md5
    strategy, item, level, time = route.strategy, route.item, route.level, event.time
    anomaly_id = f"{md5}.{time}.{strategy.id}.{item.id}.{level}"
    line = line_json(time=time, value=event.title, dimensions=dims, record_id=f"{md5}.{time}",
                     fields=_dimension_fields(facet.fields, "agent_version" in dims), level=level,
                     anomaly_id=anomaly_id, anomaly_time=utc_text(now), message=facet.message,
                     snapshot_key=route.snapshot_key, dimensions_json=candidate_dimensions_json(candidate))
    return Anomaly(
        anomaly_id=anomaly_id,
        delivery_key=f"{anomaly_id}.{candidate.content_md5}",
        md5=md5,
        time=time,
        strategy_id=strategy.id,
        item_id=item.id,
        level=level,
        bk_biz_id=strategy.bk_biz_id,
        target_ip=str(dims.get("bk_target_ip", "")),
        priority=strategy.priority,
        priority_group_key=strategy.priority_group_key,
        interval=route.interval,
        snapshot_key=route.snapshot_key,
        line=line,
    )
