"""GSE basic alarms (data id 1000): agent lost, disk read-only, disk full, corefile, ping, OOM (spec §1.4).

Envelope: `{"server", "utctime2"?, "agent"?: {"type"}, "ip"?, "value": [{"event_time", "event_title",
"extra": {"type", "bizid", "cloudid", "host", ...}}]}`. Every element of `value` is flattened (the original
accepted exactly one, spec W14); elements of a type access does not handle are skipped.

Contract: pure; raises `InvalidRecord` (reason `missing_field`, `bad_field`, `bad_time`) for a malformed
element, so the caller can dead-letter the whole message instead of losing its batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alarm_access.access.event.kinds import EventKind, FlatEvent, as_int, parse_time
from alarm_access.kernel.errors import InvalidRecord


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if type(value) is dict:  # what JSON decodes to; the ABC check below is several times slower
        return value
    if not isinstance(value, Mapping):
        raise InvalidRecord("missing_field", f"{what} is not an object")
    return value


def _required(owner: Mapping[str, Any], key: str, what: str) -> Any:
    if owner.get(key) is None:
        raise InvalidRecord("missing_field", f"{what}.{key} is missing")
    return owner[key]


def flatten_gse(payload: Mapping[str, Any], enabled: Collection[EventKind]) -> list[FlatEvent]:
    """Every flat event of one GSE basic-alarm message, in element order."""
    elements = payload.get("value")
    if not isinstance(elements, list):
        raise InvalidRecord("missing_field", "value is not a list")
    events: list[FlatEvent] = []
    for position, raw in enumerate(elements):
        element = _mapping(raw, f"value[{position}]")
        extra = _mapping(element.get("extra"), f"value[{position}].extra")
        kind = EventKind.by_code(extra.get("type"))
        if kind is None or kind not in enabled:
            continue
        time = parse_time(payload.get("utctime2") or element.get("event_time"))
        title = str(element.get("event_title") or "")
        if kind is EventKind.AGENT:
            events.extend(_agent(extra, time, title, str(payload.get("server") or ""), position))
        elif kind is EventKind.PING:
            events.extend(_ping(extra, time, title, position))
        else:
            events.append(_generic(kind, payload, extra, time=time, title=title, position=position))
    return events


def _generic(kind: EventKind, payload: Mapping[str, Any], extra: Mapping[str, Any], *, time: int, title: str,
             position: int) -> FlatEvent:
    agent = payload.get("agent")
    if isinstance(agent, Mapping) and agent.get("type") == "bkmonitorbeat" and payload.get("ip"):
        host = payload["ip"]  # bkmonitorbeat reports for the host it runs on
    else:
        host = _required(extra, "host", f"value[{position}].extra")
    return FlatEvent(
        kind=kind,
        time=time,
        biz_id=as_int(extra.get("bizid"), "extra.bizid"),
        cloud_id=as_int(extra.get("cloudid"), "extra.cloudid"),
        server=str(payload.get("server") or ""),
        host=str(host),
        title=title,
        extra=extra,
    )


def _agent(extra: Mapping[str, Any], time: int, title: str, server: str, position: int) -> list[FlatEvent]:
    """One event per lost agent of `extra.host` (a list of `{bizid, cloudid, ip | agent_id}`)."""
    hosts = extra.get("host")
    if not isinstance(hosts, list):
        raise InvalidRecord("missing_field", f"value[{position}].extra.host is not a list of agents")
    events = []
    for index, raw in enumerate(hosts):
        entry = _mapping(raw, f"value[{position}].extra.host[{index}]")
        events.append(FlatEvent(
            kind=EventKind.AGENT,
            time=time,
            biz_id=as_int(entry.get("bizid"), "host.bizid"),
            cloud_id=as_int(entry.get("cloudid"), "host.cloudid"),
            server=server,
            host=str(entry.get("ip") or ""),
            title=title,
            agent_id=str(entry.get("agent_id") or ""),
        ))
    return events


def _ping(extra: Mapping[str, Any], time: int, title: str, position: int) -> list[FlatEvent]:
    """One event per unreachable target of `extra.iplist`; `server` is the pinging host (`extra.host`)."""
    targets = extra.get("iplist")
    if not isinstance(targets, list):
        raise InvalidRecord("missing_field", f"value[{position}].extra.iplist is not a list")
    server = str(_required(extra, "host", f"value[{position}].extra"))
    biz_id = as_int(extra.get("bizid"), "extra.bizid")
    cloud_id = as_int(extra.get("cloudid"), "extra.cloudid")
    # `iplist` is not copied into `extra`: it is the fan-out, not an attribute of one event
    rest = {key: value for key, value in extra.items() if key != "iplist"}
    return [
        FlatEvent(kind=EventKind.PING, time=time, biz_id=biz_id, cloud_id=cloud_id, server=server,
                  host=str(target), title=title, extra=rest)
        for target in targets
    ]
