"""Event kinds of the `event` access type and the flat event record every parser produces (spec §1.3-§1.4).

A `FlatEvent` is one event about one host, before host resolution: the original's "flat" dict with its
`_time_`, `_bizid_`, `_cloudid_`, `_server_`, `_host_`, `_agent_id_`, `_title_`, `_extra_` and `dimensions`
keys as typed fields. Parsers build them; nothing mutates them afterwards (the original aliased and mutated
these dicts between strategy clones, spec W22).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alarm_access.kernel.errors import InvalidRecord

#: GSE data ids the original ingests (spec §1.1).
GSE_BASE_ALARM_DATA_ID = 1000
GSE_CUSTOM_EVENT_DATA_ID = 1100000
GSE_PROCESS_REPORT_DATA_ID = 1100008
DEFAULT_EVENT_DATA_IDS = (GSE_BASE_ALARM_DATA_ID, GSE_CUSTOM_EVENT_DATA_ID, GSE_PROCESS_REPORT_DATA_ID)


class EventKind(enum.Enum):
    """Each kind: (GSE type code, metric field). The strategy metric id is `bk_monitor.<metric field>`."""

    AGENT = (2, "agent-gse")
    DISK_READONLY = (3, "disk-readonly-gse")
    DISK_FULL = (6, "disk-full-gse")
    COREFILE = (7, "corefile-gse")
    PING = (8, "ping-gse")
    OOM = (9, "oom-gse")
    CUSTOM_STRING = (100, "gse_custom_event")
    PROCESS = (101, "gse_process_event")

    #: members are singletons compared by identity: the identity hash is equivalent to `Enum`'s hash of the
    #: name, and C-level, where `Enum.__hash__` is a Python call per `kind in enabled` (one per event)
    __hash__ = object.__hash__

    @property
    def code(self) -> int:
        return int(self.value[0])

    @property
    def metric_id(self) -> str:
        return _METRIC_IDS[self]

    @classmethod
    def by_code(cls, code: Any) -> EventKind | None:
        """The kind of GSE type `code` (int or numeric string); None for types access ignores (0, 1, 4, 5...)."""
        try:
            number = int(code)
        except (TypeError, ValueError):
            return None
        return _BY_CODE.get(number)


_BY_CODE = {kind.code: kind for kind in EventKind}
_METRIC_IDS = {kind: f"bk_monitor.{kind.value[1]}" for kind in EventKind}


#: not frozen: a frozen dataclass's `__init__` costs 6x (`object.__setattr__` per field) and one is built per event;
#: treat it as immutable all the same
@dataclass(slots=True)
class FlatEvent:
    """One event about one host. `agent_id` is None for kinds that never carry one (only agent and process
    events do; for them `agent_version` becomes a dimension). `dimensions` is only set by process events."""

    kind: EventKind
    time: int
    biz_id: int
    cloud_id: int
    server: str
    host: str
    title: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    agent_id: str | None = None
    dimensions: Mapping[str, Any] = field(default_factory=dict)


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


@functools.lru_cache(maxsize=4096)
def _parse_time_text(value: str) -> int:
    for fmt in _TIME_FORMATS:
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRecord("bad_time", f"event time {value!r} is not 'YYYY-MM-DD HH:MM:SS'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_time(value: Any) -> int:
    """Epoch seconds of a `"YYYY-MM-DD HH:MM:SS"` string read as UTC (the original's `arrow.get(_time_)`).

    ISO 8601 strings with an offset are honoured; anything else raises `InvalidRecord("bad_time")`.
    """
    if not isinstance(value, str):
        raise InvalidRecord("bad_time", f"event time {value!r} is not a string")
    # events of one batch share a handful of timestamps; strptime is the costliest step of parsing
    return _parse_time_text(value)


def as_int(value: Any, what: str, default: int = 0) -> int:
    """`int(value)`, `default` for None/""; `InvalidRecord("bad_field")` naming `what` otherwise."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidRecord("bad_field", f"{what} {value!r} is not an integer") from None
