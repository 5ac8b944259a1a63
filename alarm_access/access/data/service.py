"""The `data` access service: keeps the strategy groups in sync and dispatches each group on its slots.

One cycle: refresh the groups when due (strategies and topology are re-read every `refresh_interval`
seconds and applied to the schedule by diff), pop the slots due at this tick, and hand each one as a
`PullJob` to the dispatcher: `-H process` runs it inline (`InlineDispatcher` → `PullRunner.run`),
`-H celery` publishes it to `celery_service` (or `celery_service_qos` for the sources listed in
`ALARM_ACCESS_DATA_QOS_SOURCES`) for `celery worker` processes that run the same `PullRunner.run`
(`alarm_access.tasks`). With `--once` every group is dispatched once, now, and the cycle's outcome (and so
the exit code) is "failed" if any group failed (celery: if any job could not be published).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import cast

from alarm_access import metrics
from alarm_access.access.data.catalog import GroupCatalog, group_epoch
from alarm_access.access.data.jobs import Dispatcher, InlineDispatcher, PullJob
from alarm_access.access.data.ports import DataPorts
from alarm_access.access.data.runner import PullRunner
from alarm_access.access.data.schedule import DueSlot, Schedule
from alarm_access.access.data.status import DataStatus
from alarm_access.kernel.config import AccessConfig, HandlerType
from alarm_access.kernel.errors import AccessError
from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.ports import Ports
from alarm_access.logs import ctx
from alarm_access.ring.membership import RingMember, RingPorts
from alarm_access.ring.ownership import ownership_key
from alarm_access.runtime import CycleOutcome, LoopLimits, LoopService, Service
from alarm_access.status.collect import BOARD

logger = logging.getLogger("alarm_access.access.data")


class DataAccess:
    """The cycle of the `data` service. Not thread-safe: one loop thread calls `cycle`."""

    def __init__(self, config: AccessConfig, catalog: GroupCatalog, dispatcher: Dispatcher, *,
                 ring: RingMember | None = None, last_runs: Callable[[list[str]], dict[str, int]] | None = None,
                 status: DataStatus | None = None) -> None:
        self._config = config
        self._settings = config.data
        self._catalog = catalog
        self._dispatcher = dispatcher
        self._ring = ring
        self._biz_sizes: Counter[int] = Counter()
        #: with a ring: when each group was last delivered (`RecordSink.last_runs`), to measure handover gaps
        self._last_runs = last_runs
        self._schedule = Schedule()
        self._next_refresh = 0
        self._qos_sources = config.data.qos_source_labels
        #: the status page's view of this process (`access.data.status`); with -H celery it sees publishes
        self._status = status
        self._celery = config.handler_type == HandlerType.CELERY

    def cycle(self, now: float) -> CycleOutcome:
        tick = int(now)
        ok = True
        if self._ring is not None and self._ring.tick(now):
            self._sync(tick)
        if self._ring is not None and self._status is not None:
            self._status.ring(self._ring)
        if tick >= self._next_refresh:
            ok = self._refresh(tick)
        if self._config.once:
            due = [DueSlot(key, tick, group.interval, 0, 0) for key, group in self._catalog.groups.items()
                   if self._serves(group)]
        else:
            due = self._schedule.pop_due(tick)
        for slot in due:
            ok = self._dispatch(slot, tick) and ok
        next_at = min(self._schedule.next_due() or self._next_refresh, self._next_refresh)
        if self._ring is not None:
            next_at = min(next_at, int(self._ring.next_heartbeat) + 1)
        return CycleOutcome(ok=ok, next_at=float(next_at))

    def _refresh(self, tick: int) -> bool:
        self._next_refresh = tick + self._settings.refresh_interval
        try:
            self._catalog.refresh()
        except AccessError as exc:
            logger.error("strategy refresh failed, keeping the previous groups: %s", exc)
            return False
        if self._ring is not None:  # strategies loaded: take a share now (JOINING -> ACTIVE)
            self._ring.activate()
            self._ring.tick(float(tick))
        self._sync(tick)
        return True

    def _serves(self, group: StrategyGroup) -> bool:
        """With `--hash-ring 1`, the group is this member's share: its business, or the group itself when its
        business has more than `ring_split_groups` groups (the repository only loads the strategies of this
        deployment cluster's businesses)."""
        if self._ring is None:
            return True
        sizes = self._biz_sizes
        return self._ring.owns(ownership_key(group.bk_biz_id, group.key, sizes.get(group.bk_biz_id, 0),
                                             self._settings.ring_split_groups))

    def _sync(self, tick: int) -> None:
        """Schedule exactly the groups this process serves, by diff (kept groups keep their slots)."""
        self._biz_sizes = Counter(g.bk_biz_id for g in self._catalog.groups.values())
        groups = {key: g for key, g in self._catalog.groups.items() if self._serves(g)}
        before = set(self._schedule.keys())
        changed, removed = self._schedule.sync({key: g.interval for key, g in groups.items()}, tick)
        if self._ring is not None:  # a group newly ours (a handover, or a restart) that had an owner before
            self._observe_handover([groups[key] for key in changed - before], tick)
        metrics.GROUPS.set(len(groups))
        if self._status is not None:
            self._status.served(groups.values(), self._schedule.next_slots())
        if self._ring is not None:
            split = self._settings.ring_split_groups
            metrics.RING_OWNED_KEYS.labels(self._config.access_type.value).set(len({
                ownership_key(g.bk_biz_id, g.key, self._biz_sizes[g.bk_biz_id], split) for g in groups.values()}))
        if changed or removed:
            logger.info("strategy groups synced", extra=ctx(groups=len(groups), changed=len(changed),
                                                            removed=len(removed)))

    def _observe_handover(self, taken: list[StrategyGroup], tick: int) -> None:
        """Groups this member took over: how long each went without a delivered pull beyond its interval."""
        if not taken or self._last_runs is None:
            return
        try:
            last = self._last_runs([group.key for group in taken])
        except AccessError as exc:  # advisory: the schedule is already synced
            logger.warning("handover gap not measured: %s", exc)
            return
        for group in taken:
            if group.key in last:
                metrics.RING_HANDOVER_GAP.labels(self._config.access_type.value).observe(
                    max(0, tick - last[group.key] - group.interval))

    def _dispatch(self, slot: DueSlot, tick: int) -> bool:
        group = self._catalog.groups.get(slot.key)
        if group is None:
            return True
        if slot.skipped:
            metrics.ITERATIONS_MISSED.labels("skipped").inc(slot.skipped)
        if self._schedule.is_late(slot):
            metrics.ITERATIONS_MISSED.labels("late").inc()
        metrics.SLOT_LATENESS.observe(slot.lateness)
        job = PullJob(group.key, slot.slot, tick, group.interval, group_epoch(group),
                      qos=group.source in self._qos_sources)
        if self._status is not None:
            self._status.next_slot(group.key, slot.slot + slot.interval)
        submitted = self._dispatcher.submit(job)
        if self._status is not None and self._celery:  # inline, the runner reports the pull itself
            self._status.published(group.key, submitted)
        return submitted

    def close(self) -> None:
        if self._ring is not None:  # peers take this member's groups over now, not after the lease TTL
            self._ring.leave()
        self._dispatcher.close()


def build_data_service(config: AccessConfig, any_ports: Ports) -> Service:
    """The supervised `data` service; closes the dispatcher and the ports when it stops. The ports must
    implement `DataPorts` (bootstrap's `AdapterPorts` does)."""
    ports = cast("DataPorts", any_ports)
    celery = config.handler_type == HandlerType.CELERY
    # A Celery scheduler needs neither topology nor strategy documents: the workers load their own.
    catalog = GroupCatalog(ports, topology=not celery, settings=config.data, max_age=config.data.refresh_interval)
    status = DataStatus(BOARD)
    dispatcher: Dispatcher
    if celery:
        dispatcher = ports.celery_dispatcher()
    else:
        dispatcher = InlineDispatcher(PullRunner(config, ports, catalog, inline=True, status=status).run)
    ring = cast("RingPorts", any_ports).ring_member() if config.hash_ring else None
    access = DataAccess(config, catalog, dispatcher, ring=ring,
                        last_runs=ports.record_sink.last_runs if ring is not None else None, status=status)

    def close() -> None:
        try:
            access.close()
        finally:
            ports.close()

    limits = LoopLimits(once=config.once, max_cycles=config.max_cycles, max_uptime=config.max_uptime,
                        min_interval=config.min_interval if not config.once else 0.0)
    return LoopService(config.access_type.value, access.cycle, close, limits)
