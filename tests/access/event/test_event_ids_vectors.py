"""One id vector per event kind, from the original's own fixtures and record code.

Raw messages are the original's test fixtures (`alarm_backends/tests/service/access/event/config.py`:
`AGENT_LOSE_DATA*`, `PING_UNREACH_DATA`, `DISK_READ_ONLY_DATA`, `DISK_FULL_DATA`, `COREFILE_DATA`,
`CUSTOM_STR_DATA`, `GSE_PROCESS_EVENT_DATA`; their `HOST_OBJECT`: host 2, 127.0.0.1, cloud 0, biz 2, topology
module 9 / set 5 / test 2 / biz 2) or, for OOM and the optional corefile fields the fixtures lack, the
original's record docstrings. The expected md5s are the fixtures' (`990d2ce8...` = the host dimensions,
`b3a0d985...`/`8043faac...` = + agent_version v1/v2, `53125324...` = the process event's raw dimensions),
recomputed with `count_md5` where the fixture has no such case. The rule they show (spec §1.5, §1.7): the md5
in `record_id`/`anomaly_id` covers the dimensions built when the host is resolved, not the kind's extra output
dimensions (`clean_dimensions` adds them to a copy), except corefile and OOM (their `clean_dimensions` mutate
the raw dimensions first) minus `__additional_dimensions` and OOM's `message` (our W12 fix).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from alarm_access.access.event.fanout import fan_out
from alarm_access.access.event.kinds import GSE_BASE_ALARM_DATA_ID, GSE_CUSTOM_EVENT_DATA_ID, GSE_PROCESS_REPORT_DATA_ID
from alarm_access.access.event.parse import flatten
from alarm_access.access.event.routing import Routing, build_routing
from alarm_access.access.event.standardize import standardize
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.kernel.hashing import count_md5
from alarm_access.kernel.model import Algorithm, Host, Item, QueryConfig, Strategy, Topology
from alarm_access.records.enrich import index_topology

T = 1700000000
UTC = "2023-11-14 22:13:20"  # T
NOW = T + 60
TOPO = ["biz|2", "module|9", "set|5", "test|2"]
HOST_MD5 = "990d2ce882caacb380df66462c847d9a"
HOST_DIMS = {"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": 0, "bk_host_id": 2, "bk_topo_node": TOPO}
BASE_FIELDS = ["bk_target_ip", "bk_target_cloud_id"]
#: the original fixture's HOST_OBJECT, plus the pinging server of PING_UNREACH_DATA (127.0.0.11, same business)
HOSTS = (
    Host(2, "127.0.0.1", 0, 2, agent_id="0100005254008ed86116666614661851",
         topo_link={"module|9": ("module|9", "set|5", "test|2", "biz|2")}),
    Host(11, "127.0.0.11", 0, 2),
)
#: kind → (strategy id, item id, level) of the fixture's strategy
STRATEGIES = {"agent-gse": (31, 54, 3), "ping-gse": (35, 58, 1), "disk-readonly-gse": (31, 55, 2),
              "disk-full-gse": (31, 64, 3), "corefile-gse": (31, 57, 1), "oom-gse": (31, 59, 2),
              "gse_custom_event": (30, 53, 2), "gse_process_event": (31, 449, 2)}


def routing(metric: str) -> Routing:
    sid, iid, level = STRATEGIES[metric]
    item = Item(iid, metric, (QueryConfig("bk_monitor", "event", metric_field=metric),),
                algorithms=(Algorithm("", level, []),))
    built, problems = build_routing([Strategy(sid, 2, metric, (item,), update_time=1)],
                                    index_topology(Topology(hosts=HOSTS)),
                                    snapshot_key=RedisKeys("kp").strategy_snapshot, disabled_states=set())
    assert problems == []
    return built


def gse(extra: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {"server": "127.0.0.1", "utctime2": UTC, "time": UTC, "timezone": 8, **envelope,
            "value": [{"event_raw_id": 1, "event_type": "gse_basic_alarm_type", "event_time": UTC,
                       "event_title": "", "event_desc": "", "event_source_system": "",
                       "extra": {"bizid": 0, "cloudid": 0, **extra}}]}


def agent(host: dict[str, Any]) -> dict[str, Any]:
    return gse({"count": 1, "host": [host], "type": 2})


PROCESS_ELEMENT: dict[str, Any] = {
    "dimension": {"bk_target_cloud_id": "0", "bk_target_ip": "127.0.0.1", "process_group_id": "nodeman",
                  "process_index": "nodeman:bkmonitorbeat", "process_name": "bkmonitorbeat"},
    "event": {"content": "check bkmonitorbeat not running, and restart it success"},
    "event_name": "process_restart_success", "target": "10.0.1.10|0",
    "timestamp": T * 1000}  # the fixture's 1619171000 is a seconds value the original divides by 1000 (W15)
PROCESS = {"data_id": 1100008, "data": [PROCESS_ELEMENT]}

#: name → (data id, payload, metric, record md5, output dimensions, dimension_fields, anomaly_message)
VECTORS: dict[str, tuple[int, dict[str, Any], str, str, dict[str, Any], list[str], str]] = {
    "agent v1 (AGENT_LOSE_DATA)": (
        GSE_BASE_ALARM_DATA_ID, agent({"ip": "127.0.0.1", "cloudid": 0, "bizid": 0}), "agent-gse",
        "b3a0d98506ed48e358e9176dbe4d23c4", {**HOST_DIMS, "agent_version": "v1"}, [*BASE_FIELDS, "agent_version"],
        "GSE AGENT 失联"),
    "agent 1.0 id (AGENT_LOSE_DATA2)": (
        GSE_BASE_ALARM_DATA_ID, agent({"cloudid": 0, "bizid": 0, "agent_id": "0:127.0.0.1"}), "agent-gse",
        "b3a0d98506ed48e358e9176dbe4d23c4", {**HOST_DIMS, "agent_version": "v1"}, [*BASE_FIELDS, "agent_version"],
        "GSE AGENT 失联"),
    "agent 2.0 id (AGENT_LOSE_DATA3)": (
        GSE_BASE_ALARM_DATA_ID, agent({"cloudid": 0, "bizid": 0, "agent_id": "0100005254008ed86116666614661851"}),
        "agent-gse", "8043faacbbd950898164a946faabe72c", {**HOST_DIMS, "agent_version": "v2"},
        [*BASE_FIELDS, "agent_version"], "GSE AGENT 失联"),
    "ping (PING_UNREACH_DATA)": (
        GSE_BASE_ALARM_DATA_ID, gse({"count": 30, "host": "127.0.0.11", "iplist": ["127.0.0.1"], "type": 8}),
        "ping-gse", HOST_MD5, HOST_DIMS, BASE_FIELDS, "Ping不可达"),
    "disk read-only (DISK_READ_ONLY_DATA)": (
        GSE_BASE_ALARM_DATA_ID, gse({"host": "127.0.0.1", "type": 3, "ro": [
            {"position": r"\/sys\/fs\/cgroup", "fs": "tmpfs", "type": "tmpfs"},
            {"position": r"\/readonly_disk", "fs": r"dev\/vdb", "type": "ext4"}]}),
        "disk-readonly-gse", HOST_MD5,
        # W13: the entry left by DiskReadonlyFilter (the fixture's concatenation is of the unfiltered list)
        {**HOST_DIMS, "position": r"\/readonly_disk", "type": "ext4", "fs": r"dev\/vdb"},
        [*BASE_FIELDS, "position", "type", "fs"], "磁盘(dev\\/vdb-ext4(\\/readonly_disk))只读告警"),
    "disk full (DISK_FULL_DATA)": (
        GSE_BASE_ALARM_DATA_ID, gse({"used_percent": 93, "used": 45330684, "free": 7, "fstype": "ext4",
                                     "host": "127.0.0.1", "disk": "/", "file_system": "/dev/vda1",
                                     "size": 51473888, "avail": 3505456, "type": 6}),
        "disk-full-gse", HOST_MD5, {**HOST_DIMS, "disk": "/", "file_system": "/dev/vda1", "fstype": "ext4"},
        [*BASE_FIELDS, "file_system", "fstype", "disk"], "磁盘(/)剩余空间只有7%"),
    "corefile (COREFILE_DATA)": (
        GSE_BASE_ALARM_DATA_ID, gse({"corefile": "/data/corefile/core_101041_2019-11-04", "filesize": "0",
                                     "host": "127.0.0.1", "type": 7}),
        "corefile-gse", HOST_MD5,  # W12: the original's md5 also covers __additional_dimensions
        {**HOST_DIMS, "__additional_dimensions": {"corefile": "/data/corefile/core_101041_2019-11-04"}},
        [*BASE_FIELDS, "executable_path", "executable", "signal"],
        "产生corefile：/data/corefile/core_101041_2019-11-04"),  # noqa: RUF001 (the original text)
    "corefile with executable and signal (corefile.py docstring)": (
        GSE_BASE_ALARM_DATA_ID, gse({"executable": "test", "executable_path": "/tmp/test", "signal": "SIGFPE",
                                     "corefile": "/data/corefile/core_101041_2018-03-10", "filesize": "0",
                                     "host": "127.0.0.1", "type": 7}),
        "corefile-gse",
        count_md5({**HOST_DIMS, "executable_path": "/tmp/test", "executable": "test", "signal": "SIGFPE"}),
        {**HOST_DIMS, "executable_path": "/tmp/test", "executable": "test", "signal": "SIGFPE",
         "__additional_dimensions": {"corefile": "/data/corefile/core_101041_2018-03-10"}},
        [*BASE_FIELDS, "executable_path", "executable", "signal"],
        "test进程因为SIGFPE异常信号产生corefile：/data/corefile/core_101041_2018-03-10"),  # noqa: RUF001
    "oom (oom.py docstring)": (
        GSE_BASE_ALARM_DATA_ID, gse({"host": "127.0.0.1", "type": 9, "total": 3, "process": "oom/java/consul",
                                     "message": "total-vm:44687536kB, anon-rss:32520504kB, file-rss:0kB",
                                     "oom_memcg": "oom_cgroup_path", "task_memcg": "oom_cgroup_task",
                                     "task": "process_name", "constraint": "CONSTRAINT_MEMCG"}),
        "oom-gse",  # W12: the original's md5 also covers __additional_dimensions and the volatile message
        count_md5({**HOST_DIMS, "oom_memcg": "oom_cgroup_path", "task_memcg": "oom_cgroup_task",
                   "task": "process_name", "constraint": "CONSTRAINT_MEMCG"}),
        {**HOST_DIMS, "message": "total-vm:44687536kB, anon-rss:32520504kB, file-rss:0kB",
         "oom_memcg": "oom_cgroup_path", "task_memcg": "oom_cgroup_task", "task": "process_name",
         "constraint": "CONSTRAINT_MEMCG", "__additional_dimensions": {"process": "oom/java/consul"}},
        BASE_FIELDS,
        "发现OOM异常事件发生（进程:oom/java/consul），共OOM次数3次, "  # noqa: RUF001 (the original text)
        "信息:total-vm:44687536kB, anon-rss:32520504kB, file-rss:0kB"),
    "custom string (CUSTOM_STR_DATA)": (
        GSE_CUSTOM_EVENT_DATA_ID, {"_bizid_": 0, "_cloudid_": 0, "_server_": "127.0.0.1", "_time_": UTC,
                                   "_utctime_": UTC, "_value_": ["This service is offline"]},
        "gse_custom_event", HOST_MD5, HOST_DIMS, BASE_FIELDS, "This service is offline"),
    "process event (GSE_PROCESS_EVENT_DATA)": (
        GSE_PROCESS_REPORT_DATA_ID, PROCESS, "gse_process_event", "53125324982b76cb0553900830ee940a",
        {**HOST_DIMS, "process_group_id": "nodeman", "process_index": "nodeman:bkmonitorbeat",
         "process_name": "bkmonitorbeat", "event_name": "process_restart_success", "agent_version": "v1"},
        [*BASE_FIELDS, "agent_version", "process_group_id", "process_name"],
        "事件类型: 进程重启成功, 事件内容: check bkmonitorbeat not running, and restart it success"),
    "process event without process_index": (
        GSE_PROCESS_REPORT_DATA_ID,
        {"data": [{**PROCESS_ELEMENT, "dimension": {"bk_target_cloud_id": "0", "bk_target_ip": "127.0.0.1",
                                                      "process_name": "nginx"}}]},
        "gse_process_event",  # the filter dimensions' defaults ("") are output only, not hashed
        count_md5({**HOST_DIMS, "process_name": "nginx", "event_name": "process_restart_success",
                   "agent_version": "v1"}),
        {**HOST_DIMS, "process_name": "nginx", "event_name": "process_restart_success", "agent_version": "v1",
         "process_index": "", "process_group_id": ""},
        [*BASE_FIELDS, "agent_version", "process_group_id", "process_name"],
        "事件类型: 进程重启成功, 事件内容: check bkmonitorbeat not running, and restart it success"),
}


@pytest.mark.parametrize("name", list(VECTORS))
def test_record_and_anomaly_ids_are_the_originals(name: str) -> None:
    data_id, payload, metric, md5, dimensions, fields, message = VECTORS[name]
    sid, iid, level = STRATEGIES[metric]
    (flat,) = flatten(data_id, json.loads(json.dumps(payload)))
    (candidate,), drops = fan_out(flat, routing(metric), NOW)
    assert not drops
    anomaly = standardize(candidate, NOW)
    line = json.loads(anomaly.line)
    assert anomaly.line == json.dumps(line)  # the field-by-field writer's bytes are json.dumps' (the original's)
    assert line["data"]["record_id"] == f"{md5}.{T}"
    assert line["anomaly"][str(level)]["anomaly_id"] == f"{md5}.{T}.{sid}.{iid}.{level}" == anomaly.anomaly_id
    assert line["data"]["dimensions"] == dimensions
    assert line["data"]["dimension_fields"] == fields
    assert line["anomaly"][str(level)]["anomaly_message"] == message
    # every detect-facing key (check result, last checkpoint, priority, QoS) uses the same md5
    assert anomaly.md5 == md5
    assert anomaly.delivery_key.startswith(f"{anomaly.anomaly_id}.")


def test_the_host_md5_vectors_of_the_spec() -> None:
    assert count_md5(HOST_DIMS) == HOST_MD5
    assert count_md5({**HOST_DIMS, "agent_version": "v1"}) == "b3a0d98506ed48e358e9176dbe4d23c4"
    assert count_md5({**HOST_DIMS, "agent_version": "v2"}) == "8043faacbbd950898164a946faabe72c"


def test_two_disks_of_one_host_in_one_second_share_the_anomaly_id_not_the_delivery_key() -> None:
    def disk(mount: str) -> dict[str, Any]:
        return gse({"free": 5, "fstype": "ext4", "host": "127.0.0.1", "disk": mount, "file_system": "/dev/vdb",
                    "type": 6})

    route = routing("disk-full-gse")
    found = [standardize(c, NOW) for payload in (disk("/data1"), disk("/data2"))
             for flat in flatten(GSE_BASE_ALARM_DATA_ID, payload) for c in fan_out(flat, route, NOW)[0]]
    assert [a.anomaly_id for a in found] == [f"{HOST_MD5}.{T}.31.64.3"] * 2  # the original's ids
    assert found[0].delivery_key != found[1].delivery_key
    again = [standardize(c, NOW + 5) for flat in flatten(GSE_BASE_ALARM_DATA_ID, disk("/data1"))
             for c in fan_out(flat, route, NOW + 5)[0]]
    assert again[0].delivery_key == found[0].delivery_key  # a replay, later: the same key
