"""`demo prepare` loads the demo strategies, hosts and 20 minutes of samples; `demo show` prints what was pushed.

Used by `make run`: prepare → `run_access --access-type data --once` → show. Samples are written to the
embedded SQL time-series table with timestamps relative to now, so the demo works at any time of day.
`show` reads the detect queues from `REDIS_URL`, or from the embedded Redis that `run_access` used.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from alarm_access.adapters.redis.client import EmbeddedRedis, connect
from alarm_access.adapters.redis.keys import RedisKeys
from alarm_access.adapters.tsdb.sql import Sample, SqlSource
from alarm_access.management.cli import OneLineErrorsMixin

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
HOSTS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
MINUTES = 20


def demo_samples(now: int) -> list[Sample]:
    """Deterministic per-minute samples of the three demo metrics for every demo host."""
    samples = []
    start = now - now % 60 - MINUTES * 60
    for n, ip in enumerate(HOSTS):
        labels = {"bk_target_ip": ip, "bk_target_cloud_id": "0"}
        for minute in range(MINUTES + 1):
            ts = start + minute * 60
            wave = math.sin((minute + n * 7) / 3)
            samples.append(Sample("system_cpu_load_load5", labels, ts, round(2.5 + 2 * wave, 3)))
            samples.append(Sample("system_mem_pct_used", labels, ts, round(70 + 15 * wave, 2)))
            samples.append(Sample("system_disk_in_use", {**labels, "mount_point": "/"}, ts, 60.0 + n))
            samples.append(Sample("system_disk_in_use", {**labels, "mount_point": "/data"}, ts, 97.0))
    return samples


class Command(OneLineErrorsMixin, BaseCommand):
    help = "Prepare the embedded demo (strategies, hosts, samples) or show what run_access pushed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["prepare", "show"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "prepare":
            self._prepare()
        else:
            self._show()

    def _prepare(self) -> None:
        call_command("load_strategies", str(DEMO_DIR / "strategies.json"), stdout=self.stdout)
        call_command("load_hosts", str(DEMO_DIR / "hosts.json"), stdout=self.stdout)
        written = SqlSource().write_samples(demo_samples(int(time.time())))
        self.stdout.write(f"wrote {written} demo samples to the embedded time-series table")

    def _show(self) -> None:
        raw = settings.ALARM_ACCESS
        server = None if raw["REDIS_URL"] else EmbeddedRedis(Path(raw["VAR_DIR"]) / "valkey")
        url = raw["REDIS_URL"] or server.start()  # type: ignore[union-attr]
        client = connect(url, timeout=5)
        try:
            keys = RedisKeys(raw["KEY_PREFIX"])
            for strategy_id, item_id in ((1, 1), (2, 2), (3, 3)):
                queue = keys.data(strategy_id, item_id)
                records = [json.loads(line) for line in client.lrange(queue, 0, -1)]
                self.stdout.write(f"{queue}: {len(records)} records")
                for record in records[-3:]:
                    self.stdout.write(f"  {json.dumps(record, ensure_ascii=False)}")
            signal = [s.decode() if isinstance(s, bytes) else s for s in client.lrange(keys.signal(), 0, -1)]
            self.stdout.write(f"{keys.signal()}: {signal}")
        finally:
            client.close()
            if server is not None:
                server.stop()
