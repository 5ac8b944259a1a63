"""load_strategies / dump_strategies / load_hosts: output, exit codes, and one-line command-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from alarm_access import models as db
from tests.fixtures import FIXTURES, load_json, missing_from

MANAGE_PY = Path(__file__).resolve().parents[3] / "manage.py"


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(command: str, *args: str) -> tuple[CommandError, str, str]:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(command, *args, stdout=out, stderr=err)
    return caught.value, out.getvalue(), err.getvalue()


def manage(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A real `python manage.py ...` process that never touches the test database."""
    env = {**os.environ, "ALARM_ACCESS_VAR_DIR": str(cwd)}
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db
def test_load_then_dump_preserves_every_field(tmp_path: Path) -> None:
    out, err = run("load_strategies", str(FIXTURES / "strategies_v3.json"))
    assert out.strip() == "loaded 2 strategies, rejected 0" and err == ""

    stdout_dump, _ = run("dump_strategies")
    run("dump_strategies", "--output", str(tmp_path / "dump.json"))

    expected = load_json("strategies_v3.json")
    assert missing_from(expected, json.loads(stdout_dump)) == []
    assert json.loads((tmp_path / "dump.json").read_text()) == json.loads(stdout_dump)


@pytest.mark.django_db
def test_dump_reloads_to_the_same_documents(tmp_path: Path) -> None:
    run("load_strategies", str(FIXTURES / "strategies_v3.json"))
    run("dump_strategies", "--output", str(tmp_path / "first.json"))
    db.Strategy.objects.all().delete()

    run("load_strategies", str(tmp_path / "first.json"))
    second, _ = run("dump_strategies")

    assert json.loads(second) == json.loads((tmp_path / "first.json").read_text())


@pytest.mark.django_db
def test_mixed_file_loads_the_valid_and_names_the_invalid() -> None:
    error, out, err = run_failing("load_strategies", str(FIXTURES / "strategies_mixed.json"))

    assert error.returncode == 1
    assert out.strip() == "loaded 3 strategies, rejected 2"
    assert err.splitlines() == [
        "rejected strategy 8: field 'items[0].query_configs[0].agg_interval' must be a positive integer",
        "rejected strategy at index 3: field 'id' is required",
    ]
    assert sorted(db.Strategy.objects.values_list("id", flat=True)) == [7, 9, 11]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "reason"), [(None, "cannot read"), ("{not json", "is not valid JSON"), ("3", "expected")]
)
def test_unusable_strategy_file_exits_2(tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "strategies.json"
    if content is not None:
        path.write_text(content)

    error, _, _ = run_failing("load_strategies", str(path))

    assert error.returncode == 2 and reason in str(error) and str(path) in str(error)
    assert not db.Strategy.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("fixture", "host_ids"), [("hosts.json", [1, 2, 3]), ("hosts_list.json", [21, 22])])
def test_load_hosts_accepts_both_shapes(fixture: str, host_ids: list[int]) -> None:
    out = StringIO()
    try:
        call_command("load_hosts", str(FIXTURES / fixture), stdout=out, stderr=StringIO())
    except CommandError as error:  # hosts.json also holds invalid entries
        assert error.returncode == 1

    assert sorted(db.Host.objects.values_list("bk_host_id", flat=True)) == host_ids
    assert out.getvalue().startswith(f"loaded {len(host_ids)} hosts")


@pytest.mark.django_db
def test_load_hosts_names_invalid_hosts_and_loads_the_rest() -> None:
    error, out, err = run_failing("load_hosts", str(FIXTURES / "hosts.json"))

    assert error.returncode == 1
    assert out.strip() == "loaded 3 hosts, 2 service instances, 2 dynamic groups, rejected 2"
    assert err.splitlines() == [
        "rejected host 4: field 'bk_host_id' must be an integer",
        """rejected host 5: field 'topo_link.module|9' must be a list of "obj|id" node strings""",
    ]
    assert db.ServiceInstance.objects.count() == 2 and db.DynamicGroup.objects.get(pk="dg-sets").bk_biz_id == 0


@pytest.mark.django_db
def test_load_hosts_list_shape_exits_0() -> None:
    out, err = run("load_hosts", str(FIXTURES / "hosts_list.json"))

    assert out.strip() == "loaded 2 hosts, 0 service instances, 0 dynamic groups, rejected 0" and err == ""


def test_bad_argument_through_call_command_raises() -> None:
    with pytest.raises(CommandError, match="unrecognized arguments"):
        call_command("load_strategies", "a.json", "--bogus")


def test_subprocess_non_json_file_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{oops")

    result = manage("load_strategies", "bad.json", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "CommandError: bad.json is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2"
        " (char 1)"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("load_strategies",), "manage.py load_strategies: error: the following arguments are required: file"),
        (("load_hosts", "a.json", "--bogus"), "manage.py load_hosts: error: unrecognized arguments: --bogus"),
        (
            ("dump_strategies", "--output"),
            "manage.py dump_strategies: error: argument --output/-o: expected one argument",
        ),
    ],
)
def test_subprocess_bad_arguments_print_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = manage(*args, cwd=tmp_path)

    assert (result.returncode, result.stderr, result.stdout) == (2, message + "\n", "")


def test_subprocess_only_invalid_strategies_exits_1(tmp_path: Path) -> None:
    # Every document fails validation, which happens before any database access.
    (tmp_path / "bad.json").write_text(json.dumps([{"id": 1, "bk_biz_id": "x", "items": []}, {"id": 2}]))

    result = manage("load_strategies", "bad.json", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout.strip() == "loaded 0 strategies, rejected 2"
    assert result.stderr.strip().splitlines() == [
        "rejected strategy 1: field 'bk_biz_id' must be an integer",
        "rejected strategy 2: field 'bk_biz_id' is required",
        "CommandError: 2 entries rejected",
    ]
