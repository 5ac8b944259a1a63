"""The anomaly line is written field by field for speed: it must equal `json.dumps(document)` byte for byte."""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

import pytest

from alarm_access.access.event.facets import Facet
from alarm_access.access.event.fanout import Candidate, content_md5
from alarm_access.access.event.routing import HostEntry
from alarm_access.access.event.standardize import candidate_dimensions_json, line_json


def reference(**fields: Any) -> str:
    """The document `standardize` used to build and `json.dumps` (spec §1.7)."""
    return json.dumps({
        "data": {
            "time": fields["time"],
            "value": fields["value"],
            "values": {"time": fields["time"], "value": fields["value"]},
            "dimensions": fields["dimensions"],
            "record_id": fields["record_id"],
            "dimension_fields": list(fields["fields"]),
        },
        "anomaly": {str(fields["level"]): {"anomaly_id": fields["anomaly_id"], "anomaly_time": fields["anomaly_time"],
                                           "anomaly_message": fields["message"]}},
        "strategy_snapshot_key": fields["snapshot_key"],
    })


DIMENSIONS = [
    {},
    {"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": 0, "bk_host_id": 101, "bk_topo_node": ["biz|2", "set|1"]},
    {"disk": "/mnt/数据", "file_system": "/dev/vdb", "fstype": "ext4", "agent_version": "v2"},
    {"executable": "nginx", "__additional_dimensions": {"corefile": "/core \"quoted\"\n"}},
    {"ratio": 0.1, "big": 10**30, "nan": float("nan"), "inf": float("-inf"), "none": None, "flag": True,
     "nested": [{"a": [1, 2.5, "x"]}], "emoji": "\U0001f525", "ctl": "\x00\x1f\u2028"},
]


@pytest.mark.parametrize("dimensions", DIMENSIONS)
@pytest.mark.parametrize(("value", "message"), [
    ("", "GSE AGENT 失联"), ("service offline", "service offline"), ("tab\there \"q\" \\", "磁盘(/)剩余空间只有5%"),
])
def test_line_is_json_dumps_of_the_document(dimensions: dict[str, Any], value: str, message: str) -> None:
    fields: dict[str, Any] = {
        "time": 1700000000, "value": value, "dimensions": dimensions, "record_id": "ab12.1700000000",
        "fields": ("bk_target_ip", "bk_target_cloud_id", "disk"), "level": 2,
        "anomaly_id": "ab12.1700000000.23.23.2", "anomaly_time": "2026-12-03 10:00:00", "message": message,
        "snapshot_key": "bk.cache.strategy.snapshot.23.1700000023 é",
    }
    assert line_json(**fields) == reference(**fields)
    # the per-facet memo of the dimensions' JSON must not serve another object with other content
    other = {**dimensions, "extra": 1}
    assert line_json(**{**fields, "dimensions": other}) == reference(**{**fields, "dimensions": other})


@pytest.mark.parametrize("dimensions", DIMENSIONS)
def test_content_md5_ignores_key_order_and_tells_contents_apart(dimensions: dict[str, Any]) -> None:
    reordered = dict(reversed(list(dimensions.items())))
    assert content_md5(dimensions, "标题", "message") == content_md5(reordered, "标题", "message")
    other = {**dimensions, "disk": "/other"}
    assert content_md5(dimensions, "标题", "message") != content_md5(other, "标题", "message")
    assert content_md5(dimensions, "标题", "message") != content_md5(dimensions, "标题", "message 2")


def test_content_md5_definition() -> None:
    """The hashed text (delivery keys in Redis depend on it): orjson, sorted keys, `str()` of the rest; json
    for what orjson cannot write."""
    dims = {"b": 1, "a": {"y": [1, 2.5], "x": None}, "s": {1}}
    text = "[{\"a\":{\"x\":null,\"y\":[1,2.5]},\"b\":1,\"s\":\"{1}\"},\"标\",\"m\"]"
    assert content_md5(dims, "标", "m") == hashlib.md5(text.encode()).hexdigest()
    big = {"n": 10**30}
    expected = json.dumps([big, "", ""], sort_keys=True, ensure_ascii=False, default=str).encode()
    assert content_md5(big, "", "") == hashlib.md5(expected).hexdigest()


@pytest.mark.parametrize("own", [{}, {"disk": "/mnt/d0", "fstype": "ext4"}, {"bk_host_id": 7, "disk": "/"}])
@pytest.mark.parametrize("base", DIMENSIONS)
def test_dimensions_json_of_a_memoised_base_is_json_dumps(base: dict[str, Any], own: dict[str, Any]) -> None:
    """The line reuses the JSON of a host entry's base dimensions when the facet adds keys of its own; an
    overlapping key (the facet's value wins, in the base's position) or no base must fall back to encoding
    everything."""
    entry = HostEntry(None, base, "md5", json.dumps(base))
    for _ in range(2):  # the second time with the same entry, after other dimensions were encoded
        dims = {**base, **own}
        facet = Facet(own, own, (), "message")
        candidate = Candidate(cast(Any, None), facet, cast(Any, None), dims, "md5", "content", entry)
        assert candidate_dimensions_json(candidate) == json.dumps(dims)
        assert candidate_dimensions_json(Candidate(cast(Any, None), facet, cast(Any, None), {"x": 1}, "md5",
                                                   "content")) == '{"x": 1}'

