"""Celery entry point of alarm-access: the app and its thin tasks (`celery -A alarm_access worker -Q ...`).

    celery -A alarm_access worker -Q celery_service,celery_service_qos,celery_service_batch --pool=prefork
    celery -A alarm_access worker -Q celery_service_access_event --pool=prefork   # event batches
    celery -A alarm_access worker -Q celery_service_access_real_time_data          # real-time point batches
    celery -A alarm_access worker -Q celery_service_access_incident                # incident sync messages
    celery -A alarm_access worker -Q celery_service_access_alert                   # raw alert payload batches

Like `manage.py`, this module is an entry point: it sets Django up, builds the frozen `AccessConfig` from
the settings once, and composes the ports. Each worker process builds its `DataWorker` lazily (after the
prefork pool forked), so no connection is shared across processes. A task only decodes its JSON payload and
calls `PullRunner.run` (or `BatchRunner.run`), the code `-H process` runs inline.

Metrics: `ALARM_ACCESS_WORKER_METRICS_PORT` (optional) serves this worker's `/metrics`, bound to
`ALARM_ACCESS_METRICS_ADDR`; under the prefork pool in prometheus_client's multiprocess mode, decided at
import, before anything imports prometheus_client (`adapters.celery.worker_metrics` says why).

The broker is `CELERY_BROKER_URL`, required exactly as by the `-H celery` scheduler: a worker without it
stops at start with one line on stderr (exit 2) instead of silently using a local Redis.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alarm_access_project.settings")
django.setup()

from django.conf import settings  # noqa: E402

from alarm_access.adapters.celery import worker_metrics  # noqa: E402 - before prometheus_client is imported

#: where this worker's processes keep their metrics; None: one plain registry (solo/threads pool, not a worker)
MULTIPROCESS_DIR = worker_metrics.enable_multiprocess(sys.argv, os.environ, Path(settings.VAR_DIR) / "metrics")

from celery.concurrency.prefork import TaskPool as PreforkPool  # noqa: E402
from celery.signals import worker_init, worker_process_shutdown, worker_ready  # noqa: E402
from prometheus_client import start_http_server  # noqa: E402

from alarm_access import metrics  # noqa: E402
from alarm_access.access.alert.service import alert_stream_handler  # noqa: E402
from alarm_access.access.data.batch import BatchRunner  # noqa: E402
from alarm_access.access.data.catalog import GroupCatalog  # noqa: E402
from alarm_access.access.data.jobs import BatchJob, PullJob  # noqa: E402
from alarm_access.access.data.runner import PullRunner  # noqa: E402
from alarm_access.access.data.split import BatchSplitter  # noqa: E402
from alarm_access.access.event.handle import EventHandler  # noqa: E402
from alarm_access.access.incident.aiops import store_for  # noqa: E402
from alarm_access.access.incident.tasks import IncidentTaskRunner  # noqa: E402
from alarm_access.access.real_time_data.handle import RealTimeHandler  # noqa: E402
from alarm_access.adapters.celery.app import RUN_BATCH_TASK, RUN_DATA_TASK, make_celery_app  # noqa: E402
from alarm_access.adapters.celery.dispatch import CeleryDispatcher  # noqa: E402
from alarm_access.adapters.celery.retry import retry_or_requeue  # noqa: E402
from alarm_access.adapters.celery.streams import (  # noqa: E402
    RUN_ALERT_TASK,
    RUN_EVENT_TASK,
    RUN_INCIDENT_TASK,
    RUN_REAL_TIME_TASK,
)
from alarm_access.adapters.redis.batches import RedisBatchStore  # noqa: E402
from alarm_access.bootstrap import AdapterPorts  # noqa: E402
from alarm_access.health import metrics_addr  # noqa: E402
from alarm_access.kernel.config import AccessConfig  # noqa: E402
from alarm_access.kernel.errors import AccessError, ConfigError, InvalidRecord  # noqa: E402
from alarm_access.logs import ctx  # noqa: E402
from alarm_access.stream_tasks import StreamTaskRunner  # noqa: E402
from alarm_access.streaming import Delivery  # noqa: E402

logger = logging.getLogger("alarm_access.tasks")

try:
    CONFIG = AccessConfig.build(settings.ALARM_ACCESS, {"access_type": "data", "handler_type": "celery"})
    if not CONFIG.celery_broker_url:
        raise ConfigError("celery workers need CELERY_BROKER_URL (a redis:// or amqp:// broker)")
except ConfigError as exc:  # a worker is an entry point too: one line, exit 2, no traceback
    sys.stderr.write(f"alarm_access worker: error: {exc}\n")
    raise SystemExit(2) from None
app = make_celery_app(CONFIG.celery_broker_url, CONFIG.data.celery_visibility_timeout, CONFIG.cluster.queue_prefix)


class DataWorker:
    """The ports, group catalog and runners of one worker process. With `ALARM_ACCESS_DATA_BATCH_THRESHOLD`
    > 0, pulls larger than it are split into batch sub-tasks published through this worker's app."""

    def __init__(self) -> None:
        self.ports = AdapterPorts(CONFIG)
        self.catalog = GroupCatalog(self.ports, settings=CONFIG.data, max_age=CONFIG.data.refresh_interval)
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


#: access type → (its ports, its runner): one per worker process, built after fork on the first task
_stream_runners: dict[str, tuple[AdapterPorts, StreamTaskRunner]] = {}


def stream_runner(access_type: str) -> StreamTaskRunner:
    if access_type not in _stream_runners:
        ports = AdapterPorts(CONFIG)
        handler: Delivery
        if access_type == "alert":
            handler = alert_stream_handler(CONFIG, ports)
        else:
            handler = EventHandler(CONFIG, ports) if access_type == "event" else RealTimeHandler(CONFIG, ports)
        _stream_runners[access_type] = (ports, StreamTaskRunner(access_type, handler))
    return _stream_runners[access_type][1]


def run_stream_task(task: Any, access_type: str, payload: dict[str, Any]) -> int:
    """Deliver one consumed batch (`stream_tasks`); returns its size.

    A failed delivery (Redis down, a full queue, ...) is retried with a back-off up to a minute, never
    dropped; a redelivered or retried batch writes nothing twice. A malformed payload is rejected."""
    try:
        return stream_runner(access_type).run(payload)
    except InvalidRecord as exc:
        metrics.STREAM_BATCHES.labels(access_type, "failed", "InvalidRecord").inc()
        logger.error("%s task rejected: %s", access_type, exc)
        return 0
    except AccessError as exc:
        metrics.STREAM_BATCHES.labels(access_type, "failed", type(exc).__name__).inc()
        logger.error("%s batch not delivered, retrying: %s", access_type, exc)
        raise retry_or_requeue(task, exc, countdown=min(2 ** task.request.retries, 60)) from exc


@app.task(name=RUN_EVENT_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True,  # type: ignore[untyped-decorator]
          max_retries=None)
def run_access_event(self: Any, payload: dict[str, Any]) -> int:
    """Deliver one consumed batch of event messages; returns its size (see `run_stream_task`)."""
    return run_stream_task(self, "event", payload)


@app.task(name=RUN_REAL_TIME_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True,  # type: ignore[untyped-decorator]
          max_retries=None)
def run_access_real_time_data(self: Any, payload: dict[str, Any]) -> int:
    """Deliver one consumed batch of real-time points; returns its size (see `run_stream_task`)."""
    return run_stream_task(self, "real_time_data", payload)


@app.task(name=RUN_ALERT_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True,  # type: ignore[untyped-decorator]
          max_retries=None)
def run_access_alert(self: Any, payload: dict[str, Any]) -> int:
    """Ingest one consumed batch of raw alert payloads; returns its size (see `run_stream_task`)."""
    return run_stream_task(self, "alert", payload)


_incident_runner: tuple[AdapterPorts, IncidentTaskRunner] | None = None


@app.task(name=RUN_INCIDENT_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True,  # type: ignore[untyped-decorator]
          max_retries=None)
def run_access_incident(self: Any, payload: dict[str, Any]) -> str:
    """Apply one incident sync message in one transaction (`access.incident.tasks`); returns the outcome.

    A store failure (the database is down) is retried with a back-off up to a minute, never dropped; a
    redelivered task is a `duplicate` by the version rules. A payload that can never be applied is rejected."""
    global _incident_runner  # noqa: PLW0603 - one per worker process, built after fork
    if _incident_runner is None:
        ports = AdapterPorts(CONFIG)
        _incident_runner = (ports, IncidentTaskRunner(store_for(ports)))
    try:
        outcome = _incident_runner[1].run(payload)
    except InvalidRecord as exc:
        metrics.INCIDENT_MESSAGES.labels("dead_lettered").inc()
        logger.error("incident task rejected: %s", exc)
        return "rejected"
    except AccessError as exc:
        metrics.INCIDENT_MESSAGES.labels("retried").inc()
        logger.error("incident message not applied, retrying: %s", exc)
        raise retry_or_requeue(self, exc, countdown=min(2 ** self.request.retries, 60)) from exc
    metrics.INCIDENT_MESSAGES.labels(outcome.value).inc()
    logger.info("incident message applied", extra=ctx(outcome=outcome.value))
    return outcome.value


@worker_init.connect  # type: ignore[untyped-decorator]
def _check_pool(sender: Any = None, **_: Any) -> None:
    pool = getattr(sender, "pool_cls", None)
    if isinstance(pool, type) and issubclass(pool, PreforkPool) and MULTIPROCESS_DIR is None:
        logger.error("prefork pool without prometheus multiprocess mode: /metrics shows only the main process, "
                     "not the tasks its children run (start the worker with `celery ... worker --pool=prefork` "
                     "or set PROMETHEUS_MULTIPROC_DIR)")


@worker_ready.connect  # type: ignore[untyped-decorator]
def _serve_metrics(**_: Any) -> None:
    port = int(os.environ.get("ALARM_ACCESS_WORKER_METRICS_PORT") or 0)
    if port:
        addr = metrics_addr()
        start_http_server(port, addr=addr, registry=worker_metrics.registry(MULTIPROCESS_DIR))
        logger.info("worker metrics served on %s:%s (%s)", addr, port,
                    f"multiprocess, {MULTIPROCESS_DIR}" if MULTIPROCESS_DIR else "single process")


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close(pid: int | None = None, **_: Any) -> None:
    """A prefork child exits: close its ports, drop its live gauges (its counters stay counted)."""
    try:
        if _worker is not None:
            _worker.ports.close()
        for ports, _runner in _stream_runners.values():
            ports.close()
        if _incident_runner is not None:
            _incident_runner[0].close()
    finally:
        if MULTIPROCESS_DIR is not None:
            worker_metrics.mark_process_dead(MULTIPROCESS_DIR, pid or os.getpid())
