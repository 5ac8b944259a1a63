"""The sub-task side of batch rounds (spec data-access §3.14, §1.3 `run_access_batch_data`, without §9.6).

`BatchRunner.run(job)` delivers batch `job.index` of the round `job.token` (see `access.data.split`):
1. the round's state decides first: a round that expired is an error (the sub-task came too late: its
   payload is gone, the round can never finish, the checkpoint stays where it was); a batch already done
   (a redelivered task whose worker died after delivering) delivers nothing again; a round that already
   failed is abandoned (the next pull repeats its window);
2. the batch's points go through the same pipeline and the same single MULTI/EXEC delivery as a whole pull
   (`data_pull.deliver_points`): records, dedupe state, inline anomalies, and — in that transaction — the
   payload is consumed and the batch counted done. The transaction WATCHes the group's fence (a round
   whose lock passed to a newer pull writes nothing) and the payload (a twin of the task that delivered
   first makes the other write nothing), so a batch is delivered exactly once;
3. then `BatchStore.finalise`: the sub-task that completes the round — whichever finishes last, decided
   atomically in Redis — stores the checkpoint (never back), the run heartbeat and the slot mark and
   releases the group lock. A redelivered sub-task finalises too, so a worker killed between its delivery
   and the finalisation does not leave the round open.
Any failure (payload expired, lock lost, group changed, Redis or backpressure errors) fails the round: it
is never finalised, its payloads are dropped, its lock is released, and the next pull of the group pulls
the window again (the batches it did deliver are then duplicates). Sub-tasks of a failed round deliver
nothing (`abandoned`).
"""

from __future__ import annotations

import logging

from alarm_access import metrics
from alarm_access.access.data.catalog import GroupCatalog
from alarm_access.access.data.jobs import BatchJob, Fence, FencedOut
from alarm_access.access.data.ports import BatchStore, DataPorts
from alarm_access.access.data.pull import PullExtras, deliver_points
from alarm_access.kernel.config import AccessConfig
from alarm_access.kernel.errors import AccessError
from alarm_access.kernel.model import StrategyGroup
from alarm_access.logs import ctx
from alarm_access.records.threshold import group_thresholds

logger = logging.getLogger("alarm_access.access.data")


def restrict(group: StrategyGroup, items: tuple[tuple[int, int], ...]) -> StrategyGroup | None:
    """`group` with exactly `items` (the parent's items after circuit breaking); None if one is gone."""
    wanted = set(items)
    kept = tuple(pair for pair in group.items if (pair[0].id, pair[1].id) in wanted)
    if len(kept) != len(wanted):
        return None
    if len(kept) == len(group.items):
        return group
    return StrategyGroup(group.key, group.bk_biz_id, kept, group.interval, group.source, group.query_config)


class BatchRunner:
    def __init__(self, config: AccessConfig, ports: DataPorts, catalog: GroupCatalog, store: BatchStore) -> None:
        self._settings = config.data
        self._ports = ports
        self._catalog = catalog
        self._store = store

    def run(self, job: BatchJob) -> bool:
        """Deliver batch `job`; False when it failed (the round is then failed, logged and counted)."""
        try:
            return self._run(job)
        except AccessError as exc:
            return self._fail(job, type(exc).__name__, str(exc))
        except Exception as exc:
            logger.exception("batch sub-task crashed", extra=ctx(sgk=job.group_key, round=job.token,
                                                                  batch=job.index))
            return self._fail(job, type(exc).__name__, str(exc))

    def _run(self, job: BatchJob) -> bool:
        state = self._store.round_state(job.group_key, job.token)
        if state is None:
            metrics.BATCH_SUBTASKS.labels("expired").inc()
            logger.error("batch round expired before its sub-task ran: batch not delivered, checkpoint not moved",
                         extra=ctx(sgk=job.group_key, round=job.token, batch=job.index, batches=job.total))
            return False
        if job.index in state.done:
            return self._already_done(job)
        if state.failed:
            return self._abandon(job, state.failure)
        group = self._catalog.group_for(job.group_key, job.epoch)
        group = restrict(group, job.items) if group is not None else None
        if group is None:
            return self._fail(job, "group_changed", "the group or its items changed since the pull")
        points = self._store.load(job)
        if points is None:
            return self._gone(job, "payload_expired", "batch payload expired before its sub-task ran")
        thresholds = None
        if self._settings.inline_threshold:
            thresholds = group_thresholds(group, frozenset(self._settings.inline_strategy_ids))
        extras = PullExtras(fence=Fence(job.group_key, job.token, job.slot), thresholds=thresholds,
                            documents=self._catalog.documents if thresholds else {},
                            snapshot_key=self._ports.snapshot_key)
        try:
            deliver_points(group, points, job.now, checkpoint=0, window=None, sink=self._ports.record_sink,
                           topology=self._catalog.topology, settings=self._settings, extras=extras, batch=job)
        except FencedOut as exc:
            return self._gone(job, "fenced", str(exc))
        metrics.BATCH_SUBTASKS.labels("done").inc()
        self._finalise(job)
        return True

    def _gone(self, job: BatchJob, reason: str, detail: str) -> bool:
        """The payload was consumed or could not be delivered: done by a twin, or a failure of the round."""
        state = self._store.round_state(job.group_key, job.token)
        if state is not None and job.index in state.done:
            return self._already_done(job)
        if state is not None and state.failed:  # another batch failed the round meanwhile (and dropped payloads)
            return self._abandon(job, state.failure)
        return self._fail(job, reason, detail)

    def _abandon(self, job: BatchJob, failure: str) -> bool:
        metrics.BATCH_SUBTASKS.labels("abandoned").inc()
        logger.warning("batch round already failed, batch abandoned", extra=ctx(
            sgk=job.group_key, round=job.token, batch=job.index, failure=failure))
        return True

    def _already_done(self, job: BatchJob) -> bool:
        metrics.BATCH_SUBTASKS.labels("duplicate").inc()
        logger.info("batch already delivered, nothing pushed again", extra=ctx(
            sgk=job.group_key, round=job.token, batch=job.index))
        self._finalise(job)
        return True

    def _finalise(self, job: BatchJob) -> None:
        outcome, checkpoint = self._store.finalise(job.group_key, job.token)
        if outcome == "finalised":
            metrics.DATA_PROCESS_COUNT.labels("success", "").inc()
            logger.info("batch round finalised", extra=ctx(sgk=job.group_key, round=job.token, batches=job.total,
                                                           checkpoint=checkpoint))

    def _fail(self, job: BatchJob, reason: str, detail: str) -> bool:
        metrics.BATCH_SUBTASKS.labels("failed").inc()
        metrics.DATA_PROCESS_COUNT.labels("failed", reason).inc()
        logger.error("batch sub-task failed, round failed: checkpoint not moved, window pulled again: %s", detail,
                     extra=ctx(sgk=job.group_key, round=job.token, batch=job.index, reason=reason))
        try:
            self._store.fail(job.group_key, job.token, f"{reason}: batch {job.index}: {detail}"[:500], job.total)
        except AccessError as exc:
            logger.error("batch round not marked failed: %s", exc, extra=ctx(sgk=job.group_key, round=job.token))
        return False
