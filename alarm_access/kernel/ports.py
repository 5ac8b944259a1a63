"""The ports every access type shares: the strategy repository and the `Ports` root (ARCHITECTURE.md).

Each access type declares the ports it needs in its own `ports` module (`alarm_access.access.<type>.ports`),
extending `Ports`; adapters in `alarm_access.adapters` implement them, `alarm_access.bootstrap` wires them
up and `alarm_access.adapters.memory` holds fakes held to the same contract tests.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from alarm_access.kernel.model import Strategy, Topology


class StrategyRepository(Protocol):
    def load_strategies(self) -> list[Strategy]:
        """Every enabled strategy. A stored strategy that no longer parses is skipped and logged by name."""
        ...

    def load_topology(self, bk_biz_ids: Collection[int]) -> Topology:
        """Hosts, service instances and dynamic groups of the given businesses."""
        ...


class Ports(Protocol):
    """What handlers get from the composition root. Built lazily: a handler only opens what it uses."""

    @property
    def strategies(self) -> StrategyRepository: ...

    def close(self) -> None:
        """Close every client and server the ports opened. Safe to call twice."""
        ...
