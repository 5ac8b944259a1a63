"""`healthz`: is this deployment able to run access? Checks each dependency once, with a timeout.

    python manage.py healthz            # database, Redis, TSDB (those configured); JSON report, exit 0/1
    python manage.py healthz --url http://127.0.0.1:9108   # ask a running run_access for /readyz instead

Exit 0 when every check passed, 1 otherwise (one JSON line on stdout either way), 2 on bad arguments.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from alarm_access.adapters.redis.client import connect
from alarm_access.management.cli import OneLineErrorsMixin


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def _redis(url: str, timeout: float) -> Callable[[], str]:
    def check() -> str:
        client = connect(url, timeout=timeout, retries=0)
        try:
            client.ping()
        finally:
            client.close()
        return "pong"

    return check


def _http(url: str, timeout: float) -> Callable[[], str]:
    def check() -> str:
        reply = httpx.get(url, timeout=timeout)
        reply.raise_for_status()
        return str(reply.status_code)

    return check


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Check the database, Redis and TSDB (or a running run_access's /readyz); print JSON; exit 0 or 1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", help="base URL of a running run_access metrics port: check its /readyz")
        parser.add_argument("--timeout", type=float, default=3.0, help="seconds per check (default 3)")

    def handle(self, *args: Any, **options: Any) -> None:
        timeout: float = options["timeout"]
        checks: dict[str, Callable[[], str]]
        if options["url"]:
            checks = {"readyz": _http(options["url"].rstrip("/") + "/readyz", timeout)}
        else:
            raw = settings.ALARM_ACCESS
            checks = {"database": _database}
            redis_url, tsdb_url = str(raw["REDIS_URL"]), str(raw["TSDB_URL"])
            if redis_url:
                checks["redis"] = _redis(redis_url, timeout)
            if tsdb_url:
                checks["tsdb"] = _http(tsdb_url.rstrip("/") + "/api/v1/status/buildinfo", timeout)
        report: dict[str, Any] = {}
        for name, check in checks.items():
            started = time.perf_counter()
            try:
                report[name] = {"ok": True, "detail": check()}
            except Exception as exc:  # any failure of a dependency is the answer, not a crash
                report[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
            report[name]["seconds"] = round(time.perf_counter() - started, 3)
        healthy = all(entry["ok"] for entry in report.values())
        self.stdout.write(json.dumps({"healthy": healthy, "checks": report}))
        if not healthy:
            raise SystemExit(1)
