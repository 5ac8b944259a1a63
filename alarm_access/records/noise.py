"""Noise-reduce base counts (spec data-access §3.16), as data for the sink to write.

For every strategy with noise reduction enabled, the sink ZADDs one member per distinct combination of the
configured dimensions (score = the latest record time) to
`access.noise_reduce.total.{strategy_id}.{dimensions_md5}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alarm_access.kernel.hashing import count_md5
from alarm_access.kernel.model import Record, StrategyGroup


@dataclass(frozen=True, slots=True)
class NoiseWrite:
    strategy_id: int
    dimensions_md5: str
    #: member (md5 of the record's values of the configured dimensions) → latest record time
    members: Mapping[str, int]


def noise_writes(group: StrategyGroup, pushed: Mapping[tuple[int, int], Sequence[Record]]) -> tuple[NoiseWrite, ...]:
    """Counts over the records pushed to the detect queues of each noise-reducing strategy's items."""
    members: dict[int, dict[str, int]] = {}
    for strategy, item in group.items:
        config = strategy.noise_reduce
        if config is None or not config.is_enabled:
            continue
        bucket = members.setdefault(strategy.id, {})
        for record in pushed.get((strategy.id, item.id), ()):
            dims = record.dimensions
            bucket[count_md5({d: dims.get(d) for d in config.dimensions})] = record.time
    writes = []
    for strategy, _ in group.items:
        bucket = members.pop(strategy.id, {})
        if bucket and strategy.noise_reduce is not None:
            writes.append(NoiseWrite(strategy.id, count_md5(list(strategy.noise_reduce.dimensions)), bucket))
    return tuple(writes)
