"""Inline detection output: what the detect service would write for a group's records (spec §3.15).

`detect_records` turns the records each item would have received on `access.data.{sid}.{iid}` into the
detect service's output, decided exactly as detect decides it (`records.threshold`):
* anomaly lines for `detect.anomaly.list.{sid}.{iid}`, each
  ``{"data": <the record as detect read it>, "anomaly": {"<level>": {"anomaly_message", "anomaly_id",
  "anomaly_time"}}, "strategy_snapshot_key"}`` with `anomaly_id = "{record_id}.{sid}.{iid}.{level}"`, in
  detect's order (records in queue order at the lowest anomalous level first, then new ones of higher
  levels);
* check results: per level and record, member `"{T}|ANOMALY"` or `"{T}|{value}"` scored `T` on
  `detect.result.{sid}.{iid}.{md5}.{level}`, and per item the newest `T` per `detect.result.{md5}.{level}`
  field of `detect.last.checkpoint.{sid}.{iid}`.
Pure: the caller writes `AnomalyWrites` in its delivery transaction. Deviation: the message's current-value
suffix shows the record value as access rounded it (detect re-formats it through its unit helpers; with
no unit, as inline detection requires, that is the same number).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alarm_access.kernel.model import Record, StrategyGroup
from alarm_access.kernel.ports import SnapshotKey
from alarm_access.records.standardize import to_wire
from alarm_access.records.threshold import ItemThresholds, detect_value

ItemKey = tuple[int, int]
#: (strategy id, item id, dimensions md5, level)
CheckKey = tuple[int, int, str, int]


@dataclass(frozen=True, slots=True)
class AnomalyWrites:
    lines: Mapping[ItemKey, tuple[str, ...]] = field(default_factory=dict)
    check_results: Mapping[CheckKey, Mapping[str, int]] = field(default_factory=dict)
    last_checkpoints: Mapping[ItemKey, Mapping[str, int]] = field(default_factory=dict)
    #: strategy snapshot key suffix (strategy id, update time) → strategy JSON, for the keys the lines name
    snapshots: Mapping[tuple[int, int], str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(lines) for lines in self.lines.values())


def utc_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def detect_records(
    group: StrategyGroup,
    data: Mapping[ItemKey, tuple[Record, ...]],
    thresholds: Mapping[ItemKey, ItemThresholds],
    *,
    now: float,
    snapshot_key: SnapshotKey,
    documents: Mapping[int, str],
) -> AnomalyWrites:
    """Detect every item's records. `snapshot_key` names the strategy snapshot key;
    `documents` maps strategy ids to their JSON (a strategy without one gets no snapshot written)."""
    anomaly_time = utc_text(now)
    lines: dict[ItemKey, tuple[str, ...]] = {}
    checks: dict[CheckKey, dict[str, int]] = {}
    last: dict[ItemKey, dict[str, int]] = {}
    snapshots: dict[tuple[int, int], str] = {}
    for strategy, item in group.items:
        key = (strategy.id, item.id)
        records = data.get(key, ())
        if not records:
            continue
        snapshot = snapshot_key(strategy.id, strategy.update_time)
        results: dict[str, dict[str, object]] = {}
        fired = [detect_value(thresholds[key], record.value) for record in records]
        for level, _ in thresholds[key].levels:
            for record, levels in zip(records, fired, strict=True):
                description = next((text for lvl, text in levels if lvl == level), None)
                md5 = record.record_id.partition(".")[0]
                member = f"{record.time}|ANOMALY" if description is not None else f"{record.time}|{record.value}"
                checks.setdefault((strategy.id, item.id, md5, level), {})[member] = record.time
                field_name = f"detect.result.{md5}.{level}"
                item_last = last.setdefault(key, {})
                item_last[field_name] = max(item_last.get(field_name, 0), record.time)
                if description is None:
                    continue
                entry = results.setdefault(record.record_id, {
                    "data": to_wire(record), "anomaly": {}, "strategy_snapshot_key": snapshot,
                })
                anomalies = entry["anomaly"]
                assert isinstance(anomalies, dict)
                anomalies[str(level)] = {
                    "anomaly_message": f"{item.name}{description}, 当前值{record.value}",
                    "anomaly_id": f"{record.record_id}.{strategy.id}.{item.id}.{level}",
                    "anomaly_time": anomaly_time,
                }
        if results:
            lines[key] = tuple(json.dumps(entry) for entry in results.values())
            if strategy.id in documents:
                snapshots[(strategy.id, strategy.update_time)] = documents[strategy.id]
    return AnomalyWrites(lines, checks, last, snapshots)
