"""The status page of `run_access --access-type data`, seen in a real browser (headless Chromium, Playwright).

The service runs alone in its hash ring. Two strategies read VictoriaMetrics and succeed; strategy 21 reads
the `custom` source, routed to a port where nothing listens, and fails on every pull. The test looks at
`/status` as a person would — the rows of the groups table, their outcome badges and pull times, the ring
member, the search box, the page reloading itself — and saves screenshots in its tmp dir.
Chromium is Debian's (`scripts/install-services.sh` installs it), driven through `executable_path`: no
browser is downloaded.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.services.access_env import AccessEnv, stop
from tests.services.data_world import INTERVAL, hosts_document, ingest, samples_at, strategy_document
from tests.services.victoria import VictoriaMetrics, free_port

pytestmark = pytest.mark.integration

PULL_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
FAILING_ID = 21


def failing_strategy() -> dict[str, object]:
    """Strategy 11 again as id 21 on the `custom` source: another group, whose query API refuses."""
    document = strategy_document(11)
    document["id"] = FAILING_ID
    item = document["items"][0]  # type: ignore[index]
    item["id"] = FAILING_ID
    item["query_configs"][0]["data_source_label"] = "custom"
    return document


@pytest.fixture
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        # root in a container: Chromium's own sandbox cannot start, the test's process is the boundary
        launched = playwright.chromium.launch(executable_path=chromium, headless=True, chromium_sandbox=False)
        yield launched
        launched.close()


def wait_for_outcomes(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until /status.json shows strategy 11 pulled with records, strategy 21 failing and this process an active
    ring member (its state comes from its last heartbeat, which on a loaded machine can trail the pulls)."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline and process.poll() is None:
        try:
            status = httpx.get(f"{url}/status.json", timeout=2).json()
            seen, members = status["groups"], status.get("ring") or []
        except (httpx.HTTPError, json.JSONDecodeError, KeyError):
            seen, members = [], []
        outcomes = {tuple(g["strategy_ids"]): g for g in seen}
        good, bad = outcomes.get((11,)), outcomes.get((FAILING_ID,))
        active = any(m.get("is_self") and m.get("state") == "active" for m in members)
        if (good and bad and good["outcome"] == "ok" and good["pushed_total"] > 0 and bad["outcome"] == "failed"
                and active):
            return
        time.sleep(0.3)
    raise AssertionError(f"outcomes not shown within {timeout}s (exit code {process.poll()}): {seen}")


def group_row(page: Page, strategy_id: int) -> Locator:
    """The groups-table row whose strategy-ids cell reads exactly `strategy_id`."""
    return page.locator("#groups tbody tr").filter(
        has=page.get_by_role("cell", name=str(strategy_id), exact=True))


def test_status_page_shows_groups_failures_and_filters(
    env: AccessEnv, vm: VictoriaMetrics, tmp_path: Path, browser: Browser
) -> None:
    documents = [strategy_document(11), strategy_document(12), failing_strategy()]
    (tmp_path / "s.json").write_text(json.dumps(documents))
    (tmp_path / "h.json").write_text(json.dumps(hosts_document()))
    env.manage("load_strategies", str(tmp_path / "s.json"))
    env.manage("load_hosts", str(tmp_path / "h.json"))
    now = int(time.time())
    ingest(vm, samples_at([now - now % INTERVAL - k * INTERVAL for k in range(3, 6)]))
    port = free_port()
    env.env.update({
        "TSDB_URL": vm.url, "ALARM_ACCESS_NETWORK_TIMEOUT": "1",
        "ALARM_ACCESS_DATA_SOURCE_URLS": f"custom:time_series=http://127.0.0.1:{free_port()}",
    })
    process = env.spawn("run_access", "--access-type", "data", "--hash-ring", "1", "--min-interval", "0.2",
                        "--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_outcomes(url, process)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/status")
        expect(page.get_by_role("heading", level=1)).to_contain_text("data access")
        expect(page.get_by_text("3 groups, 1 failing")).to_be_visible()

        good = group_row(page, 11)
        expect(good).to_have_count(1)
        expect(good.get_by_text("ok", exact=True)).to_be_visible()
        expect(good).to_contain_text(PULL_TIME)

        bad = group_row(page, FAILING_ID)
        expect(bad.get_by_text("FAILING", exact=True)).to_be_visible()
        expect(bad).to_contain_text("SourceUnavailable")
        expect(bad).to_contain_text(PULL_TIME)
        member = page.get_by_role("row").filter(has_text="(this process)")  # the only member: every group
        expect(member).to_contain_text("active", timeout=20_000)
        expect(member).to_contain_text("100%")
        page.screenshot(path=str(tmp_path / "status.png"), full_page=True)

        search = page.get_by_label("Strategy id")
        search.fill(str(FAILING_ID))
        search.press("Enter")
        page.wait_for_url(re.compile(rf"\?q={FAILING_ID}$"))
        rows = page.locator("#groups tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("FAILING")
        expect(page.get_by_text(f"1 match strategy id {FAILING_ID}")).to_be_visible()
        page.screenshot(path=str(tmp_path / "status-search.png"), full_page=True)

        stamp = page.locator("h1 + p").inner_text()  # "as of <time> (now)": changes on the next reload
        expect(page.locator("h1 + p")).not_to_have_text(stamp, timeout=20_000)
        expect(page.get_by_label("Strategy id")).to_have_value(str(FAILING_ID))  # the reload keeps the search
    finally:
        code = stop(process, signal.SIGTERM)
    assert code == 0, env.log()
    assert (tmp_path / "status.png").stat().st_size > 10_000
