"""Pure event parsers and per-kind rules: flattening, kind detection, kind filters, facets, time units."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alarm_access.access.event.custom import process_event_time
from alarm_access.access.event.facets import facets, kind_filter
from alarm_access.access.event.kinds import EventKind, FlatEvent
from alarm_access.access.event.parse import ALL_KINDS, parse_message
from alarm_access.kernel.errors import InvalidRecord

T_TEXT, T = "2019-10-17 05:53:53", 1571291633


def gse(*extras: dict[str, Any], **envelope: Any) -> bytes:
    values = [{"event_time": "2019-10-17 13:53:53", "event_title": "", "extra": {"bizid": 0, "cloudid": 0, **e}}
              for e in extras]
    return json.dumps({"server": "10.0.0.9", "utctime2": T_TEXT, "value": values, **envelope}).encode()


def test_agent_lost_flattens_one_event_per_agent_with_its_agent_id() -> None:
    hosts = [{"bizid": 2, "cloudid": 0, "ip": "10.0.0.1"}, {"bizid": 2, "cloudid": 3, "agent_id": "0100abc"}]
    events = parse_message(1000, gse({"type": 2, "host": hosts}))
    assert [(e.kind, e.host, e.cloud_id, e.agent_id, e.time) for e in events] == [
        (EventKind.AGENT, "10.0.0.1", 0, "", T), (EventKind.AGENT, "", 3, "0100abc", T)]


def test_ping_flattens_one_event_per_unreachable_target_from_the_pinging_server() -> None:
    events = parse_message(1000, gse({"type": 8, "host": "10.0.0.1", "iplist": ["10.0.0.2", "10.0.0.3"]}))
    assert [(e.server, e.host) for e in events] == [("10.0.0.1", "10.0.0.2"), ("10.0.0.1", "10.0.0.3")]
    assert "iplist" not in events[0].extra


def test_every_alarm_of_a_multi_alarm_message_is_kept() -> None:
    # the original rejected any message whose `value` did not hold exactly one alarm (spec W14)
    events = parse_message(1000, gse({"type": 6, "host": "10.0.0.1", "free": 1, "file_system": "/dev/vda"},
                                     {"type": 9, "host": "10.0.0.2", "process": "java"}))
    assert [e.kind for e in events] == [EventKind.DISK_FULL, EventKind.OOM]


def test_bkmonitorbeat_envelope_names_the_host() -> None:
    message = gse({"type": 7, "host": "10.0.0.1", "corefile": "/c"}, agent={"type": "bkmonitorbeat"}, ip="10.0.0.5")
    assert parse_message(1000, message)[0].host == "10.0.0.5"


def test_ignored_and_disabled_types_are_not_errors() -> None:
    assert parse_message(1000, gse({"type": 0, "host": "10.0.0.1"})) == []
    assert parse_message(1000, gse({"type": 8, "host": "h", "iplist": ["x"]}), ALL_KINDS - {EventKind.PING}) == []


def test_custom_strings_are_recognised_by_their_int_data_id() -> None:
    payload = {"_bizid_": 0, "_cloudid_": 0, "_server_": "10.0.0.2", "_utctime_": T_TEXT, "_value_": ["a", "b"]}
    events = parse_message(1100000, json.dumps(payload).encode() + b"\n")
    assert [(e.kind, e.host, e.title, e.time) for e in events] == [
        (EventKind.CUSTOM_STRING, "10.0.0.2", "a", T), (EventKind.CUSTOM_STRING, "10.0.0.2", "b", T)]


def test_process_event_dimensions_title_and_time_units() -> None:
    element = {"dimension": {"bk_target_ip": "10.0.0.2", "bk_target_cloud_id": "0", "process_name": "beat",
                             "bk_agent_id": "02abc"},
               "event": {"content": "restarted"}, "event_name": "process_restart_failed", "timestamp": T * 1000}
    events = parse_message(1100008, json.dumps({"data": [element, {"event_name": ""}]}).encode())
    assert len(events) == 1
    assert events[0].title == "事件类型: 进程重启失败, 事件内容: restarted"
    assert events[0].dimensions["event_name"] == "process_restart_failed"
    assert (events[0].time, events[0].agent_id, events[0].host) == (T, "02abc", "10.0.0.2")
    assert process_event_time(T) == T  # seconds stay seconds (the original put them in 1970, spec W15)


@pytest.mark.parametrize(("value", "reason"), [
    (None, "empty"), (b"", "empty"), (b"\xff\xfe", "not_utf8"), (b"{oops", "not_json"), (b"[1]", "not_object"),
    (b'{"hello": 1}', "unknown_format"),
    (json.dumps({"utctime2": "yesterday", "value": [{"extra": {"type": 6, "host": "h"}}]}).encode(), "bad_time"),
    (json.dumps({"value": [{"event_time": T_TEXT, "extra": {"type": 6}}]}).encode(), "missing_field"),
    (json.dumps({"_value_": [], "_utctime_": T_TEXT}).encode(), "missing_field"),
    (json.dumps({"data_id": 1100008, "data": [{"event_name": "x", "timestamp": "soon"}]}).encode(), "bad_field"),
])
def test_malformed_messages_raise_invalid_record_with_a_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidRecord) as error:
        parse_message(1000, value)
    assert error.value.reason == reason


def event(kind: EventKind, **extra: Any) -> FlatEvent:
    return FlatEvent(kind=kind, time=T, biz_id=0, cloud_id=0, server="s", host="h", title="", extra=extra)


def test_disk_full_filter_ignores_pseudo_file_systems_and_loop_devices() -> None:
    assert kind_filter(event(EventKind.DISK_FULL, free=5, fstype="tmpfs", file_system="/dev/x")) is not None
    assert kind_filter(event(EventKind.DISK_FULL, free=5, fstype="ext4", file_system="/dev/loop3")) is not None
    assert kind_filter(event(EventKind.DISK_FULL, free=5, fstype="ext4", file_system="/dev/vda1")) is None
    with pytest.raises(InvalidRecord):
        kind_filter(event(EventKind.DISK_FULL, fstype="ext4", file_system="/dev/vda1"))


def test_disk_readonly_yields_one_facet_per_kept_entry() -> None:
    ro = [{"positoin": "/a", "fs": "/dev/vdb", "type": "ext4"}, {"position": "/sys", "fs": "tmpfs", "type": "tmpfs"},
          {"position": "/b", "fs": "/dev/vdc", "type": "xfs"}]
    found = facets(event(EventKind.DISK_READONLY, ro=ro))
    assert [f.dimensions for f in found] == [{"position": "/a", "type": "ext4", "fs": "/dev/vdb"},
                                             {"position": "/b", "type": "xfs", "fs": "/dev/vdc"}]
    assert found[0].message == "磁盘(/dev/vdb-ext4(/a))只读告警"
    assert kind_filter(event(EventKind.DISK_READONLY, ro=[ro[1]])) is not None


@pytest.mark.parametrize(("extra", "message"), [
    ({"executable": "nginx", "signal": "SIGSEGV"}, "nginx进程因为SIGSEGV异常信号产生corefile：/c"),  # noqa: RUF001
    ({"executable": "nginx"}, "nginx进程产生corefile：/c"),  # noqa: RUF001
    ({"signal": "SIGABRT"}, "进程因为SIGABRT异常信号产生corefile：/c"),  # noqa: RUF001
    ({}, "产生corefile：/c"),  # noqa: RUF001
])
def test_corefile_messages(extra: dict[str, str], message: str) -> None:
    facet = facets(event(EventKind.COREFILE, corefile="/c", **extra))[0]
    assert facet.message == message
    assert facet.dimensions["__additional_dimensions"] == {"corefile": "/c"}


def test_oom_keeps_process_out_of_dimensions_and_message_out_of_identity() -> None:
    facet = facets(event(EventKind.OOM, process="java", message="killed", total=2, task="t"))[0]
    assert facet.dimensions == {"message": "killed", "task": "t", "__additional_dimensions": {"process": "java"}}
    assert facet.identity == {"task": "t"}  # W12: neither __additional_dimensions nor the volatile message
    assert facet.message == "发现OOM异常事件发生（进程:java），共OOM次数2次, 信息:killed"  # noqa: RUF001
