"""The wire JSON of data records, fast: what detect reads from `access.data.{sid}.{iid}` lists.

`WireEncoder.encode(record)` equals `json.dumps(to_wire(record)).encode()` byte for byte (tested in
`tests/test_wire_encoder.py`); it exists because encoding is a large share of a delivery's cost.
"""

from __future__ import annotations

import json
from _json import make_encoder
from json.encoder import encode_basestring_ascii
from typing import Any

from alarm_access.kernel.model import Record

_PARTIAL = ', "is_partial": true'


class WireEncoder:
    """`json.dumps(to_wire(record)).encode()`, byte for byte, at a fraction of the cost (`records.to_wire`).

    The object is written field by field, and so is `values` (a flat dict of numbers under string keys,
    whose key spellings are remembered); anything else goes through one C encoder built once, with
    `json.dumps`' defaults (ASCII only, `", "` / `": "` separators, circular check, NaN allowed). A number
    that is the very object of `value` or `time` (the pipeline shares them with `values`) is spelled once.
    The JSON of `dimensions` and `dimension_fields` is remembered by object identity, as records of one
    series share them: an encoder must not outlive the records it encoded.
    """

    __slots__ = ("_encode", "_keys", "_series", "_stamp")

    def __init__(self) -> None:
        self._encode = make_encoder(
            {}, json.JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ", False, False, True
        )
        #: id(dimensions) -> (dimensions, dimension_fields, the JSON from `"dimensions"` to before the value of
        #: `"record_id"`, the JSON of `"dimension_fields"`); holding `dimensions` keeps its id from being reused
        self._series: dict[int, tuple[object, object, str, str]] = {}
        self._keys: dict[str, str] = {}
        self._stamp: tuple[object, str] = (None, "")

    def _json(self, value: Any) -> str:
        kind = type(value)
        if kind is float and value - value == 0.0:  # finite; NaN and infinities have their own spelling
            return float.__repr__(value)
        if kind is int:
            return int.__repr__(value)
        if kind is str:
            return encode_basestring_ascii(value)
        return "".join(self._encode(value, 0))

    def _values(self, values: dict[str, Any], value: Any, value_json: str, time: Any, time_json: str) -> str:
        keys, parts = self._keys, []
        for key, item in values.items():
            if type(key) is not str:  # json.dumps' own key coercion, for whatever else a key may be
                return "".join(self._encode(values, 0))
            spelled = keys.get(key)
            if spelled is None:
                spelled = keys[key] = encode_basestring_ascii(key) + ": "
            if item is value:
                parts.append(spelled + value_json)
            elif item is time:
                parts.append(spelled + time_json)
            else:
                parts.append(spelled + self._json(item))
        return "{" + ", ".join(parts) + "}"

    def encode(self, record: Record) -> bytes:
        """The wire JSON of `record` as UTF-8 (ASCII) bytes."""
        dims, fields = record.dimensions, record.dimension_fields
        series = self._series.get(id(dims))
        if series is None or series[1] is not fields:
            series = self._series[id(dims)] = (
                dims,
                fields,
                ', "dimensions": ' + "".join(self._encode(dims, 0)) + ', "record_id": ',
                ', "dimension_fields": ' + "".join(self._encode(list(fields), 0)),
            )
        stamp, stamp_json = self._stamp
        if record.access_time is not stamp:
            stamp, stamp_json = self._stamp = (record.access_time, self._json(record.access_time))
        time, value = record.time, record.value
        time_json, value_json = self._json(time), self._json(value)
        return (
            f'{{"time": {time_json}, "value": {value_json}, '
            f'"values": {self._values(record.values, value, value_json, time, time_json)}{series[2]}'
            f'{self._json(record.record_id)}{series[3]}{_PARTIAL if record.is_partial else ""}'
            f', "access_time": {stamp_json}}}'
        ).encode()
