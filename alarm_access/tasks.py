"""Celery entry point of alarm-access: the app and its thin tasks (`celery -A alarm_access worker -Q ...`).

    celery -A alarm_access worker -Q celery_service,celery_service_qos,celery_service_batch --pool=prefork
    celery -A alarm_access worker -Q celery_service_access_event --pool=prefork   # event batches

Like `manage.py`, this module is an entry point: it sets Django up, builds the frozen `AccessConfig` from
the settings once, and composes the ports. Each worker process builds its `DataWorker` lazily (after the
prefork pool forked), so no connection is shared across processes. A task only decodes its JSON payload and
calls `PullRunner.run` (or `BatchRunner.run`), the code `-H process` runs inline.

Metrics. `ALARM_ACCESS_WORKER_METRICS_PORT` (optional) serves this worker's Prometheus `/metrics` on that
port, bound to `ALARM_ACCESS_METRICS_ADDR` (default 0.0.0.0, as `run_access`). Under the prefork pool the
tasks run in child processes, each with its own copy of every metric, so the main process's registry would
show none of their work. The worker therefore uses prometheus_client's multiprocess mode: every process
writes its values to memory-mapped files in `PROMETHEUS_MULTIPROC_DIR`, and the main process serves them
merged (`MultiProcessCollector`) together with its own `process_*` / `python_*` series (those describe the
main process only). A child that exits (`--max-tasks-per-child`, shutdown) keeps its counts: its files stay;
`mark_process_dead` drops its live gauges.

prometheus_client picks its value class (plain or memory-mapped) once, when it is first imported, from
`PROMETHEUS_MULTIPROC_DIR`; a child forked later inherits that choice. A `celery.signals` handler runs too
late for that — `celery -A alarm_access` imports this module, and so `alarm_access.metrics`, before any
worker signal is sent — and requiring operators to export the variable (and to wipe its directory on every
start) is easy to get wrong. So the decision is made here, at import, before prometheus_client is imported:
when the command line is `celery ... worker` with a forking pool (prefork, the default, unless `-P/--pool`
or `CELERY_WORKER_POOL` names solo, threads, gevent or eventlet), the variable is set to a fresh
`<ALARM_ACCESS_VAR_DIR>/metrics/worker-<pid>` (emptied; directories of workers no longer running removed)
before the children fork. A `PROMETHEUS_MULTIPROC_DIR` set by the operator is used as it is (not emptied).
`worker_init` checks the decision against the pool Celery really built and logs an error when a forking
pool runs without it. Solo and threads workers keep one plain registry, as `run_access` does.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alarm_access_project.settings")
django.setup()

from django.conf import settings  # noqa: E402

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: pools that run every task in the worker's own process (one registry is right for them)
SINGLE_PROCESS_POOLS = frozenset({"solo", "threads", "gevent", "eventlet"})


def worker_pool(argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The pool named by the `celery ... worker` command line `argv` (`-P/--pool`, else `CELERY_WORKER_POOL`,
    else Celery's default "prefork"); None when `argv` is not a Celery worker."""
    program = Path(argv[0]) if argv else Path()
    if not (program.name == "celery" or program.parent.name == "celery") or "worker" not in argv[1:]:
        return None
    args = list(argv[argv.index("worker", 1) + 1:])
    for index, arg in enumerate(args):
        if arg in ("-P", "--pool") and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--pool="):
            return arg.split("=", 1)[1]
        if arg.startswith("-P") and len(arg) > 2:
            return arg[2:]
    return environ.get("CELERY_WORKER_POOL") or "prefork"


def fresh_multiprocess_dir(base: Path, pid: int) -> Path:
    """An empty `base/worker-<pid>`; the directories of workers no longer running are removed."""
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob("worker-*"):
        other = old.name.removeprefix("worker-")
        if other.isdigit() and (int(other) == pid or not _running(int(other))):
            shutil.rmtree(old, ignore_errors=True)
    directory = base / f"worker-{pid}"
    directory.mkdir()
    return directory


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _multiprocess_dir() -> Path | None:
    """Set `PROMETHEUS_MULTIPROC_DIR` for a worker whose pool forks, before prometheus_client is imported."""
    if os.environ.get(MULTIPROC_ENV):
        given = Path(os.environ[MULTIPROC_ENV])
        given.mkdir(parents=True, exist_ok=True)
        return given
    pool = worker_pool(sys.argv, os.environ)
    if pool is None or pool in SINGLE_PROCESS_POOLS:
        return None
    if "alarm_access.metrics" in sys.modules:  # metrics already built with plain values: too late to switch
        logging.getLogger("alarm_access.tasks").error(
            "prometheus multiprocess mode not enabled: alarm_access.metrics was imported before alarm_access.tasks")
        return None
    directory = fresh_multiprocess_dir(Path(settings.VAR_DIR) / "metrics", os.getpid())
    os.environ[MULTIPROC_ENV] = str(directory)
    if "prometheus_client.values" in sys.modules:  # imported by something else first: none of our values exist yet
        from prometheus_client import values

        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return directory


#: where this worker's processes keep their metrics; None: one plain registry (solo/threads pool, not a worker)
MULTIPROCESS_DIR = _multiprocess_dir()

from celery.concurrency.prefork import TaskPool as PreforkPool  # noqa: E402
from celery.exceptions import Reject  # noqa: E402
from celery.signals import worker_init, worker_process_shutdown, worker_ready  # noqa: E402
from prometheus_client import CollectorRegistry, multiprocess, start_http_server  # noqa: E402

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
from alarm_access.health import metrics_addr  # noqa: E402
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
        metrics.EVENT_BATCHES.labels("failed", "InvalidRecord").inc()
        logger.error("event task rejected: %s", exc)
        return 0
    except AccessError as exc:
        metrics.EVENT_BATCHES.labels("failed", type(exc).__name__).inc()
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


def metrics_registry() -> CollectorRegistry:
    """What this worker's `/metrics` serves: the merged files of all its processes plus the main process's
    runtime collectors in multiprocess mode, else the one plain registry."""
    if MULTIPROCESS_DIR is None:
        return metrics.REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(MULTIPROCESS_DIR))  # type: ignore[no-untyped-call]
    metrics.add_runtime_collectors(registry)
    return registry


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
        start_http_server(port, addr=addr, registry=metrics_registry())
        logger.info("worker metrics served on %s:%s (%s)", addr, port,
                    f"multiprocess, {MULTIPROCESS_DIR}" if MULTIPROCESS_DIR else "single process")


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close(pid: int | None = None, **_: Any) -> None:
    """A prefork child exits: close its ports, drop its live gauges (its counters stay counted)."""
    try:
        if _worker is not None:
            _worker.ports.close()
        if _event_runner is not None:
            _event_runner[0].close()
    finally:
        if MULTIPROCESS_DIR is not None:
            multiprocess.mark_process_dead(pid or os.getpid(), path=str(MULTIPROCESS_DIR))  # type: ignore[no-untyped-call]
