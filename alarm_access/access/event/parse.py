"""Raw Kafka message → flat events: decoding and kind detection (spec §1.3 "Kind detection").

`parse_message(data_id, value)` is the single entry point of the parsers. Its contract:
- returns the flat events of the message (possibly several: several alarms, agents, targets, strings);
- returns `[]` for a well-formed message that access deliberately ignores (GSE types 0, 1, 4, 5, disabled
  kinds), which is not an error;
- raises `InvalidRecord` with a short reason (`empty`, `not_utf8`, `not_json`, `not_object`,
  `missing_field`, `bad_field`, `bad_time`, `unknown_format`) for anything malformed.

Deviation (spec W3/W4): data ids are ints from the topic map, so custom strings are recognised (the original
compared a string with an int and dropped them all), and empty values are rejected one by one instead of
losing their batch; one trailing NUL or newline is stripped from the bytes, as the original intended.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

import orjson

from alarm_access.access.event.custom import flatten_custom_string, flatten_process
from alarm_access.access.event.gse import flatten_gse
from alarm_access.access.event.kinds import GSE_CUSTOM_EVENT_DATA_ID, GSE_PROCESS_REPORT_DATA_ID, EventKind, FlatEvent
from alarm_access.kernel.errors import InvalidRecord

ALL_KINDS = frozenset(EventKind)


def decode(value: bytes | None) -> Mapping[str, Any]:
    """The JSON object in a message value, minus one trailing `\\x00` or `\\n`."""
    if not value:
        raise InvalidRecord("empty", "message value is empty")
    if value[-1:] in (b"\x00", b"\n"):
        value = value[:-1]
    try:  # the fast path: orjson accepts a subset of what `json` does (no NaN, 64-bit integers), same values
        payload = orjson.loads(value)
    except orjson.JSONDecodeError:
        return _decode_slow(value)
    if type(payload) is not dict:
        raise InvalidRecord("not_object", f"message is a JSON {type(payload).__name__}, not an object")
    return payload


def _decode_slow(value: bytes) -> Mapping[str, Any]:
    """`json`'s reading of what orjson refused: its values (NaN, big integers) or its error reason."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord("not_utf8", str(exc)) from None
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise InvalidRecord("not_json", str(exc)) from None
    if not isinstance(payload, Mapping):
        raise InvalidRecord("not_object", f"message is a JSON {type(payload).__name__}, not an object")
    return payload


def flatten(data_id: int, payload: Mapping[str, Any], enabled: Collection[EventKind] = ALL_KINDS) -> list[FlatEvent]:
    """Flat events of a decoded message from the topic of `data_id` (see the module contract)."""
    value = payload.get("value")
    if isinstance(value, list) and value:
        return flatten_gse(payload, enabled)
    if data_id == GSE_CUSTOM_EVENT_DATA_ID or "_value_" in payload:
        return flatten_custom_string(payload) if EventKind.CUSTOM_STRING in enabled else []
    if data_id == GSE_PROCESS_REPORT_DATA_ID or _int_or_none(payload.get("data_id")) == GSE_PROCESS_REPORT_DATA_ID:
        return flatten_process(payload) if EventKind.PROCESS in enabled else []
    if isinstance(value, list):
        return []  # a GSE envelope without alarms: nothing to do, nothing wrong
    raise InvalidRecord("unknown_format", "neither a GSE alarm, a custom string nor a process event")


def parse_message(data_id: int, value: bytes | None, enabled: Collection[EventKind] = ALL_KINDS) -> list[FlatEvent]:
    return flatten(data_id, decode(value), enabled)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
