"""The `data` access service: keeps the strategy groups in sync and pulls each group on its slots.

One cycle: refresh the groups when due (strategies and topology are re-read every `refresh_interval`
seconds and applied to the schedule by diff), pop the slots due at this tick, pull them. A failed group is
logged with its key and strategy ids and counted; the others go on. With `--once` every group is pulled
once, now, and the cycle's outcome (and so the exit code) is "failed" if any group failed.
"""

from __future__ import annotations

import logging
import time

from alarm_access import metrics
from alarm_access.config import AccessConfig
from alarm_access.errors import AccessError
from alarm_access.grouping import build_groups
from alarm_access.handlers.data_pull import pull_group
from alarm_access.logs import ctx
from alarm_access.model import StrategyGroup, Topology
from alarm_access.ports import Ports
from alarm_access.runtime import CycleOutcome, LoopLimits, LoopService, Service
from alarm_access.schedule import DueSlot, Schedule
from alarm_access.stages.enrich import index_topology

logger = logging.getLogger("alarm_access.access.data")


class DataAccess:
    """The cycle of the `data` service. Not thread-safe: one loop thread calls `cycle`."""

    def __init__(self, config: AccessConfig, ports: Ports) -> None:
        self._config = config
        self._settings = config.data
        self._ports = ports
        self._schedule = Schedule()
        self._groups: dict[str, StrategyGroup] = {}
        self._topology = index_topology(Topology())
        self._next_refresh = 0

    def cycle(self, now: float) -> CycleOutcome:
        tick = int(now)
        ok = True
        if tick >= self._next_refresh:
            ok = self._refresh(tick)
        if self._config.once:
            due = [DueSlot(key, tick, group.interval, 0, 0) for key, group in self._groups.items()]
        else:
            due = self._schedule.pop_due(tick)
        for slot in due:
            ok = self._pull(slot, tick) and ok
        next_at = min(self._schedule.next_due() or self._next_refresh, self._next_refresh)
        return CycleOutcome(ok=ok, next_at=float(next_at))

    def _refresh(self, tick: int) -> bool:
        self._next_refresh = tick + self._settings.refresh_interval
        try:
            strategies = self._ports.strategies.load_strategies()
            groups = {group.key: group for group in build_groups(strategies)}
            topology = self._ports.strategies.load_topology({group.bk_biz_id for group in groups.values()})
        except AccessError as exc:
            logger.error("strategy refresh failed, keeping the previous groups: %s", exc)
            return False
        self._groups = groups
        self._topology = index_topology(topology)
        changed, removed = self._schedule.sync({key: g.interval for key, g in groups.items()}, tick)
        metrics.GROUPS.set(len(groups))
        if changed or removed:
            logger.info("strategy groups synced", extra=ctx(groups=len(groups), changed=len(changed),
                                                            removed=len(removed)))
        return True

    def _pull(self, slot: DueSlot, tick: int) -> bool:
        group = self._groups.get(slot.key)
        if group is None:
            return True
        if slot.skipped:
            metrics.ITERATIONS_MISSED.labels("skipped").inc(slot.skipped)
        if self._schedule.is_late(slot):
            metrics.ITERATIONS_MISSED.labels("late").inc()
        metrics.SLOT_LATENESS.observe(slot.lateness)
        started = time.perf_counter()
        try:
            pull_group(
                group,
                tick,
                source=self._ports.source_for(group.source),
                sink=self._ports.record_sink,
                topology=self._topology,
                settings=self._settings,
            )
        except Exception as exc:
            # Classified here, once: expected failures are one line; anything else is a bug, with traceback.
            expected = isinstance(exc, AccessError)
            logger.log(
                logging.ERROR,
                "group pull failed: %s",
                exc,
                exc_info=not expected,
                extra=ctx(sgk=group.key, strategy_ids=",".join(map(str, group.strategy_ids)),
                          error=type(exc).__name__),
            )
            metrics.DATA_PROCESS_COUNT.labels("__total__", "failed", type(exc).__name__).inc()
            return False
        finally:
            metrics.DATA_PROCESS_TIME.labels("__total__").observe(time.perf_counter() - started)
        metrics.DATA_PROCESS_COUNT.labels("__total__", "success", "").inc()
        return True


def build_data_service(config: AccessConfig, ports: Ports) -> Service:
    """The supervised `data` service; closes the ports when it stops."""
    access = DataAccess(config, ports)
    limits = LoopLimits(once=config.once, max_cycles=config.max_cycles, max_uptime=config.max_uptime,
                        min_interval=config.min_interval if not config.once else 0.0)
    return LoopService(config.access_type.value, access.cycle, ports.close, limits)
