"""`-H celery` for incident access: each sync message becomes one Celery task, acked by the consumer only once
the broker accepted the task; a worker applies it with the same transaction and version rules.

Consumer side: `PublishingStore` stands in for the store — `apply` publishes the message's body (task id
`access.incident.{incident_id}.{sync_time}.{md5 of the body}`, so a message republished after a lost ack keeps
its identity) and returns `Outcome.QUEUED`; a publish that failed raises `SourceUnavailable`, so the consumer
holds the message unacked and retries, exactly as when the database is down. Worker side:
`IncidentTaskRunner.run` parses the body and applies it to the store; the task is acked late, so a worker
killed mid-task leaves it to be redelivered, and the version rules make a second application a `duplicate`.
Payload (JSON): `{"body": "<the message text>"}`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from alarm_access.access.incident.message import SyncMessage, parse_message
from alarm_access.access.incident.ports import IncidentStore
from alarm_access.access.incident.rules import Outcome
from alarm_access.kernel.errors import InvalidRecord
from alarm_access.stream_tasks import BatchPublisher


def incident_task_id(message: SyncMessage) -> str:
    digest = hashlib.md5(message.body, usedforsecurity=False).hexdigest()[:12]
    return f"access.incident.{message.incident_id}.{message.sync_time}.{digest}"


class PublishingStore:
    """`IncidentStore` of the `-H celery` consumer: publishing is its durable write."""

    def __init__(self, publisher: BatchPublisher) -> None:
        self._publisher = publisher

    def apply(self, message: SyncMessage) -> Outcome:
        self._publisher.publish({"body": message.body.decode("utf-8", "replace")}, incident_task_id(message))
        return Outcome.QUEUED

    def close(self) -> None:
        """The publisher belongs to the ports, which close it."""


class IncidentTaskRunner:
    """What a worker process runs per incident task."""

    def __init__(self, store: IncidentStore) -> None:
        self._store = store

    def run(self, payload: Any) -> Outcome:
        """Apply the payload's message. `InvalidRecord` for a payload that can never be applied (reject it),
        `SourceUnavailable` when the store failed this time (retry it later)."""
        body = payload.get("body") if isinstance(payload, dict) else None
        if not isinstance(body, str):
            raise InvalidRecord("bad_task_payload", "an incident task payload is {\"body\": \"<message>\"}")
        return self._store.apply(parse_message(body))
