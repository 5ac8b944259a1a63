"""`WireEncoder` must produce exactly `json.dumps(to_wire(record))`: the detect service parses these bytes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from alarm_access.adapters.redis.wire_json import WireEncoder
from alarm_access.kernel.model import Record
from alarm_access.records.standardize import to_wire

SHARED_DIMS: dict[str, Any] = {"bk_target_ip": "10.0.0.1", "bk_topo_node": ("biz|2", "set|1"), "bk_host_id": "7"}


def record(value: Any, **overrides: Any) -> Record:
    fields: dict[str, Any] = {
        "record_id": "ac6847eefd664275c7b3693829f68bab.1569246480",
        "time": 1569246480,
        "value": value,
        "values": {"load5": value, "_result_": value, "time": 1569246480},
        "dimensions": SHARED_DIMS,
        "dimension_fields": ("bk_target_ip",),
        "access_time": 1569246481.123456,
    }
    fields.update(overrides)
    return Record(**fields)


@pytest.mark.parametrize(
    "value",
    [1.38, 0, -0.0, 12345678901234567890, None, True, False, "text", "非ASCII", math.nan, math.inf, -math.inf, 1e-7],
)
def test_encoding_is_byte_identical_to_json_dumps(value: Any) -> None:
    encoder = WireEncoder()
    for rec in (record(value), record(value, is_partial=True), record(value, dimensions={"ip": "é", "n": None})):
        assert encoder.encode(rec) == json.dumps(to_wire(rec)).encode()


def test_records_sharing_dimensions_encode_their_own_values() -> None:
    encoder = WireEncoder()
    first, second = record(1.0), record(2.0, time=1569246540, record_id="x.1569246540")
    assert encoder.encode(first) == json.dumps(to_wire(first)).encode()
    assert encoder.encode(second) == json.dumps(to_wire(second)).encode()


def test_unserializable_value_fails_like_json_dumps() -> None:
    with pytest.raises(TypeError):
        json.dumps(to_wire(record(object())))
    with pytest.raises(TypeError):
        WireEncoder().encode(record(object()))


def test_values_with_other_keys_and_nested_items_encode_like_json_dumps() -> None:
    encoder = WireEncoder()
    odd = record(1.5, values={1: 1.5, "nested": {"a": [1, None]}, "flag": True, "time": 1569246480})
    shared_fields = record(1.5, dimension_fields=("bk_target_ip", "bk_host_id"))
    for rec in (odd, record(1.5), shared_fields, record(1.5, access_time=1.0)):
        assert encoder.encode(rec) == json.dumps(to_wire(rec)).encode()
