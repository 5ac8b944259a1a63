"""`-H celery` for the Kafka-based access types: a consumed batch travels as ONE Celery task to the workers.

Consumer side (`PublishingDelivery`): the batch becomes one task payload (`encode_batch`) handed to the
`BatchPublisher` port, which returns only once the broker accepted the message durably (RabbitMQ publisher
confirm; Redis LPUSH reply) and raises `SourceUnavailable` otherwise. Only then does the consumer mark the
batch done, so a Kafka offset is never committed for a batch that is not queued; a batch that could not be
published is held and republished (the `streaming` hold/pause path).

Worker side (`StreamTaskRunner.run`): decode the payload and run the access type's handler `deliver`, the code
`-H process` runs inline. A task delivered twice (a worker killed after its push, a consumer replay after a
crash) writes nothing twice: the handlers' pushes are idempotent inside their transactions.

Payload (JSON only): `{"messages": [[topic, partition, offset, data_id, value], ...]}` where `value` is the
message text when it is UTF-8, `{"base64": "..."}` when it is not, and null for an empty (tombstone) value.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from alarm_access.kernel.errors import InvalidRecord, SourceUnavailable
from alarm_access.kernel.stream import StreamMessage
from alarm_access.streaming import Delivery


class BatchPublisher(Protocol):
    def publish(self, payload: dict[str, Any], task_id: str) -> None:
        """Queue one batch task; return once the broker accepted it, else raise `SourceUnavailable`."""
        ...


def _encode_value(value: bytes | None) -> str | dict[str, str] | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode("ascii")}


def encode_batch(messages: Sequence[StreamMessage]) -> dict[str, Any]:
    return {"messages": [[m.topic, m.partition, m.offset, m.data_id, _encode_value(m.value)] for m in messages]}


def _decode_value(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, Mapping) and isinstance(value.get("base64"), str):
        return base64.b64decode(value["base64"], validate=True)
    raise TypeError(f"bad message value {value!r}")


def decode_batch(payload: Any) -> list[StreamMessage]:
    """The messages of a task payload; `InvalidRecord("bad_task_payload")` naming what is wrong."""
    try:
        rows = payload["messages"]
        messages = []
        for topic, partition, offset, data_id, value in rows:
            if not (isinstance(topic, str) and all(isinstance(n, int) for n in (partition, offset, data_id))):
                raise TypeError(f"bad message coordinates {[topic, partition, offset, data_id]!r}")
            messages.append(StreamMessage(topic, partition, offset, _decode_value(value), data_id))
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise InvalidRecord("bad_task_payload", f"{type(exc).__name__}: {exc}") from None
    return messages


def batch_task_id(access_type: str, messages: Sequence[StreamMessage]) -> str:
    """Names the batch by its first message: a batch republished after a failed publish keeps its id."""
    first = messages[0]
    return f"access.{access_type}.{first.topic}.{first.partition}.{first.offset}+{len(messages)}"


class PublisherPorts(Protocol):
    def stream_publisher(self) -> BatchPublisher:
        """The publisher of this access type's batch tasks; `ConfigError` without CELERY_BROKER_URL."""
        ...


class PublishingDelivery:
    """The consumer's delivery under `-H celery`: publish each batch. `routing` is the handler whose state the
    consumer itself needs (`real_time_data` subscribes by its routes); None when routing happens only in the
    workers (`event`)."""

    def __init__(self, access_type: str, publisher: BatchPublisher, routing: Delivery | None = None) -> None:
        self._access_type = access_type
        self._publisher = publisher
        self._routing = routing

    @property
    def ready(self) -> bool:
        return self._routing is None or self._routing.ready

    def refresh(self, now: float) -> bool:
        return self._routing is None or self._routing.refresh(now)

    def deliver(self, messages: Sequence[StreamMessage]) -> None:
        self._publisher.publish(encode_batch(messages), batch_task_id(self._access_type, messages))


class StreamTaskRunner:
    """What one worker process runs per batch task (built once per process, after the fork)."""

    def __init__(self, access_type: str, handler: Delivery) -> None:
        self._access_type = access_type
        self._handler = handler

    def run(self, payload: Any) -> int:
        """Deliver the payload's batch; returns its size. `InvalidRecord` for a payload that can never be
        delivered (reject it), `AccessError` when delivery failed this time (retry it later)."""
        messages = decode_batch(payload)
        self._handler.refresh(time.time())
        if not self._handler.ready:
            raise SourceUnavailable(f"{self._access_type} strategies could not be loaded; the task will be retried")
        self._handler.deliver(messages)
        return len(messages)
