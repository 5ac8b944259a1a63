"""The `mapped` source: JMESPath field mappings compiled per integration and evaluated on any JSON body."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alarm_access.access.alert.ingest import AlertIngestor, AlertRequest
from alarm_access.access.alert.integrations import Integration, parse_integrations
from alarm_access.access.alert.mapping import compile_mapping
from alarm_access.access.alert.sources import PARSERS
from alarm_access.access.alert.standard import FIELDS, event_id_digest
from alarm_access.kernel.errors import ConfigError, InvalidRecord
from alarm_access.kernel.hashing import count_md5
from tests.access.alert.fakes import FakeDeadLetters, FakeProducer, FakeStates

NOW = 1714570000
#: a monitoring tool's webhook with nested alerts, its own levels and states, and epoch-millisecond times
NESTED = {
    "alerts": "data.events", "alert_name": "rule.name", "target": "host.address", "event_id": "id",
    "description": "join(' / ', [rule.name, message || ''])", "time": "ts", "tags": "labels",
    "severity": "level", "severity_map": {"P1": 1, "P2": 2, "P3": 3},
    "status": "state", "status_map": {"alerting": "ABNORMAL", "ok": "RECOVERED", "closed": "CLOSED"},
}
BODY = {"data": {"events": [
    {"id": "e-1", "rule": {"name": "DiskFull"}, "host": {"address": "10.0.0.5:9100", "cluster": "sh-1"},
     "message": "/data 97%", "ts": 1714557000123, "labels": {"mount": "/data", "team": "db"}, "level": "p1",
     "state": "Alerting"},
    {"id": "e-2", "rule": {"name": "DiskFull"}, "host": {"address": "db-7", "cluster": "sh-2"},
     "message": "/var 91%", "ts": "2024-05-01T10:00:00Z", "labels": [{"key": "mount", "value": "/var"}],
     "level": "P3", "state": "ok"},
]}}


def integration(mapping: dict[str, Any], **fields: Any) -> Integration:
    entry = {"name": "tool", "source": "mapped", "bk_biz_id": 7, "mapping": mapping, **fields}
    return parse_integrations(json.dumps([entry]))["tool"]


def parse(mapping: dict[str, Any], body: Any, **fields: Any) -> list[dict[str, Any]]:
    return [c.event for c in PARSERS["mapped"](json.dumps(body).encode(), integration(mapping, **fields), NOW)]


def test_nested_fields_and_maps_give_standard_events() -> None:
    first, second = parse(NESTED, BODY)
    assert list(first) == list(FIELDS)
    assert (first["alert_name"], first["target"], first["ip"], first["target_type"]) == (
        "DiskFull", "10.0.0.5:9100", "10.0.0.5", "HOST")
    assert (first["severity"], first["status"], first["time"], first["event_id"]) == (1, "ABNORMAL", 1714557000, "e-1")
    assert first["description"] == "DiskFull / /data 97%"
    assert first["tags"] == [{"key": "mount", "value": "/data"}, {"key": "team", "value": "db"}]
    assert first["extra_info"]["origin_alarm"]["id"] == "e-1" and first["plugin_id"] == "mapped.tool"
    assert first["id"] == event_id_digest("mapped.tool", "e-1", "ABNORMAL", 1714557000)
    assert first["dedupe_md5"] == count_md5({"alert_name": "DiskFull", "target_type": "HOST",
                                             "target": "10.0.0.5:9100", "bk_biz_id": 7})
    assert (second["ip"], second["target_type"], second["severity"], second["status"]) == ("", "", 3, "RECOVERED")
    assert second["time"] == 1714557600 and second["tags"] == [{"key": "mount", "value": "/var"}]


def test_default_alerts_are_the_list_or_the_object_and_unmapped_values_fall_back() -> None:
    mapping = {"alert_name": "title", "severity": "sev", "status": "st", "severity_map": {"high": 1}}
    listed = parse(mapping, [{"title": "a", "sev": "3", "st": "recovered"}, {"title": "b", "sev": "odd", "st": "?"}])
    assert [(e["alert_name"], e["severity"], e["status"]) for e in listed] == [("a", 3, "RECOVERED"),
                                                                                ("b", 2, "ABNORMAL")]
    [single] = parse(mapping, {"title": "c", "sev": "HIGH"})
    assert (single["alert_name"], single["severity"], single["time"], single["bk_ingest_time"]) == ("c", 1, NOW, NOW)
    assert single["event_id"] == count_md5({"alert_name": "c", "target": "", "status": "ABNORMAL", "time": NOW})


def test_dedupe_keys_become_tags_and_part_of_the_identity() -> None:
    mapping = {**NESTED, "target": "rule.name", "dedupe_keys": {"cluster": "host.cluster"}}
    first, second = parse(mapping, BODY, dedupe_keys=["tags.team"])
    assert first["dedupe_keys"] == ["alert_name", "target_type", "target", "bk_biz_id", "tags.team", "tags.cluster"]
    assert {"key": "cluster", "value": "sh-1"} in first["tags"]
    assert first["dedupe_md5"] != second["dedupe_md5"]  # same name and target, other cluster
    assert first["dedupe_md5"] == count_md5({"alert_name": "DiskFull", "target_type": "", "target": "DiskFull",
                                             "bk_biz_id": 7, "tags.team": "db", "tags.cluster": "sh-1"})


@pytest.mark.parametrize(("mapping", "body", "reason"), [
    (NESTED, {"data": {}}, "missing_alerts"),
    (NESTED, {"data": {"events": []}}, "empty"),
    (NESTED, {"data": {"events": ["x"]}}, "not_an_object"),
    (NESTED, {"data": {"events": [{"rule": {"title": "no name"}}]}}, "missing_alert_name"),
    ({**NESTED, "required": ["target"]}, {"data": {"events": [{"rule": {"name": "n"}}]}}, "missing_target"),
    (NESTED, {"data": {"events": [{"rule": {"name": "n"}, "labels": "x"}]}}, "invalid_tags"),
    (NESTED, {"data": {"events": [{"rule": {"name": "n"}, "ts": "yesterday"}]}}, "invalid_time"),
    ({"alert_name": "length(n)"}, {"n": 5}, "mapping_error"),
])
def test_rejections_carry_a_reason(mapping: dict[str, Any], body: Any, reason: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        parse(mapping, body)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("mapping", "message"), [
    ({"alert_name": "rule.["}, r"mapping\.alert_name: 'rule\.\[' is not a JMESPath expression"),
    ({"alert_name": "nope(a)"}, "unknown function"),
    ({"alert_name": "a", "colour": "b"}, "unknown field"),
    ({"target": "a"}, r"alert_name is required"),
    ({"alert_name": ""}, "non-empty JMESPath"),
    ({"alert_name": "a", "severity_map": {"P1": 9}}, r"severity_map\['P1'\]"),
    ({"alert_name": "a", "status_map": {"ok": "FINE"}}, r"status_map\['ok'\]"),
    ({"alert_name": "a", "dedupe_keys": ["x"]}, "dedupe_keys"),
    ({"alert_name": "a", "required": ["colour"]}, "required"),
])
def test_bad_mappings_are_refused_at_compile(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compile_mapping(mapping)
    with pytest.raises(ConfigError, match=r"\[0\] \(tool\)\.mapping"):  # the integration is refused, naming it
        integration(mapping)


def test_the_mapped_source_and_a_mapping_go_together() -> None:
    with pytest.raises(ConfigError, match="field mapping is required"):
        parse_integrations('[{"name": "m", "source": "mapped"}]')
    with pytest.raises(ConfigError, match="applies to it only"):
        parse_integrations('[{"name": "a", "source": "alertmanager", "mapping": {"alert_name": "x"}}]')
    assert "FieldMapping({'alert_name': 'x'})" in repr(integration({"alert_name": "x"}))


def test_the_receiver_flow_produces_mapped_events_and_dead_letters_rejections() -> None:
    tool = integration(NESTED, token="tok")
    producer, dlq = FakeProducer(), FakeDeadLetters()
    ingestor = AlertIngestor({"tool": tool}, producer, dlq, FakeStates())

    def post(body: bytes) -> int:
        return ingestor.handle(AlertRequest("mapped", "tool", {"authorization": "Bearer tok"}, "", body, NOW,
                                            "rid")).status

    assert post(json.dumps(BODY).encode()) == 202
    assert [json.loads(value)["event_id"] for _, value in producer.sent] == ["e-1", "e-2"]
    assert post(json.dumps(BODY).encode()) == 202 and len(producer.sent) == 4  # not diffed, like `standard`
    assert post(b'{"data": {"events": [{"ts": 1}]}}') == 400
    assert dlq.sent[0][3] == "missing_alert_name"
