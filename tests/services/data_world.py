"""A small monitored world for end-to-end tests of `run_access --access-type data`.

Three strategies of business 2 on three metrics, three hosts (one in a "testing" state, which keeps its
records out of detect), and samples written to a real VictoriaMetrics. `expected_records` computes, from
the samples alone, which record ids each detect queue must hold, so the tests compare the service's
output to an independent expectation.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import redis

from alarm_access.kernel.hashing import count_md5
from tests.services.victoria import VictoriaMetrics

INTERVAL = 10
HOSTS = {"10.0.1.1": 201, "10.0.1.2": 202, "10.0.1.3": 203}
DISABLED_HOST = "10.0.1.3"
#: strategy id → (item id, result table, metric field)
STRATEGIES = {11: (11, "system.cpu_load", "load5"), 12: (12, "system.mem", "pct_used"), 13: (13, "system.io", "util")}


def strategy_document(strategy_id: int, interval: int = INTERVAL) -> dict[str, object]:
    item_id, table, field = STRATEGIES[strategy_id]
    return {
        "id": strategy_id, "bk_biz_id": 2, "name": f"e2e {field}", "scenario": "os", "is_enabled": True,
        "update_time": 1569044491, "labels": [],
        "items": [{
            "id": item_id, "name": field, "no_data_config": {"is_enabled": False, "continuous": 5}, "target": [[]],
            "algorithms": [{"id": item_id, "type": "Threshold", "level": 1,
                            "config": [{"threshold": 1000, "method": "gte"}]}],
            "query_configs": [{
                "id": item_id, "data_source_label": "bk_monitor", "data_type_label": "time_series",
                "result_table_id": table, "metric_field": field, "agg_method": "AVG", "agg_interval": interval,
                "agg_dimension": ["bk_target_ip", "bk_target_cloud_id"], "agg_condition": [],
                "metric_id": f"bk_monitor.{table}.{field}",
            }],
        }],
        "detects": [], "actions": [],
    }


def hosts_document() -> dict[str, object]:
    return {"hosts": [
        {"bk_host_id": host_id, "bk_host_innerip": ip, "bk_cloud_id": 0, "bk_agent_id": f"agent-{host_id}",
         "bk_biz_id": 2, "bk_state": "测试中" if ip == DISABLED_HOST else "运营中[需告警]",
         "topo_link": {f"module|{host_id}": ["biz|2", "set|1", f"module|{host_id}"]}}
        for ip, host_id in HOSTS.items()
    ]}


def write_world(directory: Path, interval: int = INTERVAL) -> tuple[Path, Path]:
    strategies = directory / "strategies.json"
    strategies.write_text(json.dumps([strategy_document(sid, interval) for sid in STRATEGIES]))
    hosts = directory / "hosts.json"
    hosts.write_text(json.dumps(hosts_document()))
    return strategies, hosts


@dataclass(frozen=True)
class Sample:
    strategy_id: int
    ip: str
    ts: int
    value: float


def samples_at(buckets: list[int]) -> list[Sample]:
    return [Sample(sid, ip, ts, float(sid + n + ts % 7)) for sid in STRATEGIES for n, ip in enumerate(HOSTS)
            for ts in buckets]


def ingest(vm: VictoriaMetrics, samples: list[Sample]) -> None:
    rows = []
    for sample in samples:
        _, table, field = STRATEGIES[sample.strategy_id]
        rows.append((f"{table.replace('.', '_')}_{field}",
                     {"bk_target_ip": sample.ip, "bk_target_cloud_id": "0"}, sample.ts, sample.value))
    vm.import_samples(rows)


def expected_records(samples: list[Sample]) -> dict[str, set[str]]:
    """Queue name (without prefix) → record ids, for samples of hosts that are not disabled."""
    expected: dict[str, set[str]] = {}
    for sample in samples:
        if sample.ip == DISABLED_HOST:
            continue
        item_id = STRATEGIES[sample.strategy_id][0]
        dims_md5 = count_md5({"bk_target_ip": sample.ip, "bk_target_cloud_id": "0"})
        expected.setdefault(f"access.data.{sample.strategy_id}.{item_id}", set()).add(f"{dims_md5}.{sample.ts}")
    return expected


def queued_records(client: redis.Redis, prefix: str) -> dict[str, Counter[str]]:
    """Queue name (without prefix) → how many times each record id is queued."""
    queued: dict[str, Counter[str]] = {}
    for sid, (item_id, _, _) in STRATEGIES.items():
        name = f"access.data.{sid}.{item_id}"
        lines = client.lrange(f"{prefix}.{name}", 0, -1)
        queued[name] = Counter(json.loads(line)["record_id"] for line in lines)
    return queued


def assert_exactly(client: redis.Redis, prefix: str, samples: list[Sample]) -> None:
    """Every expected record is queued exactly once, and nothing else is."""
    queued = queued_records(client, prefix)
    expected = expected_records(samples)
    for name, counts in queued.items():
        doubled = sorted(rid for rid, n in counts.items() if n > 1)
        assert not doubled, f"{name}: pushed twice: {doubled[:5]}"
        missing = sorted(expected.get(name, set()) - set(counts))
        assert not missing, f"{name}: missing {len(missing)}: {missing[:5]}"
        extra = sorted(set(counts) - expected.get(name, set()))
        assert not extra, f"{name}: unexpected {extra[:5]}"
