"""A non-default deployment cluster's Celery tasks go to `<cluster>-<queue>`, so clusters sharing a broker never
take each other's work; the default cluster keeps the original's queue names. Published through kombu's
in-memory transport and read back from the named queue."""

from __future__ import annotations

from celery import Celery

from alarm_access.access.data.jobs import BATCH_QUEUE, QUEUE, PullJob
from alarm_access.adapters.celery.app import make_celery_app
from alarm_access.adapters.celery.dispatch import CeleryDispatcher
from alarm_access.kernel.clusters import Cluster


def queued(app: Celery, queue: str) -> int:
    """How many messages `queue` holds; it is emptied (the memory transport is shared by the whole process)."""
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue)
        try:
            count = int(simple.qsize())
            simple.clear()
            return count
        finally:
            simple.close()


def test_tasks_of_a_named_cluster_go_to_its_prefixed_queues() -> None:
    prefix = Cluster("big").queue_prefix
    app = make_celery_app("memory://", 60, prefix)
    dispatcher = CeleryDispatcher(app)
    assert dispatcher.submit(PullJob("g", slot=60, now=61, interval=60, epoch=1))
    dispatcher.submit_batch({"x": 1}, "batch-1")
    assert prefix == "big-" and queued(app, f"big-{QUEUE}") == 1 and queued(app, f"big-{BATCH_QUEUE}") == 1
    assert queued(app, QUEUE) == 0


def test_the_default_cluster_keeps_the_original_queue_names() -> None:
    app = make_celery_app("memory://", 60, Cluster().queue_prefix)
    assert CeleryDispatcher(app).submit(PullJob("g", slot=60, now=61, interval=60, epoch=1))
    assert queued(app, QUEUE) == 1 and app.conf.task_default_queue == QUEUE
