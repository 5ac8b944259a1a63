"""`-H celery` for the Kafka-based access types, broker side: publishes batch tasks and waits for the broker to
accept them.

`CeleryBatchPublisher.publish` sends its task (`RUN_EVENT_TASK` to `EVENT_QUEUE`, `RUN_REAL_TIME_TASK` to
`REAL_TIME_QUEUE`) as JSON and returns only
once the broker took it: on RabbitMQ the channel is in confirm mode (`confirm_publish`), so the publish
waits for the broker's ack of the persistent message on the durable queue; on Redis the LPUSH reply is the
acceptance (durability is then Redis' own persistence setting). Anything else raises `SourceUnavailable`,
after Celery's bounded publish retries, so the consumer holds the batch and commits nothing of it. Every
wait on the broker is bounded by `timeout`.
"""

from __future__ import annotations

from typing import Any

from alarm_access import metrics
from alarm_access.adapters.celery.app import make_celery_app, queue_name
from alarm_access.kernel.errors import SourceUnavailable

#: the queue and task of event batches (`celery -A alarm_access worker -Q celery_service_access_event`)
EVENT_QUEUE = "celery_service_access_event"
RUN_EVENT_TASK = "alarm_access.run_access_event"
#: the queue and task of real-time point batches (`-Q celery_service_access_real_time_data`)
REAL_TIME_QUEUE = "celery_service_access_real_time_data"
RUN_REAL_TIME_TASK = "alarm_access.run_access_real_time_data"
#: the queue and task of incident sync messages, one each (`-Q celery_service_access_incident`)
INCIDENT_QUEUE = "celery_service_access_incident"
RUN_INCIDENT_TASK = "alarm_access.run_access_incident"
#: the queue and task of raw alert payload batches (`-Q celery_service_access_alert`)
ALERT_QUEUE = "celery_service_access_alert"
RUN_ALERT_TASK = "alarm_access.run_access_alert"
#: access type → (task, queue) of its batches
STREAM_TASKS = {"event": (RUN_EVENT_TASK, EVENT_QUEUE), "real_time_data": (RUN_REAL_TIME_TASK, REAL_TIME_QUEUE),
                "incident": (RUN_INCIDENT_TASK, INCIDENT_QUEUE), "alert": (RUN_ALERT_TASK, ALERT_QUEUE)}


class CeleryBatchPublisher:
    """Implements `stream_tasks.BatchPublisher` for one task and queue."""

    def __init__(self, broker_url: str, visibility_timeout: int, timeout: float, *, task: str, queue: str,
                 queue_prefix: str = "") -> None:
        self._app = make_celery_app(broker_url, visibility_timeout, queue_prefix)
        self._task, self._queue = task, queue_name(self._app, queue)
        # every wait on the broker is bounded: RabbitMQ reads/writes (the confirm included), Redis sockets
        self._app.conf.broker_connection_timeout = timeout
        self._app.conf.broker_transport_options = {
            **self._app.conf.broker_transport_options, "confirm_publish": True,
            "read_timeout": timeout, "write_timeout": timeout,
            "socket_timeout": timeout, "socket_connect_timeout": timeout,
        }

    def publish(self, payload: dict[str, Any], task_id: str) -> None:
        try:
            self._app.send_task(self._task, args=[payload], queue=self._queue, task_id=task_id)
        except Exception as exc:  # kombu raises transport-specific types; all mean "not queued"
            metrics.TASKS_PUBLISHED.labels(self._queue, "failed").inc()
            raise SourceUnavailable(f"task {task_id} not queued: {type(exc).__name__}: {exc}") from exc
        metrics.TASKS_PUBLISHED.labels(self._queue, "published").inc()

    def close(self) -> None:
        self._app.close()
