"""`deploy/`: the Prometheus rules pass `promtool` (syntax and their unit tests), and every metric the rules and
the Grafana dashboard use is one a running `run_access` exposes (a live `/metrics` scrape)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.services.access_env import AccessEnv, stop
from tests.services.victoria import free_port

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
RULES = sorted((DEPLOY / "prometheus").glob("*.yml"))
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
DASHBOARD = DEPLOY / "grafana" / "alarm-access-dashboard.json"
#: the suffixes a Prometheus client adds to a metric family's name in the exposition
SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")
METRIC = re.compile(r"\balarm_access_[a-z0-9_]+\b")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: scripts/install-services.sh installs Debian's prometheus package"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_checks_the_rules_and_their_unit_tests() -> None:
    assert RULES and RULE_TESTS
    checked = promtool("check", "rules", *map(str, RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", *map(str, RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def used_names() -> dict[str, set[str]]:
    """Metric name → the files that use it (recording-rule outputs, `job:...:rate5m`, are not metrics)."""
    used: dict[str, set[str]] = {}
    sources = [(path.name, path.read_text()) for path in RULES]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    sources.append((DASHBOARD.name, "\n".join(exprs)))
    for name, text in sources:
        for match in METRIC.finditer(text):
            if ":" not in text[max(0, match.start() - 1):match.start()]:
                used.setdefault(match.group(), set()).add(name)
    return used


@pytest.fixture
def scrape(env: AccessEnv) -> Iterator[str]:
    env.manage("demo", "prepare")
    port = free_port()
    process = env.spawn("run_access", "--access-type", "data", "--metrics-port", str(port), "--min-interval", "0.5")
    try:
        env.wait_for_log("group pulled")
        yield httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        assert stop(process, signal.SIGTERM) == 0


def test_every_metric_the_rules_and_dashboard_use_is_exposed(scrape: str) -> None:
    families = set(re.findall(r"^# TYPE (\S+) ", scrape, re.M))
    exposed = families | {family + suffix for family in families for suffix in SUFFIXES}
    used = used_names()
    assert len(used) > 20  # the extraction found the rules' and panels' metrics
    missing = {name: sorted(files) for name, files in used.items() if name not in exposed}
    assert not missing, f"used but not exposed by run_access: {missing}"
