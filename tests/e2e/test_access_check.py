"""`manage.py access_check` on a file with one good and three broken strategies, against a real
VictoriaMetrics and the test database's topology: the three are named with their fields, the good one is
placed with its query and series, and the exit status is 1."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.services.access_env import AccessEnv
from tests.services.data_world import HOSTS, INTERVAL, hosts_document, strategy_document
from tests.services.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration


def broken_documents() -> list[dict[str, Any]]:
    no_queries = strategy_document(12)
    no_queries["items"][0]["query_configs"] = []  # type: ignore[index]
    rate = strategy_document(13)
    rate["items"][0]["query_configs"][0]["functions"] = [  # type: ignore[index]
        {"id": "rate", "params": [{"id": "window", "value": "2m"}]}]
    ghost = copy.deepcopy(strategy_document(11))
    ghost["id"], ghost["items"][0]["id"] = 14, 14  # type: ignore[index]
    ghost["items"][0]["target"] = [[{"field": "bk_target_ip", "method": "eq",  # type: ignore[index]
                                     "value": [{"bk_target_ip": "10.9.9.9", "bk_target_cloud_id": 0}]}]]
    return [no_queries, rate, ghost]


def test_names_each_broken_strategy_and_places_the_good_one(env: AccessEnv, vm: VictoriaMetrics,
                                                            tmp_path: Path) -> None:
    (tmp_path / "h.json").write_text(json.dumps(hosts_document()))
    env.manage("load_hosts", str(tmp_path / "h.json"))
    now = int(time.time())
    vm.import_samples(("system_cpu_load_load5", {"bk_target_ip": ip, "bk_target_cloud_id": "0"},
                       now - now % INTERVAL - k * INTERVAL, 1.0) for ip in HOSTS for k in range(1, 4))
    (tmp_path / "s.json").write_text(json.dumps([strategy_document(11), *broken_documents()]))
    env.env["TSDB_URL"] = vm.url
    done = env.manage("access_check", "--strategy-file", str(tmp_path / "s.json"), check=False)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    problems = [line for line in lines if line.startswith("strategy ") and ": ok" not in line
                and "problem(s)" not in line]
    assert any(line.startswith("strategy 12: ") and "query_configs" in line for line in problems), lines
    assert any(line.startswith("strategy 13: items[0].functions:") and "'rate'" in line for line in problems), lines
    assert any(line.startswith("strategy 14: items[0].target[0][0]:") and "10.9.9.9" in line
               for line in problems), lines
    [good] = [line for line in lines if line.startswith("strategy 11 ")]
    assert ": ok" in good and f"every {INTERVAL} s" in good and f"{len(HOSTS)} series" in good, good
    assert not any(line.startswith("strategy 11:") for line in lines)

    reported = env.manage("access_check", "--strategy-file", str(tmp_path / "s.json"), "--json", check=False)
    checks = {c["strategy_id"]: c for c in map(json.loads, reported.stdout.splitlines())}
    assert {sid for sid, c in checks.items() if c["problems"]} == {12, 13, 14}
    assert "system_cpu_load_load5" in checks[11]["details"]["11"]["queries"][0]
