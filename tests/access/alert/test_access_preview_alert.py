"""`manage.py access_preview --access-type alert` as a subprocess: the events of a body, a rejection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "alert"


def preview(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "access_preview", "--access-type", "alert", *args],
                          cwd=ROOT, text=True, capture_output=True, timeout=60, check=False)


def test_prints_the_events_of_a_group() -> None:
    done = preview("--message-file", str(FIXTURES / "alertmanager_group.json"), "--now", "1714570000")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["event"]["status"] for line in lines] == ["ABNORMAL", "RECOVERED"]
    assert all(line["event"]["bk_ingest_time"] == 1714570000 for line in lines)


def test_grafana_source_and_a_rejection(tmp_path: Path) -> None:
    done = preview("--message-file", str(FIXTURES / "grafana_v1.json"), "--source", "grafana")
    assert [json.loads(line)["event"]["alert_name"] for line in done.stdout.splitlines()] == ["DiskFull"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "4"}')
    done = preview("--message-file", str(bad))
    assert json.loads(done.stdout) == {"message": 0, "rejected": "missing_alerts",
                                       "detail": "the body has no `alerts` list"}
    assert preview("--message-file", str(bad), "--data-id", "3").returncode == 2
