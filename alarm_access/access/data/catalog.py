"""The strategy groups, topology and strategy documents a `data` scheduler or worker works with.

`GroupCatalog.refresh()` reloads everything from the strategy repository; `group_for(key, epoch)` answers
from memory and reloads at most once per `min_reload` seconds when asked for a group it does not know, or
at a different `epoch`, so a Celery worker follows strategy edits without reloading per task. A failed
reload keeps the previous state and raises (`SourceUnavailable`).

`documents` holds the JSON of the strategies a pull may write a snapshot of: those with an item that inline
thresholds can detect under `settings` (`records.threshold.item_thresholds`; a group is detected inline when
all its items can, a batch sub-task's group being a subset of its items). The others are not read at all.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from alarm_access import metrics
from alarm_access.access.data.grouping import build_groups
from alarm_access.access.data.ports import DataPorts
from alarm_access.access.data.query import item_plan
from alarm_access.kernel.errors import InvalidStrategy, SourceUnavailable
from alarm_access.kernel.model import StrategyGroup, Topology
from alarm_access.kernel.settings import DataSettings
from alarm_access.logs import ctx
from alarm_access.records.collector import gc_paused, refreeze
from alarm_access.records.enrich import TopologyIndex, index_topology
from alarm_access.records.threshold import item_thresholds

logger = logging.getLogger("alarm_access.access.data")
#: the default inline-threshold settings (the original's: inline detection on, for every strategy)
DEFAULT_SETTINGS = DataSettings()


def group_epoch(group: StrategyGroup) -> int:
    """The group's definition version: the newest update time of its strategies and items."""
    return max(max(strategy.update_time, item.update_time) for strategy, item in group.items)


class GroupCatalog:
    def __init__(self, ports: DataPorts, *, topology: bool = True, settings: DataSettings = DEFAULT_SETTINGS,
                 max_age: float = 60.0, min_reload: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ports = ports
        self._with_topology = topology
        self._settings = settings
        self._max_age = max_age
        self._min_reload = min_reload
        self._clock = clock
        self._loaded_at: float | None = None
        self.groups: dict[str, StrategyGroup] = {}
        self.topology: TopologyIndex = index_topology(Topology())
        #: strategy id → the strategy's cached JSON (the strategy snapshot written with inline anomalies)
        self.documents: Mapping[int, str] = {}
        self._reported: set[tuple[str, int]] = set()

    def refresh(self) -> None:
        self._load()
        refreeze()  # what a refresh built lives until the next one: later collections need not traverse it
        self._loaded_at = self._clock()

    @gc_paused  # millions of acyclic containers: the collector would traverse them again and again
    def _load(self) -> None:
        strategies = self._ports.strategies.load_strategies()
        groups = {group.key: group for group in build_groups(strategies) if self._runnable(group)}
        del strategies
        topology = index_topology(Topology())
        documents: dict[int, str] = {}
        if self._with_topology:
            topology = index_topology(self._ports.strategies.load_topology({g.bk_biz_id for g in groups.values()}))
            if wanted := self._snapshotted(groups.values()):
                documents = {int(doc["id"]): json.dumps(doc) for doc in self._ports.strategy_documents(wanted)
                             if "id" in doc}
        self.groups, self.topology, self.documents = groups, topology, documents

    def _snapshotted(self, groups: Iterable[StrategyGroup]) -> set[int]:
        """Ids of the strategies of `groups` a pull may write a snapshot of (see the module docstring)."""
        if not self._settings.inline_threshold:
            return set()
        allowed = frozenset(self._settings.inline_strategy_ids)
        return {strategy.id for group in groups for strategy, item in group.items
                if (not allowed or strategy.id in allowed) and item_thresholds(item) is not None}

    def _runnable(self, group: StrategyGroup) -> bool:
        """Whether `group`'s queries can be run exactly (`access.data.query.item_plan`); a group that cannot is
        left out and its strategies named, once per definition (its items share their queries: all or none)."""
        try:
            item_plan(group.first_item, f"strategies {','.join(map(str, group.strategy_ids))}")
        except InvalidStrategy as error:
            reported = (group.key, group_epoch(group))
            if reported not in self._reported:
                self._reported.add(reported)
                metrics.INVALID_GROUPS.inc()
                logger.warning("skipping a strategy group whose queries cannot be run", extra=ctx(
                    sgk=group.key, strategy_ids=",".join(map(str, group.strategy_ids)), error=str(error)))
            return False
        return True

    def group_for(self, key: str, epoch: int | None = None) -> StrategyGroup | None:
        """The group `key` (at `epoch` when given), reloading when stale or unknown; None if it does not exist."""
        now = self._clock()
        age = None if self._loaded_at is None else now - self._loaded_at
        group = self.groups.get(key)
        matches = group is not None and (epoch is None or group_epoch(group) == epoch)
        if age is None or age > self._max_age or (not matches and age > self._min_reload):
            try:
                self.refresh()
            except SourceUnavailable as exc:
                if self._loaded_at is None:
                    raise
                logger.error("strategy reload failed, using the previous groups: %s", exc)
            group = self.groups.get(key)
        if group is None or (epoch is not None and group_epoch(group) != epoch):
            return None
        return group
