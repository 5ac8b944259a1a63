"""`manage.py access_replay` against a real VictoriaMetrics and Redis: a dry run over a range yields exactly the
records a live run produced for it (same record ids, same queues), and `--push` over the same range adds
nothing and moves no checkpoint; `--push` over a range the live run never saw delivers it once."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from tests.services.access_env import AccessEnv
from tests.services.data_world import INTERVAL, ingest, queued_records, samples_at, write_world
from tests.services.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration


def test_replay_yields_the_live_records_and_a_push_adds_nothing(env: AccessEnv, vm: VictoriaMetrics,
                                                                client: redis.Redis, tmp_path: Path) -> None:
    strategies, hosts = write_world(tmp_path)
    env.manage("load_strategies", str(strategies))
    env.manage("load_hosts", str(hosts))
    env.env["TSDB_URL"] = vm.url
    now = int(time.time())
    t = now - now % INTERVAL
    buckets = [t - k * INTERVAL for k in range(3, 8)]
    ingest(vm, samples_at(buckets))
    env.manage("run_access", "--access-type", "data", "--once")
    live = queued_records(client, env.prefix)
    assert sum(len(c) for c in live.values()) > 0
    checkpoints = {k: client.get(k) for k in client.scan_iter(f"{env.prefix}.*checkpoint*")}

    start, end = min(buckets), max(buckets) + INTERVAL
    out = tmp_path / "replay.jsonl"
    env.manage("access_replay", "--from", str(start), "--to", str(end), "--output", str(out))
    replayed: dict[str, Counter[str]] = {}
    for line in out.read_text().splitlines():
        row = json.loads(line)
        queue = f"access.data.{row['strategy_id']}.{row['item_id']}"
        replayed.setdefault(queue, Counter())[row["record"]["record_id"]] += 1
    assert {q: set(c) for q, c in replayed.items() if c} == {q: set(c) for q, c in live.items() if c}
    assert all(n == 1 for c in replayed.values() for n in c.values())

    done = env.manage("access_replay", "--from", str(start), "--to", str(end), "--push")
    assert "pushed 0 records" in done.stderr, done.stderr
    assert queued_records(client, env.prefix) == live
    assert {k: client.get(k) for k in client.scan_iter(f"{env.prefix}.*checkpoint*")} == checkpoints

    # a range the live run never pulled (older than its window): pushed once, then nothing more
    old = [t - k * INTERVAL for k in range(40, 43)]
    ingest(vm, samples_at(old))
    first = env.manage("access_replay", "--from", str(min(old)), "--to", str(max(old) + INTERVAL), "--push")
    again = env.manage("access_replay", "--from", str(min(old)), "--to", str(max(old) + INTERVAL), "--push")
    assert "pushed 0 records" not in first.stderr and "pushed 0 records" in again.stderr, (first.stderr, again.stderr)
    after = queued_records(client, env.prefix)
    assert all(n == 1 for c in after.values() for n in c.values())
    assert {k: client.get(k) for k in client.scan_iter(f"{env.prefix}.*checkpoint*")} == checkpoints
