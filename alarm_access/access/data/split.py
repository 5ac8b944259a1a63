"""The parent side of batch sub-tasks (spec data-access §3.14): split a large pull into a round of batches.

A Celery pull of more points than `batch_threshold` is not delivered by its own task. `BatchSplitter`:
1. applies the time-point limit once, to the whole pull, and cuts the kept points into batches of whole
   time buckets (`access.data.batch_split`), about `batch_size` points each;
2. starts a round named by the pull's fencing token: the group lock is extended to the round's TTL
   (`batch_wait`, at most five dedupe intervals, so a round that dies leaves the dedupe state of its
   delivered batches alive for the re-pull), the payloads are stored with that TTL and the round's state
   holds the checkpoint it leads to;
3. publishes one sub-task per batch to `celery_service_batch` and returns: the parent blocks no worker and
   keeps the lock only through the round (`PullReport.batches`; the runner does not release it).
The sub-tasks (`access.data.batch`) deliver the batches; the last one to finish moves the checkpoint.
A pull that yields fewer than two batches is delivered as one, by the parent. If publishing fails the
round is failed at once (lock released, checkpoint untouched) and the error raised to the runner.

`check_previous` reports, loudly, a round of the group that never finished (a sub-task lost, a payload
expired, a delivery fenced out): its window is pulled again by the next pull, whose dedupe drops what
the round had delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from alarm_access import metrics
from alarm_access.access.data.batch_split import split_points, time_limit
from alarm_access.access.data.catalog import group_epoch
from alarm_access.access.data.jobs import BatchJob, Fence
from alarm_access.access.data.ports import BatchStore
from alarm_access.access.data.pull import PullReport
from alarm_access.access.data.schedule import QueryWindow
from alarm_access.kernel.errors import AccessError
from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.settings import DataSettings
from alarm_access.logs import ctx
from alarm_access.records.standardize import plan_records

logger = logging.getLogger("alarm_access.access.data")


class BatchPublisher(Protocol):
    def submit_batch(self, payload: dict[str, Any], task_id: str) -> None:
        """Publish one sub-task to `celery_service_batch`; `SourceUnavailable` when the broker refuses it."""
        ...


def round_ttl(settings: DataSettings, group: StrategyGroup) -> int:
    """Seconds a round (lock, payloads) lives: `batch_wait`, at most half the dedupe sets' TTL."""
    return max(1, min(settings.batch_wait, 5 * group.dedupe_interval))


class BatchSplitter:
    def __init__(self, settings: DataSettings, store: BatchStore, publisher: BatchPublisher) -> None:
        self._settings = settings
        self._store = store
        self._publisher = publisher

    def __call__(self, group: StrategyGroup, points: Sequence[Mapping[str, Any]], *, window: QueryWindow,
                 checkpoint: int, now: int, fence: Fence, inline: bool) -> PullReport | None:
        """Start a round for `points` and return its report; None when the pull is not to be split."""
        settings = self._settings
        if settings.batch_threshold <= 0 or len(points) <= settings.batch_threshold:
            return None
        metrics.PROCESS_OVERFLOW.inc(len(points))
        plan = split_points(points, value_field=plan_records(group.first_item).value_field,
                            batch_size=settings.batch_size, checkpoint=checkpoint,
                            max_time_points=time_limit(group, settings.max_time_points, inline=inline))
        if len(plan.batches) < 2:
            return None
        self._store.start_round(fence, ttl=round_ttl(settings, group), checkpoint=plan.checkpoint or 0, now=now,
                                batches=plan.batches)
        items = tuple((strategy.id, item.id) for strategy, item in group.items)
        jobs = [BatchJob(group.key, group_epoch(group), fence.slot, now, fence.token, index, len(plan.batches), items)
                for index in range(1, len(plan.batches) + 1)]
        try:
            for job in jobs:
                self._publisher.submit_batch(job.to_json(), job.task_id)
                metrics.BATCH_SUBTASKS.labels("published").inc()
        except AccessError as exc:
            self._store.fail(group.key, fence.token, f"publish: {exc}", len(jobs))
            raise
        logger.info("group split into batches", extra=ctx(
            sgk=group.key, window=f"{window.start}-{window.end}", points=len(points), batches=len(jobs),
            round=fence.token, checkpoint=plan.checkpoint, time_limited=plan.discarded))
        drops = {"time_limit": plan.discarded} if plan.discarded else {}
        return PullReport(group.key, window, pulled=len(points), drops=drops, checkpoint=plan.checkpoint,
                          batches=len(jobs))

    def check_previous(self, group: StrategyGroup) -> None:
        """Report (error log, `missing` sub-tasks) the group's last round if it never finished, then forget it."""
        state = self._store.previous_round(group.key)
        if state is None or state.finalised:
            return
        missing = state.total - len(state.done)
        metrics.BATCH_SUBTASKS.labels("missing").inc(missing)
        logger.error("batch round did not finish, its window is pulled again", extra=ctx(
            sgk=group.key, round=state.token, batches=state.total, done=len(state.done), missing=missing,
            failure=state.failure or "-"))
        self._store.forget_round(group.key, state.token)
