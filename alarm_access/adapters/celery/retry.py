"""Ending a failed Celery task without losing its message (used by the event task of `alarm_access.tasks`)."""

from __future__ import annotations

import logging
from typing import Any

from celery.exceptions import Reject

logger = logging.getLogger("alarm_access.tasks")


def retry_or_requeue(task: Any, exc: Exception, countdown: int) -> Exception:
    """The exception that ends a failed `task`: Celery's `Retry` once the retry is published, else a
    `Reject(requeue=True)` that puts the original message back.

    Celery's `retry` answers a failed publish with `Reject(requeue=False)`, which acknowledges — and so
    drops — a batch whose offsets the consumer has already committed. Requeueing keeps it: when the broker
    is unreachable even for that, the message stays unacknowledged and comes back (RabbitMQ on the lost
    channel, the Redis transport after its visibility timeout).
    """
    try:
        retry: Exception = task.retry(exc=exc, countdown=countdown, throw=False)
    except Reject as rejected:
        logger.error("retry of event batch not published, requeueing it: %s", rejected.reason)
        requeue: Exception = Reject(rejected.reason, requeue=True)
        return requeue
    return retry
