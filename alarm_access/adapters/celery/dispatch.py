"""`-H celery`: publishes pull jobs (and batch sub-tasks) to the broker instead of running them.

One task per job on `job.queue` with a deterministic task id (`PullJob.task_id`) and a JSON payload; a
broker that cannot take the message within the publish retries is counted and reported (`submit` returns
False), the slot is not lost: the next slot's window starts at the group checkpoint.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from alarm_access import metrics
from alarm_access.access.data.jobs import BATCH_QUEUE, PullJob
from alarm_access.adapters.celery.app import RUN_BATCH_TASK, RUN_DATA_TASK, queue_name
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.logs import ctx

logger = logging.getLogger("alarm_access.access.data")


class CeleryDispatcher:
    def __init__(self, app: Celery) -> None:
        self._app = app

    def submit(self, job: PullJob) -> bool:
        try:
            self._app.send_task(RUN_DATA_TASK, args=[job.to_json()], queue=queue_name(self._app, job.queue),
                                task_id=job.task_id)
        except Exception as exc:  # kombu raises transport-specific types; all mean "not published"
            metrics.TASKS_PUBLISHED.labels(job.queue, "failed").inc()
            logger.error("pull job not published: %s", exc, extra=ctx(sgk=job.group_key, slot=job.slot,
                                                                      queue=job.queue))
            return False
        metrics.TASKS_PUBLISHED.labels(job.queue, "published").inc()
        return True

    def submit_batch(self, payload: dict[str, Any], task_id: str) -> None:
        """Publish one batch sub-task; `SourceUnavailable` when the broker does not take it."""
        try:
            self._app.send_task(RUN_BATCH_TASK, args=[payload], queue=queue_name(self._app, BATCH_QUEUE),
                                task_id=task_id)
        except Exception as exc:
            metrics.TASKS_PUBLISHED.labels(BATCH_QUEUE, "failed").inc()
            raise SourceUnavailable(f"batch sub-task {task_id} not published: {exc}") from exc
        metrics.TASKS_PUBLISHED.labels(BATCH_QUEUE, "published").inc()

    def close(self) -> None:
        self._app.close()
