"""The ports every access type shares: the strategy repository and the `Ports` root (ARCHITECTURE.md).

Each access type declares the ports it needs in its own `ports` module (`alarm_access.access.<type>.ports`),
extending `Ports`; adapters in `alarm_access.adapters` implement them, `alarm_access.bootstrap` wires them
up and `alarm_access.adapters.memory` holds fakes held to the same contract tests.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from alarm_access.kernel.model import Strategy, Topology


class StrategyRepository(Protocol):
    def load_strategies(self) -> list[Strategy]:
        """Every enabled strategy. A stored strategy that no longer parses is skipped and logged by name."""
        ...

    def load_topology(self, bk_biz_ids: Collection[int]) -> Topology:
        """Hosts, service instances and dynamic groups of the given businesses."""
        ...

#: `(strategy_id, update_time)` -> the key of the strategy snapshot that detect/trigger read back from an
#: anomaly's `strategy_snapshot_key` (the template lives with every other key in `adapters.redis.keys`)
SnapshotKey = Callable[[int, int], str]


class Ports(Protocol):
    """What handlers get from the composition root. Built lazily: a handler only opens what it uses."""

    @property
    def strategies(self) -> StrategyRepository: ...

    def snapshot_key(self, strategy_id: int, update_time: int) -> str:
        """The strategy snapshot key written with anomalies (a `SnapshotKey`)."""
        ...

    def close(self) -> None:
        """Close every client and server the ports opened. Safe to call twice."""
        ...
