"""Running one `PullJob`, the same in `-H process` (inline) and in a Celery worker: protections, then the pull.

`PullRunner.run(job)` in order (spec data-access §1.3, with the original's gaps closed):
1. resolve the group from the `GroupCatalog`; reject a job for a group that no longer exists or whose
   definition changed (`epoch`), or whose slot is stale (two intervals old: later slots cover its window);
2. circuit breaking (business, source, strategy rules, `access.data.breaker`): broken items are left out,
   a group whose every item is broken is not pulled;
3. the group lock with a fencing token (spec §3.8; the delivery transaction re-checks the token). A
   Celery job waits for nobody: when the lock is held it is skipped. An inline job (`-H process`, the one
   scheduler of its groups) takes the lock over — a process killed with the lock does not block its
   successor for the lock TTL, and if it is in fact alive its delivery is fenced out;
4. the token bucket on query seconds (spec §3.7), charged after the pull, failed pulls included;
5. a slot of the source's concurrency limit, so one slow backend cannot hold every worker;
6. `pull_group` (inline static thresholds when the group qualifies), then release in reverse order —
   except the group lock of a pull that a `BatchSplitter` split into sub-tasks: the round holds it until
   its last sub-task finalises it (`access.data.batch`). With a splitter, a previous round of the group
   that never finished is reported first (`BatchSplitter.check_previous`). Inline (`-H process`) with a
   batch threshold, a large pull is queried in slices and delivered in batches (`access.data.bounded`).
A refusal at 1-5 is a skip (counted by reason, logged with the group), not a failure. Failures are
classified here, once: `AccessError` is one line, anything else a bug with its traceback.

Redis timed out or unreachable (`StoreUnavailable`): every step of every pull needs it, so the clean-up
calls of that job are left to their TTLs (group lock, source slot lease; the pull is not charged), and
inline the cycle's remaining jobs (same `now`) fail at once, counted one by one and logged once.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from alarm_access import metrics
from alarm_access.access.data.bounded import BoundedPull
from alarm_access.access.data.breaker import compile_rules, unbroken_items
from alarm_access.access.data.catalog import GroupCatalog, group_epoch
from alarm_access.access.data.jobs import Fence, FencedOut, PullJob
from alarm_access.access.data.ports import DataPorts
from alarm_access.access.data.pull import PullExtras, PullReport, pull_group
from alarm_access.access.data.split import BatchSplitter
from alarm_access.access.data.status import DataStatus
from alarm_access.kernel.config import AccessConfig
from alarm_access.kernel.errors import AccessError, StoreUnavailable
from alarm_access.kernel.model import StrategyGroup
from alarm_access.logs import ctx
from alarm_access.records.threshold import group_thresholds

logger = logging.getLogger("alarm_access.access.data")


def _token_budget(window_budget: int, interval: int) -> int:
    """Spec §3.7: the 10-minute budget scaled up for intervals under a minute."""
    return int(window_budget * 60 / interval) if interval < 60 else window_budget


class PullRunner:
    def __init__(self, config: AccessConfig, ports: DataPorts, catalog: GroupCatalog, *, inline: bool = False,
                 clock: Callable[[], float] = time.time, splitter: BatchSplitter | None = None,
                 status: DataStatus | None = None) -> None:
        self._inline = inline
        #: inline (`-H process`): the status page is told each pull's outcome
        self._status = status
        self._splitter = splitter
        self._config = config
        self._settings = config.data
        self._ports = ports
        self._catalog = catalog
        self._clock = clock
        # -H process delivers pulls over the batch threshold in batches; Celery workers split them instead
        self._batched = BoundedPull(config.data) if inline and config.data.batch_threshold > 0 else None
        #: inline: the `now` of the cycle in which Redis timed out, else None (a cycle's jobs share its tick,
        #: and the next cycle runs at a later one: `DataAccess.cycle` pops every slot due by its tick)
        self._store_down: int | None = None

    def run(self, job: PullJob) -> bool:
        """Run `job`; False only when the pull failed (skips are not failures)."""
        group = self._catalog.group_for(job.group_key, job.epoch)
        if group is None:
            known = self._catalog.group_for(job.group_key)
            return self._skip(job, "unknown_group" if known is None else "stale_epoch")
        if not self._inline and self._clock() > job.slot + 2 * job.interval:  # inline jobs are never queued
            return self._skip(job, "stale_slot", group)
        if self._store_down == job.now:  # the error was logged once, with the group that met it
            metrics.DATA_PROCESS_COUNT.labels("failed", StoreUnavailable.__name__).inc()
            if self._status is not None:
                self._status.failed(group.key, StoreUnavailable("Redis is down: not pulled in this cycle"))
            return False
        started = time.perf_counter()
        try:
            return self._guarded(job, group)
        except FencedOut as exc:
            return self._skip(job, "fenced", group, str(exc))
        except Exception as exc:
            expected = isinstance(exc, AccessError)
            logger.error("group pull failed: %s", exc, exc_info=not expected,
                         extra=ctx(sgk=group.key, strategy_ids=_ids(group), slot=job.slot, error=type(exc).__name__))
            metrics.DATA_PROCESS_COUNT.labels("failed", type(exc).__name__).inc()
            if self._status is not None:
                self._status.failed(group.key, exc)
            if self._inline and isinstance(exc, StoreUnavailable):
                self._store_down = job.now
                logger.error("Redis is down: the cycle's remaining groups fail without a pull",
                             extra=ctx(slot=job.slot))
            return False
        finally:
            metrics.DATA_PROCESS_TIME.observe(time.perf_counter() - started)

    def _guarded(self, job: PullJob, group: StrategyGroup) -> bool:
        guards, settings = self._ports.guards, self._settings
        kept = unbroken_items(group, compile_rules(guards.breaker_rules()))
        if kept is not group:
            broken = len(group.items) - (len(kept.items) if kept else 0)
            metrics.CIRCUIT_BROKEN.labels("group" if kept is None else "item", *group.source).inc(broken)
            logger.warning("circuit breaking: %s", "group not pulled" if kept is None else "items left out",
                           extra=ctx(sgk=group.key, strategy_ids=_ids(group), broken_items=broken))
            if kept is None:
                return self._skip(job, "circuit_broken", group, counted=True)
            group = kept
        fence = guards.lock(group.key, job.slot, settings.lock_ttl, take_over=self._inline)
        if fence is None:
            return self._skip(job, "locked", group)
        handed_off = False
        try:
            if self._splitter is not None:
                self._splitter.check_previous(group)
            budget = _token_budget(settings.token_budget, group.interval)
            if guards.tokens_left(group.key, budget) <= 0:
                metrics.TOKEN_FORBIDDEN.inc()
                logger.warning("no query-time token left, pull skipped", extra=ctx(sgk=group.key, slot=job.slot))
                return self._skip(job, "no_tokens", group, counted=True)
            holder = ""
            if settings.source_concurrency:
                holder = guards.take_source_slot(group.source, settings.source_concurrency, settings.lock_ttl) or ""
                if not holder:
                    metrics.SOURCE_LIMITED.labels(*group.source).inc()
                    logger.warning("source concurrency limit reached, pull skipped",
                                   extra=ctx(sgk=group.key, source=":".join(group.source), slot=job.slot,
                                             limit=settings.source_concurrency))
                    return self._skip(job, "source_limited", group, counted=True)
            started = time.perf_counter()
            try:
                report = self._pull(job, group, fence)
                handed_off = report.batches > 0
                if self._status is not None:
                    self._status.pulled(group.key, sum(report.pushed.values()))
            finally:
                if not _store_failed():
                    if holder:
                        guards.give_source_slot(group.source, holder)
                    guards.spend_tokens(group.key, budget, time.perf_counter() - started)
        finally:
            if not handed_off and not _store_failed():
                guards.unlock(fence)
        if not handed_off:  # a split pull is counted when its round is finalised
            metrics.DATA_PROCESS_COUNT.labels("success", "").inc()
        return True

    def _pull(self, job: PullJob, group: StrategyGroup, fence: Fence) -> PullReport:
        thresholds = None
        if self._settings.inline_threshold:
            thresholds = group_thresholds(group, frozenset(self._settings.inline_strategy_ids))
        extras = PullExtras(
            fence=fence,
            thresholds=thresholds,
            documents=self._catalog.documents if thresholds else {},
            snapshot_key=self._ports.snapshot_key,
            split=self._splitter,
            batched=self._batched,
            end_times=self._ports.guards,
        )
        return pull_group(group, job.now, source=self._ports.source_for(group.source), sink=self._ports.record_sink,
                   topology=self._catalog.topology, settings=self._settings, extras=extras)

    def _skip(self, job: PullJob, reason: str, group: StrategyGroup | None = None, detail: str = "", *,
              counted: bool = False) -> bool:
        """A refusal: counted and logged here unless `counted` (the guard did both), told to the status page."""
        if self._status is not None:
            self._status.skipped(job.group_key, reason)
        if counted:
            return True
        metrics.DATA_PULLS_SKIPPED.labels(reason).inc()
        logger.warning("pull skipped: %s", reason, extra=ctx(sgk=job.group_key, slot=job.slot, epoch=job.epoch,
                                                             strategy_ids=_ids(group) if group else "-",
                                                             detail=detail or "-"))
        return True


def _store_failed() -> bool:
    """In a `finally`: unwinding because Redis timed out — each clean-up call would wait out the same bound."""
    return isinstance(sys.exc_info()[1], StoreUnavailable)


def _ids(group: StrategyGroup) -> str:
    return ",".join(map(str, group.strategy_ids))


__all__ = ["GroupCatalog", "PullRunner", "group_epoch"]
