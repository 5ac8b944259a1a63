"""The JSON task payload of `-H celery` event batches: lossless for any Kafka value, strict on decode."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alarm_access.kernel.errors import InvalidRecord
from alarm_access.kernel.stream import StreamMessage
from alarm_access.stream_tasks import batch_task_id, decode_batch, encode_batch

MESSAGES = [
    StreamMessage("gse-base", 3, 17, '{"value": "磁盘"}'.encode(), 1000),
    StreamMessage("gse-base", 3, 18, b"\xff\xfe not utf-8\x00", 1000),
    StreamMessage("gse-custom", 0, 0, None, 1100000),
    StreamMessage("gse-custom", 0, 1, b"", 1100000),
]


def test_round_trip_through_json_keeps_every_value_byte_for_byte() -> None:
    payload = json.loads(json.dumps(encode_batch(MESSAGES)))
    assert decode_batch(payload) == MESSAGES
    assert payload["messages"][0][4] == '{"value": "磁盘"}'  # text stays readable in the broker
    assert set(payload["messages"][1][4]) == {"base64"}


def test_task_id_names_the_first_message_and_the_size() -> None:
    assert batch_task_id("event", MESSAGES) == "access.event.gse-base.3.17+4"


@pytest.mark.parametrize("payload", [
    {}, {"messages": 5}, {"messages": [["t", 0, 0, 1000]]}, {"messages": [["t", "0", 0, 1000, "x"]]},
    {"messages": [["t", 0, 0, 1000, {"base64": "%%%"}]]}, {"messages": [["t", 0, 0, 1000, 7]]}, None,
])
def test_malformed_payloads_are_invalid_records(payload: Any) -> None:
    with pytest.raises(InvalidRecord) as caught:
        decode_batch(payload)
    assert caught.value.reason == "bad_task_payload"
