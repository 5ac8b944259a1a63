"""Custom string events (data id 1100000) and GSE process-supervision events (data id 1100008), spec §1.4.

Contract: pure; `InvalidRecord` for a message without anything to flatten or with malformed fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alarm_access.access.event.kinds import EventKind, FlatEvent, as_int, parse_time
from alarm_access.kernel.errors import InvalidRecord

#: Display names of process events (the original's `GSE_PROCESS_EVENT_NAME`); unknown names show as "None".
PROCESS_EVENT_NAMES = {
    "process_restart_success": "进程重启成功",
    "process_restart_failed": "进程重启失败",
    "process_cancel_restart": "进程不再托管",
    "process_resource_limit_exceed": "进程资源超限（单进程维度）",  # noqa: RUF001 (the original text)
    "process_group_resource_limit_exceed": "进程资源超限（进程组维度）",  # noqa: RUF001 (the original text)
}
#: Timestamps below this are seconds, above it milliseconds (10^11 s is the year 5138; 10^11 ms is 1973).
_MS_THRESHOLD = 10**11


def flatten_custom_string(payload: Mapping[str, Any]) -> list[FlatEvent]:
    """One event per string of `_value_`; the string is the title, hence the value and the message."""
    values = payload.get("_value_")
    if not isinstance(values, list) or not values:
        raise InvalidRecord("missing_field", "_value_ is not a non-empty list")
    time = parse_time(payload.get("_utctime_"))
    server = str(payload.get("_server_") or "")
    biz_id = as_int(payload.get("_bizid_"), "_bizid_")
    cloud_id = as_int(payload.get("_cloudid_"), "_cloudid_")
    return [
        FlatEvent(kind=EventKind.CUSTOM_STRING, time=time, biz_id=biz_id, cloud_id=cloud_id, server=server,
                  host=server, title=str(text), extra={"value": text})
        for text in values
    ]


def process_event_time(timestamp: Any) -> int:
    """Epoch seconds of a process event's `timestamp`.

    The original always divided by 1000 (spec W15), so a seconds value landed in 1970; here a value below
    10^11 is taken as seconds and anything larger as milliseconds.
    """
    number = as_int(timestamp, "timestamp", default=-1)
    if number < 0:
        raise InvalidRecord("bad_time", f"process event timestamp {timestamp!r} is missing or negative")
    return number // 1000 if number >= _MS_THRESHOLD else number


def flatten_process(payload: Mapping[str, Any]) -> list[FlatEvent]:
    """One event per element of `data` that names an event; `dimensions` = its `dimension` + `event_name`."""
    elements = payload.get("data")
    if not isinstance(elements, list):
        raise InvalidRecord("missing_field", "data is not a list")
    events: list[FlatEvent] = []
    for position, element in enumerate(elements):
        if not isinstance(element, Mapping) or not element.get("event_name"):
            continue
        raw_dimension = element.get("dimension") or {}
        if not isinstance(raw_dimension, Mapping):
            raise InvalidRecord("bad_field", f"data[{position}].dimension is not an object")
        event_name = str(element["event_name"])
        dimensions = {**raw_dimension, "event_name": event_name}
        content = element.get("event") or {}
        content = content.get("content") if isinstance(content, Mapping) else None
        ip = str(raw_dimension.get("bk_target_ip") or "")
        events.append(FlatEvent(
            kind=EventKind.PROCESS,
            time=process_event_time(element.get("timestamp")),
            biz_id=as_int(raw_dimension.get("_bizid_"), "dimension._bizid_"),
            cloud_id=as_int(raw_dimension.get("bk_target_cloud_id"), "dimension.bk_target_cloud_id"),
            server=ip,
            host=ip,
            title=f"事件类型: {PROCESS_EVENT_NAMES.get(event_name)}, 事件内容: {content}",
            extra={"value": element},
            agent_id=str(raw_dimension.get("bk_agent_id") or ""),
            dimensions=dimensions,
        ))
    if not events:
        raise InvalidRecord("missing_field", "no element of data has an event_name")
    return events

