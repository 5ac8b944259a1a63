"""`StrategyRepository` over the Django ORM, for long-running services.

Each call first drops a database connection that has gone stale or was closed by the server, so a
service that runs for days survives a database restart, and a failed query surfaces as
`SourceUnavailable` (retry at the next refresh) instead of killing the loop.

`serves(bk_biz_id)` is the deployment cluster's filter (`kernel.clusters.Cluster.serves`): a strategy of a
business another cluster serves is not loaded at all, whatever the access type.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from django.db import DatabaseError, close_old_connections, connections

from alarm_access.adapters.orm.strategies import load_strategies
from alarm_access.adapters.orm.topology import load_topology
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.kernel.model import Strategy, Topology


class OrmStrategyRepository:
    def __init__(self, serves: Callable[[int], bool] = lambda _biz: True) -> None:
        self._serves = serves

    def load_strategies(self) -> list[Strategy]:
        close_old_connections()
        try:
            strategies = load_strategies(enabled_only=True)
        except DatabaseError as exc:
            raise SourceUnavailable(f"strategy database failed: {exc}") from exc
        return [strategy for strategy in strategies if self._serves(strategy.bk_biz_id)]

    def load_topology(self, bk_biz_ids: Collection[int]) -> Topology:
        close_old_connections()
        try:
            return load_topology(bk_biz_ids)
        except DatabaseError as exc:
            raise SourceUnavailable(f"topology database failed: {exc}") from exc

    def close(self) -> None:
        connections.close_all()
