"""`manage.py access_preview --access-type real_time_data`: records, drops and bad messages, as the service."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable
from io import StringIO
from pathlib import Path
from typing import Any, cast

import pytest
from django.core.management import call_command

from alarm_access.access.real_time_data.handle import RealTimeHandler
from alarm_access.access.real_time_data.ports import RealTimePorts
from alarm_access.access.real_time_data.preview import parse_tables
from alarm_access.access.real_time_data.routing import TableTopic
from alarm_access.formats import parse_strategy_documents, parse_topology_document
from alarm_access.kernel.config import AccessConfig, AccessType
from alarm_access.kernel.hashing import count_md5
from alarm_access.kernel.model import Strategy, StrategyGroup, Topology
from alarm_access.kernel.stream import StreamMessage
from alarm_access.records.pipeline import PullResult
from alarm_access.records.standardize import to_wire
from tests.access.data.test_access_preview import manage, write
from tests.e2e.test_real_time_e2e import CPU_DIMS, DISK_DIMS, strategy

T = 1700000000
NOW = T + 30
CPU, DISK = "rt-cpu", "rt-disk"
TABLES = {"system.cpu_summary": {"topic": CPU, "dimensions": CPU_DIMS},
          "system.disk": {"topic": DISK, "dimensions": DISK_DIMS}}
HOSTS = {"hosts": [
    {"bk_host_id": 101, "bk_host_innerip": "10.0.0.1", "bk_cloud_id": 0, "bk_biz_id": 2, "bk_state": "运营中[需告警]",
     "topo_link": {"module|9": ["biz|2", "set|5", "module|9"]}},
    {"bk_host_id": 102, "bk_host_innerip": "10.0.0.2", "bk_cloud_id": 0, "bk_biz_id": 2, "bk_state": "运营中[需告警]"},
]}


def message(at: int, ip: str, metrics: dict[str, Any], biz: Any = "2", **dims: str) -> dict[str, Any]:
    dimensions = {"bk_target_ip": ip, "bk_target_cloud_id": "0", "bk_biz_id": biz, "bk_cmdb_level": "[]", **dims}
    return {"time": at, "dimensions": dimensions, "metrics": metrics}


def record_id(doc: dict[str, Any], dims: list[str]) -> str:
    """The original's rule: md5 of the table's dimension values (bk_cmdb_level excluded) + "." + time."""
    identity = {d: doc["dimensions"].get(d) for d in dims if d != "bk_cmdb_level"}
    return f"{count_md5(identity)}.{doc['time']}"


def strategies() -> list[dict[str, Any]]:
    return [strategy(31, "system.cpu_summary", "usage"), strategy(32, "system.disk", "in_use"),
            strategy(33, "system.cpu_summary", "usage", biz=3)]


def files(tmp_path: Path, messages: Any, *, tables: Any = TABLES, strategy_docs: Any = None) -> list[str]:
    args = ["--strategy-file", write(tmp_path, "s.json", strategies() if strategy_docs is None else strategy_docs),
            "--message-file", write(tmp_path, "m.json", messages), "--hosts-file", write(tmp_path, "h.json", HOSTS),
            "--now", str(NOW)]
    if tables is not None:
        args += ["--tables-file", write(tmp_path, "t.json", tables)]
    return args


def preview(*args: str) -> tuple[list[dict[str, Any]], str]:
    out, err = StringIO(), StringIO()
    call_command("access_preview", "--access-type", "real_time_data", *args, stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_subprocess_records_with_the_original_ids_drops_and_bad_messages(tmp_path: Path) -> None:
    cpu = [message(T, "10.0.0.1", {"usage": 12.5}), message(T + 1, "10.0.0.2", {"usage": 80})]
    messages: list[Any] = [
        cpu[0],
        message(T, "10.0.0.1", {"usage": 1}, biz="0"),  # business 0: not routed
        cpu[1],
        message(T, "10.9.9.9", {"usage": 3}),  # unknown host
        "{not json",  # malformed: the service dead-letters it
        message(T, "10.0.0.1", {"usage": 5}, biz="x"),  # a business that is not a number
        message(T + 2, "10.0.0.1", {"other": 1}),  # no `usage`: no value
    ]
    done = manage("access_preview", "--access-type", "real_time_data", "--topic", CPU, *files(tmp_path, messages),
                  cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    records = [line for line in lines if "record" in line]
    # the order detect reads access.data.31.310 in: the messages' order, as the original's real-time path
    assert [(r["strategy_id"], r["item_id"]) for r in records] == [(31, 310), (31, 310)]
    assert [r["record"]["record_id"] for r in records] == [record_id(m, CPU_DIMS) for m in cpu]
    first = records[0]["record"]
    assert list(first) == ["time", "value", "values", "dimensions", "record_id", "dimension_fields", "access_time"]
    assert first["value"] == 12.5 and first["time"] == T and first["access_time"] == float(NOW)
    assert first["values"] == {"usage": 12.5, "_result_": 0, "time": T}  # the original's _result_: 0
    assert first["dimension_fields"] == ["bk_target_ip", "bk_target_cloud_id", "bk_biz_id"]
    assert first["dimensions"] == {"bk_target_ip": "10.0.0.1", "bk_target_cloud_id": "0", "bk_biz_id": "2",
                                   "bk_topo_node": ["biz|2", "set|5", "module|9"], "bk_host_id": "101"}
    drops = [line for line in lines if "record" not in line]
    assert drops[:2] == [
        {"dropped": "unknown_host", "message": 3, "strategy_id": 31, "item_id": 310,
         "point": {"time": T, "_result_": 0, "usage": 3, **messages[3]["dimensions"]}},
        {"dropped": "none_value", "message": 6, "strategy_id": 31, "item_id": 310,
         "point": {"time": T + 2, "_result_": 0, "other": 1, **messages[6]["dimensions"]}},
    ]
    assert drops[2] == {"dropped": "unrouted", "message": 1, "detail": f"topic {CPU!r}: business 0 or none"}
    assert (drops[3]["dropped"], drops[3]["message"]) == ("bad_json", 4) and drops[3]["detail"]
    assert (drops[4]["dropped"], drops[4]["message"]) == ("bad_message", 5) and "'x'" in drops[4]["detail"]
    assert len(drops) == 5  # strategy 33 (business 3) got nothing, strategy 32 reads another topic


def test_a_point_of_a_business_without_strategy_on_the_topic_is_unrouted(tmp_path: Path) -> None:
    lines, _ = preview("--topic", DISK, *files(tmp_path, [message(T, "10.0.0.1", {"in_use": 1}, biz=3)]))
    assert lines == [{"dropped": "unrouted", "message": 0,
                      "detail": f"topic {DISK!r}: no real-time strategy of business 3 reads it"}]


def test_disk_table_ids_skip_the_ignored_dimensions_and_strings_are_raw_values(tmp_path: Path) -> None:
    disk = message(T, "10.0.0.1", {"in_use": "0.5"}, mount_point="/data")
    raw = json.dumps(disk) + "\u0000"  # a raw value with the trailing NUL the producers add
    lines, _ = preview("--topic", DISK, *files(tmp_path, [raw]))
    (line,) = lines
    assert (line["strategy_id"], line["item_id"]) == (32, 320)
    assert line["record"]["record_id"] == record_id(disk, DISK_DIMS)
    assert line["record"]["dimension_fields"] == ["bk_target_ip", "bk_target_cloud_id", "bk_biz_id", "mount_point"]
    assert line["record"]["value"] == 0.5  # converted as the original converts


def test_without_tables_file_a_table_is_its_own_topic_with_the_messages_dimensions(tmp_path: Path) -> None:
    cpu = message(T, "10.0.0.1", {"usage": 7})
    only_cpu = [strategy(31, "system.cpu_summary", "usage")]
    lines, err = preview(*files(tmp_path, [cpu], tables=None, strategy_docs=only_cpu))  # --topic: the only table
    (line,) = lines
    assert line["record"]["record_id"] == record_id(cpu, CPU_DIMS)
    assert line["record"]["dimension_fields"] == CPU_DIMS
    assert "no --tables-file" in err


def test_duplicates_inside_the_file_and_expired_points(tmp_path: Path) -> None:
    again = message(T, "10.0.0.1", {"usage": 2})
    lines, _ = preview("--topic", CPU, *files(tmp_path, [message(T, "10.0.0.1", {"usage": 1}), again]))
    assert [line.get("dropped") for line in lines] == [None, "duplicate"]
    assert lines[0]["record"]["value"] == 1 and lines[1]["message"] == 1  # the first of the two is kept
    old = files(tmp_path, [message(T - 7200, "10.0.0.1", {"usage": 1})])
    lines, _ = preview("--topic", CPU, *old)
    assert [line["dropped"] for line in lines] == ["expired"]
    assert preview("--topic", CPU, *old) == preview("--topic", CPU, *old)  # --now makes runs identical


def test_an_item_whose_table_has_no_topic_is_reported(tmp_path: Path) -> None:
    tables = {"system.cpu_summary": TABLES["system.cpu_summary"]}
    lines, _ = preview(*files(tmp_path, [message(T, "10.0.0.1", {"usage": 1})], tables=tables))
    assert lines[0] == {"not_consumed": "strategy 32 item 320: result table 'system.disk' has no Kafka topic"}
    assert [line["strategy_id"] for line in lines[1:]] == [31]


def test_preview_matches_what_the_handler_delivers(tmp_path: Path) -> None:
    """The same messages through `RealTimeHandler.deliver` (fake ports): the same records per item."""
    at = int(time.time())  # the handler's clock is the wall clock: points must not be expired
    messages = [message(at + i % 3, f"10.0.0.{1 + i % 2}", {"usage": float(i)}) for i in range(6)]
    messages += [message(at, "10.9.9.9", {"usage": 1}), message(at, "10.0.0.1", {"in_use": 0.25}, mount_point="/")]
    now = ["--now", str(at)]
    lines, _ = preview("--topic", CPU, *files(tmp_path, messages[:7]), *now)
    disk_lines, _ = preview("--topic", DISK, *files(tmp_path, messages[7:]), *now)
    shown: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for line in lines + disk_lines:
        if "record" not in line:
            assert line["dropped"] == "unknown_host"
            continue
        shown.setdefault((line["strategy_id"], line["item_id"]), []).append(line["record"])
    ports = _FakePorts(strategies(), parse_tables(TABLES), HOSTS)
    handler = RealTimeHandler(AccessConfig(access_type=AccessType.REAL_TIME_DATA), cast("RealTimePorts", ports))
    assert handler.refresh(0.0)
    handler.deliver([StreamMessage(CPU, 0, i, json.dumps(m).encode(), 0) for i, m in enumerate(messages[:7])])
    handler.deliver([StreamMessage(DISK, 0, 0, json.dumps(messages[7]).encode(), 0)])
    assert [result.drops for result in ports.sink.results] == [{"unknown_host": 1}, {}]
    delivered = {key: [{**json.loads(json.dumps(to_wire(r))), "access_time": float(at)} for r in records]
                 for result in ports.sink.results for key, records in result.data.items()}
    assert delivered == shown and set(shown) == {(31, 310), (32, 320)}


@pytest.mark.parametrize(
    ("extra", "tables", "needle"),
    [
        ((), TABLES, "--topic is needed: the tables are published on 2 topics (rt-cpu, rt-disk)"),
        (("--topic", CPU), {"system.disk": {"topic": DISK}}, "table 'system.disk': 'dimensions' must be a list"),
        (("--topic", CPU), {"system.disk": {"topic": DISK, "dimensions": [], "dims": []}}, "unknown field 'dims'"),
        (("--topic", CPU), [], "expected an object"),
        (("--topic", CPU, "--data-id", "1000"), TABLES, "--data-id is for --access-type event"),
        (("--topic", CPU, "--dedupe-state", "d.json"), TABLES, "--dedupe-state is for --access-type data"),
        (("--topic", CPU, "--points-file", "p.json"), TABLES, "--points-file is for --access-type data"),
    ],
)
def test_subprocess_bad_input_exits_2_with_one_stderr_line(tmp_path: Path, extra: tuple[str, ...], tables: Any,
                                                           needle: str) -> None:
    done = manage("access_preview", "--access-type", "real_time_data", *extra,
                  *files(tmp_path, [message(T, "10.0.0.1", {"usage": 1})], tables=tables), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and needle in done.stderr, done.stderr


def test_subprocess_no_real_time_item_and_options_of_other_types(tmp_path: Path) -> None:
    not_real_time = strategy(31, "system.cpu_summary", "usage")
    not_real_time["items"][0]["query_configs"][0]["agg_method"] = "AVG"
    done = manage("access_preview", "--access-type", "real_time_data", "--topic", CPU,
                  *files(tmp_path, [], strategy_docs=[not_real_time]), cwd=tmp_path)
    assert done.returncode == 2 and "no enabled strategy has a real-time item" in done.stderr
    done = manage("access_preview", "--access-type", "real_time_data", "--message-file", "m.json", cwd=tmp_path)
    assert done.returncode == 2 and "--access-type real_time_data needs --strategy-file" in done.stderr
    done = manage("access_preview", "--access-type", "event", "--message-file", "m.json", "--topic", CPU,
                  cwd=tmp_path)
    assert done.returncode == 2 and "--topic is for --access-type real_time_data" in done.stderr


class _FakeSink:
    def __init__(self) -> None:
        self.results: list[PullResult] = []

    def read_seen(self, group: StrategyGroup, times: Iterable[int]) -> dict[int, set[str]]:
        return {}

    def read_priority(self, priority_group_keys: Iterable[str]) -> dict[str, dict[str, str]]:
        return {}

    def deliver(self, result: PullResult, group: StrategyGroup, *, checkpoint: int, now: int) -> None:
        self.results.append(result)


class _FakeStrategies:
    def __init__(self, docs: list[dict[str, Any]], hosts: dict[str, Any]) -> None:
        self._strategies: list[Strategy] = parse_strategy_documents(docs)[0]
        self._topology: Topology = parse_topology_document(hosts)[0]

    def load_strategies(self) -> list[Strategy]:
        return self._strategies

    def load_topology(self, bk_biz_ids: Collection[int]) -> Topology:
        return self._topology


class _FakePorts:
    """What `RealTimeHandler.refresh` and `deliver` use of `RealTimePorts`; nothing is consumed or dead-lettered."""

    def __init__(self, docs: list[dict[str, Any]], tables: list[TableTopic], hosts: dict[str, Any]) -> None:
        self.strategies = _FakeStrategies(docs, hosts)
        self.tables = tables
        self.sink = _FakeSink()

    def result_tables(self, table_ids: Collection[str]) -> list[TableTopic]:
        return [table for table in self.tables if table.table_id in table_ids]

    def point_sink(self) -> _FakeSink:
        return self.sink

    def dead_letters_on(self, bootstrap: str) -> Any:
        raise AssertionError("no message of this test is invalid")
