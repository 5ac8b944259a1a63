"""`manage.py access_preview`: the data pipeline's records and drops for files, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from alarm_access.access.data.grouping import build_groups
from alarm_access.formats import parse_strategy_documents
from tests.fixtures import FIXTURES, load_json

MANAGE_PY = Path(__file__).resolve().parents[3] / "manage.py"
PREVIEW = FIXTURES / "preview"
STRATEGIES = FIXTURES / "strategies_v3.json"
HOSTS = PREVIEW / "hosts.json"
T0, NOW = 1569246480, 1569246500
RECORD_ID = f"ac6847eefd664275c7b3693829f68bab.{T0}"
POINT = {"bk_target_ip": "127.0.0.1", "load5": 1.38, "bk_target_cloud_id": "0", "_time_": T0, "_result_": 1.38}


def write(tmp_path: Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def preview(*args: str, now: int = NOW) -> tuple[list[dict[str, Any]], str]:
    """Output lines (parsed) and stderr of an in-process `access_preview --access-type data` run."""
    out, err = StringIO(), StringIO()
    call_command("access_preview", "--access-type", "data", "--now", str(now), *args, stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def preview_points(tmp_path: Path, points: list[Any], *args: str, now: int = NOW) -> list[dict[str, Any]]:
    lines, _ = preview("--strategy-file", str(STRATEGIES), "--points-file", write(tmp_path, "p.json", points),
                       "--hosts-file", str(HOSTS), *args, now=now)
    return lines


def manage(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A real `python manage.py ...` process whose database cannot even be opened."""
    env = {**os.environ, "ALARM_ACCESS_VAR_DIR": str(cwd), "DATABASE_URL": "sqlite:////nonexistent-dir/db.sqlite3"}
    return subprocess.run([sys.executable, str(MANAGE_PY), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_subprocess_prints_the_expected_lines_without_any_database(tmp_path: Path) -> None:
    done = manage("access_preview", "--access-type", "data", "--strategy-file", str(STRATEGIES),
                  "--points-file", str(PREVIEW / "points.json"), "--hosts-file", str(HOSTS), "--now", str(NOW),
                  cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == (PREVIEW / "expected.jsonl").read_text(encoding="utf-8").splitlines()


def test_record_is_the_enriched_wire_record(tmp_path: Path) -> None:
    (line,) = preview_points(tmp_path, [POINT])
    assert (line["strategy_id"], line["item_id"]) == (1, 1)
    record = line["record"]
    assert record["record_id"] == RECORD_ID and record["value"] == 1.38 and record["time"] == T0
    assert record["access_time"] == float(NOW)
    assert record["dimensions"] == {"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": "0",
                                    "bk_topo_node": ["biz|2", "set|1", "module|1"], "bk_host_id": "1"}
    assert list(record) == ["time", "value", "values", "dimensions", "record_id", "dimension_fields", "access_time"]


def test_none_value_and_expired_points_are_dropped(tmp_path: Path) -> None:
    (none_line,) = preview_points(tmp_path, [{**POINT, "load5": None, "_result_": None}])
    assert none_line == {"dropped": "none_value", "point": {**POINT, "load5": None, "_result_": None},
                         "strategy_ids": [1]}
    (late,) = preview_points(tmp_path, [POINT], now=T0 + 86400)
    assert late["dropped"] == "expired" and late["point"] == POINT


def test_dedupe_state_makes_the_point_a_duplicate(tmp_path: Path) -> None:
    (line,) = preview_points(tmp_path, [POINT], "--dedupe-state", str(PREVIEW / "dedupe.json"))
    assert line == {"dropped": "duplicate", "point": POINT, "strategy_ids": [1]}
    other_bucket = write(tmp_path, "d.json", {str(T0 + 60): [RECORD_ID]})
    (kept,) = preview_points(tmp_path, [POINT], "--dedupe-state", other_bucket)
    assert kept["record"]["record_id"] == RECORD_ID


def test_without_hosts_file_no_host_is_known(tmp_path: Path) -> None:
    lines, err = preview("--strategy-file", str(STRATEGIES), "--points-file", write(tmp_path, "p.json", [POINT]))
    assert lines == [{"dropped": "unknown_host", "point": POINT, "strategy_ids": [1]}]
    assert err.count("\n") == 1 and "--hosts-file" in err


def test_points_go_to_every_group_of_their_metric_in_order(tmp_path: Path) -> None:
    first = load_json("strategies_v3.json")[0]
    narrow = {**first, "id": 7, "items": [{**first["items"][0], "id": 70, "query_configs": [
        {**first["items"][0]["query_configs"][0], "agg_condition": [
            {"key": "bk_target_ip", "method": "eq", "value": ["127.0.0.9"]}]}]}]}
    util = {"bk_target_ip": "127.0.0.1", "bk_target_cloud_id": "0", "util": 1.0, "_time_": T0, "_result_": 1.0}
    points = [{**POINT, "_time_": T0 + 60}, POINT, util]
    lines, _ = preview("--strategy-file", write(tmp_path, "s.json", [narrow, first]),
                       "--points-file", write(tmp_path, "p.json", points), "--hosts-file", str(HOSTS))
    shown = [(line.get("strategy_id"), line.get("item_id"), line.get("dropped"),
              line["record"]["time"] if "record" in line else None) for line in lines]
    # Two groups (the condition is part of the query); the preview does not re-apply it, so both get both.
    assert len(build_groups(parse_strategy_documents([narrow, first])[0])) == 2
    assert shown == [(1, 1, None, T0), (1, 1, None, T0 + 60), (7, 70, None, T0), (7, 70, None, T0 + 60),
                     (None, None, "no_group", None)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--points-file", "missing.json"), "cannot read missing.json"),
        (("--points-file", "{not json"), "is not valid JSON"),
        (("--points-file", '{"a": 1}'), "expected a list of points"),
        (("--strategy-file", str(FIXTURES / "strategies_mixed.json")),
         "strategy 8: field 'items[0].query_configs[0].agg_interval' must be a positive integer"),
        (("--hosts-file", str(FIXTURES / "hosts.json")), "host 4: field 'bk_host_id' must be an integer"),
        (("--dedupe-state", '{"yesterday": []}'), "key 'yesterday' is not an epoch time"),
        (("--dedupe-state", '{"1569246480": [1]}'), "must be a list of record id strings"),
        (("--strategy-file", '{"id": 5, "bk_biz_id": 2, "is_enabled": false, "items": []}'), "no enabled strategy"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(tmp_path: Path, args: tuple[str, str], message: str) -> None:
    option, value = args
    if value.startswith(("{", "[")):
        path = tmp_path / "bad.json"
        path.write_text(value, encoding="utf-8")
        value = str(path)
    files = {"--strategy-file": str(STRATEGIES), "--points-file": str(PREVIEW / "points.json"), option: value}
    with pytest.raises(CommandError) as caught:
        preview(*(part for pair in files.items() for part in pair))
    assert caught.value.returncode == 2 and message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("access_type", "points", "message"),
    [("alert", "points.json", "--points-file is for --access-type data"),
     ("data", "missing.json", "cannot read")],
)
def test_subprocess_errors_exit_2_with_one_stderr_line(tmp_path: Path, access_type: str, points: str,
                                                       message: str) -> None:
    done = manage("access_preview", "--access-type", access_type, "--strategy-file", str(STRATEGIES),
                  "--points-file", str(PREVIEW / points), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr
