"""Inline static thresholds (spec data-access §3.15): anomalies as detect writes them, no detect queue.

The pure cases pin detect's semantics (OR of AND groups, every algorithm of a level, levels independent);
the end-to-end case runs `run_access --once` on samples around two thresholds in a real VictoriaMetrics and
compares the anomaly lists with anomalies computed from the samples alone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from alarm_access.kernel.hashing import count_md5
from alarm_access.kernel.model import Algorithm, Item, QueryConfig
from alarm_access.records.threshold import detect_value, item_thresholds, parse_detector
from tests.services.access_env import AccessEnv
from tests.services.data_world import DISABLED_HOST, INTERVAL, hosts_document, ingest, samples_at, strategy_document
from tests.services.victoria import VictoriaMetrics

LOW, HIGH = 14, 16


def _item(*algorithms: Algorithm, unit: str = "") -> Item:
    qc = QueryConfig("bk_monitor", "time_series", extra={"unit": unit} if unit else {})
    return Item(1, "load5", (qc,), algorithms=algorithms)


def test_or_of_and_groups_and_levels() -> None:
    thresholds = item_thresholds(_item(
        Algorithm("Threshold", 1, [[{"method": "gte", "threshold": 10}, {"method": "lt", "threshold": 20}],
                                   [{"method": "eq", "threshold": 50}]]),
        Algorithm("Threshold", 2, [[{"method": "gt", "threshold": 5}]]),
    ))
    assert thresholds is not None
    assert detect_value(thresholds, 12.0) == [(1, " >= 10且 < 20"), (2, " > 5")]
    assert detect_value(thresholds, 50) == [(1, " = 50"), (2, " > 5")]
    assert detect_value(thresholds, 20.0) == [(2, " > 5")]
    assert detect_value(thresholds, 5) == []
    assert detect_value(thresholds, None) == []


def test_every_algorithm_of_a_level_must_fire() -> None:
    thresholds = item_thresholds(_item(Algorithm("Threshold", 1, [[{"method": "gte", "threshold": 10}]]),
                                       Algorithm("Threshold", 1, [[{"method": "lte", "threshold": 12}]])))
    assert thresholds is not None
    assert detect_value(thresholds, 11) == [(1, " >= 10 同时  <= 12")]
    assert detect_value(thresholds, 13) == []


@pytest.mark.parametrize("config", [[], [[]], [{"method": "gte", "threshold": 1}], [[{"method": "in", "threshold": 1}]],
                                    [[{"method": "gte", "threshold": "1"}]]])
def test_invalid_configs_are_not_detected_inline(config: object) -> None:
    assert parse_detector(config) is None
    assert item_thresholds(_item(Algorithm("Threshold", 1, config))) is None


def test_other_algorithms_and_units_go_to_detect() -> None:
    valid = [[{"method": "gte", "threshold": 1}]]
    assert item_thresholds(_item(Algorithm("Threshold", 1, valid), Algorithm("YearRound", 2, {}))) is None
    assert item_thresholds(_item(Algorithm("Threshold", 1, valid), unit="percent")) is None


@pytest.mark.integration
def test_inline_anomalies_equal_detect_output_and_no_detect_queue(
    env: AccessEnv, vm: VictoriaMetrics, redis_url: str, tmp_path: Path
) -> None:
    document = strategy_document(11)
    item = document["items"][0]  # type: ignore[index]
    item["algorithms"] = [
        {"id": 1, "type": "Threshold", "level": 1, "config": [[{"method": "gte", "threshold": HIGH}]]},
        {"id": 2, "type": "Threshold", "level": 2, "config": [[{"method": "gte", "threshold": LOW}]]},
    ]
    (tmp_path / "s.json").write_text(json.dumps([document]))
    (tmp_path / "h.json").write_text(json.dumps(hosts_document()))
    env.manage("load_strategies", str(tmp_path / "s.json"))
    env.manage("load_hosts", str(tmp_path / "h.json"))
    env.env["TSDB_URL"] = vm.url
    now = int(time.time())
    samples = [s for s in samples_at([now - now % INTERVAL - k * INTERVAL for k in range(3, 10)])
               if s.strategy_id == 11]
    ingest(vm, samples)
    expected: dict[str, set[int]] = {}
    for sample in samples:
        levels = {level for level, bound in ((1, HIGH), (2, LOW)) if sample.value >= bound}
        if sample.ip != DISABLED_HOST and levels:
            md5 = count_md5({"bk_target_ip": sample.ip, "bk_target_cloud_id": "0"})
            expected[f"{md5}.{sample.ts}"] = levels
    assert expected and len(expected) < len(samples)  # values really straddle the thresholds

    env.manage("run_access", "--access-type", "data", "--once")
    client = redis.Redis.from_url(redis_url)
    prefix = env.prefix
    assert client.llen(f"{prefix}.access.data.11.11") == 0
    assert not client.exists(f"{prefix}.access.data.signal")
    lines = [json.loads(line) for line in client.lrange(f"{prefix}.detect.anomaly.list.11.11", 0, -1)]
    found = {entry["data"]["record_id"]: {int(level) for level in entry["anomaly"]} for entry in lines}
    assert found == expected
    for entry in lines:
        for level, anomaly in entry["anomaly"].items():
            assert anomaly["anomaly_id"] == f"{entry['data']['record_id']}.11.11.{level}"
            assert anomaly["anomaly_message"].startswith("load5 >= ")
        assert entry["strategy_snapshot_key"] == f"{prefix}.cache.strategy.snapshot.11.1569044491"
    assert client.lrange(f"{prefix}.detect.anomaly.signal", 0, -1) == [b"11.11"]
    assert json.loads(client.get(f"{prefix}.cache.strategy.snapshot.11.1569044491") or "{}")["id"] == 11
    some = next(iter(expected))
    md5, ts = some.split(".")
    assert client.zscore(f"{prefix}.detect.result.11.11.{md5}.2", f"{ts}|ANOMALY") == int(ts)

    # the setting turns inline detection off: the same pull goes to detect's queue instead
    env.env["ALARM_ACCESS_KEY_PREFIX"] = off_prefix = f"{prefix}.off"
    env.env["ALARM_ACCESS_DATA_INLINE_THRESHOLD"] = "0"
    env.manage("run_access", "--access-type", "data", "--once")
    assert client.llen(f"{off_prefix}.access.data.11.11") == sum(1 for s in samples if s.ip != DISABLED_HOST)
    assert not client.exists(f"{off_prefix}.detect.anomaly.list.11.11")
    for key in client.scan_iter(f"{off_prefix}.*"):
        client.delete(key)
    client.close()
