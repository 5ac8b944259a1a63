"""The Celery application of alarm-access, configured once for the scheduler (publisher) and the workers.

JSON only (tasks and results; pickle is refused), late acknowledgement with reject-on-worker-lost (a task of
a killed worker is redelivered, never lost — safe because a pull is idempotent by its fenced slot and its
records by their ids), prefetch of one (a worker busy with a slow source does not sit on other tasks), no
result backend (sub-tasks record their results in Redis), and a Redis-broker visibility timeout from
`ALARM_ACCESS_DATA_CELERY_VISIBILITY_TIMEOUT`. Queues are the original's (spec launcher-and-ring §4.2); a
non-default deployment cluster prefixes every queue name with `<cluster>-` (`queue_prefix`), so clusters
sharing a broker never take each other's tasks — the original set kombu's `queue_name_prefix` option, which
only the SQS transport honours.
"""

from __future__ import annotations

from celery import Celery

from alarm_access.access.data.jobs import BATCH_QUEUE, QUEUE

#: task names, shared by the publisher and the workers
RUN_DATA_TASK = "alarm_access.run_access_data"
RUN_BATCH_TASK = "alarm_access.run_access_batch_data"


def queue_name(app: Celery, base: str) -> str:
    """The broker queue of `base` (a queue constant) for this app's deployment cluster."""
    return f"{app.conf.get('alarm_access_queue_prefix', '')}{base}"


def make_celery_app(broker_url: str, visibility_timeout: int, queue_prefix: str = "") -> Celery:
    app = Celery("alarm_access", broker=broker_url, set_as_current=False)
    app.conf.alarm_access_queue_prefix = queue_prefix
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # kombu sweeps unacknowledged messages every interval x throttle seconds (100 s by default): sweep
        # every interval, at most a tenth of the visibility timeout, so a killed worker's task comes back soon
        broker_transport_options={"visibility_timeout": visibility_timeout, "unacked_restore_throttle": 1,
                                  "unacked_restore_interval": max(1, min(10, visibility_timeout // 10))},
        task_default_queue=queue_prefix + QUEUE,
        task_routes={RUN_BATCH_TASK: {"queue": queue_prefix + BATCH_QUEUE}},
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
    )
    return app
