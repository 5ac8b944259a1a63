"""Celery entry point of alarm-access: the app and its thin tasks (`celery -A alarm_access worker -Q ...`).

    celery -A alarm_access worker -Q celery_service,celery_service_qos,celery_service_batch --pool=prefork
    celery -A alarm_access worker -Q celery_service_access_event --pool=prefork   # event batches

Like `manage.py`, this module is an entry point: it sets Django up, builds the frozen `AccessConfig` from
the settings once, and composes the ports. Each worker process builds its `DataWorker` lazily (after the
prefork pool forked), so no connection is shared across processes. A task only decodes its JSON payload and
calls `PullRunner.run` (or `BatchRunner.run`), the code `-H process` runs inline.

`ALARM_ACCESS_WORKER_METRICS_PORT` (optional) serves this worker's Prometheus metrics on that port.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alarm_access_project.settings")
django.setup()

from celery.exceptions import Reject  # noqa: E402
from celery.signals import worker_process_shutdown, worker_ready  # noqa: E402
from django.conf import settings  # noqa: E402
from prometheus_client import start_http_server  # noqa: E402

from alarm_access import metrics  # noqa: E402
from alarm_access.access.data.batch import BatchRunner  # noqa: E402
from alarm_access.access.data.catalog import GroupCatalog  # noqa: E402
from alarm_access.access.data.jobs import BatchJob, PullJob  # noqa: E402
from alarm_access.access.data.runner import PullRunner  # noqa: E402
from alarm_access.access.data.split import BatchSplitter  # noqa: E402
from alarm_access.access.event.tasks import EventTaskRunner  # noqa: E402
from alarm_access.adapters.celery.app import RUN_BATCH_TASK, RUN_DATA_TASK, make_celery_app  # noqa: E402
from alarm_access.adapters.celery.dispatch import CeleryDispatcher  # noqa: E402
from alarm_access.adapters.celery.events import RUN_EVENT_TASK  # noqa: E402
from alarm_access.adapters.redis.batches import RedisBatchStore  # noqa: E402
from alarm_access.bootstrap import AdapterPorts  # noqa: E402
from alarm_access.kernel.config import AccessConfig  # noqa: E402
from alarm_access.kernel.errors import AccessError, InvalidRecord  # noqa: E402

logger = logging.getLogger("alarm_access.tasks")

CONFIG = AccessConfig.build(settings.ALARM_ACCESS, {"access_type": "data", "handler_type": "celery"})
app = make_celery_app(CONFIG.celery_broker_url or "redis://127.0.0.1:6379/0", CONFIG.data.celery_visibility_timeout)


class DataWorker:
    """The ports, group catalog and runners of one worker process. With `ALARM_ACCESS_DATA_BATCH_THRESHOLD`
    > 0, pulls larger than it are split into batch sub-tasks published through this worker's app."""

    def __init__(self) -> None:
        self.ports = AdapterPorts(CONFIG)
        self.catalog = GroupCatalog(self.ports, max_age=CONFIG.data.refresh_interval)
        store = RedisBatchStore(self.ports.redis, CONFIG.key_prefix)
        splitter = BatchSplitter(CONFIG.data, store, CeleryDispatcher(app)) if CONFIG.data.batch_threshold > 0 else None
        self.runner = PullRunner(CONFIG, self.ports, self.catalog, splitter=splitter)
        self.batches = BatchRunner(CONFIG, self.ports, self.catalog, store)


_worker: DataWorker | None = None


def worker() -> DataWorker:
    global _worker  # noqa: PLW0603 - one per worker process, built after fork
    if _worker is None:
        _worker = DataWorker()
    return _worker


@app.task(name=RUN_DATA_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)  # type: ignore[untyped-decorator]
def run_access_data(payload: dict[str, Any]) -> bool:
    """Pull one group for one slot. Returns False when the pull failed (logged and counted by the runner)."""
    try:
        job = PullJob.from_json(payload)
    except InvalidRecord as exc:
        metrics.DATA_PULLS_SKIPPED.labels("bad_payload").inc()
        logger.error("pull task rejected: %s", exc)
        return False
    return worker().runner.run(job)


@app.task(name=RUN_BATCH_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)  # type: ignore[untyped-decorator]
def run_access_batch_data(payload: dict[str, Any]) -> bool:
    """Deliver one batch of a split pull (`access.data.batch`); False when it (and so its round) failed."""
    try:
        job = BatchJob.from_json(payload)
    except InvalidRecord as exc:
        metrics.BATCH_SUBTASKS.labels("bad_payload").inc()
        logger.error("batch sub-task rejected: %s", exc)
        return False
    return worker().batches.run(job)


_event_runner: tuple[AdapterPorts, EventTaskRunner] | None = None


def event_runner() -> EventTaskRunner:
    global _event_runner  # noqa: PLW0603 - one per worker process, built after fork
    if _event_runner is None:
        ports = AdapterPorts(CONFIG)
        _event_runner = (ports, EventTaskRunner(CONFIG, ports))
    return _event_runner[1]


@app.task(name=RUN_EVENT_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True,  # type: ignore[untyped-decorator]
          max_retries=None)
def run_access_event(self: Any, payload: dict[str, Any]) -> int:
    """Deliver one consumed batch of event messages (`access.event.tasks`); returns its size.

    A failed delivery (Redis down, a full anomaly list, ...) is retried with a back-off up to a minute,
    never dropped; a redelivered or retried batch pushes nothing twice. A malformed payload is rejected."""
    try:
        return event_runner().run(payload)
    except InvalidRecord as exc:
        metrics.EVENT_PROCESS_COUNT.labels("__total__", "failed", "InvalidRecord").inc()
        logger.error("event task rejected: %s", exc)
        return 0
    except AccessError as exc:
        metrics.EVENT_PROCESS_COUNT.labels("__total__", "failed", type(exc).__name__).inc()
        logger.error("event batch not delivered, retrying: %s", exc)
        raise retry_or_requeue(self, exc, countdown=min(2 ** self.request.retries, 60)) from exc


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


@worker_ready.connect  # type: ignore[untyped-decorator]
def _serve_metrics(**_: Any) -> None:
    port = int(os.environ.get("ALARM_ACCESS_WORKER_METRICS_PORT") or 0)
    if port:
        start_http_server(port, addr="127.0.0.1", registry=metrics.REGISTRY)


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close(**_: Any) -> None:
    if _worker is not None:
        _worker.ports.close()
    if _event_runner is not None:
        _event_runner[0].close()
