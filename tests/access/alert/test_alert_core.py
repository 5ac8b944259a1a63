"""The pure core of the `alert` access type: the standard event, each source parser, the snapshot diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alarm_access.access.alert.diff import FIRING, RESOLVED, AlertState, diff, judge
from alarm_access.access.alert.integrations import Integration, parse_integrations
from alarm_access.access.alert.sources import PARSERS
from alarm_access.access.alert.standard import FIELDS, dedupe_md5, normalize_severity, normalize_status
from alarm_access.kernel.errors import ConfigError, InvalidRecord
from alarm_access.kernel.hashing import count_md5

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alert"
NOW = 1714570000
AM = Integration("am", "alertmanager", bk_biz_id=2, token="t")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_status_and_severity_normalize() -> None:
    assert [normalize_status(s) for s in ("abnormal", "RECOVERED", "closed", "x", None)] == [
        "ABNORMAL", "RECOVERED", "CLOSED", "ABNORMAL", "ABNORMAL"]
    assert [normalize_severity(s) for s in (0, 1, "2", 3, 9, "bad", None)] == [1, 1, 2, 3, 3, 2, 2]


def test_alertmanager_group_gives_standard_events() -> None:
    firing, resolved = (c.event for c in PARSERS["alertmanager"](fixture("alertmanager_group.json"), AM, NOW))
    assert list(firing) == list(FIELDS)
    assert firing["status"] == "ABNORMAL" and resolved["status"] == "RECOVERED"
    assert firing["time"] == firing["anomaly_time"] == 1714557600  # startsAt (nanoseconds cut)
    assert resolved["time"] == 1714557300 and resolved["anomaly_time"] == 1714555800  # endsAt / startsAt
    assert firing["severity"] == 1 and resolved["severity"] == 2
    assert firing["target_type"] == "HOST" and firing["ip"] == "10.0.0.1" and firing["target"] == "10.0.0.1:9100"
    assert firing["bk_biz_id"] == 2 and firing["plugin_id"] == "alertmanager.am"
    assert firing["event_id"] == "1a2b3c4d5e6f7a8b.1714557600"
    assert {"key": "job", "value": "node"} in firing["tags"]
    assert firing["extra_info"]["generatorURL"].startswith("http://prometheus")
    assert firing["description"] == "CPU usage of 10.0.0.1:9100 is 97%"
    assert firing["bk_ingest_time"] == NOW
    assert firing["id"] == count_md5({"plugin_id": "alertmanager.am", "event_id": firing["event_id"],
                                      "status": "ABNORMAL", "time": 1714557600})
    assert firing["dedupe_md5"] == count_md5({"alert_name": "HighCPU", "target_type": "HOST",
                                              "target": "10.0.0.1:9100", "bk_biz_id": 2})
    assert firing["dedupe_keys"] == ["alert_name", "target_type", "target", "bk_biz_id"]


def test_configured_dedupe_keys_and_strategy_id_fallback() -> None:
    event = {"alert_name": "", "strategy_id": 7, "target_type": "", "target": "", "bk_biz_id": 2,
             "tags": [{"key": "job", "value": "node"}]}
    keys, digest = dedupe_md5(event, ("tags.job",))
    assert keys[-1] == "tags.job"
    assert digest == count_md5({"alert_name": "7", "target_type": "", "target": "", "bk_biz_id": 2,
                                "tags.job": "node"})


def test_grafana_keeps_values_and_urls() -> None:
    grafana = Integration("gf", "grafana", bk_biz_id=5)
    [candidate] = PARSERS["grafana"](fixture("grafana_v1.json"), grafana, NOW)
    event = candidate.event
    assert event["alert_name"] == "DiskFull" and event["severity"] == 2 and event["ip"] == "10.0.0.5"
    assert event["extra_info"]["values"] == {"A": 95.2, "B": 1}
    assert {"dashboardURL", "panelURL", "silenceURL"} <= set(event["extra_info"])
    assert candidate.state == AlertState(FIRING, 1714561200, None, candidate.state.label_hash)  # type: ignore[union-attr]


def test_pagerduty_trigger_and_resolve_share_the_identity() -> None:
    pd = Integration("pd", "pagerduty")
    [trigger] = PARSERS["pagerduty"](fixture("pagerduty_trigger.json"), pd, NOW)
    [resolve] = PARSERS["pagerduty"](fixture("pagerduty_resolve.json"), pd, NOW)
    assert trigger.event["status"] == "ABNORMAL" and resolve.event["status"] == "RECOVERED"
    assert trigger.event["dedupe_md5"] == resolve.event["dedupe_md5"]
    assert trigger.event["severity"] == 1 and trigger.event["time"] == 1714564800
    assert trigger.fingerprint == resolve.fingerprint == "db-primary-replication-lag"
    ack = {"event_action": "acknowledge", "dedup_key": "k"}
    assert PARSERS["pagerduty"](json.dumps(ack).encode(), pd, NOW) == []


def test_standard_events_one_or_a_list() -> None:
    std = Integration("std", "standard", bk_biz_id=9)
    first, second = (c.event for c in PARSERS["standard"](fixture("standard_events.json"), std, NOW))
    assert first["bk_biz_id"] == 3 and first["time"] == 1714564800 and first["severity"] == 1
    assert second["status"] == "ABNORMAL" and second["severity"] == 3 and second["time"] == NOW
    assert second["bk_biz_id"] == 9 and second["tags"] == [{"key": "service", "value": "pay"}]
    [one] = PARSERS["standard"](json.dumps({"alert_name": "x"}).encode(), std, NOW)
    assert one.fingerprint is None


@pytest.mark.parametrize(("source", "body", "reason"), [
    ("alertmanager", b"{not json", "invalid_json"),
    ("alertmanager", b"[]", "not_an_object"),
    ("alertmanager", b'{"version": "3", "alerts": []}', "unsupported_version"),
    ("alertmanager", b'{"version": "4"}', "missing_alerts"),
    ("alertmanager", b'{"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "a"}}]}',
     "invalid_time"),
    ("alertmanager", b'{"version": "4", "alerts": [{"status": "x", "labels": {}}]}', "invalid_status"),
    ("grafana", b'{"version": "4", "alerts": []}', "unsupported_version"),
    ("standard", b'[{"description": "no name"}]', "missing_alert_name"),
    ("standard", b"[]", "empty"),
    ("pagerduty", b'{"event_action": "trigger", "payload": {"summary": "s"}}', "invalid_payload"),
    ("pagerduty", b'{"event_action": "resolve"}', "missing_dedup_key"),
    ("pagerduty", b'{"event_action": "nope"}', "invalid_action"),
])
def test_rejections_carry_a_reason(source: str, body: bytes, reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        PARSERS[source](body, Integration("x", source), NOW)
    assert caught.value.reason == reason


def state(status: str, starts: int | None, labels: str = "h") -> AlertState:
    return AlertState(status, starts, None, labels)


@pytest.mark.parametrize(("new", "old", "verdict"), [
    (state(FIRING, 100), None, "emit"),
    (state(RESOLVED, 100), None, "emit"),
    (state(FIRING, 100), state(FIRING, 100), "repeat"),
    (state(FIRING, 100, "h2"), state(FIRING, 100), "emit"),
    (state(FIRING, 200), state(FIRING, 100), "emit"),
    (state(FIRING, 50), state(FIRING, 100), "stale"),
    (state(RESOLVED, 100), state(FIRING, 100), "emit"),
    (state(RESOLVED, 50), state(FIRING, 100), "stale"),
    (state(RESOLVED, 100), state(RESOLVED, 100), "repeat"),
    (state(RESOLVED, 200), state(RESOLVED, 100), "emit"),
    (state(FIRING, 100), state(RESOLVED, 100), "stale"),
    (state(FIRING, 200), state(RESOLVED, 100), "emit"),
    (state(FIRING, None), state(RESOLVED, None), "emit"),
    (state(FIRING, None), state(FIRING, None), "repeat"),
])
def test_judge(new: AlertState, old: AlertState | None, verdict: str) -> None:
    assert judge(new, old) == verdict


def test_unchanged_repeat_of_a_group_emits_nothing() -> None:
    candidates = PARSERS["alertmanager"](fixture("alertmanager_group.json"), AM, NOW)
    first = diff(candidates, {})
    assert len(first.emit) == 2 and set(first.states) == {"1a2b3c4d5e6f7a8b", "9f8e7d6c5b4a3928"}
    again = diff(PARSERS["alertmanager"](fixture("alertmanager_group.json"), AM, NOW + 60), first.states)
    assert again.emit == [] and again.repeats == 2 and again.states == {}


def test_integrations_setting() -> None:
    found = parse_integrations(json.dumps([{"name": "am", "source": "alertmanager", "token": "s3cret",
                                            "bk_biz_id": 2, "dedupe_keys": ["tags.job"]}]))
    assert found["am"].dedupe_keys == ("tags.job",) and "s3cret" not in repr(found["am"])
    for bad in ('{"name": "x"}', '[{"name": "x", "source": "nope"}]', '[{"name": "x", "source": "grafana", "z": 1}]',
                '[{"name": "a b", "source": "grafana"}]', "[", '[{"name": "a", "source": "grafana"}, '
                '{"name": "a", "source": "grafana"}]'):
        with pytest.raises(ConfigError):
            parse_integrations(bad)


def test_token_bucket() -> None:
    from alarm_access.access.alert.ratelimit import TokenBucket, retry_after

    bucket = TokenBucket(rate=2, burst=2)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.5]
    assert bucket.take(100.5) == 0.0 and bucket.take(100.5) > 0
    assert retry_after(0.2) == "1" and retry_after(2.1) == "3"
