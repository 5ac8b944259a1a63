"""What the pipeline runs of one pull share: the group's compiled plan and each series' identity and decision.

`series_cache(group, index)` is made once per pull; `pipeline.run` takes it, so that a pull delivered in
several batches (`access.data.bounded`) computes a series' md5, enrichment, host status and item scope once per
pull, not once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.model import StrategyGroup
from alarm_access.records.enrich import TopologyIndex, enrich
from alarm_access.records.filters import KEEP, ItemScope, compile_scope, expire_after, host_status
from alarm_access.records.result import ItemKey, PipelineSettings
from alarm_access.records.standardize import RecordPlan, Series, SeriesMemo, plan_records


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """Per-run compilation of a group: everything that does not depend on the point."""

    records: RecordPlan
    keys: tuple[ItemKey, ...]
    scopes: tuple[ItemScope, ...]
    scoped: bool
    max_age: int
    limit_times: bool


def compile_group(group: StrategyGroup, index: TopologyIndex) -> GroupPlan:
    first = group.first_item
    scopes = tuple(compile_scope(item, index) for _, item in group.items)
    return GroupPlan(
        records=plan_records(first),
        keys=tuple((strategy.id, item.id) for strategy, item in group.items),
        scopes=scopes,
        scoped=not all(scope.keeps_everything for scope in scopes),
        max_age=expire_after(first),
        limit_times=any(qc.data_type_label == "time_series" for qc in first.query_configs),
    )


#: per-series outcome of enrichment, host status and item scope: (status, retained items, out-of-target keys)
Decision = tuple[str, tuple[int, ...], tuple[ItemKey, ...]]


def decide(plan: GroupPlan, dims: dict[str, Any], index: TopologyIndex, settings: PipelineSettings) -> Decision:
    """Enrich `dims` in place, then decide host status and which items keep the series' records."""
    enrich(dims, index)
    status = host_status(dims, index, settings.disabled_host_states)
    all_items = tuple(range(len(plan.keys)))
    if status != KEEP:
        return status, (), ()
    if not plan.scoped:
        return status, all_items, ()
    retained = tuple(i for i in all_items if plan.scopes[i].is_in_scope(dims))
    return status, retained, tuple(plan.keys[i] for i in all_items if i not in retained)


@dataclass(frozen=True, slots=True)
class SeriesCache:
    """What the runs of one pull share when its points come in several batches (`access.data.bounded`): the
    group's plan and each series' identity and decision, so a series costs one md5 per pull, not per batch.
    Valid for one group, topology index and `PipelineSettings`; it grows with the pull's distinct series."""

    plan: GroupPlan
    memo: SeriesMemo
    decisions: dict[Series, Decision]


def series_cache(group: StrategyGroup, index: TopologyIndex) -> SeriesCache:
    plan = compile_group(group, index)
    return SeriesCache(plan, SeriesMemo(plan.records), {})


