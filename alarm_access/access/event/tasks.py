"""`-H celery` for event access: consumed batches travel as Celery tasks to workers that deliver them.

Consumer side (`CeleryDelivery`): a consumed batch becomes ONE task payload (`encode_batch`) handed to the
`BatchPublisher` port, which returns only once the broker accepted the message durably (RabbitMQ publisher
confirm; Redis LPUSH reply) and raises `SourceUnavailable` otherwise. Only then does the consumer mark the
batch done, so a Kafka offset is never committed for a batch that is not queued; a batch that could not be
published is held and republished (the consumer's hold/pause path).

Worker side (`EventTaskRunner.run`): decode the payload and run `EventHandler.deliver`, the code `-H process`
runs inline. A task delivered twice (a worker killed after its push, a consumer replay after a crash) pushes
nothing twice: the push skips anomaly ids it already delivered, inside its transaction.

Payload (JSON only): `{"messages": [[topic, partition, offset, data_id, value], ...]}` where `value` is the
message text when it is UTF-8, `{"base64": "..."}` when it is not, and null for an empty (tombstone) value.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from alarm_access.access.event.handle import EventHandler
from alarm_access.access.event.ports import EventPorts
from alarm_access.kernel.config import AccessConfig
from alarm_access.kernel.errors import InvalidRecord, SourceUnavailable
from alarm_access.kernel.stream import StreamMessage


class BatchPublisher(Protocol):
    def publish(self, payload: dict[str, Any], task_id: str) -> None:
        """Queue one event task; return once the broker accepted it, else raise `SourceUnavailable`."""
        ...


class EventCeleryPorts(EventPorts, Protocol):
    def event_publisher(self) -> BatchPublisher: ...


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


def batch_task_id(messages: Sequence[StreamMessage]) -> str:
    """Names the batch by its first message: a batch republished after a failed publish keeps its id."""
    first = messages[0]
    return f"access.event.{first.topic}.{first.partition}.{first.offset}+{len(messages)}"


class CeleryDelivery:
    """The consumer's delivery under `-H celery`: publish, nothing to load (workers load their strategies)."""

    ready = True

    def __init__(self, publisher: BatchPublisher) -> None:
        self._publisher = publisher

    def refresh(self, now: float) -> bool:
        """Nothing to refresh: routing happens in the workers."""
        return True

    def deliver(self, messages: Sequence[StreamMessage]) -> None:
        self._publisher.publish(encode_batch(messages), batch_task_id(messages))


class EventTaskRunner:
    """What one worker process runs per event task (built once per process, after the fork)."""

    def __init__(self, config: AccessConfig, ports: EventPorts) -> None:
        self._handler = EventHandler(config, ports)

    def run(self, payload: Any) -> int:
        """Deliver the payload's batch; returns its size. `InvalidRecord` for a payload that can never be
        delivered (reject it), `AccessError` when delivery failed this time (retry it later)."""
        messages = decode_batch(payload)
        self._handler.refresh(time.time())
        if not self._handler.ready:
            raise SourceUnavailable("event strategies could not be loaded; the task will be retried")
        self._handler.deliver(messages)
        return len(messages)
