"""The result of one strategy-group pull (`alarm_access.records.pipeline.run`) and the knobs that shape it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alarm_access.kernel.model import Record
from alarm_access.records.filters import DEFAULT_DISABLED_HOST_STATES
from alarm_access.records.limit import DEFAULT_MAX_TIME_POINTS
from alarm_access.records.noise import NoiseWrite
from alarm_access.records.priority import PriorityWrite

#: `(strategy_id, item_id)`
ItemKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    max_time_points: int = DEFAULT_MAX_TIME_POINTS
    disabled_host_states: frozenset[str] = DEFAULT_DISABLED_HOST_STATES


@dataclass(frozen=True, slots=True)
class DroppedPoint:
    """One point (or one point for one item) that was not pushed, for dry runs."""

    reason: str
    point: Mapping[str, Any]
    item: ItemKey | None = None

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"dropped": self.reason, "point": dict(self.point)}
        if self.item is not None:
            shown["strategy_id"], shown["item_id"] = self.item
        return shown


@dataclass(frozen=True, slots=True)
class PullResult:
    """Everything one pull decided. Record-level `drops` count points (`none_value`, `no_time`,
    `duplicate`, `expired`, `unknown_host`, `empty_host`, `time_limit`); item-level ones count
    (record, item) pairs (`out_of_target`, `host_disabled`, `inhibited`).

    `checkpoint` is the candidate for the group's checkpoint (store `max(stored, checkpoint)`): the last
    kept bucket when the time-point limit fired, else the newest surviving record, else the newest
    queried time when every point was a duplicate or dropped, else `None`.
    """

    group_key: str
    data: Mapping[ItemKey, tuple[Record, ...]]
    nodata: Mapping[ItemKey, tuple[Record, ...]]
    signal: tuple[int, ...]
    dedupe_additions: Mapping[int, frozenset[str]]
    priority_writes: tuple[PriorityWrite, ...]
    noise_writes: tuple[NoiseWrite, ...]
    checkpoint: int | None
    last_time_point: int | None
    discarded_times: frozenset[int]
    drops: Mapping[str, int]
    dropped_points: tuple[DroppedPoint, ...]
    pulled: int
    created: int


#: The deployment defaults (10 time points, the original disabled host states).
DEFAULT_SETTINGS = PipelineSettings()
