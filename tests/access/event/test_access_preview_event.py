"""`manage.py access_preview --access-type event`: anomalies and rejections for raw messages, as the service."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from alarm_access.access.event.batch import process_batch
from alarm_access.access.event.parse import ALL_KINDS
from alarm_access.access.event.routing import build_routing
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.formats import parse_strategy_documents, parse_topology_document
from alarm_access.kernel.stream import StreamMessage
from alarm_access.records.enrich import index_topology
from tests.access.data.test_access_preview import manage, write
from tests.e2e.test_event_e2e import KINDS, gse, strategy, utc

T = 1700000000
NOW = T + 60
HOSTS = {"hosts": [
    {"bk_host_id": 101, "bk_host_innerip": "10.0.0.1", "bk_cloud_id": 0, "bk_agent_id": "agent-101", "bk_biz_id": 2,
     "bk_state": "运营中[需告警]", "topo_link": {"module|9": ["biz|2", "set|5", "module|9"]}},
    {"bk_host_id": 102, "bk_host_innerip": "10.0.0.2", "bk_cloud_id": 0, "bk_biz_id": 2, "bk_state": "测试中"},
]}
DISK_FULL = {"type": 6, "host": "10.0.0.1", "free": 5, "fstype": "ext4", "disk": "/", "file_system": "/dev/vda1"}


def event_strategies(**changes: Any) -> list[dict[str, Any]]:
    return [{**strategy(sid, field), **changes.get(str(sid), {})} for sid, field in KINDS.items()]


def message(extra: dict[str, Any], at: int = T) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(gse(extra, at))
    return doc


def files(tmp_path: Path, messages: Any, strategies: Any = None) -> list[str]:
    return ["--message-file", write(tmp_path, "m.json", messages),
            "--strategy-file", write(tmp_path, "s.json", event_strategies() if strategies is None else strategies),
            "--hosts-file", write(tmp_path, "h.json", HOSTS), "--now", str(NOW)]


def preview(*args: str) -> list[dict[str, Any]]:
    out = StringIO()
    call_command("access_preview", "--access-type", "event", *args, stdout=out, stderr=StringIO())
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_subprocess_gse_alarms_anomalies_and_rejections_in_input_order(tmp_path: Path) -> None:
    messages = [
        message(DISK_FULL),
        message({**DISK_FULL, "host": "10.9.9.9"}),  # unknown host
        message({**DISK_FULL, "host": "10.0.0.2"}),  # host in a disabled state: rejected for strategy 23
        message({"type": 0, "host": "10.0.0.1"}),  # OS restart: ignored by access
        "{not json",
    ]
    done = manage("access_preview", "--access-type", "event", *files(tmp_path, messages), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    record = lines[0]["record"]
    assert (lines[0]["strategy_id"], lines[0]["item_id"]) == (23, 23)
    assert list(record) == ["data", "anomaly", "strategy_snapshot_key"]
    assert record["data"]["dimensions"] == {"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": 0, "bk_host_id": 101,
                                            "bk_topo_node": ["biz|2", "module|9", "set|5"], "disk": "/",
                                            "file_system": "/dev/vda1", "fstype": "ext4"}
    assert record["data"]["dimension_fields"] == ["bk_target_ip", "bk_target_cloud_id", "file_system", "fstype",
                                                  "disk"]
    anomaly = record["anomaly"]["2"]
    assert anomaly["anomaly_id"] == f"{record['data']['record_id']}.23.23.2"
    assert anomaly["anomaly_time"] == utc(NOW) and anomaly["anomaly_message"] == "磁盘(/)剩余空间只有5%"
    assert record["strategy_snapshot_key"] == "bkmonitorv3.ee.cache.strategy.snapshot.23.1700000023"
    event = {"kind": "disk_full", "time": T, "cloud_id": 0}
    assert lines[1:-1] == [
        {"rejected": "unknown_host", "message": 1, "event": {**event, "host": "10.9.9.9"}},
        {"rejected": "host_disabled", "message": 2, "event": {**event, "host": "10.0.0.2"}, "strategy_id": 23,
         "item_id": 23},
        {"rejected": "ignored", "message": 3},
    ]
    assert lines[-1]["rejected"] == "not_json" and lines[-1]["message"] == 4 and lines[-1]["detail"]


def test_subprocess_custom_string_and_process_streams_by_data_id(tmp_path: Path) -> None:
    custom = {"_bizid_": 0, "_cloudid_": 0, "_server_": "10.0.0.1", "_utctime_": utc(T),
              "_value_": ["service offline", "disk slow"]}
    done = manage("access_preview", "--access-type", "event", "--data-id", "1100000", *files(tmp_path, custom),
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["strategy_id"] == 27 and lines[0]["record"]["data"]["value"] == "service offline"
    assert lines[0]["record"]["anomaly"]["2"]["anomaly_message"] == "service offline"
    # the record id is md5(host dimensions).time, so a second string of one host in the same second shares the
    # anomaly id; it is still a distinct anomaly (another value and message) and is delivered, as by the original
    assert lines[1]["record"]["data"]["value"] == "disk slow"
    assert lines[1]["record"]["anomaly"]["2"]["anomaly_id"] == lines[0]["record"]["anomaly"]["2"]["anomaly_id"]
    process = {"data_id": 1100008, "data": [{
        "dimension": {"bk_target_cloud_id": "0", "bk_target_ip": "10.0.0.1", "process_name": "nginx"},
        "event": {"content": "restarted"}, "event_name": "process_restart_success", "timestamp": T * 1000}]}
    done = manage("access_preview", "--access-type", "event", "--data-id", "1100008", *files(tmp_path, [process]),
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert line["strategy_id"] == 28 and line["record"]["data"]["time"] == T
    assert line["record"]["data"]["dimensions"]["event_name"] == "process_restart_success"
    assert line["record"]["data"]["value"] == "事件类型: 进程重启成功, 事件内容: restarted"


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (None, (), "cannot read"),
        ("{not json", (), "is not valid JSON"),
        ("42", (), "expected a message object, a raw message string, or a list of them"),
        ("[]", ("--points-file", "p.json"), "--points-file is for --access-type data"),
        ("[]", ("--data-id", "0"), "--data-id must be a positive integer"),
    ],
)
def test_subprocess_bad_input_exits_2_with_one_stderr_line(tmp_path: Path, content: str | None,
                                                           extra: tuple[str, ...], message: str) -> None:
    path = tmp_path / "m.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    done = manage("access_preview", "--access-type", "event", "--message-file", str(path), *extra, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr


def test_runs_with_now_are_identical_and_old_events_expire(tmp_path: Path) -> None:
    args = files(tmp_path, [message(DISK_FULL), message({**DISK_FULL, "disk": "/data"})])
    first, second = preview(*args), preview(*args)
    assert first == second and len(first) == 2 and all("record" in line for line in first)
    args[args.index("--now") + 1] = str(T + 3600)
    assert [line["rejected"] for line in preview(*args)] == ["expired", "expired"]


def test_strategy_level_rejections_duplicates_and_inhibition(tmp_path: Path) -> None:
    only_vdb = [{"key": "file_system", "method": "eq", "value": ["/dev/vdb"]}]
    second = strategy(29, "disk-full-gse")
    second["items"][0]["query_configs"][0]["agg_condition"] = only_vdb
    strategies = [strategy(23, "disk-full-gse"), second]
    lines = preview(*files(tmp_path, [message(DISK_FULL), message(DISK_FULL)], strategies))
    event = {"kind": "disk_full", "time": T, "host": "10.0.0.1", "cloud_id": 0}
    assert lines[0]["strategy_id"] == 23 and "record" in lines[0]
    assert lines[1] == {"rejected": "condition_mismatch", "message": 0, "event": event, "strategy_id": 29,
                        "item_id": 29}
    anomaly_id = lines[0]["record"]["anomaly"]["2"]["anomaly_id"]
    assert lines[2:] == [{"rejected": "duplicate", "message": 1, "strategy_id": 23, "item_id": 23,
                          "anomaly_id": anomaly_id},
                         {"rejected": "condition_mismatch", "message": 1, "event": event, "strategy_id": 29,
                          "item_id": 29}]
    high, low = strategy(23, "disk-full-gse"), strategy(30, "disk-full-gse")
    high.update(priority=10, priority_group_key="disks")
    low.update(priority=1, priority_group_key="disks")
    lines = preview(*files(tmp_path, [message(DISK_FULL)], [low, high]))
    assert [(line.get("rejected"), line["strategy_id"]) for line in lines] == [(None, 23), ("inhibited", 30)]


def test_records_are_the_lines_the_service_pushes(tmp_path: Path) -> None:
    values = [message(DISK_FULL), message({"type": 2, "host": [{"bizid": 2, "cloudid": 0, "ip": "10.0.0.1"}]}),
              message({"type": 8, "host": "10.0.0.1", "iplist": ["10.0.0.1"]})]
    lines = preview(*files(tmp_path, values))
    strategies, errors = parse_strategy_documents(event_strategies())
    topology, host_errors = parse_topology_document(HOSTS)
    assert not errors and not host_errors
    routing, _ = build_routing(strategies, index_topology(topology), snapshot_key=RedisKeys().strategy_snapshot,
                               disabled_states={"测试中"})
    batch = process_batch([StreamMessage("t", 0, i, json.dumps(v).encode(), 1000) for i, v in enumerate(values)],
                          routing, NOW, ALL_KINDS)
    assert [line["record"] for line in lines] == [json.loads(anomaly.line) for anomaly in batch.anomalies]
    assert [line["strategy_id"] for line in lines] == [23, 21, 25]
