"""Ports of the `real_time_data` access type (implemented by `bootstrap.AdapterPorts`; the message stream and
dead letters are the `kernel.stream` ones shared with `event`). Keep a port's contract in its docstring."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Protocol

from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.ports import Ports
from alarm_access.kernel.stream import DeadLetterSink, MessageStream
from alarm_access.records.pipeline import PullResult

if TYPE_CHECKING:
    from alarm_access.access.real_time_data.routing import TableTopic


class PointSink(Protocol):
    """The detect hand-off of `data` (`adapters.redis.sink.RedisSink`), used without checkpoint or fence."""

    def read_seen(self, group: StrategyGroup, times: Iterable[int]) -> dict[int, set[str]]:
        """Record ids already delivered, per time bucket of `group`."""
        ...

    def read_priority(self, priority_group_keys: Iterable[str]) -> dict[str, dict[str, str]]: ...

    def deliver(self, result: PullResult, group: StrategyGroup, *, checkpoint: int, now: int) -> None:
        """Records, signal and dedupe state in one transaction, or nothing (`SourceUnavailable`,
        `Backpressure`); `checkpoint=0` stores none."""
        ...


class RealTimePorts(Ports, Protocol):
    def result_tables(self, table_ids: Collection[str]) -> list[TableTopic]:
        """Topic and dimensions of each table that has one (tables without a topic are logged and left out);
        `SourceUnavailable` when the data-source model cannot be read."""
        ...

    def real_time_stream(self, bootstrap: str, topics: Collection[str]) -> MessageStream:
        """A consumer of `topics` on cluster `bootstrap` in this deployment's real-time consumer group. The
        caller owns it: it must close it (closing commits what was done)."""
        ...

    def point_sink(self) -> PointSink: ...

    def dead_letters_on(self, bootstrap: str) -> DeadLetterSink:
        """The dead-letter producer of cluster `bootstrap` (a bad message goes back to its own cluster)."""
        ...

