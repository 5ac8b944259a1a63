"""A failed event delivery is retried; when even the retry cannot be published, the batch is requeued."""

from __future__ import annotations

from celery.exceptions import Reject, Retry

from alarm_access.adapters.celery.retry import retry_or_requeue
from alarm_access.kernel.errors import SourceUnavailable


class TaskWhoseRetry:
    """Stands in for a bound Celery task: `retry` behaves as Celery's does after its publish."""

    def __init__(self, publish_fails: bool) -> None:
        self.publish_fails = publish_fails
        self.countdowns: list[int] = []

    def retry(self, exc: Exception, countdown: int, throw: bool) -> Retry:
        assert throw is False
        self.countdowns.append(countdown)
        if self.publish_fails:
            raise Reject(exc, requeue=False)  # what celery.app.task.Task.retry raises on a failed publish
        return Retry(exc=exc)


def test_published_retry_ends_the_task_as_retry() -> None:
    task = TaskWhoseRetry(publish_fails=False)
    assert isinstance(retry_or_requeue(task, SourceUnavailable("redis down"), countdown=4), Retry)
    assert task.countdowns == [4]


def test_unpublishable_retry_requeues_instead_of_dropping() -> None:
    task = TaskWhoseRetry(publish_fails=True)
    outcome = retry_or_requeue(task, SourceUnavailable("redis down"), countdown=1)
    assert isinstance(outcome, Reject) and outcome.requeue is True
