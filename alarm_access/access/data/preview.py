"""Preview of the `data` access type: the service's record pipeline on points read from a file.

Contract of `preview_data(preview)`:
* the groups are the service's: `grouping.build_groups` over the given strategies (disabled strategies and
  non-data items take no part); `PreviewError` when that leaves no group;
* the file's points stand for the answers of the groups' queries, which the preview does not run: a point
  goes to every group whose metrics it carries (for each query config of the group, the point has the
  config's alias or its metric field) — so a file may mix metrics; `agg_condition`s the TSDB would
  evaluate are not re-applied, and no query window is applied (old points drop as `expired`);
* each group runs `pipeline.run` exactly as a pull does, with the given clock `now` (also the records'
  `access_time`, so output is reproducible), topology, dedupe state (the same for every group), no
  priority state and the deployment's default pipeline settings;
* lines are returned in `base.ordered` order. A point that is not a JSON object is dropped as
  `invalid_point` and one that no group's query returns as `no_group`; the others are dropped with the
  pipeline's reasons (`none_value`, `no_time`, `duplicate`, `expired`, `unknown_host`, `empty_host`,
  `time_limit`, and per item `out_of_target`, `host_disabled`, `inhibited`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alarm_access.access.data.grouping import build_groups
from alarm_access.formats.preview import Line, PreviewError, PreviewInput, ordered
from alarm_access.kernel.model import StrategyGroup
from alarm_access.records import pipeline
from alarm_access.records.enrich import TopologyIndex, index_topology
from alarm_access.records.standardize import plan_records, to_wire

#: The synthetic unified-query result every point carries; it says nothing about which query it answers.
_RESULT_FIELD = "_result_"


def _metric_keys(group: StrategyGroup) -> tuple[tuple[str, str], ...]:
    """`(alias, field)` per query config of the group, as the record plan reads them."""
    return tuple(pair for pair in plan_records(group.first_item).metrics if pair[1] != _RESULT_FIELD)


def _answers(point: Mapping[str, Any], metrics: tuple[tuple[str, str], ...]) -> bool:
    return all((alias and alias in point) or field in point for alias, field in metrics)


def _group_lines(
    group: StrategyGroup, points: Sequence[Mapping[str, Any]], topology: TopologyIndex, preview: PreviewInput
) -> list[Line]:
    result = pipeline.run(
        group,
        points,
        now=preview.now,
        topology_index=topology,
        seen_record_ids=preview.seen_record_ids,
        priority_state={},
        access_time=float(preview.now),
        detail=True,
    )
    lines: list[Line] = [
        {"strategy_id": strategy_id, "item_id": item_id, "record": to_wire(record)}
        for (strategy_id, item_id), records in result.data.items()
        for record in records
    ]
    strategy_ids = sorted({strategy.id for strategy, _ in group.items})
    for dropped in result.dropped_points:
        line = dropped.as_dict()
        if dropped.item is None:
            line["strategy_ids"] = strategy_ids
        lines.append(line)
    return lines


def preview_data(preview: PreviewInput) -> list[Line]:
    """Records and drops of one pull of every group of `preview.strategies` over `preview.inputs`."""
    groups = build_groups(preview.strategies)
    if not groups:
        raise PreviewError("no enabled strategy has a data item (time_series or log, not real-time)")
    metrics = [_metric_keys(group) for group in groups]
    per_group: list[list[Mapping[str, Any]]] = [[] for _ in groups]
    lines: list[Line] = []
    for entry in preview.inputs:
        if not isinstance(entry, Mapping):
            lines.append({"dropped": "invalid_point", "point": entry})
            continue
        taken = [index for index, keys in enumerate(metrics) if _answers(entry, keys)]
        if not taken:
            lines.append({"dropped": "no_group", "point": dict(entry)})
        for index in taken:
            per_group[index].append(entry)
    topology = index_topology(preview.topology)
    for group, points in zip(groups, per_group, strict=True):
        if points:
            lines.extend(_group_lines(group, points, topology, preview))
    return ordered(lines)
